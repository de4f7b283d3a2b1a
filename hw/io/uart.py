"""UART 8N1: a receiver and a transmitter with byte streams, the baud rate a clock divisor."""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from corolla.params import divisor_for

__all__ = ["UartEcho", "UartRx", "UartTx", "divisor_for"]




def _check_divisor(divisor):
    if not isinstance(divisor, int) or divisor < 4:
        raise ValueError(f"UART divisor must be an integer of at least 4, not {divisor!r}")


class UartRx(wiring.Component):
    """8N1 receiver.

    The line is synchronised (two flip-flops), a start bit is confirmed at its middle, then the
    eight data bits (LSB first) and the stop bit are sampled mid-bit. A byte whose stop bit is
    low is dropped and pulses ``framing_error``; a byte that arrives while the previous one
    has not been taken is dropped and pulses ``overrun``.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4.

    Members
    -------
    rx : In(1)
        The serial line (idle high).
    output : Out(stream.Signature(8))
        Received bytes.
    framing_error, overrun : Out(1)
        One-cycle pulses.
    """

    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self._divisor = divisor
        super().__init__({
            "rx": In(1, init=1),
            "output": Out(stream.Signature(8)),
            "framing_error": Out(1),
            "overrun": Out(1),
        })

    @property
    def parameters(self) -> dict:
        """Parameters for manifests and benches."""
        return {"unit": "rx", "divisor": self._divisor}

    def elaborate(self, platform):
        m = Module()
        d = self._divisor
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1)

        timer = Signal(range(d))
        bit = Signal(range(10))
        shreg = Signal(8)
        busy = Signal()
        m.d.sync += [self.framing_error.eq(0), self.overrun.eq(0)]
        with m.If(self.output.ready):
            m.d.sync += self.output.valid.eq(0)

        with m.If(~busy), m.If(~line):
            m.d.sync += [busy.eq(1), timer.eq(d // 2 - 1), bit.eq(0)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [timer.eq(d - 1), bit.eq(bit + 1)]
            with m.If(bit == 0), m.If(line):                 # a glitch, not a start bit
                m.d.sync += busy.eq(0)
            with m.Elif(bit <= 8):
                m.d.sync += shreg.eq(Cat(shreg[1:], line))
            with m.Else():
                m.d.sync += busy.eq(0)
                with m.If(~line):
                    m.d.sync += self.framing_error.eq(1)
                with m.Elif(self.output.valid & ~self.output.ready):
                    m.d.sync += self.overrun.eq(1)
                with m.Else():
                    m.d.sync += [self.output.valid.eq(1), self.output.payload.eq(shreg)]
        return m


class UartTx(wiring.Component):
    """8N1 transmitter: start bit, eight data bits LSB first, stop bit.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4.

    Members
    -------
    input : In(stream.Signature(8))
        Bytes to send; one is taken when the previous stop bit has been sent.
    tx : Out(1)
        The serial line (idle high).
    """

    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self._divisor = divisor
        super().__init__({
            "input": In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    @property
    def parameters(self) -> dict:
        """Parameters for manifests and benches."""
        return {"unit": "tx", "divisor": self._divisor}

    def elaborate(self, platform):
        m = Module()
        d = self._divisor
        timer = Signal(range(d))
        shreg = Signal(10, init=0x3FF)
        left = Signal(range(11))
        m.d.comb += [self.input.ready.eq(left == 0), self.tx.eq(shreg[0])]
        with m.If(left == 0), m.If(self.input.valid):
            m.d.sync += [shreg.eq(Cat(0, self.input.payload, 1)), left.eq(10),
                         timer.eq(d - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [shreg.eq(Cat(shreg[1:], 1)), left.eq(left - 1), timer.eq(d - 1)]
        return m


class UartEcho(wiring.Component):
    """A UART loopback for bringing up a board's serial link: every byte received is sent
    back.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit.

    Members
    -------
    rx, tx : In(1), Out(1)
        The pins.
    busy : Out(1)
        A byte is being sent back.
    """

    def __init__(self, divisor: int):
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = urx = UartRx(self.divisor)
        m.submodules.uart_tx = utx = UartTx(self.divisor)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx), self.busy.eq(~utx.input.ready)]
        wiring.connect(m, urx.output, utx.input)
        return m
