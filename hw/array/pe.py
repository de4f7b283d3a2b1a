"""Processing elements of the systolic array: one interface, four arithmetic kinds.

A PE kind is a small frozen dataclass (:class:`Int8Kind`, :class:`TernaryKind`,
:class:`BinaryKind`, :class:`LnsKind`) that fixes the operand and result shapes, the pipeline
latency and the parameters; ``kind.pe()`` builds the gateware, a :class:`ProcessingElement`
with the signature :func:`pe_signature` gives. The array only ever talks to that signature,
so any arithmetic that can be written as "accumulate a term per beat, report the sum after the
last beat" drops in as a new kind.

The golden model of every kind is :func:`corolla.sim.models.array.array_gemm`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from corolla.formats import TERNARY_CODES, LnsFormat
from corolla.hw.arith.lns import lns_mul_comb, lns_to_fixed_comb
from corolla.hw.arith.ternary import tree_sum

__all__ = [
    "PE_KINDS",
    "BinaryKind",
    "Int8Kind",
    "LnsKind",
    "PeKind",
    "ProcessingElement",
    "TernaryKind",
    "pe_kind",
    "pe_signature",
]


def pe_signature(kind) -> wiring.Signature:
    """The interface every PE implements (seen from the PE).

    Members
    -------
    a : In(kind.a_shape)
        Left operand (an element of the ``M × K`` matrix, usually a weight).
    b : In(kind.b_shape)
        Top operand (an element of the ``K × N`` matrix, usually an activation).
    valid : In(1)
        ``a`` and ``b`` form a beat to accumulate; other cycles are ignored.
    last : In(1)
        This beat ends the dot product (only meaningful with ``valid``).
    result : Out(kind.result_shape)
        The finished dot product, while ``done`` is asserted.
    done : Out(1)
        Asserted for one cycle, ``kind.latency`` cycles after a beat with ``last``.
    """
    return wiring.Signature({
        "a": In(kind.a_shape), "b": In(kind.b_shape), "valid": In(1), "last": In(1),
        "result": Out(kind.result_shape), "done": Out(1),
    })


def _check_int(name, value, lo, hi):
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"PE parameter {name} = {value!r} is out of range; expected an "
                         f"integer from {lo} to {hi}")


class PeKind:
    """What every PE kind shares: a wrapping signed ``acc_width``-bit result (kinds with
    other results override :attr:`result_shape` and :attr:`result_fields`), the PE
    factory and the ``to_dict()`` form."""

    @property
    def result_shape(self):
        return signed(self.acc_width)

    @property
    def result_fields(self) -> dict:
        """Result fields and their widths (all signed)."""
        return {"value": self.acc_width}

    def pe(self):
        """A new PE of this kind."""
        return _PE_CLASSES[self.name](self)

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

    def __post_init__(self):
        _check_int("width", self.width, 2, 18)
        _check_int("acc_width", self.acc_width, 2 * self.width, 48)

    @property
    def a_shape(self):
        return signed(self.width)

    @property
    def b_shape(self):
        return signed(self.width)


@dataclass(frozen=True)
class TernaryKind(PeKind):
    """Ternary-weight PE (TTQ / TWN): no multiplier, two accumulators.

    ``a`` is a 2-bit weight code (00 = 0, 01 = +1, 11 = −1; 10 is invalid and counts as 0),
    ``b`` a signed activation. The PE sums the activations met by +1 into ``pos`` and those
    met by −1 into ``neg``; the layer's scales give ``Wp · pos − Wn · neg`` outside the array.

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
    uses_dsp: ClassVar[bool] = False

    def __post_init__(self):
        _check_int("act_width", self.act_width, 2, 16)
        _check_int("acc_width", self.acc_width, self.act_width + 1, 48)

    @property
    def a_shape(self):
        return unsigned(2)

    @property
    def b_shape(self):
        return signed(self.act_width)

    @property
    def result_shape(self):
        return data.StructLayout({"pos": signed(self.acc_width), "neg": signed(self.acc_width)})

    @property
    def result_fields(self) -> dict:
        return {"pos": self.acc_width, "neg": self.acc_width}


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
    uses_dsp: ClassVar[bool] = False

    def __post_init__(self):
        _check_int("bits", self.bits, 1, 64)
        _check_int("acc_width", self.acc_width, self.bits.bit_length() + 1, 48)

    @property
    def a_shape(self):
        return unsigned(self.bits)

    @property
    def b_shape(self):
        return unsigned(self.bits)


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
    uses_dsp: ClassVar[bool] = False

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
        return unsigned(self.fmt.width)

    @property
    def b_shape(self):
        return unsigned(self.fmt.width)


#: PE kinds by name.
PE_KINDS = {k.name: k for k in (Int8Kind, TernaryKind, BinaryKind, LnsKind)}


def pe_kind(spec="int8", **params):
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


