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

__all__ = ["BinaryLayer", "ConvLayer", "LnsLayer", "MaxPoolLayer", "QuantNetwork",
           "TernaryLayer", "load_network", "patches_hwc", "save_network"]


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


def _out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def patches_hwc(x, h, w, c, kernel, stride=1, pad=0) -> np.ndarray:
    """The patches (im2col) of flat H × W × C maps ``x`` (batch, H·W·C): (batch, P, k·k·C)
    with ``P = out_h · out_w`` output pixels in row-major order, each patch in ``(ky, kx, c)``
    order and zeros for the padding."""
    x = np.asarray(x).reshape(-1, h, w, c)
    k, s, p = kernel, stride, pad
    oh, ow = _out_size(h, k, s, p), _out_size(w, k, s, p)
    x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    views = [x[:, ky:ky + s * (oh - 1) + 1:s, kx:kx + s * (ow - 1) + 1:s, :]
             for ky in range(k) for kx in range(k)]
    return np.stack(views, axis=3).reshape(len(x), oh * ow, k * k * c)


@dataclass(frozen=True)
class ConvLayer:
    """A 2-D convolution run by an array kind: a matrix layer applied to every patch.

    Feature maps are H × W × C, flattened in that order (word ``(y·W + x)·C + c``), so a
    network's activations stay vectors and a fully connected layer after a convolution reads
    them as they lie (flatten costs nothing). The kernel's ``k × k × C_in`` weights of each
    output channel are one row of ``inner``, in ``(ky, kx, c)`` order: the order of the
    patch's words in the activation bank.

    Attributes
    ----------
    inner : layer
        The matrix layer of the arithmetic that runs it (a
        :class:`~corolla.firmware.compress.qmodel.QuantLayer`, :class:`TernaryLayer`,
        :class:`BinaryLayer` or :class:`LnsLayer`), ``(C_out, k·k·C_in)``; its bias, shift
        and ReLU are the convolution's.
    in_h, in_w, in_c : int
        The input feature map.
    kernel : int
        ``k``, 1 to 7.
    stride : int
        1 or 2.
    pad : int
        Zero padding on every side, 0 to ``k − 1``.
    """

    inner: object
    in_h: int
    in_w: int
    in_c: int
    kernel: int
    stride: int = 1
    pad: int = 0

    def __post_init__(self):
        _check("convolution", 1 <= self.kernel <= 7, f"kernel {self.kernel} must be 1 to 7")
        _check("convolution", self.stride in (1, 2), f"stride {self.stride} must be 1 or 2")
        _check("convolution", 0 <= self.pad < self.kernel,
               f"padding {self.pad} must be 0 to kernel − 1 = {self.kernel - 1}")
        _check("convolution", min(self.in_h, self.in_w, self.in_c) >= 1,
               f"input {self.in_h}×{self.in_w}×{self.in_c} must be at least 1×1×1")
        _check("convolution", self.out_h >= 1 and self.out_w >= 1,
               f"a {self.kernel}×{self.kernel} kernel does not fit the padded "
               f"{self.in_h}×{self.in_w} input")
        want = self.kernel * self.kernel * self.in_c
        _check("convolution", self.inner.shape[1] == want,
               f"the weight matrix has {self.inner.shape[1]} columns; a {self.kernel}×"
               f"{self.kernel} kernel on {self.in_c} channels needs {want}")

    @property
    def out_h(self) -> int:
        return _out_size(self.in_h, self.kernel, self.stride, self.pad)

    @property
    def out_w(self) -> int:
        return _out_size(self.in_w, self.kernel, self.stride, self.pad)

    @property
    def out_c(self) -> int:
        return self.inner.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        """(outputs, inputs) as flat feature maps."""
        return (self.out_h * self.out_w * self.out_c, self.in_h * self.in_w * self.in_c)

    @property
    def bias(self):
        return self.inner.bias

    @property
    def shift(self) -> int:
        return self.inner.shift

    @property
    def relu(self) -> bool:
        return self.inner.relu

    def patches(self, x: np.ndarray) -> np.ndarray:
        """Patches of flat inputs ``x`` (batch, H·W·C) as (batch, out_h·out_w, k·k·C), the
        padding zero (for the kinds whose golden model works on patches)."""
        return patches_hwc(np.asarray(x, dtype=np.int64), self.in_h, self.in_w, self.in_c,
                           self.kernel, self.stride, self.pad)


