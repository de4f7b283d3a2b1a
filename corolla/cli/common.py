"""What every verb shares: exit statuses, the one-line error, the parser, common options."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.markup import escape

from ..config import builtin_configs, load_config

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILURE", "EXIT_OK", "CliError", "Parser", "add_config_arg",
           "add_design_arg", "board_and_config", "board_of", "console_err", "escape",
           "per_layer"]

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


class CliError(Exception):
    """A failure to report in one line with an exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILURE):
        super().__init__(message)
        self.status = status


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def console_err() -> Console:
    """The console for progress and warnings (stderr)."""
    return Console(stderr=True, highlight=False)


def add_config_arg(parser):
    names = ", ".join(sorted(builtin_configs()))
    parser.add_argument("--config", default="default", metavar="NAME|FILE",
                        help=f"built-in configuration ({names}) or a TOML file "
                             "(default: %(default)s)")


def add_design_arg(parser):
    parser.add_argument("--design", choices=("top", "array"), default="top",
                        help="top: the whole accelerator; array: the PE array alone "
                             "(default: %(default)s)")


def board_of(args):
    from ..boards import BoardError, get_board

    try:
        return get_board(args.board)
    except BoardError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None


def board_and_config(args):
    board = board_of(args)
    return board, load_config(args.config or board.config)


def per_layer(text: str, option: str, kind: type):
    """One value for every layer, or comma-separated values, one per layer."""
    try:
        values = tuple(kind(v) for v in text.split(","))
    except ValueError:
        noun = "number" if kind is float else "integer"
        raise CliError(f"{option} = {text!r}; expected a {noun} or comma-separated {noun}s "
                       f"(one per layer)", EXIT_BAD_INPUT) from None
    return values[0] if len(values) == 1 else values
