"""Magnitude pruning with retraining (Deep Compression, stage 1).

Each layer keeps its largest-magnitude weights; the others are set to zero and stay zero while
the network is retrained with masked gradients. The target sparsity is reached in a few steps
(``s · t / steps`` for ``t = 1 .. steps``), retraining after each, which loses less accuracy
than pruning at once.

With ``balance_pes = P`` the pruning is load-balance aware (Han et al., ESE, FPGA'17): the rows
of each EIE PE (rows ``p, p + P, …``) are pruned as a group so that every PE keeps the same
number of weights (to one), and none of them ends a layer long after the others. Where P does
not divide the rows the groups differ in size, and the larger ones are pruned harder (a
10-row layer on 8 PEs: two PEs own two rows, and keep as many weights as each one-row PE).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..model import Mlp, TrainConfig, train

__all__ = ["check_sparsity", "magnitude_masks", "prune_and_retrain"]


def check_sparsity(sparsity, n_layers: int) -> list[float]:
    """Validate per-layer sparsities (a number or one per layer, each in [0, 1))."""
    values = list(sparsity) if isinstance(sparsity, list | tuple) else [sparsity] * n_layers
    if len(values) != n_layers:
        raise ValueError(f"sparsity: {len(values)} values given for {n_layers} layers; expected "
                         f"one value or one per layer")
    out = []
    for i, s in enumerate(values):
        if isinstance(s, bool) or not isinstance(s, int | float) or not 0.0 <= s < 1.0:
            raise ValueError(f"sparsity of layer {i} = {s!r}; expected a fraction in [0, 1)")
        out.append(float(s))
    return out


def _keep_largest(w: np.ndarray, keep: int) -> np.ndarray:
    n_prune = w.size - keep
    mask = np.ones(w.size, dtype=bool)
    if n_prune:
        order = np.argsort(np.abs(w).ravel(), kind="stable")
        mask[order[:n_prune]] = False
    return mask.reshape(w.shape)


def _group_counts(sizes: list[int], keep: int) -> list[int]:
    """``keep`` weights shared out over groups of ``sizes`` weights as evenly as they allow:
    equal shares (the first ones one more), a group that cannot hold its share keeping all it
    has and the rest going to the others."""
    counts = [0] * len(sizes)
    open_ = sorted(range(len(sizes)), key=lambda g: (sizes[g], g))
    left = keep
    while open_:
        share, extra = divmod(left, len(open_))
        small = sizes[open_[0]]
        if small < share + (extra > 0):
            counts[open_[0]] = small
            left -= small
            open_.pop(0)
            continue
        for rank, g in enumerate(sorted(open_)):
            counts[g] = share + (rank < extra)
        break
    return counts


def magnitude_masks(model: Mlp, sparsity, *, balance_pes: int | None = None) -> list[np.ndarray]:
    """Per layer, a mask keeping the ``1 − sparsity`` largest-magnitude weights.

    Ties at the threshold are broken by position so that exactly
    ``round(sparsity · size)`` weights are removed from each layer.

    Parameters
    ----------
    balance_pes : int, optional
        Prune the rows of each of this many EIE PEs (row ``i`` on PE ``i mod P``) separately,
        each group keeping the same number of weights (to one).
    """
    if balance_pes is not None and (isinstance(balance_pes, bool)
                                    or not isinstance(balance_pes, int) or balance_pes < 1):
        raise ValueError(f"balance_pes = {balance_pes!r}; expected a positive integer")
    masks = []
    for layer, s in zip(model.layers, check_sparsity(sparsity, len(model.layers)), strict=True):
        w = layer.weight
        if balance_pes is None:
            masks.append(_keep_largest(w, w.size - round(s * w.size)))
            continue
        mask = np.ones(w.shape, dtype=bool)
        groups = range(min(balance_pes, w.shape[0]))
        counts = _group_counts([w[p::balance_pes].size for p in groups],
                               w.size - round(s * w.size))
        for p, count in zip(groups, counts, strict=True):
            mask[p::balance_pes] = _keep_largest(w[p::balance_pes], count)
        masks.append(mask)
    return masks


def prune_and_retrain(model: Mlp, x, y, sparsity, *, steps: int = 3,
                      retrain: TrainConfig | None = None, balance_pes: int | None = None,
                      progress=None) -> tuple[Mlp, list[np.ndarray]]:
    """Prune ``model`` (a copy) to ``sparsity`` per layer, retraining after each step.

    ``balance_pes`` makes the pruning load-balance aware (see :func:`magnitude_masks`).

    Returns
    -------
    model : Mlp
        The pruned, retrained copy; pruned weights are exactly zero.
    masks : list of numpy.ndarray of bool
    """
    retrain = retrain or TrainConfig(epochs=15, lr=5e-4)
    targets = check_sparsity(sparsity, len(model.layers))
    model = model.copy()
    masks = None
    for step in range(1, steps + 1):
        masks = magnitude_masks(model, [s * step / steps for s in targets],
                                balance_pes=balance_pes)
        for layer, mask in zip(model.layers, masks, strict=True):
            layer.weight *= mask
        train(model, x, y, replace(retrain, seed=retrain.seed + step), masks=masks,
              progress=None if progress is None else
              (lambda e, loss, step=step: progress(step, e, loss)))
    return model, masks
