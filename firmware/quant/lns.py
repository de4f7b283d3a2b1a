"""LNS encoder: float tensors → LNS words with a per-tensor power-of-two scale.

The words use :meth:`corolla.formats.LnsFormat.encode`, the one definition shared with the
gateware and the golden model. A power-of-two scale only shifts the log field, so it is exact:
the tensor is stored as ``x · 2**-scale_log2`` with the scale chosen so that the largest
magnitude lands at the top of the format's range (the format's range then covers the
magnitudes down to ``2**I`` octaves below it; smaller ones become zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corolla.formats import LnsFormat

from ._checks import float_array

__all__ = ["LnsTensor", "quantize_lns"]


@dataclass(frozen=True)
class LnsTensor:
    """LNS words standing for ``decode(words) · 2**scale_log2``."""

    words: np.ndarray
    scale_log2: int
    fmt: LnsFormat

    def dequantize(self) -> np.ndarray:
        """The real values the words stand for."""
        return self.fmt.decode(self.words) * 2.0 ** self.scale_log2


def quantize_lns(x: np.ndarray, fmt: LnsFormat, *, scale_log2: int | None = None) -> LnsTensor:
    """Encode ``x`` to LNS words with a power-of-two scale.

    Parameters
    ----------
    x : numpy.ndarray of float
    fmt : LnsFormat
    scale_log2 : int, optional
        The scale exponent; by default the smallest one that keeps ``max|x|`` from saturating.
    """
    x = float_array(x, "tensor")
    if not isinstance(fmt, LnsFormat):
        raise TypeError(f"fmt must be an LnsFormat, not {type(fmt).__name__}")
    if scale_log2 is None:
        peak = float(np.max(np.abs(x)))
        top = fmt.log_max / (1 << fmt.frac_bits)
        scale_log2 = int(np.ceil(np.log2(peak) - top)) if peak > 0 else 0
    elif not isinstance(scale_log2, int | np.integer):
        raise TypeError(f"scale_log2 must be an integer, not {scale_log2!r}")
    return LnsTensor(fmt.encode(x * 2.0 ** -int(scale_log2)), int(scale_log2), fmt)
