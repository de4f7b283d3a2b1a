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
    "WEIGHT",
    "IntFormat",
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
