# amaranth: UnusedElaboratable=no
"""The binary XNOR-popcount unit: golden model, cocotb bench, mutation check."""

import numpy as np
import pytest

from corolla.hw.arith.binary import BinaryDot
from corolla.sim import runner
from corolla.sim.models.binary import binary_dot

BENCH = "corolla.sim.benches.binary"


def test_model_matches_sign_dot():
    gen = np.random.default_rng(1)
    a = gen.choice([-1, 1], 256)
    w = gen.choice([-1, 1], 256)
    value, sign = binary_dot((a > 0).astype(int), (w > 0).astype(int), 1, 0)
    assert value == int(a @ w) and sign == int(a @ w >= 0)
    value, sign = binary_dot((a > 0).astype(int), (w > 0).astype(int), 3, -1000)
    assert value == 3 * (int(a @ w) - 1000) and sign == 0


def test_model_rejects_bad_input():
    with pytest.raises(ValueError, match="1-D of one length"):
        binary_dot([1, 0], [1], 1, 0)
    with pytest.raises(ValueError, match="Bits must be 0 or 1"):
        binary_dot([2], [1], 1, 0)


@pytest.mark.parametrize("n,levels", [(8, 1), (32, 2), (64, 3)])
def test_bench(simulator, n, levels):
    result = runner.run(BinaryDot(n=n, levels_per_stage=levels), test_module=BENCH,
                        simulator=simulator, seed=n)
    ran = {t.name for t in result.tests if not t.skipped}
    assert "random_packets" in ran and (n != 8 or "exhaustive_words" in ran)


def test_bench_fails_on_a_wrong_model():
    with pytest.raises(runner.SimulationFailure, match="first mismatch at result"):
        runner.run(BinaryDot(n=32), test_module=BENCH, seed=1,
                   env={"COROLLA_GOLDEN": "mutants:binary_forgets_bias"},
                   testcase="random_packets")


def test_bad_parameters():
    with pytest.raises(ValueError, match="Word width must be an integer from 2 to 1024, not 1"):
        BinaryDot(n=1)
