"""Weight sharing by k-means (Deep Compression, stage 2) and centroid fine-tuning.

Per layer, the surviving (non-pruned) weights are clustered into ``2**k − 1`` shared values;
index 0 of the codebook is reserved for exact zero, which is what pruned weights and EIE
padding entries point at. Centroids start linearly spaced over ``[min, max]`` of the
surviving weights (the initialisation the paper found best, since it keeps the rare large
weights) and are refined by Lloyd iterations. Fine-tuning then trains the centroids
themselves: each weight's gradient is added to its cluster's, and the summed gradient updates
the centroid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import Adam, Mlp, TrainConfig, gradients, minibatches

__all__ = ["SharedWeights", "check_bits", "finetune_centroids", "kmeans_share"]


@dataclass
class SharedWeights:
    """A layer's shared weights: ``W = centroids[index]``.

    Attributes
    ----------
    centroids : numpy.ndarray of float, shape (2**k,)
        Entry 0 is 0.0 (pruned).
    index : numpy.ndarray of uint8/uint16, shape (out, in)
        Codebook index per weight; 0 where the weight was pruned.
    bits : int
        k.
    """

    centroids: np.ndarray
    index: np.ndarray
    bits: int

    def weights(self) -> np.ndarray:
        """The dense weight matrix the codebook and indices stand for."""
        return self.centroids[self.index]


def check_bits(bits, n_layers: int) -> list[int]:
    """Validate per-layer index widths (a number or one per layer, each 1..8)."""
    values = list(bits) if isinstance(bits, list | tuple) else [bits] * n_layers
    if len(values) != n_layers:
        raise ValueError(f"bits: {len(values)} values given for {n_layers} layers; expected one "
                         f"value or one per layer")
    for i, b in enumerate(values):
        if isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 8:
            raise ValueError(f"bits of layer {i} = {b!r}; expected an integer from 1 to 8")
    return [int(b) for b in values]


def kmeans_share(weight: np.ndarray, mask: np.ndarray, bits: int, *,
                 iterations: int = 50) -> SharedWeights:
    """Cluster the weights under ``mask`` into ``2**bits − 1`` centroids (1-D k-means).

    Parameters
    ----------
    weight : numpy.ndarray of float
    mask : numpy.ndarray of bool
        Which weights survived pruning.
    bits : int
        k, the index width; 1 to 8.
    iterations : int
        Lloyd iterations at most (stops earlier when assignments settle).
    """
    check_bits(bits, 1)
    k = (1 << bits) - 1
    values = weight[mask]
    centroids = np.zeros(k + 1)
    index = np.zeros(weight.shape, dtype=np.uint8 if bits <= 8 else np.uint16)
    if values.size == 0:
        return SharedWeights(centroids, index, bits)
    lo, hi = float(values.min()), float(values.max())
    c = np.linspace(lo, hi, k) if k > 1 else np.array([values.mean()])
    assign = None
    for _ in range(iterations):
        # Nearest centroid in 1-D: c is sorted, so compare against the midpoints.
        order = np.argsort(c)
        c = c[order]
        new = np.searchsorted((c[1:] + c[:-1]) / 2.0, values)
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        sums = np.bincount(assign, weights=values, minlength=k)
        counts = np.bincount(assign, minlength=k)
        c = np.where(counts > 0, sums / np.maximum(counts, 1), c)
    order = np.argsort(c)
    c = c[order]
    assign = np.searchsorted((c[1:] + c[:-1]) / 2.0, values)
    centroids[1:] = c
    index[mask] = assign + 1
    return SharedWeights(centroids, index, bits)


def finetune_centroids(model: Mlp, shared: list[SharedWeights], x, y,
                       config: TrainConfig | None = None,
                       progress=None) -> list[SharedWeights]:
    """Train the centroids (and the biases) with gradients grouped by cluster index.

    The model's biases are updated in place; the returned codebooks hold the tuned
    centroids (entry 0 stays exactly 0).
    """
    config = config or TrainConfig(epochs=15, lr=2e-4)
    rng = np.random.default_rng(config.seed)
    cents = [s.centroids.copy() for s in shared]
    params = cents + [layer.bias for layer in model.layers]
    opt = Adam(params, config.lr)
    n = x.shape[0]
    for epoch in range(config.epochs):
        total = 0.0
        for idx in minibatches(n, config.batch, rng):
            weights = [c[s.index] for c, s in zip(cents, shared, strict=True)]
            loss, gw, gb = gradients(model, x[idx], y[idx], weights=weights)
            total += loss * len(idx)
            gc = []
            for c, s, g in zip(cents, shared, gw, strict=True):
                grad = np.bincount(s.index.ravel(), weights=g.ravel(), minlength=len(c))
                grad[0] = 0.0                       # the zero entry is not trained
                gc.append(grad)
            opt.step(params, gc + gb)
        if progress is not None:
            progress(epoch, total / n)
    return [SharedWeights(c, s.index, s.bits) for c, s in zip(cents, shared, strict=True)]
