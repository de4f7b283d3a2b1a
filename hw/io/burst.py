"""Byte streams in words of several bytes, for simulations that move whole frames at once.

A cocotb bench that drives the host link one byte per cycle wakes Python twice a cycle for
every byte of a model load. :class:`BurstToStream` takes up to ``width`` bytes per cycle into a
FIFO and gives them to the link one per cycle; :class:`StreamToBurst` packs the link's reply
bytes into words, so the bench reads a reply in a few cycles. The link itself, and everything
behind it, is unchanged: these sit where a UART would (``TopParams.link = "burst"``).
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["BurstToStream", "StreamToBurst", "burst_layout"]


def burst_layout(width: int) -> data.StructLayout:
    """A word of up to ``width`` bytes: ``data`` (byte ``i`` in bits ``8i…8i+7``) and
    ``count`` (how many of them are valid, 1 to ``width``)."""
    return data.StructLayout({"data": 8 * width, "count": range(width + 1)})


def _check(width, depth):
    if not isinstance(width, int) or not 1 <= width <= 64:
        raise ValueError(f"Burst width must be an integer from 1 to 64 bytes, not {width!r}")
    if not isinstance(depth, int) or depth < 2:
        raise ValueError(f"Burst FIFO depth must be an integer of at least 2, not {depth!r}")


class BurstToStream(wiring.Component):
    """Words of up to ``width`` bytes in, one byte per cycle out, in order.

    Parameters
    ----------
    width : int
        Bytes per word.
    depth : int
        Words the FIFO holds.

    Members
    -------
    input : In(stream.Signature(burst_layout(width)))
        Words; a word with ``count = 0`` carries nothing and is dropped.
    output : Out(stream.Signature(8))
        The bytes.
    """

    def __init__(self, *, width: int = 16, depth: int = 128):
        _check(width, depth)
        self._width, self._depth = width, depth
        super().__init__({"input": In(stream.Signature(burst_layout(width))),
                          "output": Out(stream.Signature(8))})

    @property
    def parameters(self) -> dict:
        """Parameters for manifests and benches."""
        return {"unit": "burst_to_stream", "width": self._width, "depth": self._depth}

    def elaborate(self, platform):
        m = Module()
        w = self._width
        layout = burst_layout(w)
        m.submodules.fifo = q = fifo.SyncFIFOBuffered(width=layout.size, depth=self._depth)
        m.d.comb += [q.w_data.eq(self.input.payload), q.w_en.eq(self.input.valid),
                     self.input.ready.eq(q.w_rdy)]
        word = data.View(layout, q.r_data)
        index = Signal(range(w + 1))
        m.d.comb += [self.output.payload.eq(word.data.word_select(index, 8)),
                     self.output.valid.eq(q.r_rdy & (index < word.count))]
        with m.If(q.r_rdy & (index >= word.count)):
            # The word is used up (or was empty): drop it, start the next one.
            m.d.comb += q.r_en.eq(1)
            m.d.sync += index.eq(0)
        with m.Elif(self.output.valid & self.output.ready):
            m.d.sync += index.eq(index + 1)
        return m


class StreamToBurst(wiring.Component):
    """Bytes in, words of up to ``width`` bytes out, in order. A word leaves when it is full or
    when no byte has come for ``idle`` cycles (the end of a reply).

    Parameters
    ----------
    width : int
        Bytes per word.
    depth : int
        Words the FIFO holds.
    idle : int
        Cycles without a byte after which a partial word is sent.

    Members
    -------
    input : In(stream.Signature(8))
        The bytes (``ready`` drops only while the FIFO is full).
    output : Out(stream.Signature(burst_layout(width)))
        The words.
    """

    def __init__(self, *, width: int = 16, depth: int = 128, idle: int = 8):
        _check(width, depth)
        if not isinstance(idle, int) or idle < 1:
            raise ValueError(f"Idle cycles must be a positive integer, not {idle!r}")
        self._width, self._depth, self._idle = width, depth, idle
        super().__init__({"input": In(stream.Signature(8)),
                          "output": Out(stream.Signature(burst_layout(width)))})

    @property
    def parameters(self) -> dict:
        """Parameters for manifests and benches."""
        return {"unit": "stream_to_burst", "width": self._width, "depth": self._depth,
                "idle": self._idle}

    def elaborate(self, platform):
        m = Module()
        w = self._width
        layout = burst_layout(w)
        m.submodules.fifo = q = fifo.SyncFIFOBuffered(width=layout.size, depth=self._depth)
        m.d.comb += [self.output.payload.eq(q.r_data), self.output.valid.eq(q.r_rdy),
                     q.r_en.eq(self.output.ready)]
        word = Signal(layout)
        quiet = Signal(range(self._idle + 1))
        full = word.count == w
        flush = (word.count != 0) & (full | (quiet == self._idle))
        m.d.comb += [q.w_data.eq(word), q.w_en.eq(flush),
                     # A byte is taken unless the word is full and cannot leave.
                     self.input.ready.eq(~full | q.w_rdy)]
        take = self.input.valid & self.input.ready
        pushed = flush & q.w_rdy
        with m.If(pushed):
            m.d.sync += word.count.eq(0)
            with m.If(take):
                m.d.sync += [word.data.word_select(0, 8).eq(self.input.payload),
                             word.count.eq(1)]
        with m.Elif(take):
            m.d.sync += [word.data.word_select(word.count, 8).eq(self.input.payload),
                         word.count.eq(word.count + 1)]
        with m.If(take):
            m.d.sync += quiet.eq(0)
        with m.Elif(quiet != self._idle):
            m.d.sync += quiet.eq(quiet + 1)
        return m
