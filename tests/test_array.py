# amaranth: UnusedElaboratable=no
"""The systolic array: PE kinds, golden GEMM, tiling and im2col, cocotb benches, mapping."""

import numpy as np
import pytest

from corolla.firmware.array import GemmTiling, assemble, conv_as_gemm, gemm_beats, im2col
from corolla.formats import LnsFormat
from corolla.hw.arith.dsp import ICE40_PRIMITIVES, ProductPair
from corolla.hw.array import BinaryKind, Int8Kind, LnsKind, SystolicArray, TernaryKind, pe_kind
from corolla.sim import runner
from corolla.sim.models.array import array_gemm, conv2d_reference
from corolla.sim.models.lns import lns_dot
from corolla.toolchain import synthesize

BENCH = "corolla.sim.benches.array"

# (rows, cols, kind): every PE kind, square and lopsided arrays, narrow accumulators that
# wrap within the `extremes` test.
CONFIGS = {
    "int8-4x4": (4, 4, Int8Kind()),
    "int8-1x1-acc16": (1, 1, Int8Kind(acc_width=16)),
    "int8-3x5-w6": (3, 5, Int8Kind(width=6, acc_width=14)),
    "ternary-3x2": (3, 2, TernaryKind(act_width=8, acc_width=12)),
    "binary-2x3": (2, 3, BinaryKind(bits=8, acc_width=10)),
    "binary-2x2-b16": (2, 2, BinaryKind(bits=16, acc_width=12)),
    "lns-2x3": (2, 3, LnsKind(acc_width=20)),
    "lns-3x2-f4": (3, 2, LnsKind(fmt=LnsFormat(3, 4), acc_width=16, acc_frac=6)),
}


# Golden model -------------------------------------------------------------------------------

def test_int8_gemm_is_matmul_wrapped():
    gen = np.random.default_rng(1)
    a, b = gen.integers(-128, 128, (5, 70)), gen.integers(-128, 128, (70, 3))
    kind = Int8Kind(acc_width=16).to_dict()
    y = array_gemm(kind, a, b)[..., 0]
    full = a @ b
    assert np.array_equal(y, ((full + (1 << 15)) % (1 << 16)) - (1 << 15))
    assert np.array_equal(array_gemm(Int8Kind().to_dict(), a, b)[..., 0], full)


def test_ternary_gemm_splits_signs():
    codes = np.array([[0b01, 0b11, 0b00, 0b10]])
    x = np.array([[5], [-3], [7], [100]])
    y = array_gemm(TernaryKind().to_dict(), codes, x)
    assert y.tolist() == [[[5, -3]]]          # pos = 5, neg = −3; 00 and 10 add nothing


def test_binary_gemm_counts_agreements():
    # 8-bit words: a = w agrees on every bit (+8); a = ~w on none (−8); 4 of 8 agree (0).
    a = np.array([[0b10110010, 0b10110010, 0b00001111]])
    b = np.array([[0b10110010], [0b01001101], [0b00000000]])
    kind = BinaryKind(bits=8).to_dict()
    assert array_gemm(kind, a[:, :1], b[:1]).item() == 8
    assert array_gemm(kind, a[:, 1:2], b[1:2]).item() == -8
    assert array_gemm(kind, a[:, 2:], b[2:]).item() == 0
    assert array_gemm(kind, a, b).item() == 0


def test_lns_gemm_matches_lns_mac_dot():
    gen = np.random.default_rng(2)
    kind = LnsKind()
    fmt = kind.fmt
    a, b = gen.integers(0, 1 << fmt.width, (3, 40)), gen.integers(0, 1 << fmt.width, (40, 2))
    y = array_gemm(kind.to_dict(), a, b)[..., 0]
    for i in range(3):
        for j in range(2):
            assert y[i, j] == lns_dot(fmt, a[i], b[:, j], mode="linear", acc_width=32,
                                      acc_frac=8)


