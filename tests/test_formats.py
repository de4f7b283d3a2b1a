import numpy as np
import pytest

from corolla.formats import ACCUMULATOR, ACTIVATION, IntFormat, wrap_signed


def test_wrap_signed_matches_python_modulo():
    gen = np.random.default_rng(0)
    values = gen.integers(-(1 << 40), 1 << 40, 10_000)
    for width in (1, 2, 8, 16, 31, 32):
        expected = [((int(v) + (1 << (width - 1))) % (1 << width)) - (1 << (width - 1))
                    for v in values]
        assert wrap_signed(values, width).tolist() == expected


def test_int_format_bounds():
    assert (ACTIVATION.min, ACTIVATION.max) == (-128, 127)
    assert (ACCUMULATOR.min, ACCUMULATOR.max) == (-(1 << 31), (1 << 31) - 1)
    assert ACTIVATION.saturate([-300, 5, 300]).tolist() == [-128, 5, 127]
    assert ACTIVATION.contains([-128, 127]) and not ACTIVATION.contains([128])


@pytest.mark.parametrize("width", [0, 64, 8.0, "8"])
def test_bad_widths_are_rejected(width):
    with pytest.raises(ValueError, match="Width must be an integer"):
        IntFormat(width)
    with pytest.raises(ValueError, match="Width must be an integer"):
        wrap_signed([1], width)
