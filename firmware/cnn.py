"""The built-in convolutional network: a small LeNet-shaped CNN on the 8×8 digits.

``digits-cnn`` is::

    8×8×1 ─ conv 3×3, 8, pad 1, ReLU ─ 8×8×8 ─ maxpool 2×2 ─ 4×4×8
          ─ conv 3×3, 16, pad 1, ReLU ─ 4×4×16 ─ maxpool 2×2 ─ 2×2×16 ─ fully connected ─ 10

(1,864 weights, 34 biases). Feature maps are H × W × C, flattened in that order, as the
accelerator holds them (:class:`~corolla.firmware.quant.layers.ConvLayer`), so the fully
connected layer reads the last map as it lies. It is trained here in numpy (im2col forward,
col2im backward, Adam), and turned into the integer network of a **variant**:

=========  ===========================================  ===================================
variant    layer kinds                                  quantization
=========  ===========================================  ===================================
int8       dense, maxpool, dense, maxpool, dense         int8 weights, a power-of-two scale
                                                        per layer (post-training)
ternary    ternary, maxpool, ternary, maxpool, dense    TTQ convolutions (trained Wp/Wn,
                                                        retrained), int8 classifier
=========  ===========================================  ===================================

Activations are int8 with a fraction-bit count per layer chosen on the training images, as for
the MLP (:func:`corolla.firmware.variants.integer_layer`). The float model and each variant's
network are cached like the MLP's (``COROLLA_CACHE_DIR``).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

from corolla.formats import ACTIVATION, LnsFormat

from .model import Adam, TrainConfig, minibatches
from .quant.dfp import choose_frac_bits
from .quant.layers import ConvLayer, MaxPoolLayer, QuantNetwork, patches_hwc
from .quant.qat import QatLayer, init_scales, quantize_weights, weight_gradients

__all__ = ["CNN_VARIANTS", "DIGITS_CNN", "Cnn", "CnnLayer", "cnn_integer", "digits_cnn",
           "digits_cnn_model", "init_cnn", "train_cnn"]

#: The built-in CNN's layers after the 8×8×1 input: ``("conv", C_out, k, stride, pad)``,
#: ``("pool", size, stride)``, ``("dense", outputs)``.
DIGITS_CNN = (("conv", 8, 3, 1, 1), ("pool", 2, 2), ("conv", 16, 3, 1, 1), ("pool", 2, 2),
              ("dense", 10))
INPUT_SHAPE = (8, 8, 1)
TRAIN = TrainConfig(epochs=80, batch=32, lr=1e-3, weight_decay=1e-4, seed=0)
#: Retraining with the quantizer in the loop, from the float model.
QAT = TrainConfig(epochs=30, batch=32, lr=5e-4, weight_decay=0.0, seed=1)


@dataclass(frozen=True)
class CnnVariant:
    """Per layer: the layer kind and the weight quantizer (``"float"`` for int8)."""

    name: str
    kinds: tuple
    quant: tuple
    summary: str


CNN_VARIANTS = {v.name: v for v in (
    CnnVariant("int8", ("dense", "maxpool", "dense", "maxpool", "dense"),
               ("float", None, "float", None, "float"),
               "int8 convolutions and classifier on the int8 array, max pooling on chip"),
    CnnVariant("ternary", ("ternary", "maxpool", "ternary", "maxpool", "dense"),
               ("ttq", None, "ttq", None, "float"),
               "TTQ ternary convolutions on the ternary array, int8 classifier"),
    # conv1 has one input channel: its Winograd GEMMs are one beat long and the array's
    # drain bounds them (cycle model 7,284 against 1,854 direct), so it stays direct.
    CnnVariant("winograd", ("dense", "maxpool", "winograd", "maxpool", "dense"),
               ("float", None, "float", None, "float"),
               "the int8 network with conv2 by Winograd F(2×2, 3×3) on the Winograd array "
               "(conv1, one input channel, is faster direct)"),
)}


@dataclass
class CnnLayer:
    """One float layer. ``op`` is ``"conv"``, ``"pool"`` or ``"dense"``; ``weight`` is the
    matrix ``(C_out, k·k·C_in)`` of a convolution (columns in ``(ky, kx, c)`` order) or
    ``(out, in)`` of a dense layer; ``shape`` the input map ``(H, W, C)``."""

    op: str
    shape: tuple
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    kernel: int = 1
    stride: int = 1
    pad: int = 0
    relu: bool = True

    @property
    def out_shape(self) -> tuple:
        h, w, c = self.shape
        if self.op == "dense":
            return (1, 1, self.weight.shape[0])
        k, s, p = self.kernel, self.stride, self.pad
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        return (oh, ow, self.weight.shape[0] if self.op == "conv" else c)

    def geometry(self) -> tuple:
        h, w, c = self.shape
        return h, w, c, self.kernel, self.stride, self.pad


@dataclass
class Cnn:
    """A float CNN (:class:`CnnLayer` list); inputs are flat H·W·C maps."""

    layers: list = field(default_factory=list)

    def params(self) -> list:
        return [p for layer in self.layers if layer.weight is not None
                for p in (layer.weight, layer.bias)]

    def predict(self, x, weights=None) -> np.ndarray:
        return np.argmax(forward(self, x, weights)[0][-1], axis=1)

    def accuracy(self, x, y, weights=None) -> float:
        return float(np.mean(self.predict(x, weights) == y))


def init_cnn(spec=DIGITS_CNN, in_shape=INPUT_SHAPE, *, seed: int = 0) -> Cnn:
    """He-initialised CNN of ``spec`` (like :data:`DIGITS_CNN`); the last layer is linear."""
    rng = np.random.default_rng(seed)
    layers, shape = [], tuple(in_shape)
    for i, entry in enumerate(spec):
        last = i == len(spec) - 1
        if entry[0] == "conv":
            _, c_out, k, s, p = entry
            fan_in = k * k * shape[2]
            layer = CnnLayer("conv", shape, rng.normal(0, np.sqrt(2 / fan_in), (c_out, fan_in)),
                             np.zeros(c_out), k, s, p, relu=not last)
        elif entry[0] == "pool":
            _, size, s = entry
            layer = CnnLayer("pool", shape, kernel=size, stride=s, relu=False)
        else:
            n_in = int(np.prod(shape))
            layer = CnnLayer("dense", shape, rng.normal(0, np.sqrt(2 / n_in), (entry[1], n_in)),
                             np.zeros(entry[1]), relu=not last)
        layers.append(layer)
        shape = layer.out_shape
    return Cnn(layers)


def _col2im(d, n, geometry):
    """The gradient of the flat input maps (n, H·W·C) from that of the patches
    (n·P, k·k·C): the transpose of :func:`patches_hwc`."""
    h, w, c, k, s, p = geometry
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    d = d.reshape(n, oh, ow, k, k, c)
    xp = np.zeros((n, h + 2 * p, w + 2 * p, c))
    for ky in range(k):
        for kx in range(k):
            xp[:, ky:ky + s * (oh - 1) + 1:s, kx:kx + s * (ow - 1) + 1:s, :] += d[:, :, :, ky, kx]
    return xp[:, p:p + h, p:p + w, :].reshape(n, -1)


def _pool_views(x, layer):
    h, w, c = layer.shape
    k, s = layer.kernel, layer.stride
    oh, ow, _ = layer.out_shape
    x = x.reshape(-1, h, w, c)
    return np.stack([x[:, ky:ky + s * (oh - 1) + 1:s, kx:kx + s * (ow - 1) + 1:s, :]
                     for ky in range(k) for kx in range(k)])


def forward(model: Cnn, x, weights=None):
    """Activations ``[x, a_0, …]`` (flat maps), pre-activations and what backward needs."""
    acts, pres, caches = [np.asarray(x, dtype=np.float64)], [], []
    wi = 0
    for layer in model.layers:
        a = acts[-1]
        n = len(a)
        if layer.op == "pool":
            views = _pool_views(a, layer)
            arg = np.argmax(views, axis=0)
            z = np.max(views, axis=0).reshape(n, -1)
            caches.append(arg)
            pres.append(z)
            acts.append(z)
            continue
        w = layer.weight if weights is None else weights[wi]
        wi += 1
        if layer.op == "conv":
            cols = patches_hwc(a, *layer.geometry())                  # (n, P, K)
            flat = cols.reshape(-1, cols.shape[2])
            z = (flat @ w.T + layer.bias).reshape(n, -1)
            caches.append(flat)
        else:
            z = a @ w.T + layer.bias
            caches.append(a)
        pres.append(z)
        acts.append(np.maximum(z, 0.0) if layer.relu else z)
    return acts, pres, caches


def backward(model: Cnn, delta, acts, pres, caches, weights=None):
    """Gradients ``[(g_w, g_b) or None per layer]`` from the logits' gradient ``delta``."""
    grads = [None] * len(model.layers)
    wis = [i for i, layer in enumerate(model.layers) if layer.weight is not None]
    for i in range(len(model.layers) - 1, -1, -1):
        layer = model.layers[i]
        n = len(delta)
        if layer.op == "pool":
            arg = caches[i]
            h, w, c = layer.shape
            k, s = layer.kernel, layer.stride
            oh, ow, _ = layer.out_shape
            g = delta.reshape(n, oh, ow, c)
            out = np.zeros((n, h, w, c))
            for j in range(k * k):
                ky, kx = divmod(j, k)
                out[:, ky:ky + s * (oh - 1) + 1:s, kx:kx + s * (ow - 1) + 1:s, :] += g * (arg == j)
            delta = out.reshape(n, -1)
            continue
        if layer.relu:
            delta = delta * (pres[i] > 0)
        w = layer.weight if weights is None else weights[wis.index(i)]
        if layer.op == "conv":
            d = delta.reshape(-1, w.shape[0])                        # (n·P, C_out)
            grads[i] = (d.T @ caches[i], d.sum(axis=0))
            if i:
                delta = _col2im(d @ w, n, layer.geometry())
        else:
            grads[i] = (delta.T @ caches[i], delta.sum(axis=0))
            if i:
                delta = delta @ w
    return grads


