"""Dynamic fixed point (Qiu et al., FPGA'16): a per-tensor radix point chosen from the data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corolla.formats import IntFormat

from ._checks import float_array

__all__ = ["DfpTensor", "choose_frac_bits", "quantize_dfp"]


@dataclass(frozen=True)
class DfpTensor:
    """Integer codes with a power-of-two scale: ``value ≈ codes · 2**-frac_bits``."""

    codes: np.ndarray
    frac_bits: int
    width: int

    def dequantize(self) -> np.ndarray:
        """The real values the codes stand for."""
        return self.codes.astype(np.float64) * 2.0 ** -self.frac_bits


def _quantize(x, frac_bits, fmt):
    return fmt.saturate(np.floor(x * 2.0 ** frac_bits + 0.5).astype(np.int64))


def choose_frac_bits(x: np.ndarray, *, width: int = 8, search: int = 32) -> int:
    """Radix point that minimizes the total absolute quantization error of ``x``.

    As in Qiu et al., every fractional length around the one that just avoids overflow of
    ``max|x|`` is tried and the one with the smallest ``Σ|x − q(x)|`` is kept (trading a few
    saturated outliers for finer resolution when that pays off).

    Parameters
    ----------
    x : numpy.ndarray of float
        The tensor (weights, or activations sampled on calibration data).
    width : int
        Code width in bits, sign included.
    search : int
        How many fractional lengths below and above the overflow-free one to try.
    """
    x = float_array(x, "tensor")
    fmt = IntFormat(width)
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        return width - 1
    # Largest frac such that the peak still fits: peak * 2**frac <= max.
    base = int(np.floor(np.log2(fmt.max / peak)))
    best, best_err = base, None
    for frac in range(base - search, base + search + 1):
        err = float(np.sum(np.abs(x - _quantize(x, frac, fmt) * 2.0 ** -frac)))
        if best_err is None or err < best_err - 1e-12:
            best, best_err = frac, err
    return best


def quantize_dfp(x: np.ndarray, *, width: int = 8, frac_bits: int | None = None) -> DfpTensor:
    """Quantize to ``width``-bit dynamic fixed point (round half up, saturate).

    Parameters
    ----------
    x : numpy.ndarray of float
    width : int
        Code width in bits.
    frac_bits : int, optional
        Radix point; chosen by :func:`choose_frac_bits` when omitted.
    """
    x = float_array(x, "tensor")
    if frac_bits is None:
        frac_bits = choose_frac_bits(x, width=width)
    elif not isinstance(frac_bits, int | np.integer):
        raise TypeError(f"frac_bits must be an integer, not {frac_bits!r}")
    fmt = IntFormat(width)
    return DfpTensor(codes=_quantize(x, int(frac_bits), fmt), frac_bits=int(frac_bits),
                     width=width)
