"""Walking feature maps in the activation bank: the address generator of convolutions and
pooling, and the setup arithmetic their engines share.

A feature map of H × W × C sits one pixel after another, its C channels in consecutive words
(word ``(y·W + x)·C + c``; lane = image)::

    word:   0      C      2C          W·C          (H·W − 1)·C
            ├──────┼──────┼── … ──────┼── … ──────────┤
    pixel: (0,0)  (0,1)  (0,2)       (1,0)           (H−1,W−1)
            c = 0 … C−1 in each

so a k × k window at input pixel ``(iy0, ix0)`` is k runs of ``k·C`` consecutive words, ``W·C``
words apart (a convolution's patch, in the ``(ky, kx, c)`` order of its weight matrix's
columns), and the next output pixel's window starts ``stride·C`` words further on.

:class:`WindowWalker` produces those addresses one a cycle without a multiplier: it keeps the
address of the window's row and column and adds ``1``, ``C`` or ``W·C``; positions outside the
map (the zero padding) are flagged by comparing the window position, not the address, so every
address it gives for a position inside the map is below ``H·W·C``. Its arithmetic is modulo
``2**addr_width``: the true address of a position inside the map is below the bank's depth, so
the low bits are exact even when the running sums of a padded window go negative.

:func:`serial_products` multiplies the descriptor's sizes one bit a cycle in an engine's setup
states (a few dozen cycles per layer instead of a DSP block on the iCE40).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["WindowWalker", "serial_products", "small_square"]


def serial_products(m: Module, name: str, products, next_state: str, *, a_width: int = 12,
                    width: int = 30):
    """FSM states ``{name}0``, ``{name}1``, … computing ``dest = init + a · b`` for each
    ``(dest, a, b, init)`` of ``products`` by shift and add, then going to ``next_state``.

    Call inside ``with m.FSM():``; enter state ``{name}0``. Each product takes the bits of
    ``a`` (its low ``a_width`` bits) plus two cycles, in one ``width``-bit accumulator shared
    by all; ``dest`` saturates at its largest value (a size past it is refused all the same,
    so the registers are only as wide as the memories).
    """
    mul_a = Signal(a_width, name=f"{name}_a")
    mul_b = Signal(width, name=f"{name}_b")
    mul_p = Signal(width, name=f"{name}_p")
    loaded = Signal(name=f"{name}_loaded")
    for i, (dest, a, b, init) in enumerate(products):
        following = f"{name}{i + 1}" if i + 1 < len(products) else next_state
        top = (1 << len(dest)) - 1
        with m.State(f"{name}{i}"):
            with m.If(~loaded):
                m.d.sync += [mul_a.eq(a), mul_b.eq(b), mul_p.eq(init), loaded.eq(1)]
            with m.Elif(mul_a == 0):
                m.d.sync += [loaded.eq(0), dest.eq(Mux(mul_p > top, top, mul_p))]
                m.next = following
            with m.Else():
                with m.If(mul_a[0]):
                    m.d.sync += mul_p.eq(mul_p + mul_b)
                m.d.sync += [mul_a.eq(mul_a >> 1), mul_b.eq(mul_b << 1)]


def small_square(m: Module, k, name: str = "square") -> Signal:
    """``k²`` of a 3-bit ``k`` by table (no multiplier)."""
    out = Signal(6, name=name)
    with m.Switch(k):
        for v in range(8):
            with m.Case(v):
                m.d.comb += out.eq(v * v)
    return out


class WindowWalker(wiring.Component):
    """Addresses of the k × k windows of a feature map, one a cycle (see the module
    docstring).

    Windows are visited output pixel by output pixel (row-major over ``out_w`` columns), each
    position ``(ky, kx)`` of a window in row-major order and, at each position, ``depth``
    consecutive words (a convolution: the ``C`` channels; pooling: 1, the window of one
    channel, with :attr:`next_channel` moving to the next).

    Parameters
    ----------
    addr_width : int
        Bits of an activation-bank address.

    Members
    -------
    in_h, in_w, in_c : In
        The input map (``in_c`` is the words per pixel).
    kernel, stride, pad : In
        The window side, its step between output pixels (1 or 2) and the padding.
    row_words : In(addr_width)
        ``in_w · in_c``.
    out_w : In(9)
        Output pixels per row.
    depth : In(10)
        Words read at each window position (``in_c`` or 1).
    restart : In(1)
        Go to the first window of output pixel (0, 0) (the layer's start).
    step : In(1)
        The next word of the window.
    rewind : In(1)
        Back to the start of the current window (the next tile of the same pixel).
    next_channel : In(1)
        The same window one word further on (the next channel).
    next_pixel : In(1)
        The window of the next output pixel (channel 0).
    addr : Out(addr_width)
        The word's address (valid when :attr:`inside`).
    inside : Out(1)
        The word is inside the map (else it is padding: zero).
    """

    def __init__(self, addr_width: int = 12):
        self._aw = addr_width
        super().__init__({
            "in_h": In(8), "in_w": In(8), "in_c": In(10), "kernel": In(3), "stride": In(2),
            "pad": In(3), "row_words": In(addr_width), "out_w": In(9), "depth": In(10),
            "restart": In(1), "step": In(1), "rewind": In(1), "next_channel": In(1),
            "next_pixel": In(1),
            "addr": Out(addr_width), "inside": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        aw = self._aw
        two = self.stride == 2

        def times_pad(x):
            return (Mux(self.pad[0], x, 0) + Mux(self.pad[1], x << 1, 0)
                    + Mux(self.pad[2], x << 2, 0))

        # The output pixel: its window's first position and address.
        ox = Signal(9)
        iy0, ix0 = Signal(signed(11)), Signal(signed(11))
        line_base, px_base, ch_base = Signal(aw), Signal(aw), Signal(aw)
        # The position in the window.
        ky, kx, ci = Signal(3), Signal(3), Signal(10)
        iy, ix = Signal(signed(11)), Signal(signed(11))
        row_addr, col_addr, addr = Signal(aw), Signal(aw), Signal(aw)

        m.d.comb += [
            self.addr.eq(addr),
            self.inside.eq((iy >= 0) & (iy < self.in_h) & (ix >= 0) & (ix < self.in_w)),
        ]

        def window(base, y0, x0):
            m.d.sync += [ky.eq(0), kx.eq(0), ci.eq(0), iy.eq(y0), ix.eq(x0),
                         row_addr.eq(base), col_addr.eq(base), addr.eq(base)]

        neg_pad = Signal(signed(11))
        m.d.comb += neg_pad.eq(-self.pad)
        with m.If(self.restart):
            start = Signal(aw)
            m.d.comb += start.eq(-times_pad(self.row_words + self.in_c))
            m.d.sync += [ox.eq(0), iy0.eq(neg_pad), ix0.eq(neg_pad), line_base.eq(start),
                         px_base.eq(start), ch_base.eq(start)]
            window(start, neg_pad, neg_pad)
        with m.Elif(self.next_pixel):
            with m.If(ox + 1 >= self.out_w):
                line = Signal(aw)
                y0 = Signal(signed(11))
                m.d.comb += [line.eq(line_base + Mux(two, self.row_words << 1, self.row_words)),
                             y0.eq(iy0 + self.stride)]
                m.d.sync += [ox.eq(0), iy0.eq(y0), ix0.eq(neg_pad), line_base.eq(line),
                             px_base.eq(line), ch_base.eq(line)]
                window(line, y0, neg_pad)
            with m.Else():
                px = Signal(aw)
                x0 = Signal(signed(11))
                m.d.comb += [px.eq(px_base + Mux(two, self.in_c << 1, self.in_c)),
                             x0.eq(ix0 + self.stride)]
                m.d.sync += [ox.eq(ox + 1), ix0.eq(x0), px_base.eq(px), ch_base.eq(px)]
                window(px, iy0, x0)
        with m.Elif(self.next_channel):
            m.d.sync += ch_base.eq(ch_base + 1)
            window(ch_base + 1, iy0, ix0)
        with m.Elif(self.rewind):
            window(ch_base, iy0, ix0)
        with m.Elif(self.step):
            with m.If(ci + 1 < self.depth):
                m.d.sync += [ci.eq(ci + 1), addr.eq(addr + 1)]
            with m.Elif(kx + 1 < self.kernel):
                m.d.sync += [ci.eq(0), kx.eq(kx + 1), ix.eq(ix + 1),
                             col_addr.eq(col_addr + self.in_c), addr.eq(col_addr + self.in_c)]
            with m.Else():
                m.d.sync += [ci.eq(0), kx.eq(0), ky.eq(ky + 1), ix.eq(ix0), iy.eq(iy + 1),
                             row_addr.eq(row_addr + self.row_words),
                             col_addr.eq(row_addr + self.row_words),
                             addr.eq(row_addr + self.row_words)]
        return m
