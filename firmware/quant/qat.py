"""Quantization-aware training: the numpy MLP trainer with the quantizer in the loop.

Each layer has a weight quantizer and an activation:

``float``
    the weights as they are (int8 comes after training, by dynamic fixed point);
``ttq``
    trained ternary quantization (Zhu et al., ICLR'17): threshold ``Δ = 0.05 · max|W|`` on the
    latent full-precision weights, trained scales ``Wp`` and ``Wn``; the scales get the summed
    gradients of their weights, the latent weights the gradient scaled by ``Wp`` / 1 / ``Wn``;
``twn``
    ternary weight networks (Li & Liu): ``Δ = 0.7 · mean|W|``, one scale ``α`` (the mean kept
    magnitude), straight-through gradient;
``xnor``
    XNOR-Net (Rastegari et al.): ``sign(W)`` times ``α`` per output (the row's mean
    magnitude), straight-through gradient clipped to ``|W| ≤ 1``;
``lns``
    the LNS encoder on the weights (per-layer power-of-two scale), straight-through; the
    layer's int8 inputs are rounded to LNS too, as the hardware converts them.

Activations are ``relu``, ``linear`` or ``sign`` (binary activations: ``x ≥ 0 → +1``, the
straight-through gradient passed where ``|x| ≤ 1``, as in BinaryNet).

Training starts from a trained float model and runs Adam on the latent weights (and TTQ's
scales) with the forward pass through the quantized weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corolla.formats import LnsFormat

from ..model import Adam, Mlp, TrainConfig, minibatches

__all__ = ["QUANTIZERS", "QatLayer", "init_scales", "lns_round", "lns_weight_scale",
           "lns_weights", "quantize_weights", "train_qat", "weight_gradients"]

QUANTIZERS = ("float", "ttq", "twn", "xnor", "lns")
ACTS = ("relu", "linear", "sign")

#: TTQ's threshold, a fraction of the largest latent magnitude (Zhu et al.).
TTQ_THRESHOLD = 0.05
#: TWN's threshold, a multiple of the mean latent magnitude (Li & Liu).
TWN_THRESHOLD = 0.7
#: Where the sign activation passes its gradient (|x| at most this, as BinaryNet).
SIGN_WINDOW = 1.0


@dataclass
class QatLayer:
    """How one layer trains: weight quantizer, activation, and TTQ's trained scales."""

    quant: str = "float"
    act: str = "relu"
    wp: float = 0.0
    wn: float = 0.0
    #: Fraction of the weights kept (the largest in magnitude, chosen before retraining and
    #: held at zero after): pruning for the EIE engine.
    keep: float = 1.0

    def __post_init__(self):
        if self.quant not in QUANTIZERS:
            raise ValueError(f"quantizer {self.quant!r} is unknown; expected one of "
                             f"{', '.join(QUANTIZERS)}")
        if self.act not in ACTS:
            raise ValueError(f"activation {self.act!r} is unknown; expected one of "
                             f"{', '.join(ACTS)}")


def lns_round(x: np.ndarray, fmt: LnsFormat) -> np.ndarray:
    """``x`` through the LNS encoder with the scale that fits its peak (per tensor)."""
    from .lns import quantize_lns

    return quantize_lns(x, fmt).dequantize()


def lns_weight_scale(w: np.ndarray, fmt: LnsFormat) -> int:
    """The power-of-two scale of LNS weights on the array: the largest weight times the
    largest int8 input (2**7) must stay within the format, because the product is an LNS word
    too (it saturates at the format's largest magnitude)."""
    peak = float(np.max(np.abs(w)))
    if peak == 0.0:
        return 0
    top = fmt.log_max / (1 << fmt.frac_bits) - 7
    return int(np.ceil(np.log2(peak) - top))


def lns_weights(w: np.ndarray, fmt: LnsFormat):
    """LNS weight words of ``w`` for the array (:func:`lns_weight_scale`)."""
    from .lns import quantize_lns

    return quantize_lns(w, fmt, scale_log2=lns_weight_scale(w, fmt))


def quantize_weights(w: np.ndarray, spec: QatLayer, fmt: LnsFormat | None = None):
    """The quantized weights of latent ``w`` and what the backward pass needs."""
    if spec.quant == "float":
        return w, None
    if spec.quant == "ttq":
        delta = TTQ_THRESHOLD * float(np.max(np.abs(w)))
        pos, neg = w > delta, w < -delta
        return spec.wp * pos - spec.wn * neg, (pos, neg)
    if spec.quant == "twn":
        delta = TWN_THRESHOLD * float(np.mean(np.abs(w)))
        kept = np.abs(w) > delta
        alpha = float(np.mean(np.abs(w[kept]))) if kept.any() else 0.0
        return alpha * np.sign(w) * kept, None
    if spec.quant == "xnor":
        alpha = np.mean(np.abs(w), axis=1, keepdims=True)
        return alpha * np.where(w >= 0, 1.0, -1.0), None
    return lns_weights(w, fmt).dequantize(), None