def train_cnn(model: Cnn, x, y, config: TrainConfig, *, specs=None, progress=None) -> Cnn:
    """Train ``model`` in place (Adam, softmax cross-entropy); with ``specs`` (a
    :class:`~corolla.firmware.quant.qat.QatLayer` per weighted layer) the quantizers are in
    the loop (straight-through gradients, TTQ's scales trained)."""
    weighted = [layer for layer in model.layers if layer.weight is not None]
    specs = specs or [QatLayer() for _ in weighted]
    for layer, spec in zip(weighted, specs, strict=True):
        init_scales(layer.weight, spec)
    params = model.params()
    scales = [np.array([s.wp, s.wn]) for s in specs]
    opt = Adam(params + scales, config.lr)
    rng = np.random.default_rng(config.seed)
    n = len(x)
    for epoch in range(config.epochs):
        total = 0.0
        for idx in minibatches(n, config.batch, rng):
            for s, sc in zip(specs, scales, strict=True):
                s.wp, s.wn = float(sc[0]), float(sc[1])
            quant = [quantize_weights(layer.weight, s) for layer, s in zip(weighted, specs,
                                                                           strict=True)]
            qws = [q for q, _ in quant]
            acts, pres, caches = forward(model, x[idx], qws)
            logits = acts[-1] - acts[-1].max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            m = len(idx)
            total += float(-np.sum(np.log(p[np.arange(m), y[idx]] + 1e-12)))
            p[np.arange(m), y[idx]] -= 1.0
            grads = [g for g in backward(model, p / m, acts, pres, caches, qws) if g]
            flat, scale_grads = [], []
            for layer, spec, (g_q, g_b), (_, aux) in zip(weighted, specs, grads, quant,
                                                         strict=True):
                g_w, g_s = weight_gradients(spec, layer.weight, g_q, aux)
                flat += [g_w + config.weight_decay * layer.weight, g_b]
                scale_grads.append(g_s)
            opt.step(params + scales, flat + scale_grads)
            for sc in scales:
                np.maximum(sc, 1e-4, out=sc)
        for s, sc in zip(specs, scales, strict=True):
            s.wp, s.wn = float(sc[0]), float(sc[1])
        if progress is not None:
            progress(epoch, total / n)
    return model


