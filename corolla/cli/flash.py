"""``corolla flash``: program a board with a bitstream."""

from __future__ import annotations

import shlex
from pathlib import Path

from . import checks
from .common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    CliError,
    board_of,
    console_err,
    escape,
    progress,
)


def run(args) -> int:
    from ..build import BuildError, flash, flash_command

    board = board_of(args)
    bitstream = Path(args.bitstream or f"build/{board.name}/corolla_top.{board.bitstream}")
    if bitstream.suffix != f".{board.bitstream}":
        raise CliError(f"--bitstream {bitstream} is not a .{board.bitstream} file, which the "
                       f"{board.name} takes", EXIT_BAD_INPUT)
    if not bitstream.is_file():
        if args.dry_run:                      # show the command all the same
            console_err().print(f"note: {escape(str(bitstream))} does not exist yet; build it "
                                f"with `corolla build --board {board.name} --out "
                                f"{escape(str(bitstream.parent))}`")
        else:
            raise CliError(f"bitstream {bitstream} does not exist; build it with `corolla "
                           f"build --board {board.name} --out {bitstream.parent}`",
                           EXIT_BAD_INPUT)
    try:
        if args.dry_run:
            cmd = flash_command(board, bitstream, installed=False)
            if not Path(cmd[0]).is_absolute():
                console_err().print(f"note: {cmd[0]} is not installed; install "
                                     f"{board.packages}")
            print(shlex.join(cmd))
            return EXIT_OK
        with progress(f"Programming the {board.name}"):
            cmd = flash(board, bitstream)
    except BuildError as exc:
        raise CliError(str(exc)) from None
    print(f"programmed {board.name} with {bitstream} ({Path(cmd[0]).name})")
    return EXIT_OK


def register(sub) -> None:
    """Add ``corolla flash`` to the verbs."""
    from ..boards import BOARDS

    p = sub.add_parser("flash", help="program a board with a bitstream",
                       description="Program a board with openFPGALoader, iceprog, fujprog or "
                                   "dfu-util (whichever the board takes and is installed).")
    p.add_argument("--board", required=True, choices=BOARDS, help="the board")
    p.add_argument("--bitstream", type=checks.bitstream_file, metavar="FILE",
                   help="the bitstream (default: build/BOARD/corolla_top.bin|bit)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the command instead of running it")
    p.set_defaults(func=run)
