"""Golden model of :class:`corolla.hw.arith.requant.Requant`."""

from __future__ import annotations

import numpy as np

from corolla.formats import IntFormat, requantize

__all__ = ["requant_reference"]


def requant_reference(acc, shift: int, relu: bool, *, acc_width: int = 32,
                      out_width: int = 8) -> np.ndarray:
    """Activations the requantizer produces for a sequence of accumulators.

    Parameters
    ----------
    acc : array_like of int
        Accumulators (signed, ``acc_width`` bits).
    shift : int
        Right shift, 0 to ``acc_width - 1``.
    relu : bool
        Clamp negative results to zero.
    acc_width, out_width : int
        Input and output widths.
    """
    acc = np.asarray(acc, dtype=np.int64)
    if not IntFormat(acc_width).contains(acc):
        raise ValueError(f"Accumulators must fit in {acc_width} signed bits")
    if not 0 <= int(shift) < 1 << max(1, (acc_width - 1).bit_length()):
        raise ValueError(f"Shift must be from 0 to {acc_width - 1}, not {shift!r}")
    return requantize(acc, int(shift), relu=bool(relu), out=IntFormat(out_width))
