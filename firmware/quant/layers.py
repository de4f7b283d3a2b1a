"""Integer layers of the ternary, binary and LNS arrays, and a network of layers of any kind.

Each layer holds what its array's memories and descriptor hold (the compiler adds only the
layout): weights in the PEs' format, a bias per output in the accumulator's fixed point, and the
requantization (``shift``, ``relu``) that gives its int8 outputs. The int8 and EIE layers are
:class:`corolla.firmware.compress.qmodel.QuantLayer`. A :class:`QuantNetwork` chains layers of
any kinds; :func:`corolla.firmware.compile.golden_outputs` runs it bit for bit as the
accelerator does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corolla.formats import TERNARY_CODES

__all__ = ["BinaryLayer", "LnsLayer", "QuantNetwork", "TernaryLayer", "load_network",
           "save_network"]


def _check(name, ok, what):
    if not ok:
        raise ValueError(f"{name}: {what}")


@dataclass(frozen=True)
class TernaryLayer:
    """TTQ/TWN layer: ``acc = wp · Σ[+1]x − wn · Σ[−1]x + bias``.

    Attributes
    ----------
    codes : numpy.ndarray of uint8, (out, in)
        2-bit codes (:data:`corolla.formats.TERNARY_CODES`).
    wp, wn : int
        The positive and negative scales, unsigned 8-bit fixed point.
    bias : numpy.ndarray of int64, (out,)
    shift : int
    relu : bool
    """

    codes: np.ndarray
    wp: int
    wn: int
    bias: np.ndarray
    shift: int
    relu: bool

    def __post_init__(self):
        _check("ternary layer", np.isin(self.codes, list(TERNARY_CODES.values())).all(),
               "codes must be 0b00, 0b01 or 0b11")
        _check("ternary layer", 0 <= self.wp <= 255 and 0 <= self.wn <= 255,
               f"scales wp = {self.wp}, wn = {self.wn} must be 0 to 255")

    @property
    def shape(self) -> tuple[int, int]:
        return self.codes.shape


@dataclass(frozen=True)
class BinaryLayer:
    """XNOR-Net layer: ``acc = α · Σ x̂·ŵ + bias`` over ±1 inputs (the signs of int8 inputs,
    or the sign bits a binary layer before it wrote) and ±1 weights.

    Attributes
    ----------
    bits : numpy.ndarray of uint8, (out, in)
        Weight signs, 1 for +1 and 0 for −1.
    alpha : numpy.ndarray of int64, (out,)
        Per-output scale, unsigned 16-bit fixed point.
    bias : numpy.ndarray of int64, (out,)
    shift : int
    relu : bool
    """

    bits: np.ndarray
    alpha: np.ndarray
    bias: np.ndarray
    shift: int
    relu: bool

    def __post_init__(self):
        _check("binary layer", np.isin(self.bits, (0, 1)).all(), "bits must be 0 or 1")
        _check("binary layer", ((self.alpha >= 1) & (self.alpha < 1 << 16)).all(),
               "α must be from 1 to 65535")

    @property
    def shape(self) -> tuple[int, int]:
        return self.bits.shape


@dataclass(frozen=True)
class LnsLayer:
    """LNS layer: ``acc = Σ antilog(log w + log x)`` in fixed point, ``+ bias``; the int8
    inputs become LNS words on chip.

    Attributes
    ----------
    words : numpy.ndarray of int64, (out, in)
        LNS weight words of the array's format.
    bias : numpy.ndarray of int64, (out,)
        In the accumulator's fixed point.
    shift : int
    relu : bool
    """

    words: np.ndarray
    bias: np.ndarray
    shift: int
    relu: bool

    @property
    def shape(self) -> tuple[int, int]:
        return self.words.shape


@dataclass(frozen=True)
class QuantNetwork:
    """A chain of integer layers of any kinds, int8 in and int8 out.

    Attributes
    ----------
    layers : tuple
        :class:`~corolla.firmware.compress.qmodel.QuantLayer`, :class:`TernaryLayer`,
        :class:`BinaryLayer` or :class:`LnsLayer`, each ``(out, in)`` with ``in`` the outputs
        of the layer before.
    kinds : tuple of str
        The layer kind that runs each layer.
    input_frac : int
        Fraction bits of the int8 inputs.
    acc_width : int
    name : str
        The variant it is (``corolla run --variant``), or empty.
    """

    layers: tuple
    kinds: tuple
    input_frac: int = 4
    acc_width: int = 32
    name: str = ""

    def __post_init__(self):
        _check("network", len(self.layers) == len(self.kinds) and self.layers,
               "needs one kind per layer")
        for i in range(1, len(self.layers)):
            _check("network", self.layers[i].shape[1] == self.layers[i - 1].shape[0],
                   f"layer {i} has {self.layers[i].shape[1]} inputs; the layer before has "
                   f"{self.layers[i - 1].shape[0]} outputs")


#: Layer classes by the name a network file stores.
def _layer_classes() -> dict:
    from ..compress.qmodel import QuantLayer

    return {cls.__name__: cls for cls in (QuantLayer, TernaryLayer, BinaryLayer, LnsLayer)}


NETWORK_FORMAT = "corolla-network"


def save_network(net: QuantNetwork, path):
    """Write ``net`` as ``.npz`` (no pickled objects): ``format``, ``layers``, ``input_frac``,
    ``acc_width`` and, per layer ``i``, ``kind_{i}``, ``type_{i}`` and its fields
    ``{field}_{i}``."""
    from dataclasses import fields

    arrays = {"format": np.array(NETWORK_FORMAT), "layers": np.array(len(net.layers)),
              "input_frac": np.array(net.input_frac), "acc_width": np.array(net.acc_width),
              "name": np.array(net.name)}
    for i, (layer, kind) in enumerate(zip(net.layers, net.kinds, strict=True)):
        arrays[f"kind_{i}"] = np.array(kind)
        arrays[f"type_{i}"] = np.array(type(layer).__name__)
        for f in fields(layer):
            arrays[f"{f.name}_{i}"] = np.asarray(getattr(layer, f.name))
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def load_network(path) -> QuantNetwork:
    """Read a network :func:`save_network` wrote.

    Raises
    ------
    corolla.firmware.model.ModelError
        The file is not such a network; the message names the key.
    """
    from dataclasses import fields

    from ..model import ModelError, open_npz

    path, data = open_npz(path, "network file")
    if str(data.get("format", "")) != NETWORK_FORMAT:
        raise ModelError(f"{path}: key 'format' is {str(data.get('format'))!r}; expected "
                         f"{NETWORK_FORMAT!r}")
    classes = _layer_classes()
    layers, kinds = [], []
    try:
        for i in range(int(data["layers"])):
            cls = classes[str(data[f"type_{i}"])]
            values = {}
            for f in fields(cls):
                v = data[f"{f.name}_{i}"]
                values[f.name] = v.item() if v.ndim == 0 else v
            layers.append(cls(**values))
            kinds.append(str(data[f"kind_{i}"]))
        return QuantNetwork(tuple(layers), tuple(kinds), input_frac=int(data["input_frac"]),
                            acc_width=int(data["acc_width"]), name=str(data["name"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: {exc}") from None
