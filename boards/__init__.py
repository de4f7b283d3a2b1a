"""Board support: one module per board (platform, clocks, pins) around the accelerator top.

Each board module defines ``BOARD``, a :class:`Board`: the amaranth-boards platform, the
toolchain device, the built-in configuration that fits the device, the PLL that makes the
accelerator's clock from the board's oscillator, the UART pins of the board's USB-serial and
how the board is programmed. :class:`BoardTop` is the thin top every board shares: PLL,
reset held until the PLL locks, the :class:`~corolla.hw.top.Accelerator` on the UART pins,
and status LEDs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from amaranth import ClockDomain, Module, Signal
from amaranth.hdl import Elaboratable
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

__all__ = ["BOARDS", "Board", "BoardError", "BoardTop", "get_board", "pin_in", "pin_out",
           "uart_pins"]


def pin_in(m: Module, port, name: str):
    """An input buffer on ``port`` (a resource requested with ``dir="-"``), added to ``m`` as
    ``name``; returns its value."""
    m.submodules[name] = buf = io.Buffer("i", port)
    return buf.i


def pin_out(m: Module, port, name: str):
    """An output buffer on ``port``, added to ``m`` as ``name``; returns the signal it
    drives."""
    m.submodules[name] = buf = io.Buffer("o", port)
    return buf.o


def uart_pins(m: Module, platform):
    """The ``uart`` 0 resource's ``(rx, tx)`` through buffers added to ``m``: the host link
    of every board here."""
    uart = platform.request("uart", 0, dir="-")
    return pin_in(m, uart.rx, "uart_rx"), pin_out(m, uart.tx, "uart_tx")

#: Supported boards (module names under ``corolla.boards``).
BOARDS = ("icebreaker", "ulx3s", "orangecrab")


class BoardError(ValueError):
    """An unknown board or a configuration the board cannot build."""


@dataclass(frozen=True)
class Board:
    """What Corolla needs to know about a board.

    Attributes
    ----------
    name : str
        Board name on the command line.
    description : str
    platform : Callable
        Returns a fresh amaranth-boards platform.
    device : str
        Key of :data:`corolla.toolchain.DEVICES`.
    config : str
        Built-in configuration that fits the device.
    clock_in_mhz : float
        The board oscillator's frequency (the PLL's input).
    solve_pll : Callable
        ``solve_pll(f_in_mhz, f_out_mhz)``: the PLL's settings
        (:func:`~corolla.boards.pll.ice40_pll` or :func:`~corolla.boards.pll.ecp5_pll`).
    make_clock : Callable
        ``make_clock(m, platform, pll) -> (clk, locked)``: instantiates the PLL with the
        settings :meth:`pll` gives.
    uart : Callable
        ``uart(m, platform) -> (rx, tx)``: the pins of the host's serial link (their buffers
        added to ``m``).
    leds : Callable
        ``leds(m, platform) -> list of 1-bit outputs``: status LEDs in the order error,
        heartbeat, busy (a board with fewer LEDs shows the first ones).
    bitstream : str
        Bitstream file extension (``"bin"`` or ``"bit"``).
    pack_args : tuple
        Extra options of the bitstream packer (``ecppack``).
    programmers : tuple
        ``(tool, args)`` pairs tried in order by ``corolla flash``; ``{bitstream}`` in the
        args is replaced by the file.
    packages : str
        System packages and setup the programmers need (for error messages and docs).
    baud : int
        The host link's default baud rate: the fastest standard rate the board's USB-serial
        chip carries that the accelerator's clock divides (``corolla build`` and ``corolla
        run --port`` use it unless told otherwise).
    """

    name: str
    description: str
    platform: Callable
    device: str
    config: str
    clock_in_mhz: float
    solve_pll: Callable
    make_clock: Callable
    uart: Callable
    leds: Callable
    bitstream: str
    pack_args: tuple = ()
    programmers: tuple = field(default_factory=tuple)
    packages: str = ""
    baud: int = 115200


    def pll(self, f_mhz: float):
        """PLL settings for a clock of ``f_mhz`` (``.f_out_mhz`` is what it gives).

        Raises
        ------
        PllError
            If the PLL cannot make it.
        """
        return self.solve_pll(self.clock_in_mhz, f_mhz)


def get_board(name: str) -> Board:
    """The :class:`Board` called ``name``.

    Raises
    ------
    BoardError
        Naming the supported boards.
    """
    if name not in BOARDS:
        raise BoardError(f"board {name!r} is not supported; expected one of "
                         f"{', '.join(BOARDS)}")
    return importlib.import_module(f"{__name__}.{name}").BOARD


class BoardTop(Elaboratable):
    """A design on a board: the board's clock and reset around ``design``.

    Parameters
    ----------
    board : Board
    design : wiring.Component
        The accelerator (``link="uart"``: ports ``rx``, ``tx``, ``busy``, ``error``) or any
        component with a subset of those ports.
    pll
        The PLL settings (:meth:`Board.pll`); the clock is ``pll.f_out_mhz``.
    """

    def __init__(self, board: Board, design, pll):
        self.board = board
        self.design = design
        self.pll = pll

    @property
    def clock_mhz(self) -> float:
        """The clock the PLL makes."""
        return self.pll.f_out_mhz

    def elaborate(self, platform):
        m = Module()
        clk, locked = self.board.make_clock(m, platform, self.pll)
        m.domains.sync = cd_sync = ClockDomain("sync")
        m.d.comb += cd_sync.clk.eq(clk)
        m.submodules.reset = ResetSynchronizer(~locked, domain="sync")
        platform.add_clock_constraint(clk, self.clock_mhz * 1e6)

        m.submodules.design = design = self.design
        ports = design.signature.members
        rx, tx = self.board.uart(m, platform)
        if "rx" in ports:
            m.d.comb += design.rx.eq(rx)
        if "tx" in ports:
            m.d.comb += tx.eq(design.tx)
        else:
            m.d.comb += tx.eq(1)

        # LEDs: error, a heartbeat that shows the clock runs (about a second per blink), and
        # busy.
        heartbeat = Signal(max(1, round(self.clock_mhz * 1e6).bit_length()))
        m.d.sync += heartbeat.eq(heartbeat + 1)
        status = [design.error if "error" in ports else 0, heartbeat[-1],
                  design.busy if "busy" in ports else 0]
        for led, value in zip(self.board.leds(m, platform), status, strict=False):
            m.d.comb += led.eq(value)
        return m
