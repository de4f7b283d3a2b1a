"""Number formats shared by the gateware, the golden models and the encoders.

This is a leaf module: it imports only numpy. Every bit layout that crosses the boundary
between ``corolla.hw``, ``corolla.sim.models`` and ``corolla.firmware`` is defined here once.
"""

from __future__ import annotations

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