@pytest.mark.parametrize("a,b,message", [
    (np.zeros((2, 3), int), np.zeros((2, 3), int), "do not chain"),
    (np.full((1, 1), 128), np.zeros((1, 1), int), r"A\[0, 0\] = 128 is out of range"),
    (np.zeros((1, 1), int), np.full((1, 1), -129), r"B\[0, 0\] = -129 is out of range"),
])
def test_gemm_model_rejects_bad_operands(a, b, message):
    with pytest.raises(ValueError, match=message):
        array_gemm(Int8Kind().to_dict(), a, b)


# PE kinds ----------------------------------------------------------------------------------

def test_pe_kind_round_trip_and_errors():
    for kind in (Int8Kind(), TernaryKind(), BinaryKind(), LnsKind()):
        assert pe_kind(kind.to_dict()) == kind
    assert pe_kind("lns").antilog_bits == 7
    with pytest.raises(ValueError, match="PE kind 'fp8' is unknown; expected one of int8"):
        pe_kind("fp8")
    with pytest.raises(ValueError, match="PE parameter 'bits' is unknown for kind 'int8'"):
        pe_kind("int8", bits=4)
    with pytest.raises(ValueError, match="acc_width = 12 is out of range; expected an integer "
                                         "from 16 to 48"):
        Int8Kind(acc_width=12)
    with pytest.raises(ValueError, match="Array rows = 0 is out of range"):
        SystolicArray(rows=0)


# Tiling and im2col -------------------------------------------------------------------------

def test_tiling_round_trip():
    gen = np.random.default_rng(3)
    a, b = gen.integers(-5, 5, (7, 4)), gen.integers(-5, 5, (4, 10))
    tiling, beat_a, beat_b, last = gemm_beats(a, b, 3, 4)
    assert (tiling.tiles, tiling.beats, tiling.result_beats) == (9, 36, 27)
    assert last.sum() == 9 and last[3] and not last[2]
    # Emulate the array: each tile's rows from its K beats, then reassemble.
    rows = []
    for t in range(tiling.tiles):
        ta, tb = beat_a[t * 4:(t + 1) * 4], beat_b[t * 4:(t + 1) * 4]
        rows.extend((ta.T @ tb)[..., None])
    assert np.array_equal(assemble(tiling, np.array(rows))[..., 0], a @ b)


def test_tiling_rejects_bad_input():
    with pytest.raises(ValueError, match="A's columns must equal B's rows"):
        gemm_beats(np.zeros((2, 3), int), np.zeros((4, 2), int), 2, 2)
    with pytest.raises(ValueError, match="B must hold integers"):
        gemm_beats(np.zeros((2, 3), int), np.zeros((3, 2)), 2, 2)
    with pytest.raises(ValueError, match="GEMM rows = 0 is out of range"):
        GemmTiling(2, 2, 2, 0, 2)
    with pytest.raises(ValueError, match="expected 2 result rows of 2"):
        assemble(GemmTiling(2, 2, 2, 2, 2), np.zeros((3, 2, 1)))


@pytest.mark.parametrize("stride,pad", [(1, 0), (1, 1), (2, 1), (3, 2)])
def test_im2col_convolution_matches_direct(stride, pad):
    gen = np.random.default_rng(stride * 10 + pad)
    x = gen.integers(-128, 128, (3, 9, 8))
    w = gen.integers(-128, 128, (4, 3, 3, 2))
    a, b, shape = conv_as_gemm(x, w, stride=stride, pad=pad)
    assert np.array_equal((a @ b).reshape(shape), conv2d_reference(x, w, stride=stride,
                                                                   pad=pad))


def test_im2col_rejects_bad_input():
    with pytest.raises(ValueError, match="input must be C_in × H × W"):
        im2col(np.zeros((3, 3)), 1, 1)
    with pytest.raises(ValueError, match="a 5×5 kernel does not fit a 3×3 input"):
        im2col(np.zeros((1, 3, 3)), 5, 5)
    with pytest.raises(ValueError, match="does not match weights' C_in = 2"):
        conv_as_gemm(np.zeros((3, 4, 4)), np.zeros((1, 2, 3, 3)))


