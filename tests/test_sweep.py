"""`corolla sweep`: specs, points, the Pareto front, and small sweeps on a Dask LocalCluster
(two worker processes) with a failing point and a resumed run."""

import json
import subprocess
import sys

import pytest

from corolla.config import ConfigError
from corolla.sweep import load_spec, pareto_front, point_job, points, run_sweep

SPEC = """
name = "tiny"
base = "default"
stages = ["generate"]
objectives = ["min:wall_s", "max:accuracy"]

[axes]
"array.rows" = [2, 4]
"array.pe" = ["int8", "ternary"]
"""


def _spec(tmp_path, text=SPEC):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_grid_random_and_ranges(tmp_path):
    spec = load_spec(_spec(tmp_path, SPEC.replace('"array.pe" = ["int8", "ternary"]',
                                                  "clock_mhz = {start = 10, stop = 20, step = 5}")))
    assert spec.axes["clock_mhz"] == [10, 15, 20]
    assert len(points(spec)) == 6
    jobs = [point_job(spec, p) for p in points(spec)]
    assert len({j["hash"] for j in jobs}) == 6
    assert jobs[0]["config"]["array"]["rows"] == 2 and jobs[0]["config"]["clock_mhz"] == 10
    spec = load_spec(_spec(tmp_path, 'sampling = "random"\nsamples = 3\nseed = 4\n' + SPEC))
    picked = points(spec)
    assert len(picked) == 3 and picked == points(spec)


def test_pareto_front():
    rows = [{"status": "ok", "a": 1, "b": 5}, {"status": "ok", "a": 2, "b": 4},
            {"status": "ok", "a": 2, "b": 6}, {"status": "failed"},
            {"status": "ok", "a": 0, "b": 3}]
    assert pareto_front(rows, ["min:a", "max:b"]) == [0, 2, 4]


@pytest.mark.parametrize("text,key", [
    ("colour = 1\n" + SPEC, "colour"),
    (SPEC.replace('[2, 4]', '[]'), "axes.array.rows"),
    (SPEC.replace('[2, 4]', '{start = 4, stop = 2, step = 1}'), "axes.array.rows"),
    (SPEC.replace('["generate"]', '["generate", "synthesize"]'), "stages"),
    (SPEC.replace('[2, 4]', '[2, 100]'), "axes.array.rows"),
    (SPEC.replace('"array.rows"', '"array.rowz"'), "axes.array.rowz"),
    (SPEC.replace('"min:wall_s"', '"min:joy"'), "objectives"),
    (SPEC + '"compress.sparsity" = ["0.9,0.97,0.6"]\n', "axes.compress.sparsity"),
    (SPEC.replace('["generate"]', '["compress", "generate"]')
     + '"compress.colour" = [1]\n', "axes.compress.colour"),
])
def test_bad_specs_name_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as info:
        load_spec(_spec(tmp_path, text))
    assert info.value.key == key, str(info.value)
    proc = subprocess.run([sys.executable, "-m", "corolla.cli", "sweep",
                           str(_spec(tmp_path, text)), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert key.split(".")[-1] in proc.stderr


def test_sweep_on_a_local_cluster_records_failures_and_resumes(tmp_path):
    spec = load_spec(_spec(tmp_path))
    doc = run_sweep(spec, tmp_path / "out", workers=2)
    assert doc["workers"] == 2 and doc["points"] == 4 and doc["reused"] == 0
    by = {(r["array.rows"], r["array.pe"]): r for r in doc["rows"]}
    for rows in (2, 4):
        assert by[(rows, "int8")]["status"] == "ok"
        # The top builds int8 arrays only: the point fails with the reason, the sweep goes on.
        failed = by[(rows, "ternary")]
        assert failed["status"] == "failed" and "array.pe" in failed["reason"]
    assert (tmp_path / "out" / "sweep.csv").read_text().count("\n") == 5
    assert json.loads((tmp_path / "out" / "sweep.json").read_text())["points"] == 4
    for r in doc["rows"]:
        if r["status"] == "ok":
            assert (tmp_path / "out" / "points" / r["hash"] / "verilog" /
                    "corolla_top.v").is_file()
    again = run_sweep(spec, tmp_path / "out", workers=2)
    assert again["reused"] == 4 and [r["status"] for r in again["rows"]] == \
        [r["status"] for r in doc["rows"]]


def test_linked_keys_move_together(tmp_path):
    text = SPEC.replace('"array.pe" = ["int8", "ternary"]',
                        'shape = [{"array.rows" = 1, "memory.weight_depth" = 65536},\n'
                        '         {"array.rows" = 4, "memory.weight_depth" = 16384}]')
    spec = load_spec(_spec(tmp_path, text))
    jobs = [point_job(spec, p) for p in points(spec)]
    memory = [(j["config"]["array"]["rows"], j["config"]["memory"]["weight_depth"])
              for j in jobs]
    assert memory == [(1, 65536), (4, 16384), (1, 65536), (4, 16384)]
    with pytest.raises(ConfigError) as info:
        load_spec(_spec(tmp_path, text.replace('"array.rows" = 1,', '"array.rows" = 100,')))
    assert info.value.key == "axes.shape"
