"""The integer compressed model: fixed-point codebooks, indices, biases and shifts.

This is what the accelerator computes, layer by layer::

    acc_i = wrap_acc( Σ_j codebook[index[i, j]] · a_j + bias_i )
    y_i   = requantize(acc_i, shift, relu)           (int8, see corolla.formats)

with int8 activations in dynamic fixed point (``in_frac`` fraction bits), codebook entries in
``codebook_width``-bit fixed point (``codebook_frac`` fraction bits, entry 0 exact zero), and
the bias at the product scale (``in_frac + codebook_frac``). ``shift`` moves the result to
the next layer's radix point ``out_frac``.

File layout (``numpy.savez``, no pickled objects)::

    format            str    "corolla-compressed-mlp"
    version           int    1
    layers            int    L
    input_frac        int    fraction bits of the int8 input codes
    acc_width         int    accumulator width
    codebook_{i}      int32  (2**k,)      entry 0 == 0
    codebook_frac_{i} int
    codebook_width_{i} int
    index_{i}         uint8  (out, in)    0 = pruned
    bias_{i}          int64  (out,)
    shift_{i}         int    0..62
    relu_{i}          bool
    out_frac_{i}      int
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corolla.formats import ACTIVATION, IntFormat, requantize, wrap_signed

from ..model import Mlp, ModelError, check_keys, open_npz
from ..quant.dfp import choose_frac_bits
from .share import SharedWeights

__all__ = ["CompressedMlp", "QuantLayer", "load_compressed", "quantize_shared",
           "save_compressed"]

FORMAT = "corolla-compressed-mlp"
VERSION = 1


@dataclass(frozen=True)
class QuantLayer:
    """One integer layer of a compressed model (see the module docstring).

    ``mult``, when given, is an integer multiplier per output (at most 16 bits) applied
    before the shift: ``y = sat((acc · mult + 2**(shift−1)) >> shift)``, the requantization of
    models with float (not power-of-two) scales, such as imported ones
    (:mod:`corolla.firmware.importer`). Corolla's own models leave it ``None`` (shift only).
    """

    codebook: np.ndarray
    codebook_frac: int
    codebook_width: int
    index: np.ndarray
    bias: np.ndarray
    shift: int
    relu: bool
    in_frac: int
    out_frac: int
    mult: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.index.shape

    @property
    def bits(self) -> int:
        """Codebook index width k."""
        return max(1, int(np.ceil(np.log2(len(self.codebook)))))

    def weights(self) -> np.ndarray:
        """Integer weight matrix ``codebook[index]``."""
        return self.codebook[self.index]


@dataclass(frozen=True)
class CompressedMlp:
    """An integer MLP with codebook weights, run bit-exactly as the accelerator does."""

    layers: tuple[QuantLayer, ...]
    input_frac: int
    acc_width: int = 32

    def __post_init__(self):
        _check(self)

    def forward(self, pixels) -> list[np.ndarray]:
        """Integer activations of every layer for a batch of int8 inputs (batch, in)."""
        a = np.asarray(pixels, dtype=np.int64)
        if a.ndim == 1:
            a = a[None, :]
        if a.shape[1] != self.layers[0].shape[1] or not ACTIVATION.contains(a):
            raise ValueError(f"inputs must be int8 codes of shape (batch, "
                             f"{self.layers[0].shape[1]}), not {a.shape}")
        acts = [a]
        for layer in self.layers:
            acc = wrap_signed(acts[-1] @ layer.weights().T + layer.bias, self.acc_width)
            if layer.mult is not None:
                acc = acc * np.asarray(layer.mult, dtype=np.int64)
            acts.append(requantize(acc, layer.shift, relu=layer.relu))
        return acts

    def predict(self, pixels) -> np.ndarray:
        """Predicted class per input (first maximum of the int8 outputs)."""
        return np.argmax(self.forward(pixels)[-1], axis=1)

    def accuracy(self, pixels, labels) -> float:
        return float(np.mean(self.predict(pixels) == np.asarray(labels)))


def _check(model: CompressedMlp, source: str = "compressed model"):
    if not model.layers:
        raise ModelError(f"{source}: needs at least one layer")
    if not 16 <= model.acc_width <= 48:
        raise ModelError(f"{source}: acc_width = {model.acc_width}; expected 16 to 48")
    acc = IntFormat(model.acc_width)
    for i, q in enumerate(model.layers):
        cb, idx = q.codebook, q.index
        if cb.ndim != 1 or not 2 <= len(cb) <= 256:
            raise ModelError(f"{source}: codebook_{i} has shape {cb.shape}; expected 2 to 256 "
                             f"entries")
        if cb[0] != 0:
            raise ModelError(f"{source}: codebook_{i}[0] = {cb[0]}; expected exact zero")
        if not 2 <= q.codebook_width <= 16 or not IntFormat(q.codebook_width).contains(cb):
            raise ModelError(f"{source}: codebook_{i} does not fit codebook_width_{i} = "
                             f"{q.codebook_width} bits")
        if idx.ndim != 2 or 0 in idx.shape or not np.issubdtype(idx.dtype, np.integer):
            raise ModelError(f"{source}: index_{i} must be a non-empty 2-D integer matrix, "
                             f"not {idx.dtype} {idx.shape}")
        if idx.min() < 0 or idx.max() >= len(cb):
            raise ModelError(f"{source}: index_{i} holds {int(idx.max())}; expected indices "
                             f"below the {len(cb)} codebook entries")
        if q.bias.shape != (idx.shape[0],) or not acc.contains(q.bias):
            raise ModelError(f"{source}: bias_{i} must be {idx.shape[0]} integers that fit the "
                             f"{model.acc_width}-bit accumulator, not {q.bias.shape}")
        if not 0 <= q.shift <= 62:
            raise ModelError(f"{source}: shift_{i} = {q.shift}; expected 0 to 62")
        if i and idx.shape[1] != model.layers[i - 1].index.shape[0]:
            raise ModelError(f"{source}: index_{i} has {idx.shape[1]} inputs but layer {i - 1} "
                             f"has {model.layers[i - 1].index.shape[0]} outputs")


def quantize_shared(model: Mlp, shared: list[SharedWeights], x_calib, *, input_frac: int,
                    codebook_width: int = 8, acc_width: int = 32) -> CompressedMlp:
    """Turn float shared weights into the integer model.

    Codebook radix points are chosen per layer from the centroids (dynamic fixed point), the
    activation radix points from the float activations on the calibration inputs
    ``x_calib``; the last layer keeps its largest output unsaturated so the argmax is kept.
    """
    float_acts = model.forward(x_calib, weights=[s.weights() for s in shared])
    layers = []
    in_frac = input_frac
    for i, (layer, s) in enumerate(zip(model.layers, shared, strict=True)):
        cents = s.centroids[1:]
        fw = choose_frac_bits(cents, width=codebook_width) if np.any(cents) else 0
        cb = IntFormat(codebook_width).saturate(np.floor(s.centroids * 2.0 ** fw + 0.5))
        cb[0] = 0
        last = i == len(model.layers) - 1
        out = float_acts[i + 1]
        out_frac = choose_frac_bits(out, width=ACTIVATION.width, search=0 if last else 32)
        out_frac = min(out_frac, in_frac + fw)
        bias = IntFormat(acc_width).saturate(
            np.floor(layer.bias * 2.0 ** (in_frac + fw) + 0.5))
        layers.append(QuantLayer(codebook=cb.astype(np.int64), codebook_frac=int(fw),
                                 codebook_width=codebook_width, index=s.index.copy(),
                                 bias=bias.astype(np.int64), shift=int(in_frac + fw - out_frac),
                                 relu=layer.activation == "relu", in_frac=int(in_frac),
                                 out_frac=int(out_frac)))
        in_frac = out_frac
    return CompressedMlp(tuple(layers), input_frac=input_frac, acc_width=acc_width)


def save_compressed(model: CompressedMlp, path) -> Path:
    """Write ``model`` in the layout of the module docstring."""
    arrays = {"format": np.array(FORMAT), "version": np.array(VERSION),
              "layers": np.array(len(model.layers)), "input_frac": np.array(model.input_frac),
              "acc_width": np.array(model.acc_width)}
    for i, q in enumerate(model.layers):
        arrays |= {f"codebook_{i}": q.codebook.astype(np.int32),
                   f"codebook_frac_{i}": np.array(q.codebook_frac),
                   f"codebook_width_{i}": np.array(q.codebook_width),
                   f"index_{i}": q.index.astype(np.uint8),
                   f"bias_{i}": q.bias.astype(np.int64), f"shift_{i}": np.array(q.shift),
                   f"relu_{i}": np.array(q.relu), f"out_frac_{i}": np.array(q.out_frac)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def load_compressed(path) -> CompressedMlp:
    """Read and validate a model written by :func:`save_compressed`.

    Raises
    ------
    ModelError
        Naming the missing or malformed key.
    """
    source, data = open_npz(path, "compressed model")

    def get(key, *, scalar=False):
        if key not in data:
            raise ModelError(f"{source}: missing key '{key}'")
        a = data[key]
        if scalar and a.ndim != 0:
            raise ModelError(f"{source}: key '{key}' must be a single value, not shape "
                             f"{a.shape}")
        return a[()] if scalar else a

    if str(get("format", scalar=True)) != FORMAT:
        raise ModelError(f"{source}: key 'format' is {get('format', scalar=True)!r}; "
                         f"expected {FORMAT!r}")
    if int(get("version", scalar=True)) != VERSION:
        raise ModelError(f"{source}: key 'version' is {get('version', scalar=True)}; "
                         f"expected {VERSION}")
    n = int(get("layers", scalar=True))
    if not 1 <= n <= 64:
        raise ModelError(f"{source}: key 'layers' is {n}; expected 1 to 64")
    in_frac = int(get("input_frac", scalar=True))
    frac = in_frac
    layers = []
    for i in range(n):
        cb = get(f"codebook_{i}")
        if not np.issubdtype(cb.dtype, np.integer):
            raise ModelError(f"{source}: codebook_{i} must hold integers, not {cb.dtype}")
        q = QuantLayer(codebook=cb.astype(np.int64),
                       codebook_frac=int(get(f"codebook_frac_{i}", scalar=True)),
                       codebook_width=int(get(f"codebook_width_{i}", scalar=True)),
                       index=get(f"index_{i}"), bias=get(f"bias_{i}").astype(np.int64),
                       shift=int(get(f"shift_{i}", scalar=True)),
                       relu=bool(get(f"relu_{i}", scalar=True)), in_frac=frac,
                       out_frac=int(get(f"out_frac_{i}", scalar=True)))
        layers.append(q)
        frac = q.out_frac
    acc_width = int(get("acc_width", scalar=True))
    per_layer = ("codebook", "codebook_frac", "codebook_width", "index", "bias", "shift",
                 "relu", "out_frac")
    check_keys(data, ["format", "version", "layers", "input_frac", "acc_width",
                      *(f"{k}_{i}" for i in range(n) for k in per_layer)], source)
    model = CompressedMlp.__new__(CompressedMlp)
    object.__setattr__(model, "layers", tuple(layers))
    object.__setattr__(model, "input_frac", in_frac)
    object.__setattr__(model, "acc_width", acc_width)
    _check(model, source)
    return model
