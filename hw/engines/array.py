"""The array engines: weight and bias memories, a feeder, a systolic PE array and a drain.

One engine per array layer kind (:class:`corolla.layers.ArrayKind`): ``dense`` (int8 PEs),
``ternary``, ``binary`` and ``lns``. A step computes ``Y[rows × batch] = f(W[rows × cols],
X[cols × batch])``. Activation word ``k`` holds feature ``k`` of up to ``cols`` images (lane =
image), so one word is one beat's ``b`` operand; the weights sit in tile order (word
``weight_base + t·beats + k`` holds the operands of rows ``t·R … t·R + R − 1`` for beat ``k``),
so one word is one beat's ``a`` operand::

    act bank ──▶ feeder ──(convert)──▶ FIFO ──▶ R × lanes PE array ──▶ combine ──▶ + bias
    weights  ──▶   (one word each a beat)                                         │
                                                      other act bank ◀── requantize / sign

What differs between kinds is small and lives in the subclasses:

* **the feeder's conversion** of an activation word into the PEs' ``b`` operands: none for
  int8 and ternary PEs; int8 → LNS word through the log table for the LNS array (conversion on
  chip, at the layer boundary); for the binary array either the sign bits of eight int8 words
  (``bits_in = 0``: eight reads a beat, the first binary layer after an int8 one) or one word
  of packed sign bits (``bits_in = 1``, from a binary layer before it);
* **the combination** of a PE result into one accumulator: ``wp · pos − wn · neg`` with the
  layer's TTQ scales for the ternary array, ``α · dot`` with the output's XNOR-Net scale (read
  with its bias) for the binary array, the value itself otherwise;
* **the output**: int8 (bias, requantize: shift, ReLU, saturation) for every kind; the binary
  array can instead write sign bits (``bits_out = 1``: bit = ``α · dot + bias ≥ 0``, the
  per-output threshold FINN folds batch normalization into), eight rows a word, for a binary
  layer after it.

A **convolution** (descriptor ``in_c ≠ 0``, :data:`corolla.layers.CONV_ARGS`) runs its kernel
matrix (``rows`` = ``C_out``, ``cols`` = ``k²·C_in``) once per output pixel: the feeder's
activation addresses come from a :class:`~corolla.hw.engines.window.WindowWalker` over the
H × W × C_in input map (the patch of each output pixel, zero words for the padding, so there is
no im2col on the host), the weight tiles are read again for each pixel, and the drain writes
pixel ``p``'s ``C_out`` outputs at words ``p·C_out …``: the output map, H_out × W_out × C_out.

On ``step.start`` the engine first computes, by shift and add (one bit per cycle instead of a
DSP), the end of the layer's weights (``weight_base + tiles · beats``) and, for a convolution,
the sizes of its input and output maps and of its patch. It refuses a descriptor whose weights
or biases run past their memories, whose maps do not fit the activation banks, whose ``cols``
is not the patch size or whose geometry is impossible (``error`` = ``DESCRIPTOR``).
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo
from amaranth.lib.memory import Memory
from amaranth.utils import exact_log2

from corolla import protocol as proto

from ..arith.dsp import is_ice40
from ..arith.lns import int_to_lns_comb
from ..arith.requant import Requant
from ..array.systolic import SystolicArray, operand_layout
from ..bus import serve_memories
from ..io.ram import SinglePortRam
from . import KindEngine
from .window import WindowWalker, serial_products, small_square

__all__ = ["ArrayEngine", "BinaryEngine", "DenseEngine", "LnsEngine", "TernaryEngine",
           "array_with_queue", "weight_and_bias_memories"]


def weight_and_bias_memories(engine, m, word_bits: int, bias_bits: int):
    """An array engine's weight memory (one port: the host and the feeder never use it at
    once; SPRAM on the iCE40UP) and bias memory, both served on the host bus for the kind's
    spaces while no program runs. Returns the weights' and the biases' read ports."""
    sizes = engine._kind.sizes(engine._p)
    m.submodules.weights = weights = SinglePortRam(word_bits, sizes.weight_depth)
    m.submodules.bias = bias = Memory(shape=unsigned(bias_bits), depth=sizes.bias_depth,
                                      init=[])
    w_wr = SimpleNamespace(addr=weights.addr, data=weights.wdata, en=weights.we)
    w_rd = SimpleNamespace(addr=weights.addr, en=weights.re, data=weights.rdata)
    bias_rd = bias.read_port()
    weight_space, bias_space = engine._kind.spaces_used
    serve_memories(m, engine.bus, {
        weight_space: (word_bits, w_rd, w_wr),
        bias_space: (bias_bits, bias_rd, bias.write_port(granularity=8)),
    }, busy=engine.busy)
    return w_rd, bias_rd


def queue_depth(platform, beats: int) -> int:
    """The operand queue's depth for a feeder that keeps at most ``beats`` beats in it and
    in flight, plus one (its room flag is a register, a cycle late); on iCE40 deep enough to
    be put in block RAM (EBRs), where it costs no logic cells instead of a flip-flop per bit
    (an 8×2 int8 array's queue is 81 bits wide)."""
    return max(beats + 1, 33) if is_ice40(platform) else beats + 1


def array_with_queue(m, pe, rows: int, cols: int, *, depth: int):
    """A systolic array of ``pe`` PEs fed from a queue of ``depth`` beats: returns the array,
    the queue (its ``w_data``/``w_en`` take beats of ``operand_layout``) and that layout."""
    m.submodules.array = array = SystolicArray(rows=rows, cols=cols, kind=pe)
    op_layout = operand_layout(pe, rows, cols)
    m.submodules.opq = opq = fifo.SyncFIFOBuffered(width=op_layout.size, depth=depth)
    m.d.comb += [
        array.operands.payload.eq(opq.r_data),
        array.operands.valid.eq(opq.r_rdy),
        opq.r_en.eq(array.operands.ready),
    ]
    return array, opq, op_layout


class ArrayEngine(KindEngine):
    """Runs the steps of one array layer kind (see the module docstring).

    Parameters
    ----------
    params : TopParams
        The top's parameters; the kind's array sizes come from its registry entry
        (:meth:`corolla.layers.ArrayKind.sizes`).

    Members
    -------
    See :func:`corolla.hw.bus.engine_members`. Host spaces: the kind's weights (one port:
    SPRAM on the iCE40UP) and biases.
    """

    #: Register stages of the feeder's conversion (after the memory read).
    convert_stages = 0
    #: A register stage for :meth:`combine` (where it multiplies).
    combine_stage = False
    #: With ``params.scales``, a multiplier per output (bits 32–47 of its bias word) before
    #: the requantizer's shift, in a register stage of its own.
    multiplies = False

    # -- what the kinds change -------------------------------------------------------------
    def beats(self, m, d):
        """Beats of one tile for descriptor ``d`` (one weight word each)."""
        return d.cols

    def convert(self, m, word, lane):
        """The PE's ``b`` operand of ``lane`` from an activation word."""
        return word.word_select(lane, 8)

    def combine(self, m, value, extra, d):
        """One accumulator from a PE result ``value`` and the bias word's ``extra`` bits."""
        return value

    # -- the engine --------------------------------------------------------------------------
    def elaborate(self, platform):
        p = self._p
        kind = self._kind
        pe = kind.pe(p)
        m = Module()
        sizes = kind.sizes(p)
        n_rows, n_cols = sizes.rows, p.cols
        acc_width = p.acc_width
        d = self.desc
        act = self.act
        a_width = pe.a_shape[0]
        packs = hasattr(d, "bits_in")
        scaled = self.multiplies and p.scales
        bias_bits = kind.bias_word_bits(p.scales)

        w_rd, bias_rd = weight_and_bias_memories(self, m, a_width * n_rows, bias_bits)
        array, opq, op_layout = array_with_queue(m, pe, n_rows, n_cols,
                                                 depth=queue_depth(platform,
                                                                   4 + self.convert_stages))
        requants = [Requant(acc_width=48 if scaled else acc_width, out_width=8)
                    for _ in range(n_cols)]
        for c, rq in enumerate(requants):
            m.submodules[f"requant{c}"] = rq
            m.d.comb += rq.output.ready.eq(1)

        tiles = Signal(12)
        beats = Signal(12)
        m.d.comb += [tiles.eq((d.rows + (n_rows - 1)) >> exact_log2(n_rows)),
                     beats.eq(self.beats(m, d))]
        # weight_base + tiles · beats and the convolution's sizes, by shift-and-add in the
        # SIZE states (no DSP).
        weight_end = Signal(22)
        conv = Signal()
        m.d.comb += conv.eq(d.in_c != 0)
        row_words, in_size, patch, pixels, out_size = (Signal(13, name=n) for n in (
            "row_words", "in_size", "patch", "pixels", "out_size"))
        out_h, out_w = Signal(11), Signal(11)
        span_h, span_w = Signal(signed(11)), Signal(signed(11))
        m.d.comb += [span_h.eq(d.in_h + (d.pad << 1) - d.kernel),
                     span_w.eq(d.in_w + (d.pad << 1) - d.kernel),
                     out_h.eq((span_h >> (d.stride == 2)) + 1),
                     out_w.eq((span_w >> (d.stride == 2)) + 1)]
        n_pixels = Signal(13)
        m.d.comb += n_pixels.eq(Mux(conv, pixels, 1))
        if p.conv:
            walker = m.submodules.walker = WindowWalker(addr_width=len(act.rd_addr))
            m.d.comb += [walker.in_h.eq(d.in_h), walker.in_w.eq(d.in_w),
                         walker.in_c.eq(d.in_c), walker.kernel.eq(d.kernel),
                         walker.stride.eq(d.stride), walker.pad.eq(d.pad),
                         walker.row_words.eq(row_words), walker.out_w.eq(out_w),
                         walker.depth.eq(d.in_c)]
        else:
            # No convolutions: a descriptor with in_c ≠ 0 is refused (CHECK).
            walker = SimpleNamespace(addr=0, inside=1, step=Signal(), rewind=Signal(),
                                     next_pixel=Signal(), restart=Signal())

        # --- feeder: one beat a cycle (a weight word and an activation word), or for a
        # binary layer on int8 inputs eight activation reads a beat ---------------------------
        f_active = Signal()
        f_k = Signal(12)                 # beat in the tile
        f_sub = Signal(3)                # read in the beat (sign packing)
        f_tile = Signal(12)
        f_px = Signal(13)                # output pixel (a convolution's)
        f_waddr = Signal(21)
        sub_last = Signal(3)
        if packs:
            m.d.comb += sub_last.eq(Mux(d.bits_in, 0, 7))
        issue = Signal()
        emit = Signal()
        # The queue's room, registered (one more beat may be in flight: see queue_depth); the
        # ends of the counts below are registered when the step starts (START), so that no
        # adder sits between the counters and the memories' enables.
        room = Signal()
        k_end, tile_end_at, px_end, row_end = (Signal(n, name=name) for n, name in (
            (12, "k_end"), (12, "tile_end_at"), (13, "px_end"), (16, "row_end")))
        m.d.sync += room.eq(opq.level <= 2)
        m.d.comb += [issue.eq(f_active & room), emit.eq(issue & (f_sub == sub_last))]
        with m.If(self.busy):
            m.d.comb += [w_rd.addr.eq(f_waddr), w_rd.en.eq(emit)]
        rd_addr = Mux(d.bits_in, f_k, Cat(f_sub, f_k)) if packs else f_k
        m.d.comb += [act.rd_addr.eq(Mux(conv, walker.addr, rd_addr)), act.rd_en.eq(issue)]
        f_read = Signal()                # a read returns this cycle
        f_valid = Signal()               # ... and completes a beat
        f_last = Signal()
        f_pad = Signal()                 # ... and is a convolution's padding: zero
        m.d.sync += [f_read.eq(issue), f_valid.eq(emit), f_last.eq(f_k == k_end),
                     f_pad.eq(conv & ~walker.inside)]
        word = Signal.like(act.rd_data)
        m.d.comb += word.eq(Mux(f_pad, 0, act.rd_data))
        beat = data.View(op_layout, Signal(op_layout))
        lanes = [self.convert(m, word, lane) for lane in range(n_cols)]
        if packs:
            # Sign bits of eight int8 words (features past `cols` read as 0), packed LSB first.
            f_sub_d = Signal(3)
            in_range = Signal()
            m.d.sync += [f_sub_d.eq(f_sub), in_range.eq(Cat(f_sub, f_k) < d.cols)]
            for lane in range(n_cols):
                held = Signal(8, name=f"signs{lane}")
                bit = ~word[8 * lane + 7] & in_range
                now = Signal(8, name=f"signs_now{lane}")
                m.d.comb += now.eq(held | (bit << f_sub_d))
                with m.If(f_read):
                    m.d.sync += held.eq(Mux(f_valid, 0, now))
                lanes[lane] = Mux(d.bits_in, lanes[lane], now)
        m.d.comb += [
            beat.a.as_value().eq(w_rd.data),
            beat.b.as_value().eq(Cat(*lanes)),
            beat.last.eq(f_last),
        ]
        q_data, q_valid = beat.as_value(), f_valid
        for k in range(self.convert_stages):
            reg, valid = Signal.like(q_data, name=f"convert{k}"), Signal(name=f"convert{k}_valid")
            m.d.sync += [reg.eq(q_data), valid.eq(q_valid)]
            q_data, q_valid = reg, valid
        m.d.comb += [opq.w_data.eq(q_data), opq.w_en.eq(q_valid)]
        tile_end = Signal()
        m.d.comb += tile_end.eq(emit & (f_k == k_end))
        with m.If(issue):
            m.d.sync += f_sub.eq(f_sub + 1)
            m.d.comb += walker.step.eq(~tile_end)
        with m.If(emit):
            m.d.sync += [f_sub.eq(0), f_waddr.eq(f_waddr + 1), f_k.eq(f_k + 1)]
        with m.If(tile_end):
            m.d.sync += [f_k.eq(0), f_tile.eq(f_tile + 1)]
            with m.If(f_tile == tile_end_at):
                # The pixel's last tile: the next pixel's window, the weights again.
                m.d.sync += [f_tile.eq(0), f_px.eq(f_px + 1), f_waddr.eq(d.weight_base)]
                m.d.comb += walker.next_pixel.eq(1)
                with m.If(f_px == px_end):
                    m.d.sync += f_active.eq(0)
            with m.Else():
                m.d.comb += walker.rewind.eq(1)

        # --- drain: combine, bias, then requantize (or sign bits); row m of the other bank --
        r_count = Signal(16)             # result row in the pixel
        r_px = Signal(13)                # pixels drained
        r_valid = Signal()
        r_row = Signal(array.results.payload.row.shape())
        m.d.comb += array.results.ready.eq(1)
        with m.If(self.busy):
            m.d.comb += [bias_rd.addr.eq(d.bias_base + r_count), bias_rd.en.eq(1)]
        m.d.sync += r_valid.eq(array.results.valid & (r_count < d.rows))
        m.d.sync += r_row.eq(array.results.payload.row)
        with m.If(array.results.valid):
            with m.If(r_count == row_end):
                m.d.sync += [r_count.eq(0), r_px.eq(r_px + 1)]
            with m.Else():
                m.d.sync += r_count.eq(r_count + 1)
        bias_value = bias_rd.data[:32].as_signed()
        extra = bias_rd.data[32:]
        combined = [self.combine(m, r_row[c], extra, d) for c in range(n_cols)]
        c_valid = r_valid
        if self.combine_stage:
            regs = [Signal(signed(acc_width), name=f"combined{c}") for c in range(n_cols)]
            c_bias = Signal(signed(32))
            c_valid = Signal()
            m.d.sync += [*(r.eq(v) for r, v in zip(regs, combined, strict=True)),
                         c_bias.eq(bias_value), c_valid.eq(r_valid)]
            combined, bias_value = regs, c_bias
        # The bias is added in a register stage of its own: the bias RAM's output through the
        # adder into the requantizer's shifter was the slowest path of the ECP5 build.
        b_valid = Signal()
        m.d.sync += b_valid.eq(c_valid)
        b_sums = []
        for c, rq in enumerate(requants):
            b_sum = Signal(signed(acc_width), name=f"biased{c}")
            m.d.sync += b_sum.eq(combined[c] + bias_value)
            b_sums.append(b_sum)
            m.d.comb += [rq.input.payload.eq(b_sum), rq.shift.eq(d.shift), rq.relu.eq(d.relu)]
        rq_valid = b_valid
        if scaled:
            # (acc + bias) · M in a stage of its own (a DSP per lane), then the shift.
            b_mult = Signal(16)
            rq_valid = Signal()
            m.d.sync += [b_mult.eq(extra[:16]), rq_valid.eq(b_valid)]
            for c, rq in enumerate(requants):
                prod = Signal(signed(48), name=f"scaled{c}")
                m.d.sync += prod.eq(b_sums[c] * b_mult)
                m.d.comb += rq.input.payload.eq(prod)
        w_count = Signal(12)
        batch_mask = Signal(n_cols)
        m.d.comb += batch_mask.eq((1 << d.batch) - 1)
        out = requants[0].output.valid
        bits_out = d.bits_out if packs else 0
        for rq in requants:
            m.d.comb += rq.input.valid.eq(rq_valid & ~bits_out)
        with m.If(out):
            m.d.sync += w_count.eq(w_count + 1)
            m.d.comb += [act.wr_addr.eq(w_count),
                         act.wr_data.eq(Cat(rq.output.payload for rq in requants)),
                         act.wr_en.eq(batch_mask)]
        if packs:
            # Sign bits: row m is bit m mod 8 of word m / 8; a word is written when full or
            # at the last row (its unused bits 0).
            signs = []
            for c in range(n_cols):
                held = Signal(8, name=f"out_signs{c}")
                now = Signal(8, name=f"out_signs_now{c}")
                m.d.comb += now.eq(held | (~b_sums[c][-1] << w_count[:3]))
                with m.If(b_valid & bits_out):
                    m.d.sync += held.eq(Mux((w_count[:3] == 7) | (w_count + 1 == d.rows), 0,
                                            now))
                signs.append(now)
            with m.If(b_valid & bits_out):
                m.d.sync += w_count.eq(w_count + 1)
                with m.If((w_count[:3] == 7) | (w_count + 1 == d.rows)):
                    m.d.comb += [act.wr_addr.eq(w_count >> 3), act.wr_data.eq(Cat(*signs)),
                                 act.wr_en.eq(batch_mask)]

        kk = small_square(m, d.kernel, "kernel_sq")
        act_depth = p.act_depth
        bad = Signal()
        with m.FSM():
            with m.State("IDLE"), m.If(self.step.start):
                m.next = "SIZE0"
            serial_products(m, "SIZE", [(weight_end, tiles, beats, d.weight_base)],
                            "SIZES")
            with m.State("SIZES"):
                m.next = "CONV0" if p.conv else "CHECK"
                with m.If(~conv):
                    m.d.sync += out_size.eq(d.rows)
                    m.next = "CHECK"
            if p.conv:
                serial_products(m, "CONV", [
                    (row_words, d.in_c, d.in_w, 0),
                    (in_size, d.in_h, row_words, 0),
                    (patch, kk, d.in_c, 0),
                    (pixels, out_h, out_w, 0),
                    (out_size, d.rows, pixels, 0),
                ], "CHECK")
            with m.State("CHECK"):
                # The descriptor's checks, registered for the next state.
                bad_conv = ((d.kernel == 0) | ~d.stride.any() | (d.stride == 3)
                            | (span_h < 0) | (span_w < 0) | (in_size > act_depth)
                            | (out_size > act_depth) | (patch != d.cols))
                if packs:
                    bad_conv |= d.bits_in | d.bits_out
                if not p.conv:
                    bad_conv = 1
                m.d.sync += bad.eq((weight_end > sizes.weight_depth)
                                   | (d.bias_base + d.rows > sizes.bias_depth)
                                   | (conv & bad_conv))
                m.next = "START"
            with m.State("START"):
                m.d.sync += [r_count.eq(0), r_px.eq(0), w_count.eq(0)]
                with m.If(bad):
                    m.d.comb += [self.step.done.eq(1),
                                 self.step.error.eq(1 << proto.ErrorFlag.DESCRIPTOR)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [k_end.eq(beats - 1), tile_end_at.eq(tiles - 1),
                                 px_end.eq(n_pixels - 1),
                                 row_end.eq((tiles << exact_log2(n_rows)) - 1)]
                    m.d.sync += [f_active.eq(1), f_k.eq(0), f_sub.eq(0), f_tile.eq(0),
                                 f_px.eq(0), f_waddr.eq(d.weight_base)]
                    m.d.comb += walker.restart.eq(1)
                    m.next = "RUN"
            with m.State("RUN"), m.If((r_px == n_pixels) & (w_count == out_size) & ~r_valid):
                m.d.comb += self.step.done.eq(1)
                m.next = "IDLE"
        return m


class DenseEngine(ArrayEngine):
    """``dense`` steps: int8 weights and activations on int8 PEs (one DSP multiplier each);
    with ``scales`` a 16-bit multiplier per output before the shift (float-scaled models)."""

    kind_name = "dense"
    multiplies = True


class TernaryEngine(ArrayEngine):
    """``ternary`` steps: 2-bit weight codes, int8 activations; each PE's positive and negative
    sums are combined with the layer's TTQ scales, ``wp · pos − wn · neg``, exactly in fixed
    point (two multipliers per lane, in a register stage of their own)."""

    kind_name = "ternary"
    combine_stage = True

    def combine(self, m, value, extra, d):
        return value.pos * d.wp - value.neg * d.wn


class BinaryEngine(ArrayEngine):
    """``binary`` steps: XNOR and popcount on eight sign bits per PE and beat; ``α · dot`` per
    output (α beside the bias), then int8 out or sign bits out."""

    kind_name = "binary"
    combine_stage = True

    def beats(self, m, d):
        return (d.cols + 7) >> 3

    def combine(self, m, value, extra, d):
        return value * extra[:16]


class LnsEngine(ArrayEngine):
    """``lns`` steps: int8 activations become LNS words in the feeder (the log table, one
    register stage), LNS weights; products are log additions summed in linear fixed point
    (``lns_acc_frac`` fraction bits); bias and requantize give int8."""

    kind_name = "lns"
    convert_stages = 1

    def convert(self, m, word, lane):
        fmt = self._kind.pe(self._p).fmt
        return int_to_lns_comb(m, fmt, word.word_select(lane, 8).as_signed(), in_frac=0,
                               name=f"log{lane}")
