"""Golden model of :class:`corolla.hw.arith.mac.Mac`."""

from __future__ import annotations

import numpy as np

from corolla.formats import IntFormat, wrap_signed

__all__ = ["mac_reference"]


def mac_reference(a, b, valid, clear, *, width: int = 8, acc_width: int = 32) -> np.ndarray:
    """Accumulator value after each cycle of an operand stream.

    Parameters
    ----------
    a, b : array_like of int
        Operands presented on each cycle (signed, ``width`` bits). Values on cycles without
        ``valid`` are ignored, as the hardware ignores them.
    valid : array_like of bool
        Whether an operand pair is presented on each cycle.
    clear : array_like of bool
        Whether the pair starts a new accumulation (ignored without ``valid``).
    width : int
        Operand width in bits.
    acc_width : int
        Accumulator width in bits; the sum wraps around like a register of that width.

    Returns
    -------
    numpy.ndarray of int64
        ``acc[t]``, the accumulator after the pair of cycle ``t`` has been taken in (the value
        the hardware shows ``latency`` cycles later). The accumulator starts at zero.

    Raises
    ------
    ValueError
        If the sequences differ in length or an operand of a valid cycle does not fit in
        ``width`` bits.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    valid = np.asarray(valid, dtype=bool)
    clear = np.asarray(clear, dtype=bool) & valid
    if not a.shape == b.shape == valid.shape == clear.shape or a.ndim != 1:
        raise ValueError(
            f"a, b, valid and clear must be 1-D sequences of one length, not shapes "
            f"{a.shape}, {b.shape}, {valid.shape}, {clear.shape}"
        )
    operand = IntFormat(width)
    for name, v in (("a", a), ("b", b)):
        if not operand.contains(v[valid]):
            bad = v[valid][(v[valid] < operand.min) | (v[valid] > operand.max)][0]
            raise ValueError(
                f"Operand {name} = {int(bad)} does not fit in {width} signed bits "
                f"([{operand.min}, {operand.max}])"
            )
    products = np.where(valid, a * b, 0)
    # Running sum restarted at every clear: subtract the total reached just before the
    # most recent clear. Intermediate sums stay far inside int64 for any realistic stream.
    running = np.cumsum(products)
    before = running - products
    restart = np.maximum.accumulate(np.where(clear, np.arange(len(a)), -1))
    base = np.where(restart >= 0, before[np.maximum(restart, 0)], 0)
    return wrap_signed(running - base, acc_width)