def cnn_integer(model: Cnn, variant: CnnVariant, specs, x_calib, *, input_frac: int,
                acc_width: int = 32) -> QuantNetwork:
    """The integer network of a (retrained) float ``model`` for ``variant``."""
    from .variants import integer_layer

    qws = [quantize_weights(layer.weight, s)[0]
           for layer, s in zip((la for la in model.layers if la.weight is not None), specs,
                               strict=True)]
    float_acts = forward(model, x_calib, qws)[0]
    layers, in_frac, si = [], input_frac, 0
    last = len(model.layers) - 1
    for i, (layer, kind) in enumerate(zip(model.layers, variant.kinds, strict=True)):
        h, w, c = layer.shape
        if layer.op == "pool":
            layers.append(MaxPoolLayer(h, w, c, layer.kernel, layer.stride))
            continue
        out_frac = choose_frac_bits(float_acts[i + 1], width=ACTIVATION.width,
                                    search=0 if i == last else 32)
        spec = specs[si]
        si += 1
        spec.act = "relu" if layer.relu else "linear"
        q, in_frac = integer_layer(layer.weight, layer.bias, spec, kind, in_frac, out_frac,
                                   lns_format=LnsFormat(4, 3), acc_width=acc_width)
        if layer.op == "conv":
            q = ConvLayer(q, h, w, c, layer.kernel, layer.stride, layer.pad)
        layers.append(q)
    return QuantNetwork(tuple(layers), variant.kinds, input_frac=input_frac,
                        acc_width=acc_width, name=variant.name)


