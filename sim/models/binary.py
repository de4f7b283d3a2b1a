"""Golden model of :class:`corolla.hw.arith.binary.BinaryDot`."""

from __future__ import annotations

import numpy as np

from corolla.formats import wrap_signed

__all__ = ["binary_dot"]


def binary_dot(a_bits, w_bits, alpha: int, bias: int, *, acc_width: int = 16):
    """XNOR-popcount dot product of two ±1 vectors given as bits (1 = +1, 0 = −1).

    Parameters
    ----------
    a_bits, w_bits : array_like of {0, 1}
        Activation and weight bits of one dot product (a whole number of words).
    alpha : int
        Unsigned output scale.
    bias : int
        Signed offset added to the dot product before scaling and sign.
    acc_width : int
        Width at which the dot product wraps.

    Returns
    -------
    value : int
        ``alpha · dot`` with ``dot = 2·popcount(~(a ^ w)) − len(a) + bias`` (wrapped).
    sign : int
        1 if ``dot >= 0`` else 0.
    """
    a = np.asarray(a_bits, dtype=np.int64)
    w = np.asarray(w_bits, dtype=np.int64)
    if a.shape != w.shape or a.ndim != 1:
        raise ValueError(f"Activation and weight bits must be 1-D of one length, not "
                         f"{a.shape} and {w.shape}")
    if np.any((a < 0) | (a > 1)) or np.any((w < 0) | (w > 1)):
        raise ValueError("Bits must be 0 or 1")
    if alpha < 0:
        raise ValueError(f"Alpha must be non-negative, not {alpha}")
    agree = int(np.sum(a == w))
    dot = int(wrap_signed(wrap_signed(2 * agree - len(a), acc_width) + bias, acc_width))
    return int(alpha) * dot, int(dot >= 0)
