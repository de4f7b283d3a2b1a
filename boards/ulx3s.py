"""ULX3S: Lattice ECP5-85F (CABGA381), 25 MHz oscillator, FT231X USB-serial.

The accelerator's clock comes from an ``EHXPLLL``; the host link is the FT231X
(``/dev/ttyUSB0``). LEDs 0, 1 and 2 show error, heartbeat and busy.
"""

from __future__ import annotations

from . import Board, pin_in, pin_out, uart_pins
from .ecp5 import ecp5_clock
from .pll import ecp5_pll

__all__ = ["BOARD"]


def _platform():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    return ULX3S_85F_Platform()


def _clock(m, platform, pll):
    return ecp5_clock(m, pin_in(m, platform.request("clk25", 0, dir="-"), "clk25"), pll)


def _leds(m, platform):
    return [pin_out(m, platform.request("led", n, dir="-"), f"led{n}") for n in range(3)]


BOARD = Board(
    name="ulx3s",
    description="ULX3S (ECP5 LFE5U-85F)",
    platform=_platform,
    device="ecp5-85f",
    config="ulx3s",
    clock_in_mhz=25.0,
    solve_pll=ecp5_pll,
    make_clock=_clock,
    uart=uart_pins,
    leds=_leds,
    bitstream="bit",
    pack_args=("--compress",),
    programmers=(("openFPGALoader", ["--board", "ulx3s", "{bitstream}"]),
                 ("fujprog", ["{bitstream}"])),
    packages="openFPGALoader (Debian package openfpgaloader) or fujprog, with a udev rule "
             "giving your user access to the FT231X (idVendor 0403, idProduct 6015)",
    # The FT231X's highest rate: a divisor of 15 at the 45 MHz clock.
    baud=3_000_000,
)
