"""Golden model of the LNS units in :mod:`corolla.hw.arith.lns`.

Every function works on LNS words (see :class:`corolla.formats.LnsFormat`) as numpy integer
arrays and computes bit for bit what the gateware computes.
"""

from __future__ import annotations

import numpy as np

from corolla.formats import IntFormat, LnsFormat, wrap_signed

__all__ = [
    "MODES",
    "lns_add",
    "lns_dot",
    "lns_from_int",
    "lns_mul",
    "lns_neg",
    "lns_sub",
    "lns_to_fixed",
]

#: Accumulation modes of the LNS MAC.
MODES = ("linear", "log", "kahan")


def lns_mul(fmt: LnsFormat, a, b) -> np.ndarray:
    """Product: logs add, signs xor; saturates at the largest magnitude, underflows to zero."""
    sa, la, za = fmt.unpack(a)
    sb, lb, zb = fmt.unpack(b)
    log = la + lb
    zero = za | zb | (log < fmt.log_min)
    log = np.where(zero, fmt.zero_log, np.minimum(log, fmt.log_max))
    return fmt.pack(np.where(zero, 0, sa ^ sb), log)


def lns_neg(fmt: LnsFormat, a) -> np.ndarray:
    """Negation (zero stays the canonical zero)."""
    s, log, zero = fmt.unpack(a)
    return fmt.pack(np.where(zero, 0, 1 - s), log)


def lns_add(fmt: LnsFormat, a, b) -> np.ndarray:
    """Sum: ``max(la, lb) + s(|la − lb|)`` for equal signs, ``+ d(|la − lb|)`` otherwise.

    The sign is the larger operand's. Equal magnitudes of opposite sign cancel exactly to
    zero; a result below the smallest magnitude is zero, above the largest it saturates.
    A zero operand returns the other operand.
    """
    sa, la, za = fmt.unpack(a)
    sb, lb, zb = fmt.unpack(b)
    a_big = la >= lb
    big = np.where(a_big, la, lb)
    sign = np.where(a_big, sa, sb)
    dist = np.abs(la - lb)
    same = sa == sb
    log = big + fmt.gauss(dist, same)
    zero = (~same & (dist == 0)) | (log < fmt.log_min)
    log = np.where(zero, fmt.zero_log, np.minimum(log, fmt.log_max))
    out = fmt.pack(np.where(zero, 0, sign), log)
    out = np.where(za, fmt.pack(sb, lb), out)
    return np.where(zb & ~za, fmt.pack(sa, la), out)


def lns_sub(fmt: LnsFormat, a, b) -> np.ndarray:
    """Difference ``a − b`` (addition of the negated ``b``)."""
    return lns_add(fmt, a, lns_neg(fmt, b))


def lns_from_int(fmt: LnsFormat, values, *, in_frac: int = 0) -> np.ndarray:
    """int8 codes (with ``in_frac`` fraction bits) to LNS words, through the 128-entry table.

    The log is rounded half up; out-of-range magnitudes saturate, too small ones become zero.
    """
    v = np.asarray(values, dtype=np.int64)
    if np.any((v < -128) | (v > 127)):
        raise ValueError("lns_from_int takes int8 values from -128 to 127")
    table = fmt.int_table(in_frac)
    mag = np.abs(v)
    log = table[np.maximum(mag, 1) - 1]
    zero = (v == 0) | (log < fmt.log_min)
    log = np.where(zero, fmt.zero_log, np.minimum(log, fmt.log_max))
    return fmt.pack(np.where(zero, 0, (v < 0).astype(np.int64)), log)


def lns_to_fixed(fmt: LnsFormat, words, *, frac_bits: int, width: int,
                 antilog_bits: int) -> np.ndarray:
    """LNS words to signed fixed point with ``frac_bits`` fraction bits, saturated to ``width``.

    With ``L = n·2**F + f``: ``value = antilog[f] · 2**(n + frac_bits − A)``, the antilog
    table holding ``round(2**(f/2**F) · 2**A)``; a right shift rounds half up. The sign is
    applied last (so the result is symmetric), then the value saturates.
    """
    sign, log, zero = fmt.unpack(words)
    table = fmt.antilog_table(antilog_bits)
    n = log >> fmt.frac_bits
    f = log & ((1 << fmt.frac_bits) - 1)
    out_fmt = IntFormat(width)
    result = np.empty(np.shape(log), dtype=np.int64)
    for i, (ni, fi, si, zi) in enumerate(zip(np.ravel(n), np.ravel(f), np.ravel(sign),
                                             np.ravel(zero), strict=True)):
        if zi:
            result.flat[i] = 0
            continue
        mant = int(table[fi])
        e = int(ni) + frac_bits - antilog_bits
        mag = mant << e if e >= 0 else (mant + (1 << (-e - 1))) >> -e
        val = -mag if si else mag
        result.flat[i] = min(max(val, out_fmt.min), out_fmt.max)
    return result


def lns_dot(fmt: LnsFormat, a, w, *, mode: str = "linear", acc_width: int = 32,
            acc_frac: int = 8, antilog_bits: int | None = None):
    """Dot product of LNS words ``a`` and ``w`` as the LNS MAC computes it.

    Parameters
    ----------
    mode : str
        ``"linear"``: each product is converted to fixed point (``acc_frac`` fraction bits)
        and summed in a wrapping ``acc_width``-bit accumulator; returns an int.
        ``"log"``: products are summed in order by the LNS adder; returns a word.
        ``"kahan"``: as ``"log"`` with Kahan compensation (``y = p − c; t = s + y;
        c = (t − s) − y; s = t``, every operation an LNS add); returns a word.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    p = lns_mul(fmt, np.asarray(a, np.int64), np.asarray(w, np.int64))
    if mode == "linear":
        ab = fmt.frac_bits + 4 if antilog_bits is None else antilog_bits
        fixed = lns_to_fixed(fmt, p, frac_bits=acc_frac, width=acc_width, antilog_bits=ab)
        return int(wrap_signed(np.sum(wrap_signed(fixed, acc_width)), acc_width))
    s = c = fmt.zero
    for pi in np.ravel(p):
        if mode == "log":
            s = lns_add(fmt, s, pi)
        else:
            y = lns_sub(fmt, pi, c)
            t = lns_add(fmt, s, y)
            c = lns_sub(fmt, lns_sub(fmt, t, s), y)
            s = t
    return int(s)
