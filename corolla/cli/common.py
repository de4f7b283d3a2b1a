"""What every verb shares: exit statuses, the one-line error, the parser, common options."""

from __future__ import annotations

import argparse
import sys
import time

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from ..config import builtin_configs, load_config

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILURE", "EXIT_OK", "CliError", "Parser", "add_config_arg",
           "add_design_arg", "add_variant_arg", "board_and_config", "board_of", "console_err",
           "console_out", "escape", "per_layer", "progress"]

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


def console_out() -> Console:
    """The console for results (stdout). Without a terminal (a log, a pipe) lines are not
    wrapped at 80 columns and table cells are not split."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200, soft_wrap=True)
    return console


class _Progress:
    """``say(message)`` updates the spinner; without a terminal, each new message is a line
    on stderr with the seconds so far, so logs show the progress of long steps."""

    def __init__(self, console: Console, message: str):
        self._console = console
        self._status = console.status(Text(message)) if console.is_terminal else None
        self._t0 = time.perf_counter()
        self._last = None
        self(message)

    def __call__(self, message) -> None:
        message = str(message)
        if self._status is not None:
            self._status.update(Text(message))
        elif message != self._last:
            elapsed = time.perf_counter() - self._t0
            print(f"corolla: [{elapsed:5.0f} s] {message}", file=sys.stderr, flush=True)
        self._last = message

    def __enter__(self):
        if self._status is not None:
            self._status.__enter__()
        return self

    def __exit__(self, *exc):
        if self._status is not None:
            self._status.__exit__(*exc)
        return False


def progress(message: str) -> _Progress:
    """``with progress("Building") as say: … say("Placing")``: progress of a long step, user
    text shown as it is (no markup)."""
    return _Progress(console_err(), message)


def add_config_arg(parser):
    names = ", ".join(sorted(builtin_configs()))
    parser.add_argument("--config", default="default", metavar="NAME|FILE",
                        help=f"built-in configuration ({names}) or a TOML file "
                             "(default: %(default)s)")


def add_design_arg(parser):
    parser.add_argument("--design", choices=("top", "array"), default="top",
                        help="top: the whole accelerator; array: the PE array alone "
                             "(default: %(default)s)")


def add_variant_arg(parser, what: str):
    """``--variant NAME|KIND[,KIND...]``: a variant of the built-in model, or the layer kinds
    (from the registry) ``what`` runs."""
    from ..firmware.cnn import CNN_VARIANTS
    from ..firmware.variants import VARIANTS
    from ..layers import LAYER_KINDS

    parser.add_argument("--variant", metavar="NAME|KIND[,KIND...]",
                        help=f"{what}: a variant of the digits MLP ({', '.join(VARIANTS)}; "
                             f"default dense) or of the digits CNN "
                             f"({', '.join(CNN_VARIANTS)}; default int8), or one layer kind "
                             f"for every layer or one per layer, from "
                             f"{', '.join(LAYER_KINDS)} (see `corolla kinds`)")


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
        one, many = ("a number", "numbers") if kind is float else ("an integer", "integers")
        raise CliError(f"{option} = {text!r}; expected {one} or comma-separated {many} (one "
                       f"per layer)", EXIT_BAD_INPUT) from None
    return values[0] if len(values) == 1 else values