class ProcessingElement(wiring.Component):
    """A PE: a term per valid beat, accumulated; the sum reported after the ``last`` beat.

    Subclasses give the term (:meth:`term`, with its own register stages) and, if the result
    is not one number, the accumulation (:meth:`accumulate`); :class:`Int8Pe` replaces the
    whole datapath to split its accumulator. The beat after ``last`` starts a
    new sum, so dot products follow each other without a bubble.

    Parameters
    ----------
    kind
        The PE kind (:class:`Int8Kind`, :class:`TernaryKind`, :class:`BinaryKind` or
        :class:`LnsKind`).

    Members
    -------
    See :func:`pe_signature`.
    """

    def __init__(self, kind):
        self.kind = kind
        super().__init__(pe_signature(kind))

    def term(self, m):
        """Return ``(term, valid, last)`` after ``kind.latency − 1`` register stages."""
        raise NotImplementedError

    def accumulate(self, m, acc, term, fresh):
        """The next accumulator value (``term`` alone when ``fresh``)."""
        return Mux(fresh, term, acc + term)

    def elaborate(self, platform):
        m = Module()
        term, valid, last = self.term(m)
        acc = Signal(self.kind.result_shape)
        fresh = Signal(init=1)
        with m.If(valid):
            m.d.sync += [acc.eq(self.accumulate(m, acc, term, fresh)), fresh.eq(last)]
        m.d.sync += self.done.eq(valid & last)
        m.d.comb += self.result.eq(acc)
        return m

    def _stage(self, m, value, valid, last, name):
        """One register stage of the term pipeline."""
        reg = Signal.like(value, name=f"{name}_term")
        v, lst = Signal(name=f"{name}_valid"), Signal(name=f"{name}_last")
        m.d.sync += [reg.eq(value), v.eq(valid), lst.eq(last)]
        return reg, v, lst


class Int8Pe(ProcessingElement):
    """Integer PE: product register (the DSP multiplier: ``SB_MAC16`` / ``MULT18X18D``), then a
    carry-split accumulator in the fabric.

    A full-width accumulator adder is the longest path of a MAC on an iCE40. Here the
    accumulator is two halves: each beat adds the product's low half into ``lo`` and its high
    half, plus the carry ``lo`` gave on the previous beat, into ``hi``; the last beat's carry
    is added on the way out. The sum is the same, bit for bit, as one wrapping
    ``acc_width``-bit adder.
    """

    def elaborate(self, platform):
        m = Module()
        kind = self.kind
        lo_width = kind.acc_width // 2
        hi_width = kind.acc_width - lo_width

        # Stage 1: the product.
        product = Signal(signed(2 * kind.width))
        m.d.comb += product.eq(self.a * self.b)
        p, valid, last = self._stage(m, product, self.valid, self.last, "product")
        wide = Signal(signed(kind.acc_width))
        m.d.comb += wide.eq(p)

        # Stage 2: the two halves; `carry` is owed to `hi` by the previous beat.
        lo = Signal(lo_width)
        hi = Signal(hi_width)
        carry = Signal()
        fresh = Signal(init=1)
        lo_sum = Signal(lo_width + 1)
        hi_sum = Signal(hi_width + 1)
        m.d.comb += [
            lo_sum.eq(lo + wide[:lo_width]),
            # hi + product high half + carry in one adder: the carry enters below a constant
            # 1, as (2·hi + 1) + (2·p + carry) = 2·(hi + p + carry) + 1.
            hi_sum.eq(Cat(Const(1, 1), hi) + Cat(carry, wide[lo_width:])),
        ]
        with m.If(valid):
            m.d.sync += [
                lo.eq(Mux(fresh, wide[:lo_width], lo_sum[:lo_width])),
                carry.eq(~fresh & lo_sum[lo_width]),
                hi.eq(Mux(fresh, wide[lo_width:], hi_sum[1:])),
                fresh.eq(last),
            ]
        # The last beat's carry folded in while `done` is up (the registers hold their values
        # through that cycle even when the next dot product starts in it).
        m.d.sync += self.done.eq(valid & last)
        m.d.comb += self.result.eq(Cat(lo, hi + carry))
        return m


class TernaryPe(ProcessingElement):
    """Ternary PE: the activation is steered into ``pos`` or ``neg`` (no multiplier)."""

    def term(self, m):
        width = self.kind.act_width
        pos, neg = Signal(signed(width)), Signal(signed(width))
        m.d.comb += [pos.eq(Mux(self.a == TERNARY_CODES[1], self.b, 0)),
                     neg.eq(Mux(self.a == TERNARY_CODES[-1], self.b, 0))]
        return (pos, neg), self.valid, self.last

    def accumulate(self, m, acc, term, fresh):
        pos, neg = term
        nxt = Signal(self.kind.result_shape)
        m.d.comb += [nxt.pos.eq(Mux(fresh, pos, acc.pos + pos)),
                     nxt.neg.eq(Mux(fresh, neg, acc.neg + neg))]
        return nxt


class BinaryPe(ProcessingElement):
    """Binary PE: XNOR, popcount, ``2 · count − bits``; registered, then accumulated."""

    def term(self, m):
        bits = self.kind.bits
        agree = ~(self.a ^ self.b)
        count = tree_sum(m, [agree[i] for i in range(bits)], bits.bit_length() + 1)
        value = Signal(signed(bits.bit_length() + 2))
        m.d.comb += value.eq((count << 1) - bits)
        return self._stage(m, value, self.valid, self.last, "xnor")


class LnsPe(ProcessingElement):
    """LNS PE: log addition (registered), antilog to fixed point (registered), accumulate."""

    def term(self, m):
        kind = self.kind
        product = lns_mul_comb(m, kind.fmt, self.a, self.b)
        p, v, lst = self._stage(m, product, self.valid, self.last, "product")
        fixed = Signal(signed(kind.acc_width))
        m.d.comb += fixed.eq(lns_to_fixed_comb(m, kind.fmt, p, frac_bits=kind.acc_frac,
                                               width=kind.acc_width,
                                               antilog_bits=kind.antilog_bits))
        return self._stage(m, fixed, v, lst, "fixed")


_PE_CLASSES = {"int8": Int8Pe, "ternary": TernaryPe, "binary": BinaryPe, "lns": LnsPe}
