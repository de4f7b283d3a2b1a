"""The dense engine: the weight and bias memories, the feeder, the PE array and the drain.

A ``dense`` step (:class:`corolla.layers.DenseKind`) computes ``Y[rows × batch] = W[rows ×
cols] · X[cols × batch]``. Activation word ``k`` holds feature ``k`` of up to ``cols`` images
(lane = image), so one word is one beat's ``b`` operand; the weights sit in tile order (word
``weight_base + t·cols + k`` holds ``W[t·R + r, k]`` in byte ``r``), so one word is one beat's
``a`` operand and the feeder reads both memories once per beat. Each result row gets its bias,
is requantized (shift, ReLU, saturation; :class:`~corolla.hw.arith.requant.Requant`) and is
written to the other bank at word ``m``.

On ``step.start`` the engine first computes the end of the layer's weights (``weight_base +
tiles · cols``, by shift and add: one bit per cycle instead of a DSP) and refuses a descriptor
whose weights or biases run past their memories (``error`` = ``DESCRIPTOR``).
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, fifo, wiring
from amaranth.lib.memory import Memory
from amaranth.utils import exact_log2

from corolla import protocol as proto
from corolla.layers import LAYER_KINDS
from corolla.params import TopParams

from ..arith.requant import Requant
from ..array.pe import Int8Kind
from ..array.systolic import SystolicArray, operand_layout
from ..bus import engine_members, serve_memories
from ..io.ram import SinglePortRam

__all__ = ["DenseEngine"]


class DenseEngine(wiring.Component):
    """Runs ``dense`` steps on an int8 :class:`~corolla.hw.array.SystolicArray`.

    Parameters
    ----------
    params : TopParams
        ``rows`` × ``cols`` array, ``acc_width``, ``weight_depth`` and ``bias_depth``.

    Members
    -------
    See :func:`corolla.hw.bus.engine_members`. Host spaces: ``WEIGHTS`` (``rows`` bytes a
    word, one port: SPRAM on the iCE40UP) and ``BIAS`` (4 bytes each).
    """

    def __init__(self, params: TopParams):
        self._p = params
        super().__init__(engine_members(params, LAYER_KINDS["dense"]))

    @property
    def parameters(self) -> dict:
        """The layer kind and the top's parameters, for manifests and benches."""
        return {"kind": "dense", "top": self._p.to_dict()}

    def elaborate(self, platform):
        p = self._p
        m = Module()
        n_rows, n_cols = p.rows, p.cols
        d = self.desc
        act = self.act

        # The host and the feeder never use the weights at once: one port.
        m.submodules.weights = weights = SinglePortRam(8 * n_rows, p.weight_depth)
        m.submodules.bias = bias = Memory(shape=unsigned(32), depth=p.bias_depth, init=[])
        w_wr = SimpleNamespace(addr=weights.addr, data=weights.wdata, en=weights.we)
        w_rd = SimpleNamespace(addr=weights.addr, en=weights.re, data=weights.rdata)
        bias_rd = bias.read_port()
        serve_memories(m, self.bus, {
            proto.Space.WEIGHTS: (8 * n_rows, w_rd, w_wr),
            proto.Space.BIAS: (32, bias_rd, bias.write_port(granularity=8)),
        }, busy=self.busy)

        kind = Int8Kind(width=8, acc_width=p.acc_width)
        m.submodules.array = array = SystolicArray(rows=n_rows, cols=n_cols, kind=kind)
        op_layout = operand_layout(kind, n_rows, n_cols)
        m.submodules.opq = opq = fifo.SyncFIFOBuffered(width=op_layout.size, depth=4)
        m.d.comb += [
            array.operands.payload.eq(opq.r_data),
            array.operands.valid.eq(opq.r_rdy),
            opq.r_en.eq(array.operands.ready),
        ]
        requants = [Requant(acc_width=p.acc_width, out_width=8) for _ in range(n_cols)]
        for c, rq in enumerate(requants):
            m.submodules[f"requant{c}"] = rq
            m.d.comb += rq.output.ready.eq(1)

        tiles = Signal(12)
        m.d.comb += tiles.eq((d.rows + (n_rows - 1)) >> exact_log2(n_rows))
        # weight_base + tiles · cols, by shift-and-add in the SIZE state (a DSP saved).
        weight_end = Signal(34)
        size_a = Signal(12)
        size_b = Signal(34)

        # Feeder: one beat per cycle, W word and X word read together.
        f_active = Signal()
        f_k = Signal(12)
        f_tile = Signal(12)
        f_waddr = Signal(21)
        f_valid = Signal()
        f_last = Signal()
        issue = Signal()
        m.d.comb += issue.eq(f_active & (opq.level <= 2))
        with m.If(self.busy):
            m.d.comb += [w_rd.addr.eq(f_waddr), w_rd.en.eq(issue)]
        m.d.comb += [act.rd_addr.eq(f_k), act.rd_en.eq(issue)]
        m.d.sync += [f_valid.eq(issue), f_last.eq(f_k + 1 == d.cols)]
        beat = data.View(op_layout, Signal(op_layout))
        m.d.comb += [
            beat.a.as_value().eq(w_rd.data), beat.b.as_value().eq(act.rd_data),
            beat.last.eq(f_last),
            opq.w_data.eq(beat), opq.w_en.eq(f_valid),
        ]
        with m.If(issue):
            m.d.sync += [f_waddr.eq(f_waddr + 1), f_k.eq(f_k + 1)]
            with m.If(f_k + 1 == d.cols):
                m.d.sync += [f_k.eq(0), f_tile.eq(f_tile + 1)]
                with m.If(f_tile + 1 == tiles):
                    m.d.sync += f_active.eq(0)

        # Drain: bias, requantize, write row m of the other bank.
        r_count = Signal(16)
        r_valid = Signal()
        r_row = Signal(array.results.payload.row.shape())
        m.d.comb += array.results.ready.eq(1)
        with m.If(self.busy):
            m.d.comb += [bias_rd.addr.eq(d.bias_base + r_count), bias_rd.en.eq(1)]
        m.d.sync += r_valid.eq(array.results.valid & (r_count < d.rows))
        m.d.sync += r_row.eq(array.results.payload.row)
        with m.If(array.results.valid):
            m.d.sync += r_count.eq(r_count + 1)
        # The bias is added in a register stage of its own: the bias RAM's output through the
        # adder into the requantizer's shifter was the slowest path of the ECP5 build.
        bias_value = bias_rd.data.as_signed()
        b_valid = Signal()
        m.d.sync += b_valid.eq(r_valid)
        for c, rq in enumerate(requants):
            b_sum = Signal(signed(p.acc_width), name=f"biased{c}")
            m.d.sync += b_sum.eq(r_row[c] + bias_value)
            m.d.comb += [
                rq.input.valid.eq(b_valid),
                rq.input.payload.eq(b_sum),
                rq.shift.eq(d.shift), rq.relu.eq(d.relu),
            ]
        w_count = Signal(12)
        out = requants[0].output.valid
        with m.If(out):
            m.d.sync += w_count.eq(w_count + 1)
        batch_mask = Signal(n_cols)
        m.d.comb += batch_mask.eq((1 << d.batch) - 1)
        with m.If(out):
            m.d.comb += [act.wr_addr.eq(w_count),
                         act.wr_data.eq(Cat(rq.output.payload for rq in requants)),
                         act.wr_en.eq(batch_mask)]

        with m.FSM():
            with m.State("IDLE"), m.If(self.step.start):
                m.next = "SIZE"
            with m.State("SIZE"):
                # Entered with size_a = 0: load the operands, then one bit per cycle.
                with m.If(size_a == 0):
                    m.d.sync += [size_a.eq(tiles), size_b.eq(d.cols),
                                 weight_end.eq(d.weight_base)]
                    with m.If(tiles == 0):
                        m.next = "CHECK"
                with m.Else():
                    with m.If(size_a[0]):
                        m.d.sync += weight_end.eq(weight_end + size_b)
                    m.d.sync += [size_a.eq(size_a >> 1), size_b.eq(size_b << 1)]
                    with m.If(size_a == 1):
                        m.next = "CHECK"
            with m.State("CHECK"):
                m.d.sync += [r_count.eq(0), w_count.eq(0)]
                with m.If((weight_end > p.weight_depth) | (d.bias_base + d.rows > p.bias_depth)):
                    m.d.comb += [self.step.done.eq(1),
                                 self.step.error.eq(1 << proto.ErrorFlag.DESCRIPTOR)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [f_active.eq(1), f_k.eq(0), f_tile.eq(0),
                                 f_waddr.eq(d.weight_base)]
                    m.next = "RUN"
            with m.State("RUN"), m.If((r_count == tiles * n_rows) & (w_count == d.rows)
                                      & ~r_valid):
                m.d.comb += self.step.done.eq(1)
                m.next = "IDLE"
        return m
