"""Quantizers: round trips, the papers' rules, what the hardware models make of the codes."""

import numpy as np
import pytest

from corolla.firmware.quant import (
    binarize_activations,
    choose_frac_bits,
    pack_words,
    quantize_dfp,
    ttq,
    twn,
    xnor_binarize,
)
from corolla.sim.models.binary import binary_dot
from corolla.sim.models.ternary import ternary_dot

GEN = np.random.default_rng(42)


def test_dfp_round_trip_within_half_lsb():
    x = GEN.normal(0, 0.3, 2000)
    q = quantize_dfp(x, width=8)
    assert q.codes.dtype == np.int64 and q.codes.min() >= -128 and q.codes.max() <= 127
    inside = np.abs(x) * 2.0 ** q.frac_bits < 127
    err = np.abs(q.dequantize() - x)[inside]
    assert err.max() <= 2.0 ** -(q.frac_bits + 1) + 1e-12
    # Re-quantizing the dequantized tensor at the same radix point is exact.
    again = quantize_dfp(q.dequantize(), width=8, frac_bits=q.frac_bits)
    assert np.array_equal(again.codes, q.codes)


def test_dfp_radix_point_follows_the_range():
    assert choose_frac_bits(np.array([0.9, -0.5]), width=8) >= 6
    assert choose_frac_bits(np.array([100.0, -3.0]), width=8) <= 0
    small = choose_frac_bits(GEN.normal(0, 0.01, 500), width=8)
    large = choose_frac_bits(GEN.normal(0, 10.0, 500), width=8)
    assert small - large >= 8


def test_twn_rule():
    w = GEN.normal(0, 1, (32, 64))
    t = twn(w)
    assert t.delta == pytest.approx(0.7 * np.mean(np.abs(w)))
    v = t.values()
    assert np.array_equal(v != 0, np.abs(w) > t.delta)
    assert np.array_equal(np.sign(w[v != 0]), v[v != 0])
    assert t.wp == t.wn == pytest.approx(np.mean(np.abs(w[np.abs(w) > t.delta])))


def test_ttq_asymmetric_scales():
    w = np.concatenate([GEN.uniform(0.5, 1.5, 500), -GEN.uniform(0.1, 0.4, 500),
                        GEN.normal(0, 0.01, 200)])
    t = ttq(w)
    v = t.values()
    assert t.wp == pytest.approx(np.mean(w[v == 1]))
    assert t.wn == pytest.approx(np.mean(-w[v == -1]))
    assert t.wp > 2 * t.wn
    # Closer to the weights than the symmetric version.
    assert np.linalg.norm(t.dequantize() - w) < np.linalg.norm(twn(w).dequantize() - w)


def test_ternary_codes_drive_the_hardware_model():
    w = GEN.normal(0, 1, 256)
    a = GEN.integers(-128, 128, 256)
    t = ttq(w)
    wp, wn, frac = t.fixed_scales(8)
    assert 0 < max(wp, wn) <= 255
    value, invalid = ternary_dot(a, t.codes, wp, wn)
    assert not invalid
    assert value * 2.0 ** -frac == pytest.approx(float(a @ t.dequantize()), rel=0.02)


def test_xnor_binarization_and_hardware_dot():
    w = GEN.normal(0, 1, (4, 100))
    b = xnor_binarize(w)
    assert np.allclose(b.alpha, np.mean(np.abs(w), axis=1))
    assert np.allclose(np.abs(b.dequantize()), b.alpha[:, None])
    x = GEN.normal(0, 1, 100)
    a_bits = binarize_activations(x)
    signs_x = np.where(x >= 0, 1, -1)
    for o in range(4):
        a_words, pad = pack_words(a_bits, 32, pad_bit=1)
        w_words, _ = pack_words(b.bits[o], 32, pad_bit=0)
        assert pad == 28
        a_flat = [(word >> i) & 1 for word in a_words for i in range(32)]
        w_flat = [(word >> i) & 1 for word in w_words for i in range(32)]
        value, sign = binary_dot(a_flat, w_flat, 1, pad)  # bias cancels the padding
        exact = int(signs_x @ np.where(w[o] >= 0, 1, -1))
        assert value == exact and sign == int(exact >= 0)


@pytest.mark.parametrize("bad,error,match", [
    (np.array([1.0, np.nan]), ValueError, "must be finite; element 1 is nan"),
    (np.array([1.0, np.inf]), ValueError, "must be finite"),
    (np.array([], dtype=float), ValueError, "must not be empty"),
    (np.array([1, 2, 3]), TypeError, "floating-point dtype, not int64"),
    ([0.5, 0.25], TypeError, "must be a numpy array, not list"),
])
def test_quantizers_reject_bad_input(bad, error, match):
    for quantizer in (quantize_dfp, twn, ttq, binarize_activations):
        with pytest.raises(error, match=match):
            quantizer(bad)


def test_xnor_needs_a_matrix():
    with pytest.raises(ValueError, match="must have 2 dimensions, not 1"):
        xnor_binarize(np.ones(5))
    with pytest.raises(ValueError, match="Threshold factor"):
        twn(np.ones(5), threshold_factor=0.0)
    with pytest.raises(ValueError, match="non-empty 1-D array"):
        pack_words(np.array([0, 2]), 8, pad_bit=0)


def test_lns_quantizer_scales_by_powers_of_two():
    from corolla.firmware.quant import quantize_lns
    from corolla.formats import LnsFormat

    fmt = LnsFormat(4, 3)
    gen = np.random.default_rng(0)
    x = gen.normal(0, 40.0, 500)
    q = quantize_lns(x, fmt)
    # No saturation at the top, and every value within half an LNS step (2**(1/16)).
    assert np.max(np.abs(x)) <= fmt.decode(fmt.pack(0, fmt.log_max)) * 2.0 ** q.scale_log2
    big = np.abs(x) > 2.0 ** (q.scale_log2 - 6)
    ratio = q.dequantize()[big] / x[big]
    assert np.all((ratio > 2 ** (-1 / 16) - 1e-9) & (ratio < 2 ** (1 / 16) + 1e-9))
    assert quantize_lns(x, fmt, scale_log2=3).scale_log2 == 3
    with pytest.raises(TypeError, match="LnsFormat"):
        quantize_lns(x, (4, 3))
