# amaranth: UnusedElaboratable=no
"""`corolla report`: energy table, operation counts, build reuse, and a whole report whose
numbers must trace back to the simulation counters and the nextpnr report."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from corolla.boards import get_board
from corolla.build import build_board
from corolla.config import ConfigError, load_config
from corolla.firmware.compile import compile_network
from corolla.firmware.digits import digits_compressed, load_digits_data
from corolla.generate import top_params
from corolla.report import (
    HOROWITZ_45NM_PJ,
    energy_estimate,
    parse_target,
    sram_access_pj,
    work_counts,
)


def corolla(*args):
    return subprocess.run([sys.executable, "-m", "corolla.cli", *args], capture_output=True,
                          text=True)


def test_sram_energy_follows_the_horowitz_table():
    assert sram_access_pj(8 * 1024, 64) == pytest.approx(HOROWITZ_45NM_PJ["sram_8kB_64b"])
    assert sram_access_pj(32 * 1024, 64) == pytest.approx(HOROWITZ_45NM_PJ["sram_32kB_64b"])
    assert sram_access_pj(1 << 20, 64) == pytest.approx(HOROWITZ_45NM_PJ["sram_1MB_64b"])
    # Smaller than the table's smallest: its figure; larger than the largest: likewise.
    assert sram_access_pj(512, 64) == pytest.approx(10.0)
    assert sram_access_pj(1 << 24, 64) == pytest.approx(100.0)
    # Between points: log-linear, so 16 kB is halfway between 10 and 20 pJ.
    assert sram_access_pj(16 * 1024, 64) == pytest.approx(15.0)
    # Narrower accesses cost their share of a 64-bit one.
    assert sram_access_pj(8 * 1024, 8) == pytest.approx(10.0 / 8)


def test_targets_name_board_config_and_variant():
    own = parse_target("icebreaker")
    assert (own.board, own.config, own.variant, own.own) == ("icebreaker", "icebreaker",
                                                             "dense", True)
    assert own.label == "icebreaker-dense" and own.build_name == "icebreaker"
    other = parse_target("ulx3s:default:sparse")
    assert (other.config, other.variant, other.own) == ("default", "sparse", False)
    assert other.label == "ulx3s-default-sparse" and other.build_name == "ulx3s-default"
    assert parse_target("ulx3s:default", variant="sparse").variant == "sparse"
    for bad, words in (("nope", "board 'nope'"), ("ulx3s:default:fast", "variant is 'fast'"),
                       ("ulx3s::dense", "BOARD[:CONFIG[:VARIANT]]"),
                       ("a:b:c:d", "BOARD[:CONFIG[:VARIANT]]")):
        with pytest.raises(ConfigError, match=re.escape(words)):
            parse_target(bad)


@pytest.fixture(scope="module")
def digits():
    return digits_compressed(), load_digits_data().pixels_test[:6]


def test_variant_all_is_every_variant_the_configuration_runs():
    from corolla.firmware.variants import VARIANTS
    from corolla.report import parse_targets

    targets = parse_targets("ulx3s:default:all")
    assert [t.variant for t in targets] == list(VARIANTS)
    assert len({t.label for t in targets}) == len(VARIANTS)
    assert [t.variant for t in parse_targets("icebreaker", variant="all")] == ["dense"]
    assert [t.variant for t in parse_targets("ulx3s:default:lns")] == ["lns"]


def test_dense_counts_follow_the_tiles(digits):
    net, pixels = digits
    params = top_params(load_config("icebreaker"), link="stream")     # 8×2 array
    prog = compile_network(net, params.info(), "dense")
    layers = work_counts(prog, net, pixels, params, runs=3)
    assert [layer["macs"] for layer in layers] == [64 * 300, 300 * 100, 100 * 10]
    assert sum(layer["macs_useful"] for layer in layers) == 50_200
    # 10 outputs take two 8-row tiles: 16 rows of MACs per input.
    assert layers[2]["macs_executed"] == 2 * 8 * 100
    # Each weight byte is read once per run of 2 images (300 rows padded to whole 8-row tiles).
    padded = -(-300 // params.rows) * params.rows
    assert layers[0]["weight_bytes"] == 64 * padded / 2
    assert layers[0]["accesses"]["weights"] == 8 * 64 * padded / 2
    energy = energy_estimate(layers, params)
    executed = sum(layer["macs_executed"] for layer in layers)
    assert energy["compute_pj"] == pytest.approx(executed * 0.3)
    assert energy["total_pj"] == pytest.approx(energy["compute_pj"] + energy["memory_pj"])
    assert sum(energy["per_layer_pj"]) == pytest.approx(energy["total_pj"])


def test_sparse_counts_agree_with_the_encoding(digits):
    net, pixels = digits
    params = top_params(load_config("default"), link="stream")
    prog = compile_network(net, params.info(), "sparse")
    layers = work_counts(prog, net, pixels, params, runs=2)
    acts = net.forward(pixels)[:-1]
    matrices = [prog.layer_data[i]["matrix"] for i in range(len(net.layers))]
    for layer, q, mat, a in zip(layers, net.layers, matrices, acts, strict=True):
        # Useful: pairs of a non-zero weight and a non-zero activation.
        useful = np.mean([np.count_nonzero((q.index != 0) & (x[None, :] != 0)) for x in a])
        assert layer["macs_useful"] == pytest.approx(useful)
        # Executed: every stored entry (padding included) of the non-zero columns.
        per_col = (mat.ptr[:, 1:] - mat.ptr[:, :-1]).sum(axis=0)
        assert layer["macs_executed"] == pytest.approx(np.mean([per_col[x != 0].sum()
                                                                for x in a]))
        assert layer["broadcasts"] == pytest.approx(np.mean([np.count_nonzero(x) for x in a]))
        assert layer["macs_useful"] <= layer["macs_executed"]


def test_build_is_reused_only_while_inputs_and_bitstream_are_unchanged(tmp_path):
    board, config = get_board("icebreaker"), load_config("icebreaker")
    first = build_board(board, config, tmp_path, design="echo")
    assert "reused" not in first
    again = build_board(board, config, tmp_path, design="echo", reuse=True)
    assert again["reused"] and again["inputs_sha256"] == first["inputs_sha256"]
    # Another seed is another build.
    seeded = build_board(board, config, tmp_path, design="echo", seed=2, reuse=True)
    assert "reused" not in seeded and seeded["inputs_sha256"] != first["inputs_sha256"]
    # A damaged bitstream is rebuilt.
    bitstream = tmp_path / seeded["bitstream"]["file"]
    bitstream.write_bytes(b"\0" + bitstream.read_bytes()[1:])
    rebuilt = build_board(board, config, tmp_path, design="echo", seed=2, reuse=True)
    assert "reused" not in rebuilt


@pytest.mark.parametrize("args, words", [
    ((), "name a configuration"),
    (("--compare", "nope"), "board 'nope'"),
    (("--board", "icebreaker", "--images", "0"), "--images: 0; expected an integer from 1"),
    (("--board", "icebreaker", "--compare", "icebreaker"), "named twice"),
    (("--board", "icebreaker", "--variant", "sparse", "--no-build"), "no EIE engine"),
])
def test_report_rejects_bad_input(tmp_path, args, words):
    proc = corolla("report", "--out", str(tmp_path), *args)
    assert proc.returncode == 2, proc.stderr
    assert words in proc.stderr


def test_icebreaker_report_traces_to_counters_and_nextpnr(tmp_path):
    """The whole report for the iCEBreaker: simulation, build, plots."""
    proc = corolla("report", "--board", "icebreaker", "--images", "4", "--out",
                   str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    (entry,) = doc["configurations"]
    assert entry["label"] == "icebreaker-dense" and entry["device"] == "ice40up5k"
    # Cycles: the accelerator's counters, as read in simulation.
    src = entry["sources"]
    assert entry["cycles"]["per_inference"] == sum(src["batch_cycles"]) / 4
    per_layer = np.sum(src["step_cycles"], axis=0) / 4
    assert entry["cycles"]["per_layer_per_inference"] == pytest.approx(per_layer.tolist())
    assert entry["accuracy"]["simulated_bit_exact"]
    # The counters cover every layer and nothing else runs between them.
    assert sum(per_layer) <= entry["cycles"]["per_inference"] < sum(per_layer) + 100
    # Fmax and resources: nextpnr's report of the build.
    build = json.loads((tmp_path / "build" / "icebreaker" / "report.json").read_text())
    assert entry["clock"]["fmax_mhz"] == build["clock"]["fmax_mhz"] > 0
    for key in ("lut", "ff", "dsp", "bram", "spram"):
        assert entry["resources"][key] == build["utilization"][key]
    # Rates and utilization follow from them.
    rate = entry["rate_at_clock"]
    config = load_config("icebreaker")
    pes = config.array.rows * config.array.cols
    assert rate["inferences_per_s"] == pytest.approx(config.clock_mhz * 1e6
                                                     / entry["cycles"]["per_inference"])
    assert entry["utilization"] == pytest.approx(50_200 / (pes * entry["cycles"]["per_inference"]))
    assert 0.9 < entry["utilization"] <= 1.0
    assert entry["batch"] == 2 and entry["pes"] == pes == 16
    assert 0.9 < entry["accuracy"]["test_split"] <= 1.0
    assert entry["energy"]["per_inference_nj"] > 0
    # Host link: the running traffic carries at least the pixels and the scores (both lanes).
    assert entry["host_link"]["run_bytes_per_inference"] >= 64 + 10
    # Files: the markdown embeds the roofline, which is a PNG.
    md = (tmp_path / "report.md").read_text()
    assert "](roofline-icebreaker-dense.png)" in md and "estimate" in md
    assert (tmp_path / "roofline-icebreaker-dense.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "report.json").read_text())["configurations"][0]["label"] \
        == "icebreaker-dense"


def test_compared_configurations_without_builds(tmp_path):
    proc = corolla("report", "--compare", "icebreaker", "ulx3s:default:sparse", "--no-build",
                   "--images", "2", "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    dense, sparse = doc["configurations"]
    assert sparse["label"] == "ulx3s-default-sparse" and sparse["pes"] == 4
    assert dense["resources"] is None and dense["clock"]["fmax_mhz"] is None
    assert sparse["rate_at_fmax"] is None
    # The sparse engine skips pruned weights and zero activations: fewer MACs than dense.
    assert sparse["macs"]["useful"] < sparse["macs"]["dense"] == dense["macs"]["useful"]
    assert sparse["compression"]["compression_ratio"] > dense["compression"]["compression_ratio"]
    assert doc["plots"]["compare"] == "compare.png"
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "report.md").read_text()
    assert "](compare.png)" in md and "not built" in md


def test_bench_all_takes_no_per_bench_options():
    proc = corolla("bench", "all", "--sizes", "2x2", "--pes", "4")
    assert proc.returncode == 2
    assert "unrecognized arguments: --sizes 2x2 --pes 4" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bench_all_runs_every_bench_into_one_document(monkeypatch, capsys):
    from corolla import cli
    from corolla.cli import bench

    ran = []

    def fake_bench(args):
        ran.append(args.what)
        # Every option the bench's own command would give it is there.
        own = cli.build_parser().parse_args(["bench", args.what])
        missing = set(vars(own)) - set(vars(args))
        assert not missing, (args.what, missing)
        print(json.dumps({"bench": args.what, "device": args.device}))
        return 0

    for name in ("_bench_units", "_bench_array", "_bench_conv", "_bench_winograd",
                 "_bench_sparse"):
        monkeypatch.setattr(bench, name, fake_bench)
    assert cli.main(["bench", "all", "--device", "ecp5-85f", "--json"]) == 0
    assert ran == list(bench.BENCHES)
    doc = json.loads(capsys.readouterr().out)
    assert doc == {what: {"bench": what, "device": "ecp5-85f"} for what in bench.BENCHES}


def test_every_arithmetic_reports_without_builds(tmp_path):
    """The ternary, binary, LNS and mixed variants compared on one configuration."""
    proc = corolla("report", "--compare", "ulx3s:default:ternary", "ulx3s:default:binary",
                   "ulx3s:default:lns", "ulx3s:default:mixed", "--no-build", "--images", "2",
                   "--out", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    ternary, binary, lns, mixed = doc["configurations"]
    assert [c["variant"] for c in doc["configurations"]] == ["ternary", "binary", "lns",
                                                             "mixed"]
    for c in doc["configurations"]:
        assert c["accuracy"]["test_split"] > 0.9 and c["cycles"]["per_inference"] > 0
    # 2-bit codes and sign bits are stored as such; the LNS words are bytes.
    assert ternary["compression"]["bits_per_weight"] == pytest.approx(2, rel=0.05)
    assert lns["compression"]["bits_per_weight"] == pytest.approx(8, rel=0.05)
    assert binary["compression"]["bits_per_weight"] < 8
    # int8 first and last layers, the middle one pruned to 10 % on the EIE engine.
    assert 2 < mixed["compression"]["bits_per_weight"] < 8
    assert binary["precision"]["weight_bits"] == "8/1"
    assert ternary["precision"]["weight_bits"] == "2"
