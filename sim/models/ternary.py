"""Golden model of :class:`corolla.hw.arith.ternary.TernaryMac`."""

from __future__ import annotations

import numpy as np

from corolla.formats import IntFormat, ternary_decode, wrap_signed

__all__ = ["ternary_dot"]


def ternary_dot(a, codes, wp: int, wn: int, *, act_width: int = 8, acc_width: int = 32):
    """Scaled ternary dot product, as the hardware computes it.

    Parameters
    ----------
    a : array_like of int
        Activations (signed, ``act_width`` bits), any length.
    codes : array_like of int
        2-bit weight codes, same length (00 = 0, 01 = +1, 11 = −1, 10 invalid → 0).
    wp, wn : int
        Unsigned positive and negative scales.
    act_width, acc_width : int
        Activation width; width at which the sums ``P`` and ``N`` wrap.

    Returns
    -------
    value : int
        ``wp·P − wn·N`` with ``P`` (``N``) the wrapped sum of activations whose weight is +1
        (−1).
    invalid : bool
        Whether an invalid code occurred.
    """
    a = np.asarray(a, dtype=np.int64)
    values, invalid = ternary_decode(codes)
    if a.shape != values.shape:
        raise ValueError(f"Activations and codes must have one shape, not {a.shape} and "
                         f"{values.shape}")
    if not IntFormat(act_width).contains(a):
        raise ValueError(f"Activations must fit in {act_width} signed bits")
    if wp < 0 or wn < 0:
        raise ValueError(f"Scales must be non-negative, not wp={wp}, wn={wn}")
    p = int(wrap_signed(a[values == 1].sum(), acc_width))
    n = int(wrap_signed(a[values == -1].sum(), acc_width))
    return int(wp) * p - int(wn) * n, bool(invalid.any())
