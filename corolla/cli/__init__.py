"""The ``corolla`` command: one module per verb, one error and exit-status path.

Each verb module (``corolla/cli/<verb>.py``) registers its own arguments with ``register(sub)``
and runs with ``run(args)``; this module only dispatches. Exit status: 0 on success, 1 when a
step fails (a test, a build, a missing tool), 2 on bad input (configuration, arguments). Every
verb that prints figures also takes ``--json``, which prints one JSON document on stdout and
keeps progress messages on stderr.
"""

from __future__ import annotations

import importlib
import os
import sys

from .. import __version__
from ..config import ConfigError
from ..firmware.model import ModelError
from ..layers import CompileError
from .common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, CliError, Parser

__all__ = ["VERBS", "build_parser", "main"]

#: The verbs, in the order ``corolla --help`` lists them.
VERBS = ("kinds", "generate", "sim", "build", "report", "flash", "run", "demo", "compress",
         "import", "bench", "sweep")
#: Verbs whose module has another name (``import`` is a Python keyword).
_MODULES = {"import": "importer"}


def build_parser() -> Parser:
    """The argument parser of the ``corolla`` command."""
    parser = Parser(
        prog="corolla",
        description="Generate, simulate and build FPGA inference accelerators for compressed "
                    "and low-precision neural networks.")
    parser.add_argument("--version", action="version", version=f"corolla {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=Parser)
    for verb in VERBS:
        importlib.import_module(f"{__name__}.{_MODULES.get(verb, verb)}").register(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``corolla`` command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:         # --help, --version, or a bad argument (exit 2)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    try:
        return args.func(args)
    except (ConfigError, ModelError, CompileError) as exc:
        print(f"corolla: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CliError as exc:
        print(f"corolla: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("corolla: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`); not an error of ours.
        sys.stdout = None
        return EXIT_OK
    except Exception as exc:
        # A defect of Corolla's, not of the input: one line, the traceback on request.
        if os.environ.get("COROLLA_DEBUG"):
            raise
        print(f"corolla: internal error: {type(exc).__name__}: {exc} (set COROLLA_DEBUG=1 for "
              f"the traceback, and please report it)", file=sys.stderr)
        return EXIT_FAILURE
