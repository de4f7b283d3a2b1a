"""Winograd F(2×2, 3×3): the golden model against the direct convolution, the compiler's
checks, the engine on the simulated top, and the cycle and multiply figures."""

import numpy as np
import pytest

from corolla.firmware.compile import CompileError, compile_network
from corolla.firmware.quant.layers import ConvLayer, QuantNetwork
from corolla.hw.top import Accelerator
from corolla.layers import LAYER_KINDS
from corolla.params import ArrayParams, TopParams
from corolla.sim import runner
from corolla.sim.models.array import conv2d_reference
from corolla.sim.models.winograd import G2, filter_transform, winograd_bound, winograd_conv

PARAMS = TopParams(winograd=ArrayParams(rows=4, weight_depth=2048, bias_depth=128))
INFO = PARAMS.info()


def _conv(gen, *, h=6, w=5, c_in=3, c_out=5, kernel=3, stride=1, pad=1):
    inner = LAYER_KINDS["dense"].random_layer(gen, kernel * kernel * c_in, c_out, last=False,
                                              info={**INFO, "scales": 0})
    return ConvLayer(inner, h, w, c_in, kernel, stride, pad)


@pytest.mark.parametrize("pad", [0, 1])
def test_model_is_the_direct_convolution(pad):
    """Random maps (odd and even sides, 1×1 up to 9×9 outputs) and filters, extremes included:
    the Winograd sums equal the direct convolution's bit for bit."""
    gen = np.random.default_rng(pad)
    for _ in range(40):
        h, w = (int(v) for v in gen.integers(3 - 2 * pad, 10, 2))
        c_in, c_out = (int(v) for v in gen.integers(1, 9, 2))
        x = gen.integers(-128, 128, (h, w, c_in))
        weights = gen.integers(-128, 128, (c_out, c_in, 3, 3))
        for value in (-128, 127):
            x[gen.random(x.shape) < 0.15] = value
            weights[gen.random(weights.shape) < 0.15] = value
        want = conv2d_reference(x.transpose(2, 0, 1), weights, stride=1, pad=pad)
        got = winograd_conv(x, filter_transform(weights), pad)
        assert np.array_equal(got, want.transpose(1, 2, 0)), (h, w, c_in, c_out)


def test_filter_transform_is_integer_and_bounded():
    u = filter_transform(np.full((1, 1, 3, 3), -128))
    assert u.dtype == np.int64 and np.abs(u).max() == 9 * 128
    assert winograd_bound(u) == 512 * np.abs(u).sum()


def test_the_model_wraps_like_the_registers():
    """A filter whose sums pass the accumulator wraps in the model (the compiler refuses it)."""
    x = np.full((4, 4, 1), -128)
    u = filter_transform(np.full((1, 1, 3, 3), -128))
    assert not np.array_equal(winograd_conv(x, u, 0, acc_width=18),
                              winograd_conv(x, u, 0, acc_width=32))


@pytest.mark.parametrize(("change", "fragment"), [
    ({"stride": 2}, "a 3×3 stride-2 convolution with padding 1; expected 3×3, stride 1"),
    ({"kernel": 5, "pad": 2}, "a 5×5 stride-1 convolution"),
    ({"pad": 2}, "padding 2; expected 3×3, stride 1, padding 0 or 1"),
    ({"c_in": 33, "h": 3, "w": 3}, "in_c is 33; expected at most 32"),
])
def test_compile_errors_name_the_layer(change, fragment):
    gen = np.random.default_rng(3)
    conv = _conv(gen, **change)
    with pytest.raises(CompileError, match="layer 0") as err:
        compile_network(QuantNetwork((conv,), ("winograd",)), INFO)
    assert fragment in str(err.value)


def test_fully_connected_layers_are_refused():
    gen = np.random.default_rng(4)
    fc = LAYER_KINDS["dense"].random_layer(gen, 8, 4, last=True, info=INFO)
    assert "expected a 3×3 stride-1 convolution" in LAYER_KINDS["winograd"].accepts(fc)


def test_no_int8_layer_the_engine_takes_can_wrap():
    """The compiler refuses layers whose sums could pass the accumulator; with int8 weights,
    at most 32 input channels and the 32 bits the 16-bit PEs need, none can: the largest
    bound, all weights −128 against the triangle inequality's worst case, is below 2**31."""
    worst = 512 * 32 * 128 * int(np.abs(G2).sum()) ** 2          # Σ|U| ≤ 128 · (Σ|2G|)²
    assert worst < 1 << 31
    assert winograd_bound(filter_transform(np.full((4, 32, 3, 3), -128))) <= worst
    with pytest.raises(ValueError, match="acc_width at least 32"):
        TopParams(acc_width=24, winograd=ArrayParams(rows=4))


def test_winograd_networks_on_the_top():
    """The top's bench: random Winograd convolutions alone, chained and beside the int8
    array, bit-exact (its golden model checked against the direct convolution)."""
    result = runner.run(Accelerator(PARAMS), test_module="corolla.sim.benches.top",
                        testcase="winograd_networks", seed=5)
    assert result.stats["winograd_networks"] == 6


def test_cycles_and_multiplies_against_direct():
    """Same 4×4 array shape: a 3×3 convolution of 16 channels takes about 2.2× fewer cycles
    by Winograd (2.25× fewer multiplies), and the cycle model is within 3 % of the counters."""
    from corolla.bench import winograd_cycles

    (row,) = winograd_cycles(4, 4, [("3×3, 16→16", 6, 6, 16, 16, 3, 1, 1)])
    assert row["direct_multiplies"] == 2.25 * row["winograd_multiplies"]
    assert row["speedup"] >= 2.0
    assert abs(row["winograd_cycles"] - row["winograd_model"]) <= 0.03 * row["winograd_cycles"]
