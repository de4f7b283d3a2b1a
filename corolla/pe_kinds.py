"""The registry of PE kinds: what each arithmetic of the systolic array is, in one entry.

A **PE kind** is a small frozen dataclass registered in :data:`PE_KINDS`. It owns:

* its parameters (checked at construction) and the configuration keys it is built from
  (:meth:`PeKind.from_config`);
* the operand and result shapes as plain ``(width, signed)`` pairs (the gateware casts them,
  :func:`corolla.hw.array.pe.pe_signature`), its pipeline latency and whether it takes a DSP;
* its gateware, named as ``"module:Class"`` (:meth:`PeKind.pe` builds one; the host side never
  imports Amaranth);
* its golden GEMM (:meth:`PeKind.gemm`: ``Y = A · B`` bit for bit as an array of these PEs
  computes it) and its operand ranges (:meth:`PeKind.values_a` / ``values_b``, the
  largest-magnitude operands, the padding operand), which the array bench draws from.

The configuration (``array.pe``), the generator, the golden model
(:func:`corolla.sim.models.array.array_gemm`), the array bench and ``corolla kinds`` iterate
this registry. This module imports numpy and :mod:`corolla.formats` only.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field
from typing import ClassVar

import numpy as np

from .formats import TERNARY_CODES, LnsFormat, wrap_signed

__all__ = ["PE_KINDS", "BinaryKind", "Int8Kind", "LnsKind", "PeKind", "TernaryKind", "pe_kind"]


def _check_int(name, value, lo, hi):
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"PE parameter {name} = {value!r} is out of range; expected an "
                         f"integer from {lo} to {hi}")


def _check_operand(name, values, lo, hi):
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, not shape {values.shape}")
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, not {values.dtype}")
    bad = (values < lo) | (values > hi)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{name}[{i}, {j}] = {int(values[i, j])} is out of range; expected "
                         f"{lo} to {hi}")
    return values.astype(np.int64)


def _signed_range(width: int) -> np.ndarray:
    return np.arange(-(1 << (width - 1)), 1 << (width - 1))


class PeKind:
    """What every PE kind shares (see the module docstring). Subclasses are frozen
    dataclasses that set ``name``, ``latency``, ``uses_dsp``, ``gateware`` and ``summary``."""

    name: ClassVar[str] = ""
    latency: ClassVar[int] = 1
    uses_dsp: ClassVar[bool] = False
    gateware: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    # -- shapes ----------------------------------------------------------------------------
    @property
    def a_shape(self) -> tuple[int, bool]:
        """Left operand (a weight): ``(width, signed)``."""
        raise NotImplementedError

    @property
    def b_shape(self) -> tuple[int, bool]:
        """Top operand (an activation): ``(width, signed)``."""
        raise NotImplementedError

    @property
    def result_fields(self) -> dict:
        """Result fields and their widths (all signed, wrapping)."""
        return {"value": self.acc_width}

    # -- operands --------------------------------------------------------------------------
    def values_a(self) -> np.ndarray:
        """Every value the left operand can take."""
        width, signed = self.a_shape
        return _signed_range(width) if signed else np.arange(1 << width)

    def values_b(self) -> np.ndarray:
        """Every value the top operand can take."""
        width, signed = self.b_shape
        return _signed_range(width) if signed else np.arange(1 << width)

    def random_a(self, gen: np.random.Generator, shape) -> np.ndarray:
        values = self.values_a()
        return gen.integers(values[0], values[-1] + 1, size=shape)

    def random_b(self, gen: np.random.Generator, shape) -> np.ndarray:
        values = self.values_b()
        return gen.integers(values[0], values[-1] + 1, size=shape)

    @property
    def pad(self) -> int:
        """An operand value whose products are 0 (pads ragged tiles)."""
        return 0

    def extremes(self) -> tuple[int, int, int]:
        """``(a, b, term)``: operands whose product is of the largest magnitude, and an upper
        bound of that magnitude (the array bench sizes its accumulator-wrapping test with it)."""
        raise NotImplementedError

    # -- golden model and gateware -----------------------------------------------------------
    def gemm(self, a, b) -> np.ndarray:
        """``Y = A · B`` as the array computes it: (M, N, F), one value per result field."""
        raise NotImplementedError

    def pe(self):
        """A new PE of this kind (the gateware; imports Amaranth)."""
        module, _, attr = self.gateware.partition(":")
        return getattr(importlib.import_module(module), attr)(self)

    def pe_pair(self):
        """Two PEs of this kind sharing one DSP block (members ``pe0`` and ``pe1``), or
        ``None`` when the kind has no such form."""
        return None

    @classmethod
    def from_config(cls, config):
        """The kind the ``[array]``, ``[widths]`` and ``[lns]`` sections describe."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        """Plain-data form, read back by :func:`pe_kind`."""
        return {"kind": self.name, **asdict(self)}


@dataclass(frozen=True)
class Int8Kind(PeKind):
    """Signed integer PE (int8 by default): ``acc += a · b`` on one DSP multiplier.

    Parameters
    ----------
    width : int
        Operand width, 2 to 18.
    acc_width : int
        Accumulator width, ``2 · width`` to 48; the sum wraps like a register.
    """

    width: int = 8
    acc_width: int = 32

    name: ClassVar[str] = "int8"
    latency: ClassVar[int] = 2
    uses_dsp: ClassVar[bool] = True
    gateware: ClassVar[str] = "corolla.hw.array.pe:Int8Pe"
    summary: ClassVar[str] = "signed integer MAC on a DSP multiplier"

    def __post_init__(self):
        _check_int("width", self.width, 2, 18)
        _check_int("acc_width", self.acc_width, 2 * self.width, 48)

    @property
    def a_shape(self):
        return (self.width, True)

    @property
    def b_shape(self):
        return (self.width, True)

    def extremes(self):
        lo = -(1 << (self.width - 1))
        return lo, lo, lo * lo

    def pe_pair(self):
        """Two PEs on one DSP block's two 8×8 multipliers (operands of at most 8 bits)."""
        if self.width > 8:
            return None
        from corolla.hw.array.pe import Int8PePair

        return Int8PePair(self)

    def gemm(self, a, b):
        lim = 1 << (self.width - 1)
        a, b = _check_operand("A", a, -lim, lim - 1), _check_operand("B", b, -lim, lim - 1)
        return wrap_signed(a @ b, self.acc_width)[..., None]

    @classmethod
    def from_config(cls, config):
        w = config.widths
        return cls(width=max(w.activation, w.weight), acc_width=w.accumulator)


