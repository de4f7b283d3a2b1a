"""The sparse engine: the EIE engine with its feeder, its load-record port and its drain.

A ``sparse`` step (:class:`corolla.layers.SparseKind`) runs the
:class:`~corolla.hw.sparse.EieEngine` once per image: the feeder streams lane ``n`` of
activation words ``0 … cols − 1`` and the engine's outputs are written to lane ``n`` of the
other bank. The EIE weights (entries, column pointers, codebooks, biases) live inside the
engine; the host writes them as 8-byte load records to the ``EIE`` space, each assembled byte
by byte, checked against the engine's memories and written only if it fits.

Descriptor fields that the engine's own descriptor holds in fewer bits are checked first, so
none is truncated into a different layer (``error`` = ``DESCRIPTOR``); the engine's own
errors end the step with ``EIE_CONFIG``, ``EIE_POINTER``, ``EIE_ROW`` or (Huffman-coded entries)
``EIE_CODE``.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import fifo

from corolla import protocol as proto
from corolla.params import TopParams

from ..sparse.engine import EieEngine, load_fits
from . import KindEngine

__all__ = ["SparseEngine"]


class SparseEngine(KindEngine):
    """Runs ``sparse`` steps on an :class:`~corolla.hw.sparse.EieEngine`.

    Parameters
    ----------
    params : TopParams
        ``params.eie`` sizes the engine (one activation lane, int8 in and out).

    Members
    -------
    See :func:`corolla.hw.bus.engine_members`. Host space: ``EIE`` (write only, load records
    of :func:`corolla.protocol.pack_eie_record`; ``bus.bad`` answers a checking write).
    """

    kind_name = "sparse"

    def __init__(self, params: TopParams):
        if params.eie is None:
            raise ValueError("SparseEngine needs params.eie")
        super().__init__(params)

    def elaborate(self, platform):
        p = self._p
        e = p.eie
        m = Module()
        d = self.desc
        act = self.act
        flag = proto.ErrorFlag

        m.submodules.eie = engine = EieEngine(e)
        m.submodules.actq = actq = fifo.SyncFIFOBuffered(width=8, depth=4)
        m.d.comb += [
            engine.act.payload.eq(actq.r_data),
            engine.act.valid.eq(actq.r_rdy),
            actq.r_en.eq(engine.act.ready),
            engine.output.ready.eq(1),
        ]
        self._load(m, engine)

        # Feeder: lane n of words 0 .. cols - 1.
        s_active = Signal()
        s_k = Signal(12)
        s_valid = Signal()
        issue = Signal()
        lane_n = Signal(range(p.cols))
        m.d.comb += [issue.eq(s_active & (actq.level <= 2)),
                     act.rd_addr.eq(s_k), act.rd_en.eq(issue)]
        m.d.sync += s_valid.eq(issue)
        m.d.comb += [actq.w_data.eq(act.rd_data.word_select(lane_n, 8)), actq.w_en.eq(s_valid)]
        with m.If(issue):
            m.d.sync += s_k.eq(s_k + 1)
            with m.If(s_k + 1 == d.cols):
                m.d.sync += s_active.eq(0)

        # Drain: output i of image n to lane n of word i.
        o_count = Signal(12)
        with m.If(engine.output.valid):
            m.d.sync += o_count.eq(o_count + 1)
            m.d.comb += [act.wr_addr.eq(o_count),
                         act.wr_data.eq(engine.output.payload.replicate(p.cols)),
                         act.wr_en.eq(1 << lane_n)]

        def finish(error=0):
            m.d.comb += [self.step.done.eq(1), self.step.error.eq(error)]
            m.next = "IDLE"

        with m.FSM():
            with m.State("IDLE"), m.If(self.step.start):
                m.d.sync += lane_n.eq(0)
                m.next = "CHECK"
            with m.State("CHECK"):
                with m.If((d.rows > e.max_rows) | (d.cols >= e.ptr_depth)
                          | (d.ptr_base >= e.ptr_depth) | (d.eie_bias_base >= e.bias_depth)
                          | (d.codebook >= e.codebooks)):
                    finish(1 << flag.DESCRIPTOR)
                with m.Else():
                    m.next = "START"
            with m.State("START"):
                lay = engine.layer
                m.d.comb += [
                    lay.rows.eq(d.rows), lay.cols.eq(d.cols), lay.ptr_base.eq(d.ptr_base),
                    lay.bias_base.eq(d.eie_bias_base), lay.codebook.eq(d.codebook),
                    lay.shift.eq(d.shift), lay.relu.eq(d.relu), engine.start.eq(1),
                ]
                m.d.sync += [s_active.eq(1), s_k.eq(0), o_count.eq(0)]
                m.next = "RUN"
            with m.State("RUN"), m.If(engine.done):
                err = engine.error
                with m.If(err.config):
                    finish(1 << flag.EIE_CONFIG)
                with m.Elif(err.pointer):
                    finish(1 << flag.EIE_POINTER)
                with m.Elif(err.row):
                    finish(1 << flag.EIE_ROW)
                with m.Elif(err.code):
                    finish(1 << flag.EIE_CODE)
                with m.Elif(lane_n + 1 == d.batch):
                    finish()
                with m.Else():
                    m.d.sync += lane_n.eq(lane_n + 1)
                    m.next = "START"
        return m

    def _load(self, m, engine):
        """EIE load records from the host bus: assembled byte by byte, checked, written."""
        e = self._p.eie
        bus = self.bus
        mine = bus.we & (bus.space == proto.Space.EIE)
        rec = Signal(56)
        full = Signal(64)
        with m.If(mine):
            m.d.sync += rec.word_select(bus.addr[:3], 8).eq(bus.wdata)
        m.d.comb += full.eq(Cat(rec, bus.wdata))
        target = Cat(full[0:2], full[56])
        pe = full[2:8]
        addr = full[8:24]
        value = full[24:56]
        ok = Signal()
        m.d.comb += ok.eq(load_fits(e, target, addr, value) & (pe < e.pes) & (full[57:] == 0))
        at_end = mine & (bus.addr[:3] == 7)
        m.d.comb += bus.bad.eq(at_end & ~ok)
        load = engine.load.payload
        m.d.comb += [
            load.target.eq(target), load.pe.eq(pe), load.addr.eq(addr), load.data.eq(value),
            engine.load.valid.eq(at_end & ok & ~bus.check & ~self.busy),
        ]
