"""Argument types that check every option when the command line is parsed, before any work.

Each is an ``argparse`` type: a bad value ends the command at once with exit status 2 and one
line naming the option, the value and what was expected, e.g. ``corolla compress: error:
argument --seed: -1; expected an integer from 0 to 4294967295``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ["BAUD", "IMAGES", "SEED", "bitstream_file", "choice_list", "data_file", "float_range",
           "int_list", "int_range", "model_file", "onnx_file", "out_dir", "serial_port"]


def int_range(lo: int, hi: int | None = None):
    """An integer from ``lo`` to ``hi`` (no upper bound when ``None``)."""
    expected = f"an integer from {lo} to {hi}" if hi is not None else f"an integer of at least {lo}"

    def check(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}; expected {expected}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value}; expected {expected}")
        return value

    check.__name__ = "integer"
    return check


def int_list(lo: int, hi: int):
    """Comma-separated distinct integers, each from ``lo`` to ``hi``, as a tuple."""
    expected = f"comma-separated distinct integers from {lo} to {hi}"

    def check(text: str) -> tuple:
        try:
            values = tuple(int(v, 10) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}; expected {expected}") from None
        if any(not lo <= v <= hi for v in values) or len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"{text}; expected {expected}")
        return values

    check.__name__ = "integers"
    return check


def choice_list(choices):
    """Comma-separated distinct names, each one of ``choices``, as a tuple."""
    expected = f"comma-separated distinct names of {', '.join(choices)}"

    def check(text: str) -> tuple:
        values = tuple(text.split(","))
        if any(v not in choices for v in values) or len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"{text!r}; expected {expected}")
        return values

    check.__name__ = "names"
    return check


def float_range(lo: float, hi: float, unit: str = ""):
    """A number above ``lo`` and at most ``hi``."""
    expected = f"a number above {lo:g} and at most {hi:g}{unit}"

    def check(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}; expected {expected}") from None
        if not lo < value <= hi:                      # also refuses nan
            raise argparse.ArgumentTypeError(f"{text}; expected {expected}")
        return value

    check.__name__ = "number"
    return check


#: Seeds of numpy and cocotb: what numpy's generators accept from one 32-bit word.
SEED = int_range(0, 2**32 - 1)
#: UART rates a USB-serial bridge offers.
BAUD = int_range(300, 12_000_000)
#: Test images of the built-in digits data (its test split has 450).
IMAGES = int_range(1, 450)


def out_dir(text: str) -> Path:
    """An output folder that exists or can be made, and can be written: not empty, not a file,
    not under a file."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r}; expected a folder name")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file; expected a folder")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is under the file {str(parent)!r}; "
                                         f"expected a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text!r}: the folder {str(parent)!r} is not "
                                         f"writable")
    return path


def _regular_file(text: str, what: str, max_bytes: int) -> Path:
    path = Path(text)
    if not text.strip() or not path.exists():
        raise argparse.ArgumentTypeError(f"{text!r} does not exist; expected {what}")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not a regular file; expected {what}")
    size = path.stat().st_size
    if size == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is empty; expected {what}")
    if size > max_bytes:
        raise argparse.ArgumentTypeError(f"{text!r} has {size:,} bytes; expected {what} of at "
                                         f"most {max_bytes:,}")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text!r} is not readable")
    return path


def model_file(text: str) -> str:
    """``digits`` or ``digits-cnn`` (the built-in models) or a readable ``.npz`` model
    file."""
    from ..firmware.model import MAX_MODEL_BYTES
    from ..run import BUILTIN_MODELS

    if text in BUILTIN_MODELS:
        return text
    _regular_file(text, "digits, digits-cnn, an .npz model file or an .onnx model",
                  MAX_MODEL_BYTES)
    return text


def onnx_file(text: str) -> str:
    """A readable ONNX model file (``.onnx``)."""
    from ..firmware.importer import MAX_ONNX_BYTES

    if not text.endswith(".onnx"):
        raise argparse.ArgumentTypeError(f"{text!r}; expected an .onnx model file")
    _regular_file(text, "an .onnx model file", MAX_ONNX_BYTES)
    return text


def data_file(text: str) -> str:
    """A readable ``.npz`` data file."""
    from ..firmware.model import MAX_MODEL_BYTES

    _regular_file(text, "an .npz data file", 16 * MAX_MODEL_BYTES)
    return text


def bitstream_file(text: str) -> Path:
    """A bitstream file: readable and not empty if it exists (``flash --dry-run`` shows the
    command for one that is still to be built)."""
    if text.strip() and not Path(text).exists():
        return Path(text)
    return _regular_file(text, "a bitstream file", 64 << 20)


def serial_port(text: str) -> str:
    """A serial device that exists (e.g. /dev/ttyUSB1)."""
    if not text.strip() or not Path(text).exists():
        raise argparse.ArgumentTypeError(f"{text!r} does not exist; expected a serial port "
                                         f"such as /dev/ttyUSB1")
    return text