@dataclass(frozen=True)
class TernaryKind(PeKind):
    """Ternary-weight PE (TTQ / TWN): no multiplier, two accumulators.

    ``a`` is a 2-bit weight code (:data:`corolla.formats.TERNARY_CODES`; the invalid code
    counts as 0), ``b`` a signed activation. The PE sums the activations met by +1 into ``pos``
    and those met by −1 into ``neg``; the layer's scales give ``Wp · pos − Wn · neg`` outside
    the array.

    Parameters
    ----------
    act_width : int
        Activation width, 2 to 16.
    acc_width : int
        Width of ``pos`` and ``neg``, ``act_width + 1`` to 48 (they wrap like registers).
    """

    act_width: int = 8
    acc_width: int = 24

    name: ClassVar[str] = "ternary"
    latency: ClassVar[int] = 1
    gateware: ClassVar[str] = "corolla.hw.array.pe:TernaryPe"
    summary: ClassVar[str] = "ternary weights {-1, 0, +1}, positive and negative sums"

    def __post_init__(self):
        _check_int("act_width", self.act_width, 2, 16)
        _check_int("acc_width", self.acc_width, self.act_width + 1, 48)

    @property
    def a_shape(self):
        return (2, False)

    @property
    def b_shape(self):
        return (self.act_width, True)

    @property
    def result_fields(self):
        return {"pos": self.acc_width, "neg": self.acc_width}

    def random_a(self, gen, shape):
        # Mostly valid codes; the invalid code now and then (it counts as 0).
        codes = [TERNARY_CODES[0], TERNARY_CODES[1], TERNARY_CODES[-1]]
        invalid = ({0, 1, 2, 3} - set(codes)).pop()
        return gen.choice([*codes, invalid], size=shape, p=[0.3, 0.33, 0.33, 0.04])

    def extremes(self):
        lo = -(1 << (self.act_width - 1))
        return TERNARY_CODES[-1], lo, -lo

    def gemm(self, a, b):
        lim = 1 << (self.act_width - 1)
        a, b = _check_operand("A", a, 0, 3), _check_operand("B", b, -lim, lim - 1)
        pos = (a == TERNARY_CODES[1]).astype(np.int64) @ b
        neg = (a == TERNARY_CODES[-1]).astype(np.int64) @ b
        return np.stack([wrap_signed(pos, self.acc_width), wrap_signed(neg, self.acc_width)],
                        axis=-1)

    @classmethod
    def from_config(cls, config):
        w = config.widths
        return cls(act_width=w.activation, acc_width=w.accumulator)


