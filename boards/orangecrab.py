"""OrangeCrab r0.2: Lattice ECP5-85F (CSFBGA285), 48 MHz oscillator, Feather form factor.

The OrangeCrab's USB port goes straight to the FPGA (it is the DFU bootloader's), so the host
link is a 3.3 V USB-serial adapter on the Feather header: the adapter's TX to pin ``0`` (the
accelerator's rx), its RX to pin ``1`` (tx), and ground. The RGB LED shows error (red),
heartbeat (green) and busy (blue). The clock comes from an ``EHXPLLL``.
"""

from __future__ import annotations

from amaranth.build import Attrs

from . import Board, pin_in, pin_out, uart_pins
from .ecp5 import ecp5_clock
from .pll import ecp5_pll

__all__ = ["BOARD"]


def _platform():
    from amaranth_boards.orangecrab_r0_2 import OrangeCrabR0_2_85FPlatform
    from amaranth_boards.resources import UARTResource

    platform = OrangeCrabR0_2_85FPlatform()
    platform.add_resources([UARTResource(0, rx="0", tx="1", conn=("io", 0),
                                         attrs=Attrs(IO_TYPE="LVCMOS33", PULLMODE="UP"))])
    return platform


def _clock(m, platform, pll):
    return ecp5_clock(m, pin_in(m, platform.request("clk", 0, dir="-"), "clk"), pll)


def _leds(m, platform):
    rgb = platform.request("rgb_led", 0, dir="-")
    return [pin_out(m, rgb.r, "led_r"), pin_out(m, rgb.g, "led_g"), pin_out(m, rgb.b, "led_b")]


BOARD = Board(
    name="orangecrab",
    description="OrangeCrab r0.2 (ECP5 LFE5U-85F)",
    platform=_platform,
    device="ecp5-85f",
    config="orangecrab",
    clock_in_mhz=48.0,
    solve_pll=ecp5_pll,
    make_clock=_clock,
    uart=uart_pins,
    leds=_leds,
    bitstream="bit",
    pack_args=("--compress", "--freq", "38.8"),
    programmers=(("openFPGALoader", ["--board", "orangecrab", "{bitstream}"]),
                 ("dfu-util", ["--device", "1209:5af0", "--alt", "0", "--download",
                               "{bitstream}"])),
    packages="openFPGALoader (Debian package openfpgaloader) or dfu-util, with a udev rule "
             "for the DFU bootloader (idVendor 1209, idProduct 5af0); hold the button while "
             "plugging the board in to enter the bootloader",
)