def _save_float(model: Cnn, path):
    arrays = {"layers": np.array(len(model.layers))}
    for i, layer in enumerate(model.layers):
        arrays[f"op_{i}"] = np.array(layer.op)
        arrays[f"geometry_{i}"] = np.array([*layer.shape, layer.kernel, layer.stride,
                                            layer.pad, int(layer.relu)])
        if layer.weight is not None:
            arrays[f"weight_{i}"], arrays[f"bias_{i}"] = layer.weight, layer.bias
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _load_float(path) -> Cnn:
    with np.load(path, allow_pickle=False) as f:
        layers = []
        for i in range(int(f["layers"])):
            g = [int(v) for v in f[f"geometry_{i}"]]
            op = str(f[f"op_{i}"])
            has = f"weight_{i}" in f.files
            layers.append(CnnLayer(op, tuple(g[:3]), f[f"weight_{i}"] if has else None,
                                   f[f"bias_{i}"] if has else None, g[3], g[4], g[5],
                                   bool(g[6])))
    return Cnn(layers)


def _key(blob) -> str:
    from .digits import SPLIT_SEED, TEST_FRACTION

    blob = {"cnn": DIGITS_CNN, "train": asdict(TRAIN), "split": [SPLIT_SEED, TEST_FRACTION],
            "v": 1, **blob}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def digits_cnn_model(*, cache: bool = True, progress=None) -> Cnn:
    """The trained float CNN (from the cache when it exists)."""
    from .digits import _cache_dir, cached_file, load_digits_data

    def make():
        data = load_digits_data()
        return train_cnn(init_cnn(seed=TRAIN.seed), data.x_train, data.y_train, TRAIN,
                         progress=progress)

    return cached_file(_cache_dir() / f"digits-cnn-{_key({})}.npz", make, _save_float,
                   _load_float, cache)


def digits_cnn(variant: str = "int8", *, cache: bool = True, progress=None) -> QuantNetwork:
    """The built-in CNN as the integer network of ``variant`` (a name of
    :data:`CNN_VARIANTS`), from the cache when it exists."""
    from .digits import INPUT_FRAC_BITS, _cache_dir, cached_file, load_digits_data
    from .quant.layers import load_network, save_network

    v = CNN_VARIANTS[variant]

    def make():
        data = load_digits_data()
        model = digits_cnn_model(cache=cache, progress=progress)
        specs = [QatLayer(quant=q) for q in v.quant if q is not None]
        if any(q not in ("float", None) for q in v.quant):
            model = copy.deepcopy(model)
            train_cnn(model, data.x_train, data.y_train, QAT, specs=specs, progress=progress)
        return cnn_integer(model, v, specs, data.x_train, input_frac=INPUT_FRAC_BITS)

    key = _key({"variant": asdict(v), "qat": asdict(QAT)})
    return cached_file(_cache_dir() / f"digits-cnn-{variant}-{key}.npz", make, save_network,
                   load_network, cache)
