"""``corolla build``: a bitstream for a board (Yosys, nextpnr) and its report."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from . import checks
from .common import (
    EXIT_OK,
    CliError,
    board_and_config,
    console_err,
    console_out,
    escape,
    progress,
)


def _print_build(console, r: dict):
    clock, util = r["clock"], r["utilization"]
    table = Table(title=f"{r['board']} ({r['device']}): {r['design']}, "
                        f"config '{r['config']['name']}'")
    table.add_column("resource")
    table.add_column("used", justify="right")
    table.add_column("available", justify="right")
    table.add_column("%", justify="right")
    for name, u in util.items():
        table.add_row(name.upper(), f"{u['used']:,}", f"{u['available']:,}", f"{u['percent']}")
    console.print(table)
    console.print(f"clock: target {clock['target_mhz']:.2f} MHz (PLL), Fmax "
                  f"{clock['fmax_mhz']:.2f} MHz")
    path = clock.get("critical_path")
    if path:
        console.print(f"slowest path: {escape(path['from'])} → {escape(path['to'])}, "
                      f"{path['delay_ns']} ns "
                      f"({path['logic_ns']} ns logic, {path['routing_ns']} ns routing)")
    t = r["times_s"]
    console.print(f"build {r['build_s']:.0f} s (yosys {t['yosys_s']:.0f} s, nextpnr "
                  f"{t['nextpnr_s']:.0f} s, pack {t['pack_s']:.0f} s); bitstream "
                  f"{r['out']}/{r['bitstream']['file']} ({r['bitstream']['bytes']:,} bytes)")


def run(args) -> int:
    from ..build import BuildError, build_board

    board, config = board_and_config(args)
    out = Path(args.out)
    names = {"rtlil": "Elaborating", "yosys": "Synthesizing (Yosys)",
             "nextpnr": "Placing and routing (nextpnr)", "pack": "Packing the bitstream"}
    try:
        with progress("Elaborating") as status:
            def tick(step, seconds):
                status(f"{names[step]} … {seconds:.0f} s")

            report = build_board(board, config, out, design=args.design,
                                 clock_mhz=args.clock_mhz, baud=args.baud, seed=args.seed,
                                 progress=tick)
    except BuildError as exc:
        raise CliError(str(exc)) from None
    report["out"] = str(out)
    clock = report["clock"]
    if not clock["timing_met"]:
        console_err().print(
            f"[bold red]WARNING: timing not met[/]: the design reaches "
            f"{clock['fmax_mhz']:.2f} MHz but its clock is {clock['target_mhz']:.2f} MHz; it "
            f"may not work on the board. Lower clock_mhz (--clock-mhz) to at most "
            f"{clock['fmax_mhz']:.1f}. The slowest path starts in "
            f"{escape((clock['critical_path'] or {}).get('module', '?'))} (report.json, "
            f"clock.critical_path).")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_build(console_out(), report)
    return EXIT_OK


def register(sub) -> None:
    """Add ``corolla build`` to the verbs."""
    from ..boards import BOARDS
    from ..build import BUILD_DESIGNS

    p = sub.add_parser("build", help="build a bitstream for a board (Yosys, nextpnr)",
                       description="Put the accelerator (or a UART loopback) on a board: "
                                   "Yosys, nextpnr and the bitstream packer from the YoWASP "
                                   "wheels. Writes the bitstream and report.json (Fmax "
                                   "against the clock, LUT/FF/DSP/BRAM utilization, build "
                                   "times).")
    p.add_argument("--board", required=True, choices=BOARDS, help="the board")
    p.add_argument("--config", metavar="NAME|FILE",
                   help="built-in configuration or a TOML file (default: the board's own)")
    p.add_argument("--out", required=True, type=checks.out_dir, metavar="DIR",
                   help="output folder")
    p.add_argument("--design", choices=BUILD_DESIGNS, default="top",
                   help="top: the accelerator; echo: a UART loopback for bringing up the "
                        "board's serial link (default: %(default)s)")
    p.add_argument("--clock-mhz", type=checks.float_range(1, 500, " MHz"),
                   help="clock to ask the PLL for (default: clock_mhz of the configuration)")
    p.add_argument("--baud", type=checks.BAUD,
                   help="host link baud rate (default: the board's: 3000000 on the iCEBreaker "
                        "and the ULX3S, 115200 on the OrangeCrab)")
    p.add_argument("--seed", type=checks.int_range(0, 2**31 - 1), default=1,
                   help="nextpnr seed (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)
