# amaranth: UnusedElaboratable=no
"""The ternary MAC: golden model, cocotb bench, mutation check, no DSPs."""

import numpy as np
import pytest

from corolla.hw.arith.ternary import TernaryMac
from corolla.sim import runner
from corolla.sim.models.ternary import ternary_dot
from corolla.toolchain import synthesize

BENCH = "corolla.sim.benches.ternary"


def test_model():
    a = np.array([5, -3, 7, 2, -8])
    codes = np.array([0b01, 0b11, 0b00, 0b01, 0b10])
    # P = 5 + 2 = 7, N = -3; 4·7 − 2·(−3) = 34; code 10 counts as zero but is reported.
    assert ternary_dot(a, codes, 4, 2) == (34, True)
    assert ternary_dot(a[:4], codes[:4], 1, 1) == (10, False)


def test_model_matches_float_dot():
    gen = np.random.default_rng(0)
    a = gen.integers(-128, 128, 1000)
    w = gen.choice([-1, 0, 1], 1000)
    codes = np.where(w == 1, 1, np.where(w == -1, 3, 0))
    assert ternary_dot(a, codes, 1, 1)[0] == int(a @ w)
    wp, wn = 9, 4
    scaled = int(a @ np.where(w == 1, wp, np.where(w == -1, -wn, 0)))
    assert ternary_dot(a, codes, wp, wn)[0] == scaled


def test_model_rejects_bad_input():
    with pytest.raises(ValueError, match="one shape"):
        ternary_dot([1, 2], [1], 1, 1)
    with pytest.raises(ValueError, match="2-bit values"):
        ternary_dot([1], [4], 1, 1)
    with pytest.raises(ValueError, match="fit in 8 signed bits"):
        ternary_dot([200], [1], 1, 1)


@pytest.mark.parametrize("lanes,act_width,acc_width", [(4, 4, 12), (8, 8, 32), (3, 8, 20)])
def test_bench(simulator, lanes, act_width, acc_width):
    result = runner.run(TernaryMac(lanes=lanes, act_width=act_width, acc_width=acc_width),
                        test_module=BENCH, simulator=simulator, seed=lanes)
    ran = {t.name for t in result.tests if not t.skipped}
    assert {"random_packets", "invalid_codes"} <= ran


def test_bench_fails_on_a_wrong_model():
    with pytest.raises(runner.SimulationFailure, match="first mismatch at result"):
        runner.run(TernaryMac(lanes=4, act_width=4, acc_width=12), test_module=BENCH, seed=1,
                   env={"COROLLA_GOLDEN": "mutants:ternary_swapped_scales"},
                   testcase="random_packets")


def test_dsp_count_does_not_grow_with_lanes():
    def dsps(lanes):
        design = TernaryMac(lanes=lanes, act_width=8, acc_width=16, scale_width=8)
        report = synthesize(runner.to_verilog(design, name="ternary"), top="ternary",
                            device="ecp5-85f")
        return report.dsps
    # Two multipliers scale each finished dot product; the lanes themselves use none.
    assert dsps(16) == dsps(1) == 2


def test_bad_parameters():
    with pytest.raises(ValueError, match="Lane count must be an integer from 1 to 64, not 0"):
        TernaryMac(lanes=0)
