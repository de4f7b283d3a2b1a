"""Convolutional networks: layer types, golden models (direct convolution), the compiler's
checks, network files, the built-in digits CNN and its runs on the simulated accelerator."""

import json
import subprocess
import sys

import numpy as np
import pytest

from corolla.firmware.cnn import CNN_VARIANTS, digits_cnn
from corolla.firmware.compile import CompileError, compile_network, golden_outputs
from corolla.firmware.digits import load_digits_data
from corolla.firmware.quant.layers import (
    ConvLayer,
    MaxPoolLayer,
    QuantNetwork,
    load_network,
    save_network,
)
from corolla.layers import LAYER_KINDS
from corolla.params import ArrayParams, TopParams
from corolla.sim.models.array import conv2d_reference

INFO = TopParams(ternary=ArrayParams(rows=4), binary=ArrayParams(rows=4),
                 lns=ArrayParams(rows=4), winograd=ArrayParams(rows=4)).info()


def _conv(kind, gen, *, h=6, w=5, c_in=3, c_out=5, kernel=3, stride=1, pad=1):
    inner = LAYER_KINDS[kind].random_layer(gen, kernel * kernel * c_in, c_out, last=False,
                                           info=INFO)
    return ConvLayer(inner, h, w, c_in, kernel, stride, pad)


@pytest.mark.parametrize("kind", ["dense", "ternary"])
@pytest.mark.parametrize("stride,pad,kernel", [(1, 0, 1), (1, 1, 3), (2, 1, 3), (2, 2, 5),
                                               (1, 3, 7)])
def test_conv_golden_is_the_direct_convolution(kind, stride, pad, kernel):
    """The kinds' golden convolution equals conv2d_reference on the effective weights and the
    patch-by-patch GEMM of the kind's own arithmetic."""
    gen = np.random.default_rng(kernel * 10 + stride)
    conv = _conv(kind, gen, h=7, w=6, kernel=kernel, stride=stride, pad=pad)
    net = QuantNetwork((conv,), (kind,))
    prog = compile_network(net, INFO)
    x = gen.integers(-128, 128, (3, conv.shape[1]))
    x[:, :5] = -128
    k = LAYER_KINDS[kind]
    got = k.conv_accumulate(prog, 0, conv, x, 32)
    w = k.conv_weights(prog, 0, conv.inner).reshape(conv.out_c, kernel, kernel, conv.in_c)
    for b, image in enumerate(x.reshape(-1, 7, 6, conv.in_c)):
        ref = conv2d_reference(image.transpose(2, 0, 1), w.transpose(0, 3, 1, 2),
                               stride=stride, pad=pad)
        assert (got[b] == ref.transpose(1, 2, 0).ravel()).all()
    patches = conv.patches(x).reshape(-1, conv.inner.shape[1])
    gemm = k.accumulate(prog, 0, conv.inner, patches, 32).reshape(got.shape)
    assert (gemm == got).all()


def test_max_pooling_golden():
    pool = MaxPoolLayer(4, 5, 3, size=2, stride=2)
    x = np.arange(4 * 5 * 3).reshape(1, -1)
    maps = x.reshape(4, 5, 3)
    want = np.array([[maps[2 * i:2 * i + 2, 2 * j:2 * j + 2, c].max() for c in range(3)]
                     for i in range(2) for j in range(2)]).ravel()
    assert pool.shape == (2 * 2 * 3, 60)
    assert (pool.forward(x)[0] == want).all()


@pytest.mark.parametrize("make,fragment", [
    (lambda q: ConvLayer(q, 4, 4, 1, 8), "kernel 8 must be 1 to 7"),
    (lambda q: ConvLayer(q, 4, 4, 1, 3, stride=3), "stride 3 must be 1 or 2"),
    (lambda q: ConvLayer(q, 4, 4, 1, 3, pad=3), "padding 3 must be 0 to kernel − 1 = 2"),
    (lambda q: ConvLayer(q, 4, 4, 2, 3), "has 9 columns; a 3×3 kernel on 2 channels needs 18"),
    (lambda q: ConvLayer(q, 2, 2, 1, 3), "does not fit the padded 2×2 input"),
    (lambda q: MaxPoolLayer(1, 4, 2), "window does not fit the 1×4 input"),
])
def test_layer_shapes_are_checked(make, fragment):
    q = LAYER_KINDS["dense"].random_layer(np.random.default_rng(0), 9, 4, last=False,
                                          info=INFO)
    with pytest.raises(ValueError, match=fragment):
        make(q)


@pytest.mark.parametrize("kinds,info,fragment", [
    (("sparse", "maxpool", "dense"), INFO, "layer 0: layer type is ConvLayer"),
    (("binary", "maxpool", "dense"), INFO,
     "layer 0: a convolution's weight matrix: layer type is QuantLayer; expected BinaryLayer"),
    (("dense", "dense", "dense"), INFO, "layer 1: layer type is MaxPoolLayer"),
    (("dense", "maxpool", "dense"), TopParams(conv=False).info(),
     "the accelerator runs no convolutions"),
    (("dense", "maxpool", "dense"), TopParams(pool=False).info(),
     "layer kind maxpool: the accelerator has no pooling engine"),
])
def test_compile_errors_name_the_layer(kinds, info, fragment):
    gen = np.random.default_rng(1)
    conv = _conv("dense", gen, h=4, w=4, c_in=2, c_out=3)
    pool = MaxPoolLayer(4, 4, 3)
    fc = LAYER_KINDS["dense"].random_layer(gen, 12, 2, last=True, info=INFO)
    with pytest.raises(CompileError, match=fragment):
        compile_network(QuantNetwork((conv, pool, fc), kinds), info)


