"""Magnitude pruning with retraining (Deep Compression, stage 1).

Each layer keeps its largest-magnitude weights; the others are set to zero and stay zero while
the network is retrained with masked gradients. The target sparsity is reached in a few steps
(``s · t / steps`` for ``t = 1 .. steps``), retraining after each, which loses less accuracy
than pruning at once.

With ``balance_pes = P`` the pruning is load-balance aware (Han et al., ESE, FPGA'17), in one
of two ways (``balance``, :data:`BALANCE_MODES`):

``"rows"``
    The rows of each EIE PE (rows ``p, p + P, …``) are pruned as a group so that every PE
    keeps the same number of weights (to one). Where P does not divide the rows the groups
    differ in size, and the larger ones are pruned harder (a 10-row layer on 8 PEs: two PEs
    own two rows, and keep as many weights as each one-row PE). The PEs then hold equal work
    over all columns, but an input walks only the columns of its non-zero activations, so one
    PE may still get more of them than another.
``"columns"``
    Every column keeps a multiple of P weights, the same number in each PE's rows: whatever
    activations are non-zero, every PE has the same number of weights to walk. A column keeps
    its weights in *slots* of one weight per PE: slot ``k`` holds each PE's k-th largest weight
    of the column and scores their mean magnitude, and the layer keeps its best-scoring slots
    (to within P − 1 weights of its share). Where P does not divide the rows, slots that every
    PE can fill are used first (a 10-row layer on 8 PEs keeps at most 8 weights a column until
    its sparsity needs more). The constraint is stronger and costs some accuracy.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..model import Mlp, TrainConfig, train

__all__ = ["BALANCE_MODES", "check_sparsity", "magnitude_masks", "prune_and_retrain"]

#: How load-balance-aware pruning shares the weights among the PEs (see the module docstring);
#: ``"none"`` prunes each layer as a whole.
BALANCE_MODES = ("rows", "columns", "none")


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


def _row_balanced_mask(w: np.ndarray, keep: int, pes: int) -> np.ndarray:
    """Keep ``keep`` weights of ``w``, each PE's rows the same number (to one)."""
    mask = np.ones(w.shape, dtype=bool)
    groups = range(min(pes, w.shape[0]))
    counts = _group_counts([w[p::pes].size for p in groups], keep)
    for p, count in zip(groups, counts, strict=True):
        mask[p::pes] = _keep_largest(w[p::pes], count)
    return mask


def _column_balanced_mask(w: np.ndarray, keep: int, pes: int) -> np.ndarray:
    """Keep at most ``keep`` weights of ``w`` (to within ``pes − 1``), every column the same
    number in each PE's rows (see the module docstring)."""
    rows, cols = w.shape
    groups = [np.abs(w[p::pes]) for p in range(min(pes, rows))]
    depth = max(g.shape[0] for g in groups)
    common = min(g.shape[0] for g in groups)
    # score[k, j]: mean of the k-th largest magnitudes of column j over the PEs with k rows.
    score = np.zeros((depth, cols))
    members = np.zeros(depth, dtype=np.int64)
    for g in groups:
        score[:g.shape[0]] += -np.sort(-g, axis=0)
        members[:g.shape[0]] += 1
    score = np.minimum.accumulate(score / members[:, None], axis=0)   # slot k after k − 1
    k, j = np.meshgrid(np.arange(depth), np.arange(cols), indexing="ij")
    # Slots every PE fills first; then by score, ties by slot and column.
    order = np.lexsort((j.ravel(), k.ravel(), -score.ravel(), (k >= common).ravel()))
    sizes = members[k.ravel()[order]]
    taken = int(np.searchsorted(np.cumsum(sizes), keep, side="right"))
    slots = np.bincount(j.ravel()[order[:taken]], minlength=cols)
    mask = np.zeros(w.shape, dtype=bool)
    for p, g in enumerate(groups):
        ranks = np.argsort(np.argsort(-g, axis=0, kind="stable"), axis=0, kind="stable")
        mask[p::pes] = ranks < slots[None, :]
    return mask


def magnitude_masks(model: Mlp, sparsity, *, balance_pes: int | None = None,
                    balance: str = "rows") -> list[np.ndarray]:
    """Per layer, a mask keeping the ``1 − sparsity`` largest-magnitude weights.

    Ties at the threshold are broken by position so that exactly
    ``round(sparsity · size)`` weights are removed from each layer.

    Parameters
    ----------
    balance_pes : int, optional
        Balance the kept weights over this many EIE PEs (row ``i`` on PE ``i mod P``).
    balance : {"rows", "columns", "none"}
        How (see the module docstring). With ``"columns"`` a layer keeps up to P − 1 weights
        fewer than ``round((1 − sparsity) · size)``.
    """
    if balance_pes is not None and (isinstance(balance_pes, bool)
                                    or not isinstance(balance_pes, int) or balance_pes < 1):
        raise ValueError(f"balance_pes = {balance_pes!r}; expected a positive integer")
    if balance not in BALANCE_MODES:
        raise ValueError(f"balance = {balance!r}; expected one of {', '.join(BALANCE_MODES)}")
    masks = []
    for layer, s in zip(model.layers, check_sparsity(sparsity, len(model.layers)), strict=True):
        w = layer.weight
        keep = w.size - round(s * w.size)
        if balance_pes is None or balance == "none":
            masks.append(_keep_largest(w, keep))
        elif balance == "rows":
            masks.append(_row_balanced_mask(w, keep, balance_pes))
        else:
            masks.append(_column_balanced_mask(w, keep, balance_pes))
    return masks


def prune_and_retrain(model: Mlp, x, y, sparsity, *, steps: int = 3,
                      retrain: TrainConfig | None = None, balance_pes: int | None = None,
                      balance: str = "rows", progress=None) -> tuple[Mlp, list[np.ndarray]]:
    """Prune ``model`` (a copy) to ``sparsity`` per layer, retraining after each step.

    ``balance_pes`` and ``balance`` make the pruning load-balance aware (see
    :func:`magnitude_masks`).

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
                                balance_pes=balance_pes, balance=balance)
        for layer, mask in zip(model.layers, masks, strict=True):
            layer.weight *= mask
        train(model, x, y, replace(retrain, seed=retrain.seed + step), masks=masks,
              progress=None if progress is None else
              (lambda e, loss, step=step: progress(step, e, loss)))
    return model, masks
