"""XNOR-Net binarization (Rastegari et al., ECCV'16): signs plus a per-output scale α."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corolla.formats import binary_decode, binary_encode

from ._checks import float_array

__all__ = ["BinaryWeights", "binarize_activations", "pack_words", "xnor_binarize"]


@dataclass(frozen=True)
class BinaryWeights:
    """Binary weights of a layer: ``W[o, i] ≈ alpha[o] · (2·bits[o, i] − 1)``."""

    bits: np.ndarray
    alpha: np.ndarray

    def dequantize(self) -> np.ndarray:
        """The real-valued weights the bits and scales stand for."""
        return binary_decode(self.bits) * self.alpha[:, None]

    def fixed_alpha(self, alpha_width: int = 8) -> tuple[np.ndarray, int]:
        """Integer α for the hardware with a shared power-of-two exponent.

        Returns
        -------
        alpha, frac_bits : numpy.ndarray of int64, int
            ``alpha ≈ self.alpha · 2**frac_bits`` within ``alpha_width`` unsigned bits.
        """
        limit = (1 << alpha_width) - 1
        top = float(self.alpha.max())
        if top == 0.0:
            return np.zeros_like(self.alpha, dtype=np.int64), 0
        frac = int(np.floor(np.log2(limit / top)))
        while round(top * 2.0 ** frac) > limit:
            frac -= 1
        return np.round(self.alpha * 2.0 ** frac).astype(np.int64), frac


def xnor_binarize(weights: np.ndarray) -> BinaryWeights:
    """Binarize a (outputs × inputs) weight matrix: sign bits (0 → +1) and α = mean|W| per
    output."""
    w = float_array(weights, "weights", ndim=(2,))
    signs = np.where(w >= 0, 1, -1)
    return BinaryWeights(bits=binary_encode(signs), alpha=np.mean(np.abs(w), axis=1))


def binarize_activations(x: np.ndarray) -> np.ndarray:
    """Sign bits of activations (0 → +1), the input format of a binary layer."""
    x = float_array(x, "activations")
    return binary_encode(np.where(x >= 0, 1, -1))


def pack_words(bits: np.ndarray, n: int, *, pad_bit: int) -> tuple[list[int], int]:
    """Pack a bit vector into ``n``-bit words, bit ``k`` of the vector at bit ``k mod n``.

    The tail is filled with ``pad_bit``; pad activations with 1 and weights with 0, so every
    pad bit disagrees and adds exactly −1 to the hardware's dot product, which the caller
    cancels through the unit's ``bias`` (add the returned pad count).

    Returns
    -------
    words : list of int
    pad : int
        Number of padding bits.
    """
    b = np.asarray(bits)
    if b.ndim != 1 or b.size == 0 or not np.all(np.isin(b, (0, 1))):
        raise ValueError("Bits must be a non-empty 1-D array of 0 and 1")
    if pad_bit not in (0, 1):
        raise ValueError(f"Pad bit must be 0 or 1, not {pad_bit!r}")
    pad = -len(b) % n
    full = np.concatenate([b, np.full(pad, pad_bit)]).astype(np.int64)
    words = []
    for k in range(0, len(full), n):
        word = 0
        for i, bit in enumerate(full[k:k + n]):
            word |= int(bit) << i
        words.append(word)
    return words, pad