def test_a_patch_longer_than_the_banks_is_refused():
    gen = np.random.default_rng(2)
    conv = _conv("dense", gen, h=4, w=4, c_in=20, c_out=2, kernel=5, pad=2)
    net = QuantNetwork((conv,), ("dense",))
    with pytest.raises(CompileError, match=r"layer 0 \(conv5×5 4×4×20→4×4×2\): kernel² · in_c "
                                           r"is 500; expected at most act_depth = 400"):
        compile_network(net, TopParams(act_depth=400).info())
    compile_network(net, TopParams(act_depth=500).info())


def test_network_files_keep_convolutions(tmp_path):
    gen = np.random.default_rng(3)
    conv = _conv("ternary", gen, h=5, w=5, c_in=2, c_out=4, stride=2)
    pool = MaxPoolLayer(conv.out_h, conv.out_w, 4, size=2, stride=1)
    fc = LAYER_KINDS["dense"].random_layer(gen, pool.shape[0], 3, last=True, info=INFO)
    net = QuantNetwork((conv, pool, fc), ("ternary", "maxpool", "dense"), name="t")
    back = load_network(save_network(net, tmp_path / "net.npz"))
    assert back.kinds == net.kinds and back.layers[1] == pool
    assert back.layers[0].inner.wp == conv.inner.wp and back.layers[0].stride == 2
    x = gen.integers(-128, 128, (2, conv.shape[1]))
    a, b = (golden_outputs(n, compile_network(n, INFO), x) for n in (net, back))
    assert (a == b).all()


@pytest.mark.parametrize("variant", list(CNN_VARIANTS))
def test_digits_cnn_beats_the_mlp(variant):
    """The CNN's test accuracy (golden model, whole split) is at least the compressed MLP's
    97.3 %."""
    net = digits_cnn(variant)
    data = load_digits_data()
    out = golden_outputs(net, compile_network(net, INFO), data.pixels_test)
    assert np.mean(np.argmax(out, axis=1) == data.y_test) >= 0.973


def corolla(*args):
    return subprocess.run([sys.executable, "-m", "corolla.cli", *args], capture_output=True,
                          text=True)


@pytest.mark.parametrize("variant", list(CNN_VARIANTS))
def test_run_digits_cnn_end_to_end(variant):
    proc = corolla("run", "--sim", "--model", "digits-cnn", "--variant", variant, "--images",
                   "8", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["bit_exact"] and r["images"] == 8 and r["variant"] == variant
    assert r["test_accuracy"] >= 0.973 and 0 <= r["accuracy"] <= 1
    assert r["cycles_per_inference"] > 0 and len(r["layer_cycles_per_inference"]) == 5


def test_run_digits_cnn_bad_variant_exits_2():
    proc = corolla("run", "--sim", "--model", "digits-cnn", "--variant", "twn")
    assert proc.returncode == 2
    assert "--variant is 'twn'" in proc.stderr and "int8, ternary" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_conv_utilization_from_the_counters():
    """A 3×3 convolution of 16 channels keeps the 4×4 array ≥ 90 % busy (hardware counters),
    and the cycle model is within 1 % of the counters."""
    from corolla.bench import conv_cycles

    rows = conv_cycles(4, 4, [("3×3, 16→16", 6, 6, 16, 16, 3, 1, 1),
                              ("3×3 stride 2, 5→7", 7, 5, 5, 7, 3, 2, 1)])
    assert rows[0]["utilization"] >= 0.9
    for r in rows:
        assert abs(r["cycles"] - r["model_cycles"]) <= 0.01 * r["cycles"], r


def test_a_binary_convolution_runs_between_int8_layers_only():
    gen = np.random.default_rng(4)
    conv = _conv("binary", gen, h=4, w=4, c_in=3, c_out=5)
    fc = LAYER_KINDS["binary"].random_layer(gen, conv.shape[0], 3, last=True, info=INFO)
    with pytest.raises(CompileError, match=r"layer 0 \(conv3×3 4×4×3→4×4×5\): a binary "
                                           r"convolution next to a binary layer"):
        compile_network(QuantNetwork((conv, fc), ("binary", "binary")), INFO)
    dense = LAYER_KINDS["dense"].random_layer(gen, conv.shape[0], 3, last=True, info=INFO)
    net = QuantNetwork((conv, dense), ("binary", "dense"))
    prog = compile_network(net, INFO)
    x = gen.integers(-128, 128, (2, conv.shape[1]))
    # The golden binary convolution: the signs of each patch (padding 0 counts as +1).
    k = LAYER_KINDS["binary"]
    got = k.golden(prog, 0, conv, x, 32)
    patches = conv.patches(x).reshape(-1, conv.inner.shape[1])
    signs = np.where(patches >= 0, 1, -1)
    w = np.where(conv.inner.bits == 1, 1, -1)
    acc = conv.inner.alpha * (signs @ w.T) + conv.inner.bias
    from corolla.formats import requantize

    want = requantize(acc, conv.inner.shift, relu=conv.inner.relu).reshape(2, -1)
    assert (got == want).all()
