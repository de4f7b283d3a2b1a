# amaranth: UnusedElaboratable=no
"""The requantizer: golden model properties, cocotb bench, mutation check."""

import numpy as np
import pytest

from corolla.hw.arith.requant import Requant
from corolla.sim import runner
from corolla.sim.models.requant import requant_reference

BENCH = "corolla.sim.benches.requant"


def test_model_rounds_half_up_and_saturates():
    acc = [5, 6, 7, -5, -6, -7, 1000, -1000, 2, -2]
    assert requant_reference(acc, 2, False).tolist() == [1, 2, 2, -1, -1, -2, 127, -128, 1, 0]
    assert requant_reference(acc, 2, True).tolist() == [1, 2, 2, 0, 0, 0, 127, 0, 1, 0]
    assert requant_reference([300, -300, 5], 0, False).tolist() == [127, -128, 5]


def test_model_matches_float_rounding():
    gen = np.random.default_rng(5)
    acc = gen.integers(-(1 << 20), 1 << 20, 5000)
    for shift in (1, 3, 8):
        want = np.clip(np.floor(acc / 2**shift + 0.5), -128, 127).astype(int)
        assert requant_reference(acc, shift, False, acc_width=32).tolist() == want.tolist()


def test_model_rejects_bad_input():
    with pytest.raises(ValueError, match="fit in 8 signed bits"):
        requant_reference([200], 1, False, acc_width=8)
    with pytest.raises(ValueError, match="Shift must be from 0 to 31"):
        requant_reference([1], 40, False)


@pytest.mark.parametrize("acc_width,out_width", [(10, 4), (32, 8)])
def test_bench(simulator, acc_width, out_width):
    runner.run(Requant(acc_width=acc_width, out_width=out_width), test_module=BENCH,
               simulator=simulator, seed=acc_width)


def test_bench_fails_on_a_wrong_model():
    with pytest.raises(runner.SimulationFailure, match="first mismatch at result"):
        runner.run(Requant(acc_width=10, out_width=4), test_module=BENCH, seed=1,
                   env={"COROLLA_GOLDEN": "mutants:requant_rounds_down"})


def test_bad_parameters():
    with pytest.raises(ValueError, match="Output width must be an integer from 2 to 16"):
        Requant(acc_width=16, out_width=17)
