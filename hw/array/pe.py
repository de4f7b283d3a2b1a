"""Processing elements of the systolic array: one interface, one class per PE kind.

A PE kind is an entry of the registry :data:`corolla.pe_kinds.PE_KINDS` (its parameters,
shapes, latency, golden GEMM); ``kind.pe()`` builds its gateware, a :class:`ProcessingElement`
subclass of this module with the signature :func:`pe_signature` gives. The array only ever
talks to that signature, so any arithmetic that can be written as "accumulate a term per beat,
report the sum after the last beat" drops in as a new kind.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from corolla.formats import TERNARY_CODES
from corolla.hw.arith.dsp import ProductPair
from corolla.hw.arith.lns import lns_mul_comb, lns_to_fixed_comb
from corolla.hw.arith.ternary import tree_sum
from corolla.pe_kinds import (
    PE_KINDS,
    BinaryKind,
    Int8Kind,
    LnsKind,
    PeKind,
    TernaryKind,
    pe_kind,
)

__all__ = [
    "PE_KINDS",
    "BinaryKind",
    "Int8Kind",
    "Int8PePair",
    "LnsKind",
    "PeKind",
    "ProcessingElement",
    "TernaryKind",
    "int_accumulator",
    "operand_shape",
    "pe_kind",
    "pe_signature",
    "result_shape",
]


def pe_signature(kind) -> wiring.Signature:
    """The interface every PE implements (seen from the PE).

    Members
    -------
    a : In(operand_shape(kind, "a"))
        Left operand (an element of the ``M × K`` matrix, usually a weight).
    b : In(operand_shape(kind, "b"))
        Top operand (an element of the ``K × N`` matrix, usually an activation).
    valid : In(1)
        ``a`` and ``b`` form a beat to accumulate; other cycles are ignored.
    last : In(1)
        This beat ends the dot product (only meaningful with ``valid``).
    result : Out(result_shape(kind))
        The finished dot product, while ``done`` is asserted.
    done : Out(1)
        Asserted for one cycle, ``kind.latency`` cycles after a beat with ``last``.
    """
    return wiring.Signature({
        "a": In(operand_shape(kind, "a")), "b": In(operand_shape(kind, "b")), "valid": In(1),
        "last": In(1), "result": Out(result_shape(kind)), "done": Out(1),
    })


def operand_shape(kind, which: str):
    """The Amaranth shape of operand ``which`` (``"a"`` or ``"b"``) of ``kind``."""
    width, is_signed = getattr(kind, f"{which}_shape")
    return signed(width) if is_signed else unsigned(width)


def result_shape(kind):
    """The Amaranth shape of a PE's result: one signed number, or a struct of its fields."""
    fields = kind.result_fields
    if len(fields) == 1:
        return signed(next(iter(fields.values())))
    return data.StructLayout({name: signed(width) for name, width in fields.items()})


class ProcessingElement(wiring.Component):
    """A PE: a term per valid beat, accumulated; the sum reported after the ``last`` beat.

    Subclasses give the term (:meth:`term`, with its own register stages) and, if the result
    is not one number, the accumulation (:meth:`accumulate`); :class:`Int8Pe` replaces the
    whole datapath (its product register is the DSP's). The beat after ``last`` starts a
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
        acc = Signal(result_shape(self.kind))
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


def int_accumulator(m, acc_width: int, product, valid, last, result, done, name: str):
    """A wrapping ``acc_width``-bit accumulator of ``product``: a beat with ``valid`` adds it
    (or, first in a sum, loads it); a beat with ``valid`` and ``last`` ends the sum, which is on
    ``result`` while ``done`` is up the next cycle, and the next valid beat starts a new one.

    The load-or-add selection sits after the adder, so on an iCE40 each bit is one LUT on the
    carry chain (the LUT's spare input takes the selection).
    """
    acc = Signal(signed(acc_width), name=f"{name}_sum")
    fresh = Signal(init=1, name=f"{name}_fresh")
    with m.If(valid):
        m.d.sync += [acc.eq(Mux(fresh, product, acc + product)), fresh.eq(last)]
    m.d.sync += done.eq(valid & last)
    m.d.comb += result.eq(acc)


class Int8Pe(ProcessingElement):
    """Integer PE: product register (the DSP multiplier: ``SB_MAC16`` / ``MULT18X18D``), then the
    accumulator in the fabric (:func:`int_accumulator`)."""

    def elaborate(self, platform):
        m = Module()
        # Stage 1: the product.
        product = Signal(signed(2 * self.kind.width))
        m.d.comb += product.eq(self.a * self.b)
        p, valid, last = self._stage(m, product, self.valid, self.last, "product")
        # Stage 2: the accumulator.
        int_accumulator(m, self.kind.acc_width, p, valid, last, self.result, self.done, "acc")
        return m


class Int8PePair(wiring.Component):
    """Two integer PEs on one DSP block: both products from one :class:`ProductPair` (one
    ``SB_MAC16`` in its two-8×8 mode on iCE40), each accumulated by its own
    :func:`int_accumulator`. Cycle for cycle and bit for bit the same as two
    :class:`Int8Pe`.

    Parameters
    ----------
    kind : Int8Kind
        Operands of at most 8 bits.

    Members
    -------
    pe0, pe1 : Out(pe_signature(kind))
        The two PEs, each as :func:`pe_signature` describes it.
    """

    def __init__(self, kind):
        if kind.width > 8:
            raise ValueError(f"Int8PePair needs operands of at most 8 bits, not {kind.width}")
        self.kind = kind
        super().__init__({"pe0": Out(pe_signature(kind)), "pe1": Out(pe_signature(kind))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.products = products = ProductPair(self.kind.width)
        m.d.comb += [products.a0.eq(self.pe0.a), products.b0.eq(self.pe0.b),
                     products.a1.eq(self.pe1.a), products.b1.eq(self.pe1.b)]
        for i, (pe, p) in enumerate(((self.pe0, products.p0), (self.pe1, products.p1))):
            valid, last = Signal(name=f"valid{i}"), Signal(name=f"last{i}")
            m.d.sync += [valid.eq(pe.valid), last.eq(pe.last)]
            int_accumulator(m, self.kind.acc_width, p, valid, last, pe.result, pe.done,
                              f"acc{i}")
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
        nxt = Signal(result_shape(self.kind))
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