@dataclass(frozen=True)
class MaxPoolLayer:
    """Max pooling of an H × W × C feature map (flattened as :class:`ConvLayer` says): a
    ``size × size`` window moved by ``stride``, no padding (windows past the edge are
    dropped, as in PyTorch's default).

    Attributes
    ----------
    in_h, in_w, in_c : int
    size : int
        1 to 7.
    stride : int
        1 or 2.
    """

    in_h: int
    in_w: int
    in_c: int
    size: int = 2
    stride: int = 2

    def __post_init__(self):
        _check("max pooling", 1 <= self.size <= 7, f"size {self.size} must be 1 to 7")
        _check("max pooling", self.stride in (1, 2), f"stride {self.stride} must be 1 or 2")
        _check("max pooling", min(self.in_h, self.in_w, self.in_c) >= 1,
               f"input {self.in_h}×{self.in_w}×{self.in_c} must be at least 1×1×1")
        _check("max pooling", self.size <= min(self.in_h, self.in_w),
               f"a {self.size}×{self.size} window does not fit the {self.in_h}×{self.in_w} "
               f"input")

    @property
    def out_h(self) -> int:
        return _out_size(self.in_h, self.size, self.stride, 0)

    @property
    def out_w(self) -> int:
        return _out_size(self.in_w, self.size, self.stride, 0)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.out_h * self.out_w * self.in_c, self.in_h * self.in_w * self.in_c)

    shift = 0
    relu = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The pooled flat feature maps of flat inputs ``x`` (batch, H·W·C)."""
        x = np.asarray(x).reshape(-1, self.in_h, self.in_w, self.in_c)
        s, k = self.stride, self.size
        views = [x[:, ky:ky + s * (self.out_h - 1) + 1:s, kx:kx + s * (self.out_w - 1) + 1:s, :]
                 for ky in range(k) for kx in range(k)]
        return np.max(np.stack(views), axis=0).reshape(len(x), -1)


@dataclass(frozen=True)
class QuantNetwork:
    """A chain of integer layers of any kinds, int8 in and int8 out.

    Attributes
    ----------
    layers : tuple
        :class:`~corolla.firmware.compress.qmodel.QuantLayer`, :class:`TernaryLayer`,
        :class:`BinaryLayer`, :class:`LnsLayer`, :class:`ConvLayer` or
        :class:`MaxPoolLayer`, each ``(out, in)`` with ``in`` the outputs of the layer
        before.
    kinds : tuple of str
        The layer kind that runs each layer.
    input_frac : int
        Fraction bits of the int8 inputs.
    acc_width : int
    name : str
        The variant it is (``corolla run --variant``), or empty.
    input_scale : float
        The real value of an input code, for an imported model whose input quantizer has a
        float scale (0: the scale is ``2**-input_frac``).
    """

    layers: tuple
    kinds: tuple
    input_frac: int = 4
    acc_width: int = 32
    name: str = ""
    input_scale: float = 0.0

    def quantize_inputs(self, x) -> np.ndarray:
        """The int8 input codes of float inputs ``x`` (batch, features), rounded half to
        even as ONNX's and QONNX's quantizers do."""
        scale = self.input_scale or 2.0 ** -self.input_frac
        return np.clip(np.round(np.asarray(x, dtype=np.float64) / scale), -128,
                       127).astype(np.int64)

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

    return {cls.__name__: cls for cls in (QuantLayer, TernaryLayer, BinaryLayer, LnsLayer,
                                          ConvLayer, MaxPoolLayer)}


NETWORK_FORMAT = "corolla-network"


def save_network(net: QuantNetwork, path):
    """Write ``net`` as ``.npz`` (no pickled objects): ``format``, ``layers``, ``input_frac``,
    ``acc_width`` and, per layer ``i``, ``kind_{i}``, ``type_{i}`` and its fields
    ``{field}_{i}``; a convolution's matrix layer as ``inner_type_{i}`` and
    ``inner_{field}_{i}``."""
    from dataclasses import fields

    def put(layer, prefix, i):
        arrays[f"{prefix}type_{i}"] = np.array(type(layer).__name__)
        for f in fields(layer):
            value = getattr(layer, f.name)
            if f.name == "inner":
                put(value, "inner_", i)
            elif value is not None:                  # an optional field left out
                arrays[f"{prefix}{f.name}_{i}"] = np.asarray(value)

    arrays = {"format": np.array(NETWORK_FORMAT), "layers": np.array(len(net.layers)),
              "input_frac": np.array(net.input_frac), "acc_width": np.array(net.acc_width),
              "name": np.array(net.name), "input_scale": np.array(net.input_scale)}
    for i, (layer, kind) in enumerate(zip(net.layers, net.kinds, strict=True)):
        arrays[f"kind_{i}"] = np.array(kind)
        put(layer, "", i)
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
    from dataclasses import MISSING, fields

    from ..model import ModelError, open_npz

    path, data = open_npz(path, "network file")
    if str(data.get("format", "")) != NETWORK_FORMAT:
        raise ModelError(f"{path}: key 'format' is {str(data.get('format'))!r}; expected "
                         f"{NETWORK_FORMAT!r}")
    classes = _layer_classes()

    def get(prefix, i):
        name = str(data[f"{prefix}type_{i}"])
        if name not in classes:
            raise ValueError(f"key '{prefix}type_{i}' is {name!r}; expected one of "
                             f"{', '.join(classes)}")
        cls = classes[name]
        values = {}
        for f in fields(cls):
            if f.name == "inner" and not prefix:
                values[f.name] = get("inner_", i)
                continue
            key = f"{prefix}{f.name}_{i}"
            if key not in data:
                if f.default is not MISSING:
                    continue
                raise ValueError(f"key {key!r} is missing")
            v = data[key]
            values[f.name] = v.item() if v.ndim == 0 else v
        return cls(**values)

    layers, kinds = [], []
    try:
        for i in range(int(data["layers"])):
            layers.append(get("", i))
            kinds.append(str(data[f"kind_{i}"]))
        return QuantNetwork(tuple(layers), tuple(kinds), input_frac=int(data["input_frac"]),
                            acc_width=int(data["acc_width"]), name=str(data["name"]),
                            input_scale=float(data.get("input_scale", 0.0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: {exc}") from None