def test_cycle_model_reaches_steady_state():
    # K >= 64: the drain hides behind the next tile; the fill is paid once.
    assert GemmTiling(64, 64, 64, 4, 4).utilization(2) > 0.99
    assert GemmTiling(64, 64, 64, 8, 8).utilization(2) > 0.99
    # K = 1: every tile waits for the previous one to drain.
    assert GemmTiling(8, 8, 1, 4, 4).cycles(2) == 3 * 14 + 14


# cocotb benches ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(CONFIGS))
def test_bench(name):
    rows, cols, kind = CONFIGS[name]
    shapes = [[2 * rows + 1, cols, 64], [rows, cols, 1], [3 * rows, 2 * cols, 9]]
    result = runner.run(SystolicArray(rows=rows, cols=cols, kind=kind), test_module=BENCH,
                        seed=len(name), env={"COROLLA_CASES": "6",
                                             "COROLLA_ARRAY_SHAPES": str(shapes)})
    ran = {t.name for t in result.tests if not t.skipped}
    assert {"random_gemms", "extremes", "throughput"} <= ran
    assert ("exhaustive_products" in ran) == (name != "binary-2x2-b16")
    assert ("conv_layer" in ran) == (kind.name == "int8")
    if kind.acc_width < 32:
        assert result.stats["extremes_wrap"], "the extremes test must wrap the accumulators"
    # The measured cycles are the cycle model's, shape by shape.
    for figure in result.stats["throughput"]:
        assert figure["cycles"] == figure["model_cycles"], figure


def test_bench_with_sb_mac16_pairs():
    """The iCE40 form: two PEs per SB_MAC16, simulated on Yosys's model of the block (odd
    columns leave one PE per row on its own DSP)."""
    rows, cols = 3, 5
    shapes = [[2 * rows + 1, cols, 64], [rows, cols, 1], [3 * rows, 2 * cols, 9]]
    result = runner.run(SystolicArray(rows=rows, cols=cols, kind=Int8Kind()), test_module=BENCH,
                        seed=35, platform=ICE40_PRIMITIVES,
                        env={"COROLLA_CASES": "6", "COROLLA_ARRAY_SHAPES": str(shapes)})
    ran = {t.name for t in result.tests if not t.skipped}
    assert {"random_gemms", "exhaustive_products", "extremes", "throughput"} <= ran
    for figure in result.stats["throughput"]:
        assert figure["cycles"] == figure["model_cycles"], figure


@pytest.mark.slow
@pytest.mark.parametrize("rows,cols,kind", [
    (8, 8, Int8Kind()), (4, 4, TernaryKind()), (4, 4, BinaryKind()), (4, 4, LnsKind())])
def test_bench_large_arrays(rows, cols, kind):
    result = runner.run(SystolicArray(rows=rows, cols=cols, kind=kind), test_module=BENCH,
                        seed=rows * cols, env={"COROLLA_CASES": "60"})
    assert result.stats["random_gemms"] == 68


def test_bench_on_icarus():
    if "icarus" not in runner.available_simulators():
        pytest.skip("icarus is not installed (apt-get install iverilog)")
    result = runner.run(SystolicArray(rows=2, cols=2, kind=TernaryKind(acc_width=12)),
                        test_module=BENCH, simulator="icarus", seed=3,
                        env={"COROLLA_CASES": "2"})
    assert result.passed


