"""The Winograd engine: 3×3 stride-1 convolutions by F(2×2, 3×3) on a PE array of its own.

A ``winograd`` step (:class:`corolla.layers.WinogradKind`) computes the output map 2×2 pixels
(a *tile*) at a time, each tile in two phases::

    act bank ──▶ reader ──▶ d (4×4 × lanes) ──▶ Bᵀ d B ──▶ V memory (16 words a channel)
                                                              │
    weights (U, host-transformed) ──▶ feeder ◀────────────────┘
                                        │ 16 GEMM tiles per row tile: M_ξ = U_ξ · V_ξ
                                        ▼
                           R × lanes PE array (16-bit operands)
                                        │ R rows of M_ξ per GEMM tile
                                        ▼
                  Y memories (Aᵀ M A, accumulated per position) ──▶ ÷ 4, + bias, requantize
                                                                        │
                                                 other act bank ◀───────┘ four pixels a row

* **Input transform.** For each input channel the reader reads the tile's 4×4 window of the
  H × W × C_in map (one word a cycle, zeros for the padding and past the map's edge), then
  ``V = Bᵀ d B`` (adds only) is latched and written to the V memory at words ``16·c + ξ`` in
  the next 16 cycles, while the next channel is read.
* **GEMMs.** For each row tile ``rt`` of the outputs and each position ``ξ`` the feeder sends
  ``C_in`` beats (weight word ``weight_base + (rt·16 + ξ)·C_in + c``, V word ``16·c + ξ``) to
  the array: a GEMM tile whose ``R`` results are ``M_ξ`` of rows ``rt·R …``.
* **Output transform.** Each result row is added into four Y memories (one per output pixel
  of the tile) with the signs of ``Aᵀ[i, a] · Aᵀ[j, b]`` (``ξ = 4·a + b``), the first
  position writing instead of adding. After the last position the four sums go to a queue
  (back-pressure on the array when it is full), then are written one pixel a cycle:
  ``(Y >> 2) + bias`` through the requantizers to word ``(y·W_out + x)·C_out + row``.

The host transforms the filters (``U = (2G) g (2G)ᵀ``); the compiler refuses a layer whose
sums could wrap, so the result is the direct convolution's bit for bit
(:mod:`corolla.sim.models.winograd`). The engine refuses (``DESCRIPTOR``) a kernel other than
3, a stride other than 1, padding above 1, more input channels than its V memory holds, a
``cols`` that is not ``9·C_in``, maps that do not fit the activation banks, and weights or
biases past their memories.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo
from amaranth.lib.memory import Memory
from amaranth.utils import exact_log2

from corolla import protocol as proto

from ..arith.requant import Requant
from . import KindEngine
from .array import array_with_queue, weight_and_bias_memories
from .window import serial_products

__all__ = ["WinogradEngine"]

#: ``Bᵀ`` and ``Aᵀ`` of F(2×2, 3×3) (the same as :mod:`corolla.sim.models.winograd`).
BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
AT = ((1, 1, 1, 0), (0, 1, -1, -1))


def _signed_sum(terms):
    total = 0
    for sign, value in terms:
        total = total + value if sign > 0 else total - value
    return total


class WinogradEngine(KindEngine):
    """Runs ``winograd`` steps (see the module docstring).

    Parameters
    ----------
    params : TopParams
        ``params.winograd`` sizes the array (``rows`` × the top's ``cols``) and its memories.

    Members
    -------
    See :func:`corolla.hw.bus.engine_members`. Host spaces: the transformed weights (one port:
    SPRAM on the iCE40UP) and the biases.
    """

    kind_name = "winograd"

    def elaborate(self, platform):
        p = self._p
        kind = self._kind
        pe = kind.pe(p)
        sizes = kind.sizes(p)
        m = Module()
        n_rows, lanes, acc_width = sizes.rows, p.cols, p.acc_width
        width = pe.a_shape[0]                       # 16-bit operands
        d = self.desc
        act = self.act
        max_in_c = kind.max_in_c

        # --- memories ------------------------------------------------------------------------
        w_rd, bias_rd = weight_and_bias_memories(self, m, width * n_rows, 32)
        # Two halves, so the next tile is transformed while this one's GEMMs run.
        m.submodules.vmem = vmem = Memory(shape=unsigned(width * lanes), depth=32 * max_in_c,
                                          init=[])
        v_wr = vmem.write_port()
        v_rd = vmem.read_port()

        array, opq, op_layout = array_with_queue(m, pe, n_rows, lanes, depth=4)

        # --- sizes (shift and add in the SIZE states) -----------------------------------------
        rt_bits = exact_log2(n_rows)
        n_rt = Signal(8)                 # row tiles
        m.d.comb += n_rt.eq((d.rows + (n_rows - 1)) >> rt_bits)
        out_h, out_w = Signal(signed(10)), Signal(signed(10))
        m.d.comb += [out_h.eq(d.in_h + (d.pad << 1) - 2), out_w.eq(d.in_w + (d.pad << 1) - 2)]
        tiles_y, tiles_x = Signal(8), Signal(8)
        m.d.comb += [tiles_y.eq((out_h + 1) >> 1), tiles_x.eq((out_w + 1) >> 1)]
        weight_end, row_words, in_size, out_row, out_size = (
            Signal(22, name="weight_end"), *(Signal(13, name=n) for n in (
                "row_words", "in_size", "out_row", "out_size")))
        gemm_tiles = Signal(12)
        m.d.comb += gemm_tiles.eq(n_rt << 4)

        # --- tile loop state -----------------------------------------------------------------
        ty, tx = Signal(8), Signal(8)
        y0, x0 = Signal(signed(10)), Signal(signed(10))     # window corner (may be −1)
        in_base = Signal(signed(15))                        # word of (y0, x0, channel 0)
        in_row_base = Signal(signed(15))                    # ... of (y0, −pad, 0)

        # --- input transform: reader ---------------------------------------------------------
        t_active = Signal()
        t_c = Signal(7)
        t_i, t_j = Signal(2), Signal(2)
        a_c = Signal(signed(15))         # in_base + c
        a_i = Signal(signed(15))         # ... + i · row_words
        a_j = Signal(signed(15))         # ... + j · in_c (the address read)
        inside = Signal()
        y, x = Signal(signed(11)), Signal(signed(11))
        m.d.comb += [y.eq(y0 + t_i), x.eq(x0 + t_j),
                     inside.eq((y >= 0) & (y < d.in_h) & (x >= 0) & (x < d.in_w))]
        t_issue = Signal()
        m.d.comb += t_issue.eq(t_active)
        r_valid, r_inside, r_last = Signal(), Signal(), Signal()
        r_pos = Signal(4)
        r_chan = Signal(7)
        m.d.sync += [r_valid.eq(t_issue), r_inside.eq(inside), r_pos.eq(Cat(t_j, t_i)),
                     r_last.eq((t_i == 3) & (t_j == 3)), r_chan.eq(t_c)]
        m.d.comb += [act.rd_addr.eq(a_j), act.rd_en.eq(t_issue)]
        last_read = Signal()
        m.d.comb += last_read.eq((t_i == 3) & (t_j == 3) & (t_c + 1 == d.in_c))
        with m.If(t_issue):
            m.d.sync += [t_j.eq(t_j + 1), a_j.eq(a_j + d.in_c)]
            with m.If(t_j == 3):
                m.d.sync += [t_i.eq(t_i + 1), a_i.eq(a_i + row_words),
                             a_j.eq(a_i + row_words)]
                with m.If(t_i == 3):
                    m.d.sync += [t_c.eq(t_c + 1), a_c.eq(a_c + 1), a_i.eq(a_c + 1),
                                 a_j.eq(a_c + 1)]
            with m.If(last_read):
                m.d.sync += t_active.eq(0)

        # d: the window of one channel, as the reads return; V latched after the 16th.
        window = [[Signal(8 * lanes, name=f"d{i}{j}") for j in range(4)] for i in range(4)]
        word = Signal(8 * lanes)
        m.d.comb += word.eq(Mux(r_inside, act.rd_data, 0))
        for i in range(4):
            for j in range(4):
                with m.If(r_valid & (r_pos == 4 * i + j)):
                    m.d.sync += window[i][j].eq(word)

        def cell(i, j, lane):
            source = word if 4 * i + j == 15 else window[i][j]   # the 16th is on the bus
            return source.word_select(lane, 8).as_signed()

        v_cells = []
        for a in range(4):
            for b in range(4):
                lanes_v = []
                for lane in range(lanes):
                    terms = [(BT[a][i] * BT[b][j], cell(i, j, lane))
                             for i in range(4) for j in range(4) if BT[a][i] * BT[b][j]]
                    v = Signal(signed(width), name=f"v{a}{b}_{lane}")
                    m.d.comb += v.eq(_signed_sum(terms))
                    lanes_v.append(v)
                v_cells.append(Cat(*lanes_v))
        latched = Signal(data.ArrayLayout(width * lanes, 16))
        w_active = Signal()              # writing a latched channel to the V memory
        w_pos = Signal(4)
        w_chan = Signal(7)
        w_half, w_end, w_final = Signal(), Signal(), Signal()
        t_half, t_final = Signal(), Signal()        # the tile being read: its half, the last?
        full = Signal(2)                 # a half holds a whole transformed tile
        final = Signal(2)                # ... and it is the layer's last tile
        fill = Signal(2)
        drain_half = Signal(2)
        with m.If(w_active):
            m.d.sync += w_pos.eq(w_pos + 1)
            with m.If(w_pos == 15):
                m.d.sync += w_active.eq(0)
        with m.If(r_valid & r_last):
            m.d.sync += [latched.eq(Cat(*v_cells)), w_active.eq(1), w_pos.eq(0),
                         w_chan.eq(r_chan), w_half.eq(t_half),
                         w_end.eq(r_chan + 1 == d.in_c), w_final.eq(t_final)]
        m.d.comb += [v_wr.addr.eq(Cat(w_pos, w_chan[:exact_log2(max_in_c)], w_half)),
                     v_wr.data.eq(latched[w_pos]), v_wr.en.eq(w_active),
                     fill.eq(Mux(w_active & (w_pos == 15) & w_end, 1 << w_half, 0))]
        m.d.sync += [full.eq((full | fill) & ~drain_half),
                     final.eq(Mux(fill[0], w_final, final[0])
                              | (Mux(fill[1], w_final, final[1]) << 1))]

        # --- GEMMs: the feeder -----------------------------------------------------------------
        g_active = Signal()
        g_half = Signal()
        g_finished = Signal()            # the layer's last tile is issued
        g_c = Signal(7)
        g_xi = Signal(4)
        g_rt = Signal(8)
        g_waddr = Signal(21)
        g_issue = Signal()
        m.d.comb += g_issue.eq(g_active & (opq.level <= 2))
        with m.If(self.busy):
            m.d.comb += [w_rd.addr.eq(g_waddr), w_rd.en.eq(g_issue)]
        m.d.comb += [v_rd.addr.eq(Cat(g_xi, g_c[:exact_log2(max_in_c)], g_half)),
                     v_rd.en.eq(g_issue)]
        g_valid, g_last = Signal(), Signal()
        m.d.sync += [g_valid.eq(g_issue), g_last.eq(g_c + 1 == d.in_c)]
        beat = data.View(op_layout, Signal(op_layout))
        m.d.comb += [beat.a.as_value().eq(w_rd.data), beat.b.as_value().eq(v_rd.data),
                     beat.last.eq(g_last), opq.w_data.eq(beat.as_value()),
                     opq.w_en.eq(g_valid)]
        g_done = Signal()                # the tile's last beat is issued this cycle
        m.d.comb += g_done.eq(g_issue & (g_c + 1 == d.in_c) & (g_xi == 15)
                              & (g_rt + 1 == n_rt))
        with m.If(g_issue):
            m.d.sync += [g_c.eq(g_c + 1), g_waddr.eq(g_waddr + 1)]
            with m.If(g_c + 1 == d.in_c):
                m.d.sync += [g_c.eq(0), g_xi.eq(g_xi + 1)]
                with m.If(g_xi == 15):
                    m.d.sync += g_rt.eq(g_rt + 1)
            with m.If(g_done):
                # The half is read: free for the transform of the tile after next.
                m.d.sync += [g_active.eq(0), g_half.eq(~g_half),
                             g_finished.eq(final.bit_select(g_half, 1))]
                m.d.comb += drain_half.eq(1 << g_half)
        with m.If(~g_active & ~g_finished & full.bit_select(g_half, 1) & self.busy):
            m.d.sync += [g_active.eq(1), g_c.eq(0), g_xi.eq(0), g_rt.eq(0),
                         g_waddr.eq(d.weight_base)]

        # --- output transform: Y memories, read-modify-write per result row -------------------
        m.submodules.outq = outq = fifo.SyncFIFOBuffered(
            width=4 * lanes * acc_width + 12 + 13 + 2, depth=4)
        res = array.results
        m.d.comb += res.ready.eq(outq.level <= 1)
        take = Signal()
        m.d.comb += take.eq(res.valid & res.ready)
        q_r = Signal(rt_bits + 1)        # result row in its GEMM tile
        q_xi = Signal(4)
        q_rt = Signal(8)
        q_base = Signal(13)              # output word of the drained tile's pixel (0, 0)
        q_row_base = Signal(13)
        q_tx, q_ty = Signal(8), Signal(8)
        ys = [Memory(shape=unsigned(lanes * acc_width), depth=n_rows, init=[]) for _ in range(4)]
        for k, mem in enumerate(ys):
            m.submodules[f"y{k}"] = mem
        y_wr = [mem.write_port() for mem in ys]
        y_rd = [mem.read_port(transparent_for=(wr,)) for mem, wr in zip(ys, y_wr, strict=True)]
        for rd in y_rd:
            m.d.comb += [rd.addr.eq(q_r), rd.en.eq(1)]
        # Stage A: the Y rows are read; the result and its place are held.
        a_valid, a_first, a_final = Signal(), Signal(), Signal()
        a_xi = Signal(4)
        a_r = Signal(rt_bits + 1)
        a_row = Signal(12)
        a_base = Signal(13)
        a_in_x, a_in_y = Signal(), Signal()
        a_vals = Signal(data.ArrayLayout(signed(acc_width), lanes))
        m.d.sync += [a_valid.eq(take), a_first.eq(q_xi == 0), a_final.eq(q_xi == 15),
                     a_xi.eq(q_xi), a_r.eq(q_r), a_row.eq((q_rt << rt_bits) + q_r),
                     a_base.eq(q_base), a_in_x.eq((q_tx << 1) + 1 < out_w),
                     a_in_y.eq((q_ty << 1) + 1 < out_h), a_vals.eq(res.payload.row)]
        with m.If(take):
            m.d.sync += q_r.eq(q_r + 1)
            with m.If(q_r == n_rows - 1):
                m.d.sync += [q_r.eq(0), q_xi.eq(q_xi + 1)]
                with m.If(q_xi == 15):
                    m.d.sync += q_rt.eq(q_rt + 1)
                    with m.If(q_rt + 1 == n_rt):
                        # The drained tile is complete: the next tile's corner.
                        m.d.sync += [q_rt.eq(0), q_tx.eq(q_tx + 1), q_base.eq(q_base
                                                                            + (d.rows << 1))]
                        with m.If(q_tx + 1 == tiles_x):
                            m.d.sync += [q_tx.eq(0), q_ty.eq(q_ty + 1),
                                         q_base.eq(q_row_base + (out_row << 1)),
                                         q_row_base.eq(q_row_base + (out_row << 1))]
        # Stage B: Y_q = (first ? 0 : Y_q) ± M, written back; after ξ = 15 to the queue.
        sums = []
        for k, (wr, rd) in enumerate(zip(y_wr, y_rd, strict=True)):
            i, j = k >> 1, k & 1
            coef = [AT[i][xi >> 2] * AT[j][xi & 3] for xi in range(16)]
            pos = Const(sum(1 << xi for xi in range(16) if coef[xi] > 0), 16)
            neg = Const(sum(1 << xi for xi in range(16) if coef[xi] < 0), 16)
            old = data.View(data.ArrayLayout(signed(acc_width), lanes), rd.data)
            lanes_y = []
            for lane in range(lanes):
                v = a_vals[lane]
                term = Mux(pos.bit_select(a_xi, 1), v, Mux(neg.bit_select(a_xi, 1), -v, 0))
                new = Signal(signed(acc_width), name=f"y{k}_{lane}")
                m.d.comb += new.eq(Mux(a_first, 0, old[lane]) + term)
                lanes_y.append(new)
            total = Cat(*lanes_y)
            m.d.comb += [wr.addr.eq(a_r), wr.data.eq(total), wr.en.eq(a_valid)]
            sums.append(total)
        m.d.comb += [outq.w_data.eq(Cat(*sums, a_row, a_base, a_in_x, a_in_y)),
                     outq.w_en.eq(a_valid & a_final)]

        # --- writer: four pixels an entry, (Y >> 2) + bias, requantize --------------------------
        entry_sums = Signal(data.ArrayLayout(data.ArrayLayout(signed(acc_width), lanes), 4))
        e_row = Signal(12)
        e_base = Signal(13)
        e_in_x, e_in_y = Signal(), Signal()
        e_busy = Signal()
        e_q = Signal(2)
        e_bias = Signal(signed(32))
        e_bias_ok = Signal()
        pop = Signal()
        m.d.comb += [pop.eq(outq.r_rdy & (~e_busy | (e_q == 3) & e_bias_ok)),
                     outq.r_en.eq(pop)]
        fields = outq.r_data
        n_sum = 4 * lanes * acc_width
        with m.If(self.busy):
            m.d.comb += [bias_rd.addr.eq(d.bias_base + fields[n_sum:n_sum + 12]),
                         bias_rd.en.eq(pop)]
        with m.If(pop):
            m.d.sync += [entry_sums.eq(fields[:n_sum]), e_row.eq(fields[n_sum:n_sum + 12]),
                         e_base.eq(fields[n_sum + 12:n_sum + 25]), e_in_x.eq(fields[n_sum + 25]),
                         e_in_y.eq(fields[n_sum + 26]), e_busy.eq(1), e_q.eq(0),
                         e_bias_ok.eq(0)]
        with m.Elif(e_busy & ~e_bias_ok):
            m.d.sync += [e_bias.eq(bias_rd.data.as_signed()), e_bias_ok.eq(1)]
        with m.Elif(e_busy):
            m.d.sync += e_q.eq(e_q + 1)
            with m.If(e_q == 3):
                m.d.sync += e_busy.eq(0)
        emit = Signal()
        ei, ej = e_q[1], e_q[0]
        m.d.comb += emit.eq(e_busy & e_bias_ok & (e_row < d.rows) & (~ei | e_in_y)
                            & (~ej | e_in_x))
        addr = Signal(13)
        m.d.comb += addr.eq(e_base + Mux(ei, out_row, 0) + Mux(ej, d.rows, 0) + e_row)
        requants = [Requant(acc_width=acc_width, out_width=8) for _ in range(lanes)]
        for lane, rq in enumerate(requants):
            m.submodules[f"requant{lane}"] = rq
            m.d.comb += [rq.input.payload.eq((entry_sums[e_q][lane] >> 2) + e_bias),
                         rq.input.valid.eq(emit), rq.shift.eq(d.shift), rq.relu.eq(d.relu),
                         rq.output.ready.eq(1)]
        # The requantizers never stall (their outputs are always taken): two cycles later.
        addr1, addr2 = Signal(13), Signal(13)
        m.d.sync += [addr1.eq(addr), addr2.eq(addr1)]
        w_count = Signal(13)
        batch_mask = Signal(lanes)
        m.d.comb += batch_mask.eq((1 << d.batch) - 1)
        with m.If(requants[0].output.valid):
            m.d.sync += w_count.eq(w_count + 1)
            m.d.comb += [act.wr_addr.eq(addr2),
                         act.wr_data.eq(Cat(rq.output.payload for rq in requants)),
                         act.wr_en.eq(batch_mask)]

        # --- control: the transform runs a tile ahead of the GEMMs ----------------------------
        def start_tile(base, last):
            m.d.sync += [t_active.eq(1), t_c.eq(0), t_i.eq(0), t_j.eq(0), t_final.eq(last),
                         a_c.eq(base), a_i.eq(base), a_j.eq(base)]

        neg_pad = Signal(signed(15))
        m.d.comb += neg_pad.eq(Mux(d.pad, -(row_words + d.in_c), 0))
        t_more = Signal()                # tiles left to transform after the one at (ty, tx)
        next_free = Signal()
        m.d.comb += next_free.eq(~full.bit_select(~t_half, 1) & ~fill.bit_select(~t_half, 1))
        with m.FSM():
            with m.State("IDLE"), m.If(self.step.start):
                m.next = "SIZE0"
            serial_products(m, "SIZE", [
                (weight_end, gemm_tiles, d.in_c, d.weight_base),
                (row_words, d.in_c, d.in_w, 0),
                (in_size, d.in_h, row_words, 0),
                (out_row, d.rows, out_w, 0),
                (out_size, out_h, out_row, 0),
            ], "CHECK")
            with m.State("CHECK"):
                bad = ((d.kernel != 3) | (d.stride != 1) | (d.pad > 1) | (d.in_c == 0)
                       | (d.in_c > max_in_c) | (out_h < 1) | (out_w < 1)
                       | (d.cols != (d.in_c << 3) + d.in_c)
                       | (in_size > p.act_depth) | (out_size > p.act_depth)
                       | (weight_end > sizes.weight_depth)
                       | (d.bias_base + d.rows > sizes.bias_depth))
                with m.If(bad):
                    m.d.comb += [self.step.done.eq(1),
                                 self.step.error.eq(1 << proto.ErrorFlag.DESCRIPTOR)]
                    m.next = "IDLE"
                with m.Else():
                    only = (tiles_x == 1) & (tiles_y == 1)
                    m.d.sync += [ty.eq(0), tx.eq(0), y0.eq(-d.pad), x0.eq(-d.pad),
                                 in_base.eq(neg_pad), in_row_base.eq(neg_pad), t_half.eq(0),
                                 t_more.eq(~only), full.eq(0), g_half.eq(0),
                                 g_finished.eq(0),
                                 q_r.eq(0), q_xi.eq(0), q_rt.eq(0), q_tx.eq(0), q_ty.eq(0),
                                 q_base.eq(0), q_row_base.eq(0), w_count.eq(0)]
                    start_tile(neg_pad, only)
                    m.next = "RUN"
            with m.State("RUN"):
                # The next tile's window (two columns right, or two rows down) is read as soon
                # as this one's reads are done and the other half of the V memory is free.
                with m.If(~t_active & t_more & next_free):
                    m.d.sync += t_half.eq(~t_half)
                    with m.If(tx + 1 == tiles_x):
                        base = in_row_base + (row_words << 1)
                        last = (ty + 2 == tiles_y) & (tiles_x == 1)
                        m.d.sync += [tx.eq(0), ty.eq(ty + 1), x0.eq(-d.pad), y0.eq(y0 + 2),
                                     in_base.eq(base), in_row_base.eq(base), t_more.eq(~last)]
                        start_tile(base, last)
                    with m.Else():
                        base = in_base + (d.in_c << 1)
                        last = (ty + 1 == tiles_y) & (tx + 2 == tiles_x)
                        m.d.sync += [tx.eq(tx + 1), x0.eq(x0 + 2), in_base.eq(base),
                                     t_more.eq(~last)]
                        start_tile(base, last)
                with m.If(g_finished & (w_count == out_size)):
                    m.d.comb += self.step.done.eq(1)
                    m.next = "IDLE"
        return m
