import numpy as np
import pytest

from corolla.sim.models.mac import mac_reference


def _loop_reference(a, b, valid, clear, acc_width):
    """Cycle-by-cycle restatement of the MAC's behaviour with Python integers."""
    acc, out = 0, []
    for x, y, v, c in zip(a, b, valid, clear, strict=True):
        if v:
            acc = x * y if c else acc + x * y
            acc = ((acc + (1 << (acc_width - 1))) % (1 << acc_width)) - (1 << (acc_width - 1))
        out.append(acc)
    return out


@pytest.mark.parametrize("width,acc_width", [(8, 32), (8, 16), (4, 8), (2, 4), (16, 40)])
def test_matches_loop_reference(width, acc_width):
    gen = np.random.default_rng(width * 100 + acc_width)
    n = 5000
    lo, hi = -(1 << (width - 1)), 1 << (width - 1)
    a, b = gen.integers(lo, hi, n), gen.integers(lo, hi, n)
    valid, clear = gen.random(n) < 0.7, gen.random(n) < 0.05
    got = mac_reference(a, b, valid, clear, width=width, acc_width=acc_width)
    assert got.tolist() == _loop_reference(a, b, valid, clear, acc_width)


def test_edge_products_and_wrap():
    assert mac_reference([-128], [-128], [True], [True]).tolist() == [16384]
    assert mac_reference([-128], [127], [True], [False]).tolist() == [-16256]
    # 16-bit accumulator: two maximal products wrap to -32768.
    got = mac_reference([-128, -128], [-128, -128], [True, True], [True, False], acc_width=16)
    assert got.tolist() == [16384, -32768]


def test_idle_cycles_and_clear_without_valid_are_ignored():
    got = mac_reference([3, 100, 2], [4, 100, 5], [True, False, True], [True, True, False])
    assert got.tolist() == [12, 12, 22]


def test_operand_out_of_range_is_reported():
    with pytest.raises(ValueError, match=r"Operand b = 128 does not fit in 8 signed bits"):
        mac_reference([1], [128], [True], [False])
    # ...but junk on idle cycles is fine, as in hardware.
    assert mac_reference([1], [128], [False], [False]).tolist() == [0]


def test_mismatched_lengths_are_reported():
    with pytest.raises(ValueError, match="1-D sequences of one length"):
        mac_reference([1, 2], [1], [True], [False])