@dataclass(frozen=True)
class BinaryKind(PeKind):
    """Binary PE (XNOR-Net): ``acc += 2 · popcount(~(a ^ b)) − bits`` on packed ±1 words.

    Each beat carries ``bits`` binary weights and activations (bit 1 = +1, bit 0 = −1), so a
    PE does ``bits`` binary MACs per cycle. Scale and bias are applied outside the array.

    Parameters
    ----------
    bits : int
        Bits per operand word, 1 to 64.
    acc_width : int
        Accumulator width, enough for one beat's ±bits, up to 48.
    """

    bits: int = 8
    acc_width: int = 16

    name: ClassVar[str] = "binary"
    latency: ClassVar[int] = 2
    gateware: ClassVar[str] = "corolla.hw.array.pe:BinaryPe"
    summary: ClassVar[str] = "binary weights and activations, XNOR and popcount"

    def __post_init__(self):
        _check_int("bits", self.bits, 1, 64)
        _check_int("acc_width", self.acc_width, self.bits.bit_length() + 1, 48)

    @property
    def a_shape(self):
        return (self.bits, False)

    @property
    def b_shape(self):
        return (self.bits, False)

    def extremes(self):
        return 0, 0, self.bits

    def gemm(self, a, b):
        bits = self.bits
        a = _check_operand("A", a, 0, (1 << bits) - 1).astype(np.uint64)
        b = _check_operand("B", b, 0, (1 << bits) - 1).astype(np.uint64)
        mask = np.uint64((1 << bits) - 1)
        total = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
        for k in range(a.shape[1]):
            agree = np.bitwise_count(~(a[:, k, None] ^ b[None, k, :]) & mask).astype(np.int64)
            total += 2 * agree - bits
        return wrap_signed(total, self.acc_width)[..., None]

    @classmethod
    def from_config(cls, config):
        return cls(acc_width=config.widths.accumulator)


@dataclass(frozen=True)
class LnsKind(PeKind):
    """LNS PE in linear accumulation: the product is a log addition, converted to fixed point
    through the antilog table and summed in a wrapping integer accumulator.

    Parameters
    ----------
    fmt : LnsFormat
        Word format of both operands.
    acc_width : int
        Accumulator width, 8 to 48.
    acc_frac : int
        Fraction bits of the fixed-point products, 0 to 24.
    antilog_bits : int or None
        Antilog table precision (``fmt.frac_bits + 4`` by default).
    """

    fmt: LnsFormat = field(default_factory=lambda: LnsFormat(4, 3))
    acc_width: int = 32
    acc_frac: int = 8
    antilog_bits: int | None = None

    name: ClassVar[str] = "lns"
    latency: ClassVar[int] = 3
    gateware: ClassVar[str] = "corolla.hw.array.pe:LnsPe"
    summary: ClassVar[str] = "logarithmic words: multiply = add of logs, linear accumulation"

    def __post_init__(self):
        if isinstance(self.fmt, dict):
            object.__setattr__(self, "fmt", LnsFormat(**self.fmt))
        if not isinstance(self.fmt, LnsFormat):
            raise ValueError(f"PE parameter fmt = {self.fmt!r} is not an LnsFormat")
        if self.antilog_bits is None:
            object.__setattr__(self, "antilog_bits", self.fmt.frac_bits + 4)
        _check_int("acc_width", self.acc_width, 8, 48)
        _check_int("acc_frac", self.acc_frac, 0, 24)
        _check_int("antilog_bits", self.antilog_bits, self.fmt.frac_bits, 24)

    @property
    def a_shape(self):
        return (self.fmt.width, False)

    @property
    def b_shape(self):
        return (self.fmt.width, False)

    @property
    def pad(self):
        return int(self.fmt.zero)

    def extremes(self):
        big = int(self.fmt.pack(0, self.fmt.log_max))
        return big, big, 1 << (self.acc_frac + (1 << (self.fmt.int_bits - 1)))

    def gemm(self, a, b):
        from .sim.models.array import lns_product_table
        from .sim.models.lns import lns_mul

        top = (1 << self.fmt.width) - 1
        a, b = _check_operand("A", a, 0, top), _check_operand("B", b, 0, top)
        table = lns_product_table(self.fmt, acc_frac=self.acc_frac, acc_width=self.acc_width,
                                  antilog_bits=self.antilog_bits)
        total = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
        for k in range(a.shape[1]):
            total += table[lns_mul(self.fmt, a[:, k, None], b[None, k, :])]
        return wrap_signed(total, self.acc_width)[..., None]

    @classmethod
    def from_config(cls, config):
        return cls(fmt=config.lns.format(), acc_width=config.widths.accumulator)


#: PE kinds by name.
PE_KINDS: dict[str, type[PeKind]] = {k.name: k for k in (Int8Kind, TernaryKind, BinaryKind,
                                                          LnsKind)}


def pe_kind(spec="int8", **params) -> PeKind:
    """A PE kind from its name and parameters, or from a ``to_dict()`` form.

    Raises
    ------
    ValueError
        For an unknown kind or parameter, naming what is accepted.
    """
    if isinstance(spec, PeKind):
        return spec
    if isinstance(spec, dict):
        params = {**spec, **params}
        spec = params.pop("kind", None)
    if spec not in PE_KINDS:
        raise ValueError(f"PE kind {spec!r} is unknown; expected one of "
                         f"{', '.join(PE_KINDS)}")
    cls = PE_KINDS[spec]
    allowed = list(cls.__dataclass_fields__)
    for key in params:
        if key not in allowed:
            raise ValueError(f"PE parameter {key!r} is unknown for kind {spec!r}; expected "
                             f"one of {', '.join(allowed)}")
    return cls(**params)
