"""iCEBreaker: Lattice iCE40UP5K (SG48), 12 MHz oscillator, FTDI FT2232H USB-serial.

The accelerator's clock comes from the ``SB_PLL40_PAD`` on the oscillator's pin (35). The host
link is the FT2232H's second channel (``/dev/ttyUSB1`` on Linux), at pins 6 (rx) and 9 (tx).
The red LED shows an error, the green one the heartbeat. The iCE40UP5K has 5280 LUT4s, 8
``SB_MAC16`` DSPs, 30 4-kbit EBRs and four 256-kbit SPRAMs; the ``icebreaker`` configuration
is chosen to fit them (see the README's Boards section for the measurements behind it).
"""

from __future__ import annotations

from amaranth import Signal
from amaranth.hdl import Instance

from . import Board, pin_out, uart_pins
from .pll import ice40_pll

__all__ = ["BOARD"]


def _platform():
    from amaranth_boards.icebreaker import ICEBreakerPlatform

    return ICEBreakerPlatform()


def _clock(m, platform, pll):
    pin = platform.request("clk12", dir="-")
    clk, locked = Signal(), Signal()
    m.submodules.pll = Instance(
        "SB_PLL40_PAD",
        p_FEEDBACK_PATH="SIMPLE",
        p_DIVR=pll.divr, p_DIVF=pll.divf, p_DIVQ=pll.divq, p_FILTER_RANGE=pll.filter_range,
        i_PACKAGEPIN=pin.io, i_RESETB=1, i_BYPASS=0,
        o_PLLOUTGLOBAL=clk, o_LOCK=locked,
    )
    return clk, locked


def _leds(m, platform):
    return [pin_out(m, platform.request(name, 0, dir="-"), name) for name in ("led_r", "led_g")]


BOARD = Board(
    name="icebreaker",
    description="iCEBreaker (iCE40UP5K-SG48)",
    platform=_platform,
    device="ice40up5k",
    config="icebreaker",
    clock_in_mhz=12.0,
    solve_pll=ice40_pll,
    make_clock=_clock,
    uart=uart_pins,
    leds=_leds,
    bitstream="bin",
    programmers=(("iceprog", ["{bitstream}"]),
                 ("openFPGALoader", ["--board", "ice40_generic", "{bitstream}"])),
    packages="iceprog (Debian package fpga-icestorm) or openFPGALoader, with libftdi1 and a "
             "udev rule giving your user access to the FT2232H (idVendor 0403, idProduct 6010)",
    # The FT2232H is rated to 12 Mbaud; 3 Mbaud is a divisor of 9 at the 27 MHz clock.
    baud=3_000_000,
)
