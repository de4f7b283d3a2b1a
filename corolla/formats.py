"""Number formats shared by the gateware, the golden models and the encoders.

This is a leaf module: it imports only numpy. Every bit layout that crosses the boundary
between ``corolla.hw``, ``corolla.sim.models`` and ``corolla.firmware`` is defined here once.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ACCUMULATOR",
    "ACTIVATION",
    "CODEBOOK_ZERO",
    "TERNARY_CODES",
    "TERNARY_INVALID",
    "WEIGHT",
    "IntFormat",
    "LnsFormat",
    "binary_decode",
    "binary_encode",
    "eie_entry_pack",
    "eie_entry_unpack",
    "requantize",
    "ternary_decode",
    "ternary_encode",
    "wrap_signed",
]


def wrap_signed(values, width: int) -> np.ndarray:
    """Reduce integers to ``width``-bit two's complement, as a register of that width does.

    Parameters
    ----------
    values : array_like of int
        Integers of any magnitude that fits in int64.
    width : int
        Register width in bits, 1 to 63.

    Returns
    -------
    numpy.ndarray of int64
        ``values`` modulo ``2**width``, mapped into ``[-2**(width-1), 2**(width-1))``.
    """
    if not isinstance(width, int) or not 1 <= width <= 63:
        raise ValueError(f"Width must be an integer from 1 to 63, not {width!r}")
    v = np.asarray(values, dtype=np.int64)
    half = np.int64(1) << np.int64(width - 1)
    mask = (np.int64(1) << np.int64(width)) - np.int64(1)
    return ((v + half) & mask) - half


@dataclass(frozen=True)
class IntFormat:
    """A signed two's complement integer format.

    Parameters
    ----------
    width : int
        Number of bits, sign included.
    """

    width: int

    def __post_init__(self):
        if not isinstance(self.width, int) or not 1 <= self.width <= 63:
            raise ValueError(f"Width must be an integer from 1 to 63, not {self.width!r}")

    @property
    def min(self) -> int:
        """Most negative representable value."""
        return -(1 << (self.width - 1))

    @property
    def max(self) -> int:
        """Most positive representable value."""
        return (1 << (self.width - 1)) - 1

    def wrap(self, values) -> np.ndarray:
        """Wrap ``values`` into this format (two's complement overflow)."""
        return wrap_signed(values, self.width)

    def saturate(self, values) -> np.ndarray:
        """Clamp ``values`` to ``[min, max]``."""
        return np.clip(np.asarray(values, dtype=np.int64), self.min, self.max)

    def contains(self, values) -> bool:
        """Whether every value of ``values`` is representable without loss."""
        v = np.asarray(values, dtype=np.int64)
        return bool(np.all((v >= self.min) & (v <= self.max)))


#: Activations: int8 two's complement with a per-tensor power-of-two scale.
ACTIVATION = IntFormat(8)
#: Dense weights: int8 two's complement.
WEIGHT = IntFormat(8)
#: Default accumulator: int32 (the width is a parameter of every accumulating unit).
ACCUMULATOR = IntFormat(32)


# --- Requantization -------------------------------------------------------------------------

def requantize(acc, shift, *, relu: bool = False, out: IntFormat = ACTIVATION) -> np.ndarray:
    """Scale accumulators back to activations: ``sat((acc + 2**(shift-1)) >> shift)``.

    The shift rounds half up (towards +inf on ties); ``shift = 0`` passes ``acc`` through.
    With ``relu`` negative results become 0. The result saturates to ``out``.

    Parameters
    ----------
    acc : array_like of int
        Accumulator values.
    shift : int or array_like of int
        Right shift, 0 or more (per layer, or per value).
    relu : bool
        Apply ReLU before saturation.
    out : IntFormat
        Output format (int8 by default).
    """
    acc = np.asarray(acc, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    if np.any(shift < 0) or np.any(shift > 62):
        raise ValueError(f"Shift must be from 0 to 62, not {shift!r}")
    bias = np.where(shift > 0, np.left_shift(np.int64(1), np.maximum(shift - 1, 0)), 0)
    y = np.right_shift(acc + bias, shift)
    if relu:
        y = np.maximum(y, 0)
    return out.saturate(y)


# --- Ternary weights ------------------------------------------------------------------------

#: 2-bit codes of the ternary weights: 00 = 0, 01 = +1, 11 = -1.
TERNARY_CODES = {0: 0b00, 1: 0b01, -1: 0b11}
#: The fourth code, 10, is invalid: hardware flags it and treats the weight as 0.
TERNARY_INVALID = 0b10


def ternary_encode(values) -> np.ndarray:
    """Encode ternary values {-1, 0, +1} as 2-bit codes (uint8)."""
    v = np.asarray(values)
    if not np.all(np.isin(v, (-1, 0, 1))):
        bad = v[~np.isin(v, (-1, 0, 1))].flat[0]
        raise ValueError(f"Ternary values must be -1, 0 or +1, not {bad!r}")
    return np.where(v == 1, 0b01, np.where(v == -1, 0b11, 0b00)).astype(np.uint8)


def ternary_decode(codes):
    """Decode 2-bit ternary codes.

    Returns
    -------
    values : numpy.ndarray of int8
        -1, 0 or +1; the invalid code decodes to 0, as in hardware.
    invalid : numpy.ndarray of bool
        Where the invalid code 10 appeared.
    """
    c = np.asarray(codes, dtype=np.int64)
    if np.any((c < 0) | (c > 3)):
        raise ValueError("Ternary codes must be 2-bit values from 0 to 3")
    values = np.where(c == 0b01, 1, np.where(c == 0b11, -1, 0)).astype(np.int8)
    return values, c == TERNARY_INVALID


# --- Binary weights and activations ---------------------------------------------------------

def binary_encode(values) -> np.ndarray:
    """Encode signs as bits: +1 -> 1, -1 -> 0 (uint8). Zero is not binary and is rejected."""
    v = np.asarray(values)
    if not np.all(np.isin(v, (-1, 1))):
        bad = v[~np.isin(v, (-1, 1))].flat[0]
        raise ValueError(f"Binary values must be -1 or +1, not {bad!r}")
    return (v == 1).astype(np.uint8)


def binary_decode(bits) -> np.ndarray:
    """Decode bits to signs: 1 -> +1, 0 -> -1 (int8)."""
    b = np.asarray(bits)
    if not np.all(np.isin(b, (0, 1))):
        raise ValueError("Binary bits must be 0 or 1")
    return np.where(b == 1, 1, -1).astype(np.int8)


# --- Codebook weights and the EIE sparse encoding -------------------------------------------

#: Codebook entry 0 is exact zero. Pruned weights and EIE padding entries use it.
CODEBOOK_ZERO = 0


def eie_entry_pack(z, v, *, z_bits: int = 4, v_bits: int = 4) -> np.ndarray:
    """Pack EIE entries into words: relative row index ``z`` in the low ``z_bits``, codebook
    index ``v`` above it (``word = v << z_bits | z``), as the entry memories hold them."""
    z = np.asarray(z, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    if np.any((z < 0) | (z >= 1 << z_bits)):
        raise ValueError(f"Relative index z must be from 0 to {(1 << z_bits) - 1}")
    if np.any((v < 0) | (v >= 1 << v_bits)):
        raise ValueError(f"Codebook index v must be from 0 to {(1 << v_bits) - 1}")
    return (v << z_bits) | z


def eie_entry_unpack(words, *, z_bits: int = 4, v_bits: int = 4):
    """Split entry words into ``(z, v)`` (the inverse of :func:`eie_entry_pack`)."""
    w = np.asarray(words, dtype=np.int64)
    if np.any((w < 0) | (w >= 1 << (z_bits + v_bits))):
        raise ValueError(f"Entry words must be from 0 to {(1 << (z_bits + v_bits)) - 1}")
    return w & ((1 << z_bits) - 1), w >> z_bits


# --- Logarithmic number system ---------------------------------------------------------------

def _round_half_up(x) -> np.ndarray:
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


@dataclass(frozen=True)
class LnsFormat:
    """A logarithmic number format: sign and a signed fixed-point log2 of the magnitude.

    A word is ``1 + I + F`` bits: the sign in the top bit (1 = negative) and below it the log2
    of the magnitude as an ``(I + F)``-bit two's complement number with ``F`` fraction bits
    (``I`` integer bits, the log's sign included). The most negative log code is reserved for
    zero; the canonical zero word is that code with sign 0, and any word holding it reads as
    zero. Representable magnitudes are ``2**(L / 2**F)`` for ``L`` in ``[log_min, log_max]``.

    The Gaussian-log tables that addition needs, ``s(d) = log2(1 + 2**-d)`` and
    ``d(d) = log2(1 − 2**-d)``, are sampled every ``2**-T`` (``T = table_frac_bits``, at most
    ``F``) and stored in units of ``2**-F``, rounded half up. They end where the rounded
    value becomes 0 for good; beyond, the correction is 0. With ``T < F`` a difference between
    samples is either truncated to the sample below or, with ``interpolate``, linearly
    interpolated (rounded half up). Entry 0 of the difference table holds ``d(2**-F)`` (the
    smallest non-zero distance); a distance of exactly 0 between opposite signs is an exact
    cancellation and gives zero without a table.

    Parameters
    ----------
    int_bits : int
        I, 1 to 12.
    frac_bits : int
        F, 0 to 12.
    table_frac_bits : int, optional
        T, the resolution of the Gaussian-log tables; ``F`` by default (exact lookups).
    interpolate : bool
        Interpolate between table samples (only meaningful when ``T < F``).
    """

    int_bits: int = 4
    frac_bits: int = 3
    table_frac_bits: int | None = None
    interpolate: bool = False

    def __post_init__(self):
        if not isinstance(self.int_bits, int) or not 1 <= self.int_bits <= 12:
            raise ValueError(f"LNS int_bits must be an integer from 1 to 12, not "
                             f"{self.int_bits!r}")
        if not isinstance(self.frac_bits, int) or not 0 <= self.frac_bits <= 12:
            raise ValueError(f"LNS frac_bits must be an integer from 0 to 12, not "
                             f"{self.frac_bits!r}")
        if self.int_bits + self.frac_bits < 2:
            raise ValueError("LNS int_bits + frac_bits must be at least 2")
        t = self.table_frac_bits
        if t is not None and (not isinstance(t, int) or not 0 <= t <= self.frac_bits):
            raise ValueError(f"LNS table_frac_bits must be an integer from 0 to frac_bits = "
                             f"{self.frac_bits}, not {t!r}")

    # Layout -----------------------------------------------------------------------------------

    @property
    def log_width(self) -> int:
        """Bits of the log field, ``I + F``."""
        return self.int_bits + self.frac_bits

    @property
    def width(self) -> int:
        """Bits of a word, ``1 + I + F``."""
        return 1 + self.log_width

    @property
    def zero_log(self) -> int:
        """The reserved log code of zero (the most negative one)."""
        return -(1 << (self.log_width - 1))

    @property
    def log_min(self) -> int:
        return self.zero_log + 1

    @property
    def log_max(self) -> int:
        return (1 << (self.log_width - 1)) - 1

    @property
    def zero(self) -> int:
        """The canonical zero word."""
        return int(self.pack(0, self.zero_log))

    @property
    def table_step_bits(self) -> int:
        """``F − T``: how many low bits of a distance fall between table samples."""
        return self.frac_bits - (self.frac_bits if self.table_frac_bits is None
                                 else self.table_frac_bits)

    def pack(self, sign, log) -> np.ndarray:
        """Words from signs (0/1) and log codes (zero is ``log = zero_log``)."""
        sign = np.asarray(sign, dtype=np.int64)
        log = np.asarray(log, dtype=np.int64)
        if np.any((log < self.zero_log) | (log > self.log_max)):
            raise ValueError(f"LNS log codes must be from {self.zero_log} to {self.log_max}")
        zero = log == self.zero_log
        mask = (1 << self.log_width) - 1
        return np.where(zero, 0, sign << self.log_width) | (log & mask)

    def unpack(self, words):
        """Split words into ``(sign, log, is_zero)``; zero words get sign 0."""
        w = np.asarray(words, dtype=np.int64)
        if np.any((w < 0) | (w >= 1 << self.width)):
            raise ValueError(f"LNS words must be {self.width}-bit unsigned values")
        log = wrap_signed(w & ((1 << self.log_width) - 1), self.log_width)
        zero = log == self.zero_log
        sign = np.where(zero, 0, w >> self.log_width)
        return sign, log, zero

    # Conversion (the encoder's definition) ---------------------------------------------------

    def encode(self, values) -> np.ndarray:
        """Nearest words to real ``values`` (log rounded half up, saturated; tiny → zero).

        A magnitude whose rounded log is below ``log_min`` becomes zero; above ``log_max`` it
        saturates to the largest magnitude.
        """
        v = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(v)):
            raise ValueError("LNS encode needs finite values")
        mag = np.abs(v)
        with np.errstate(divide="ignore"):
            log = _round_half_up(np.where(mag > 0, np.log2(np.where(mag > 0, mag, 1.0))
                                          * (1 << self.frac_bits), -np.inf)
                                 .clip(-(2.0 ** 62), 2.0 ** 62))
        under = (mag == 0) | (log < self.log_min)
        log = np.where(under, self.zero_log, np.minimum(log, self.log_max))
        return self.pack(np.where(under, 0, v < 0).astype(np.int64), log)

    def decode(self, words) -> np.ndarray:
        """Real values of ``words``."""
        sign, log, zero = self.unpack(words)
        mag = np.where(zero, 0.0, np.exp2(log / (1 << self.frac_bits)))
        return np.where(sign == 1, -mag, mag)

    # Tables (computed once, shared by gateware and golden model) -----------------------------

    @property
    def sb_table(self) -> np.ndarray:
        """``s(k·2**-T)`` in units of ``2**-F``, then one 0 (non-negative, decreasing)."""
        return _gauss_table(self, "sb")

    @property
    def db_table(self) -> np.ndarray:
        """``d(k·2**-T)`` in units of ``2**-F`` (entry 0: ``d(2**-F)``), then one 0."""
        return _gauss_table(self, "db")

    def gauss(self, distance, same_sign) -> np.ndarray:
        """The table lookup of the adder: correction for a distance (units of ``2**-F``).

        Returns ``s`` for equal signs and ``d`` for opposite signs, as the hardware looks
        them up (truncated or interpolated between samples; 0 past the table). The caller
        handles a distance of 0 between opposite signs (exact cancellation).
        """
        dist = np.asarray(distance, dtype=np.int64)
        q = self.table_step_bits
        k = dist >> q
        r = dist & ((1 << q) - 1)
        out = np.zeros(np.broadcast(dist, same_sign).shape, dtype=np.int64)
        for table, sel in ((self.sb_table, np.asarray(same_sign, bool)),
                           (self.db_table, ~np.asarray(same_sign, bool))):
            n = len(table) - 1          # samples before the trailing 0 (at least 1: s(0) = 1)
            inside = k < n
            kk = np.minimum(k, n - 1)
            lo = table[kk]
            if self.interpolate and q:
                hi = table[kk + 1]
                val = lo + (((hi - lo) * r + (1 << (q - 1))) >> q)
            else:
                val = lo
            out = np.where(sel & inside, val, out)
        return out

    def int_table(self, in_frac: int = 0) -> np.ndarray:
        """Log codes of the integer magnitudes 1..128 (int8 → LNS), before saturation.

        ``entry[m − 1] = round(log2(m) · 2**F) − in_frac · 2**F``: the input is an int8 code
        with ``in_frac`` fraction bits.
        """
        m = np.arange(1, 129)
        return _round_half_up(np.log2(m) * (1 << self.frac_bits)) - (in_frac << self.frac_bits)

    def antilog_table(self, antilog_bits: int) -> np.ndarray:
        """``round(2**(f / 2**F) · 2**A)`` for the ``2**F`` fraction codes ``f`` (LNS → linear)."""
        f = np.arange(1 << self.frac_bits)
        return _round_half_up(np.exp2(f / (1 << self.frac_bits)) * (1 << antilog_bits))


@functools.cache
def _gauss_table(fmt: LnsFormat, kind: str) -> np.ndarray:
    """Gaussian-log table ``kind`` ("sb" or "db") of ``fmt``, computed once (read-only)."""
    t = fmt.frac_bits - fmt.table_step_bits
    scale = float(1 << fmt.frac_bits)
    values = []
    for k in itertools.count():
        d = k / float(1 << t)
        if kind == "sb":
            v = int(_round_half_up(np.log2(1.0 + 2.0 ** -d) * scale))
        else:
            d = max(d, 1.0 / scale)
            v = int(_round_half_up(np.log2(1.0 - 2.0 ** -d) * scale))
        if v == 0:
            break
        values.append(v)
    table = np.array([*values, 0], dtype=np.int64)    # one trailing 0 for interpolation
    table.setflags(write=False)
    return table