def weight_gradients(spec: QatLayer, w: np.ndarray, g_q: np.ndarray, aux):
    """Straight-through gradients of the latent weights ``w`` and of TTQ's scales
    ``(wp, wn)`` from ``g_q``, the gradient of the quantized weights (``aux`` as
    :func:`quantize_weights` returned it)."""
    g_s = np.zeros(2)
    if spec.quant == "ttq":
        pos, neg = aux
        g_s = np.array([np.sum(g_q[pos]), -np.sum(g_q[neg])])
        return np.where(pos, spec.wp * g_q, np.where(neg, spec.wn * g_q, g_q)), g_s
    if spec.quant == "xnor":
        return g_q * (np.abs(w) <= 1.0), g_s
    return g_q, g_s


def init_scales(w: np.ndarray, spec: QatLayer):
    """TTQ's starting scales: the mean magnitude of the weights past the threshold."""
    if spec.quant == "ttq" and not (spec.wp and spec.wn):
        delta = TTQ_THRESHOLD * float(np.max(np.abs(w)))
        spec.wp = float(np.mean(w[w > delta])) if (w > delta).any() else 1e-3
        spec.wn = float(np.mean(-w[w < -delta])) if (w < -delta).any() else 1e-3


def _init_scales(model: Mlp, specs):
    for layer, spec in zip(model.layers, specs, strict=True):
        init_scales(layer.weight, spec)


def _forward(model: Mlp, specs, x, fmt):
    """Pre-activations, activations and quantized weights of every layer."""
    acts, pres, qws, aux = [np.asarray(x, dtype=np.float64)], [], [], []
    for layer, spec in zip(model.layers, specs, strict=True):
        a = acts[-1]
        if spec.quant == "lns":
            a = lns_round(a, fmt)
        qw, extra = quantize_weights(layer.weight, spec, fmt)
        z = a @ qw.T + layer.bias
        pres.append(z)
        qws.append(qw)
        aux.append(extra)
        if spec.act == "relu":
            acts.append(np.maximum(z, 0.0))
        elif spec.act == "sign":
            acts.append(np.where(z >= 0, 1.0, -1.0))
        else:
            acts.append(z)
    return acts, pres, qws, aux


def predict(model: Mlp, specs, x, fmt=None) -> np.ndarray:
    """Classes the quantized float model gives."""
    return np.argmax(_forward(model, specs, x, fmt)[0][-1], axis=1)


def train_qat(model: Mlp, specs: list[QatLayer], x, y, config: TrainConfig, *,
              lns_format: LnsFormat | None = None, progress=None) -> Mlp:
    """Train ``model`` in place with the quantizers of ``specs`` in the loop.

    Returns the model (latent weights); ``specs`` hold TTQ's trained scales.
    """
    if len(specs) != len(model.layers):
        raise ValueError(f"{len(specs)} layer specs for {len(model.layers)} layers")
    fmt = lns_format or LnsFormat(4, 3)
    masks = []
    for layer, spec in zip(model.layers, specs, strict=True):
        mask = np.ones_like(layer.weight, dtype=bool)
        if spec.keep < 1.0:
            cut = np.quantile(np.abs(layer.weight), 1.0 - spec.keep)
            mask = np.abs(layer.weight) > cut
            layer.weight *= mask
        masks.append(mask)
    _init_scales(model, specs)
    rng = np.random.default_rng(config.seed)
    params = [p for layer in model.layers for p in (layer.weight, layer.bias)]
    scales = [np.array([s.wp, s.wn]) for s in specs]
    opt = Adam(params + scales, config.lr)
    n = x.shape[0]
    for epoch in range(config.epochs):
        total = 0.0
        for idx in minibatches(n, config.batch, rng):
            for s, sc in zip(specs, scales, strict=True):
                s.wp, s.wn = float(sc[0]), float(sc[1])
            acts, pres, qws, aux = _forward(model, specs, x[idx], fmt)
            logits = acts[-1] - acts[-1].max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            m = len(idx)
            total += float(-np.sum(np.log(p[np.arange(m), y[idx]] + 1e-12)))
            delta = p
            delta[np.arange(m), y[idx]] -= 1.0
            delta /= m
            grads, scale_grads = [], []
            for i in range(len(model.layers) - 1, -1, -1):
                spec, layer = specs[i], model.layers[i]
                if spec.act == "relu":
                    delta = delta * (pres[i] > 0)
                elif spec.act == "sign":
                    delta = delta * (np.abs(pres[i]) <= SIGN_WINDOW)
                a_in = acts[i] if spec.quant != "lns" else lns_round(acts[i], fmt)
                g_q = delta.T @ a_in
                g_b = delta.sum(axis=0)
                g_w, g_s = weight_gradients(spec, layer.weight, g_q, aux[i])
                g_w = (g_w + config.weight_decay * layer.weight) * masks[i]
                grads = [g_w, g_b, *grads]
                scale_grads.insert(0, g_s)
                delta = delta @ qws[i]
            opt.step(params + scales, grads + scale_grads)
            for sc in scales:
                np.maximum(sc, 1e-4, out=sc)
            for layer, mask in zip(model.layers, masks, strict=True):
                layer.weight *= mask
        for s, sc in zip(specs, scales, strict=True):
            s.wp, s.wn = float(sc[0]), float(sc[1])
        if progress is not None:
            progress(epoch, total / n)
    return model
