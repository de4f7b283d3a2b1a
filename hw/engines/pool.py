"""The max-pooling engine: the ``maxpool`` steps of convolutional networks.

A step pools the H × W × C map in activation bank ``src`` (``rows`` = C; the layout of
:mod:`corolla.hw.engines.window`) with a k × k window moved by ``stride`` and writes the
H_out × W_out × C map to the other bank, ``H_out = (H − k) / stride + 1`` (windows past the
edge dropped)::

    act bank ──▶ WindowWalker ──(one word a cycle)──▶ max per lane ──▶ other act bank
                 pixel by pixel, channel by channel,        (every k² words)
                 the k² words of each window

It reads one word (every lane) a cycle and writes a word at the end of each window: k² cycles
per output word. On ``step.start`` it computes the maps' sizes by shift and add and refuses a
descriptor whose maps do not fit the banks or whose window, stride or sizes are impossible
(``error`` = ``DESCRIPTOR``).
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed

from corolla import protocol as proto

from . import KindEngine
from .window import WindowWalker, serial_products, small_square

__all__ = ["PoolEngine"]


class PoolEngine(KindEngine):
    """Runs ``maxpool`` steps (see the module docstring).

    Parameters
    ----------
    params : TopParams

    Members
    -------
    See :func:`corolla.hw.bus.engine_members`. It has no memories of its own.
    """

    kind_name = "maxpool"

    def elaborate(self, platform):
        p = self._p
        m = Module()
        d = self.desc
        act = self.act
        lanes = p.cols

        span_h, span_w = Signal(signed(10)), Signal(signed(10))
        out_h, out_w = Signal(9), Signal(9)
        m.d.comb += [span_h.eq(d.in_h - d.kernel), span_w.eq(d.in_w - d.kernel),
                     out_h.eq((span_h >> (d.stride == 2)) + 1),
                     out_w.eq((span_w >> (d.stride == 2)) + 1)]
        row_words, in_size, pixels, out_size = (Signal(13, name=n) for n in (
            "row_words", "in_size", "pixels", "out_size"))
        kk = small_square(m, d.kernel, "window")

        walker = m.submodules.walker = WindowWalker(addr_width=len(act.rd_addr))
        m.d.comb += [walker.in_h.eq(d.in_h), walker.in_w.eq(d.in_w), walker.in_c.eq(d.rows),
                     walker.kernel.eq(d.kernel), walker.stride.eq(d.stride),
                     walker.pad.eq(0), walker.row_words.eq(row_words),
                     walker.out_w.eq(out_w), walker.depth.eq(1)]

        # --- reader: the k² words of each window, channel by channel, pixel by pixel ---------
        active = Signal()
        r_pos = Signal(6)                # word in the window
        r_chan = Signal(12)
        r_px = Signal(13)
        first, last = Signal(), Signal()
        m.d.comb += [first.eq(r_pos == 0), last.eq(r_pos + 1 == kk)]
        m.d.comb += [act.rd_addr.eq(walker.addr), act.rd_en.eq(active)]
        with m.If(active):
            m.d.sync += r_pos.eq(r_pos + 1)
            with m.If(~last):
                m.d.comb += walker.step.eq(1)
            with m.Else():
                m.d.sync += [r_pos.eq(0), r_chan.eq(r_chan + 1)]
                with m.If(r_chan + 1 == d.rows):
                    m.d.sync += [r_chan.eq(0), r_px.eq(r_px + 1)]
                    m.d.comb += walker.next_pixel.eq(1)
                    with m.If(r_px + 1 == pixels):
                        m.d.sync += active.eq(0)
                with m.Else():
                    m.d.comb += walker.next_channel.eq(1)

        # --- the maxima: the word read last cycle against the lanes' best so far -------------
        got, got_first, got_last = Signal(), Signal(), Signal()
        m.d.sync += [got.eq(active), got_first.eq(first), got_last.eq(last)]
        best = [Signal(signed(8), name=f"best{lane}") for lane in range(lanes)]
        now = []
        for lane in range(lanes):
            x = act.rd_data.word_select(lane, 8).as_signed()
            cur = Signal(signed(8), name=f"max{lane}")
            m.d.comb += cur.eq(Mux(got_first | (x > best[lane]), x, best[lane]))
            with m.If(got):
                m.d.sync += best[lane].eq(cur)
            now.append(cur)
        w_count = Signal(12)
        with m.If(got & got_last):
            m.d.sync += w_count.eq(w_count + 1)
            m.d.comb += [act.wr_addr.eq(w_count), act.wr_data.eq(Cat(*now)),
                         act.wr_en.eq((1 << d.batch) - 1)]

        with m.FSM():
            with m.State("IDLE"), m.If(self.step.start):
                m.next = "SIZE0"
            serial_products(m, "SIZE", [
                (row_words, d.rows, d.in_w, 0),
                (in_size, d.in_h, row_words, 0),
                (pixels, out_h, out_w, 0),
                (out_size, d.rows, pixels, 0),
            ], "CHECK")
            with m.State("CHECK"):
                bad = ((d.kernel == 0) | ~d.stride.any() | (d.stride == 3) | (span_h < 0)
                       | (span_w < 0) | (in_size > p.act_depth) | (out_size > p.act_depth))
                m.d.sync += [w_count.eq(0), r_pos.eq(0), r_chan.eq(0), r_px.eq(0)]
                with m.If(bad):
                    m.d.comb += [self.step.done.eq(1),
                                 self.step.error.eq(1 << proto.ErrorFlag.DESCRIPTOR)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += active.eq(1)
                    m.d.comb += walker.restart.eq(1)
                    m.next = "RUN"
            with m.State("RUN"), m.If(~active & ~got & (w_count == out_size)):
                m.d.comb += self.step.done.eq(1)
                m.next = "IDLE"
        return m
