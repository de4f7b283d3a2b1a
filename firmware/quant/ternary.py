"""Ternary weights: TWN (Li & Liu 2016) and TTQ-style asymmetric scales (Zhu et al. ICLR'17)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corolla.formats import ternary_decode, ternary_encode

from ._checks import float_array

__all__ = ["TernaryWeights", "ttq", "twn"]


@dataclass(frozen=True)
class TernaryWeights:
    """Ternary codes with their scales: ``W ≈ wp·[code = +1] − wn·[code = −1]``.

    Attributes
    ----------
    codes : numpy.ndarray of uint8
        2-bit codes (00 = 0, 01 = +1, 11 = −1), the hardware's format.
    wp, wn : float
        Positive and negative scales (equal for TWN).
    delta : float
        Threshold: weights with ``|w| <= delta`` became 0.
    """

    codes: np.ndarray
    wp: float
    wn: float
    delta: float

    def values(self) -> np.ndarray:
        """Ternary values −1, 0, +1."""
        return ternary_decode(self.codes)[0]

    def dequantize(self) -> np.ndarray:
        """The real-valued weights the codes and scales stand for."""
        v = self.values()
        return np.where(v > 0, self.wp, np.where(v < 0, -self.wn, 0.0))

    def fixed_scales(self, scale_width: int = 8) -> tuple[int, int, int]:
        """Integer scales for the hardware, sharing one power-of-two exponent.

        Returns
        -------
        wp, wn, frac_bits : int
            ``wp ≈ self.wp · 2**frac_bits`` (same for ``wn``), with the largest
            ``frac_bits`` that keeps both within ``scale_width`` unsigned bits.
        """
        top = max(self.wp, self.wn)
        limit = (1 << scale_width) - 1
        if top == 0.0:
            return 0, 0, 0
        frac = int(np.floor(np.log2(limit / top)))
        while round(top * 2.0 ** frac) > limit:
            frac -= 1
        return round(self.wp * 2.0 ** frac), round(self.wn * 2.0 ** frac), frac


def _threshold(w, factor):
    if not 0.0 < factor < 2.0:
        raise ValueError(f"Threshold factor must be between 0 and 2, not {factor!r}")
    return factor * float(np.mean(np.abs(w)))


def twn(weights: np.ndarray, *, threshold_factor: float = 0.7) -> TernaryWeights:
    """Ternary weight network: Δ = 0.7·mean|W|, one scale α = mean |w| over kept weights."""
    w = float_array(weights, "weights")
    delta = _threshold(w, threshold_factor)
    kept = np.abs(w) > delta
    alpha = float(np.mean(np.abs(w[kept]))) if kept.any() else 0.0
    values = np.where(kept, np.sign(w), 0).astype(np.int8)
    return TernaryWeights(codes=ternary_encode(values), wp=alpha, wn=alpha, delta=delta)


def ttq(weights: np.ndarray, *, threshold_factor: float = 0.7) -> TernaryWeights:
    """Asymmetric ternary: TWN's threshold, separate scales for positive and negative weights.

    ``wp`` is the mean of the kept positive weights and ``wn`` the mean magnitude of the kept
    negative ones, the least-squares scales for a fixed ternary assignment (the starting
    point TTQ then trains).
    """
    w = float_array(weights, "weights")
    delta = _threshold(w, threshold_factor)
    pos, neg = w > delta, w < -delta
    wp = float(np.mean(w[pos])) if pos.any() else 0.0
    wn = float(np.mean(-w[neg])) if neg.any() else 0.0
    values = np.where(pos, 1, np.where(neg, -1, 0)).astype(np.int8)
    return TernaryWeights(codes=ternary_encode(values), wp=wp, wn=wn, delta=delta)
