"""Input validation shared by the quantizers."""

from __future__ import annotations

import numpy as np


def float_array(x, name: str, *, ndim: tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``x`` as a float64 array, or raise a ``ValueError`` naming what is wrong."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, not {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must have a floating-point dtype, not {x.dtype}")
    if x.size == 0:
        raise ValueError(f"{name} must not be empty (shape {x.shape})")
    if ndim is not None and x.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions, not "
                         f"{x.ndim} (shape {x.shape})")
    if not np.all(np.isfinite(x)):
        bad = int(np.flatnonzero(~np.isfinite(x.ravel()))[0])
        raise ValueError(f"{name} must be finite; element {bad} is {x.ravel()[bad]}")
    return x.astype(np.float64)