@pytest.mark.parametrize("mutant", ["array_gemm_drops_last_k", "array_gemm_swaps_signs"])
def test_bench_fails_on_a_wrong_model(mutant):
    with pytest.raises(runner.SimulationFailure, match=r"first mismatch at Y\[0, 0\]") as info:
        runner.run(SystolicArray(rows=2, cols=2, kind=TernaryKind(acc_width=12)),
                   test_module=BENCH, seed=1,
                   env={"COROLLA_GOLDEN": f"mutants:{mutant}", "COROLLA_CASES": "1"})
    assert "inputs A[0, :8]" in str(info.value)


# Mapping -----------------------------------------------------------------------------------

@pytest.mark.parametrize("device,dsp_cell", [("ice40up5k", "SB_MAC16"), ("ecp5-85f", "MULT18X18D")])
def test_int8_pes_map_onto_dsps(device, dsp_cell):
    report = synthesize(runner.to_verilog(SystolicArray(rows=2, cols=2), name="array"),
                        top="array", device=device)
    assert report.cells.get(dsp_cell) == 4, report.cells


def test_int8_pes_pair_up_on_ice40():
    """On iCE40 two PEs share an SB_MAC16: 16 PEs on the UP5K's 8 DSPs."""
    source = runner.to_verilog(SystolicArray(rows=8, cols=2), name="array",
                               platform=ICE40_PRIMITIVES)
    assert "SB_MAC16" in runner.primitive_models(source)
    report = synthesize(source, top="array", device="ice40up5k")
    assert report.cells.get("SB_MAC16") == 8, report.cells
    # Without the primitive Yosys maps one product per block.
    plain = synthesize(runner.to_verilog(SystolicArray(rows=2, cols=2), name="array"),
                       top="array", device="ice40up5k")
    assert plain.cells.get("SB_MAC16") == 4, plain.cells


def test_product_pair_rejects_wide_operands():
    with pytest.raises(ValueError, match="ProductPair width = 9"):
        ProductPair(9)
    assert Int8Kind(width=12).pe_pair() is None
    assert TernaryKind().pe_pair() is None


@pytest.mark.parametrize("kind", [TernaryKind(), BinaryKind(), LnsKind()])
def test_lut_pes_use_no_dsps(kind):
    report = synthesize(runner.to_verilog(SystolicArray(rows=2, cols=2, kind=kind),
                                          name="array"), top="array", device="ice40up5k")
    assert report.dsps == 0, report.cells


# corolla bench array ------------------------------------------------------------------------

def test_cli_bench_array_json(capsys):
    import json

    from corolla.cli import main

    assert main(["bench", "array", "--sizes", "2x3", "--shapes", "8x9x64,5x3x1", "--device",
                 "ice40up5k", "--kinds", "ternary", "--no-pnr", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    steady, short = doc["utilization"]
    assert (steady["m"], steady["n"], steady["k"]) == (8, 9, 64)
    assert steady["cycles"] == steady["model_cycles"] == GemmTiling(8, 9, 64, 2, 3).cycles(1)
    assert steady["utilization"] == round(8 * 9 * 64 / (6 * steady["cycles"]), 4)
    assert short["utilization"] < 0.2      # K = 1: every tile waits for a full drain
    (res,) = doc["resources"]
    assert res["kind"] == "ternary" and res["dsps"] == 0 and res["fits"]
    assert res["luts"] > 0 and res["fmax_mhz"] is None


@pytest.mark.parametrize(("args", "message"), [
    (["bench", "array", "--sizes", "4by4"], "--sizes: '4by4'; expected ROWSxCOLS"),
    (["bench", "array", "--sizes", "0x4"], "--sizes: '0x4'"),
    (["bench", "array", "--kinds", "fp8"], "--kinds: 'fp8' is not a PE kind"),
    (["bench", "array", "--shapes", "8x8"], "--shapes: '8x8'; expected MxNxK"),
    (["bench", "units", "--sizes", "2x2"], "unrecognized arguments: --sizes 2x2"),
])
def test_cli_bench_array_bad_input(capsys, args, message):
    from corolla.cli import main

    assert main(args) == 2
    assert message in capsys.readouterr().err
