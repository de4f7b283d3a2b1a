"""Golden model of Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray, CVPR 2016) as the
Winograd engine computes it, in integers.

A stride-1 3×3 convolution's output map is cut into 2×2 tiles. Tile ``(ty, tx)`` reads the
4×4 input window ``d`` at ``(2·ty − pad, 2·tx − pad)`` of every input channel (zeros outside
the map) and transforms it with adds only, ``V = Bᵀ d B``. Each filter ``g`` (3×3) is
transformed on the host with ``G`` scaled by 2, ``U = (2G) g (2G)ᵀ``, so ``U`` is an integer
(``|U| ≤ 9 · 128``). For each of the 16 positions ``ξ`` of the 4×4 transformed tile the engine
computes ``M_ξ = U_ξ · V_ξ``, a GEMM over the input channels (``C_out × C_in`` times
``C_in × lanes``) on its PE array, and the output transform ``Y = Aᵀ M A`` (adds only) gives
four times the 2×2 outputs of the direct convolution: ``Y / 4`` is exact. Every sum wraps at
the accumulator width as the hardware's registers do; :func:`winograd_bound` is the largest
magnitude a layer's sums can reach, which the compiler keeps below the accumulator's range, so
the result equals the direct convolution bit for bit.
"""

from __future__ import annotations

import numpy as np

from corolla.formats import wrap_signed

__all__ = ["AT", "BT", "G2", "filter_transform", "winograd_bound", "winograd_conv"]

#: Input transform ``Bᵀ`` (4×4), filter transform ``2G`` (4×3), output transform ``Aᵀ`` (2×4).
BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.int64)
G2 = np.array([[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]], dtype=np.int64)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.int64)


def filter_transform(w) -> np.ndarray:
    """``U = (2G) g (2G)ᵀ`` of every filter: weights (C_out, C_in, 3, 3) → (16, C_out, C_in),
    position ``ξ = 4·a + b`` first."""
    w = np.asarray(w, dtype=np.int64)
    u = np.einsum("ai,kcij,bj->abkc", G2, w, G2)
    return u.reshape(16, *w.shape[:2])


def winograd_bound(u) -> int:
    """The largest magnitude any sum of the engine can reach with int8 inputs for transformed
    filters ``u`` (16, C_out, C_in): ``|V| ≤ 4 · 128``, so ``|M_ξ| ≤ 512 · Σ_c |U_ξ|`` and each
    output sums at most all 16 ``M_ξ`` once."""
    u = np.abs(np.asarray(u, dtype=np.int64))
    return int(512 * u.sum(axis=2).sum(axis=0).max(initial=0))


def winograd_conv(x, u, pad: int, *, acc_width: int = 32) -> np.ndarray:
    """The engine's sums before the bias: a 3×3 stride-1 convolution of ``x`` (H, W, C_in)
    with the transformed filters ``u`` (16, C_out, C_in) and ``pad`` (0 or 1) zeros around
    the map, as (out_h, out_w, C_out) — the direct convolution's sums when nothing wraps."""
    x = np.asarray(x, dtype=np.int64)
    h, w, c_in = x.shape
    out_h, out_w = h + 2 * pad - 2, w + 2 * pad - 2
    tiles_y, tiles_x = -(-out_h // 2), -(-out_w // 2)
    padded = np.zeros((2 * tiles_y + 2, 2 * tiles_x + 2, c_in), dtype=np.int64)
    ys, xs = min(h, 2 * tiles_y + 2 - pad), min(w, 2 * tiles_x + 2 - pad)
    padded[pad:pad + ys, pad:pad + xs] = x[:ys, :xs]
    c_out = u.shape[1]
    out = np.zeros((2 * tiles_y, 2 * tiles_x, c_out), dtype=np.int64)
    for ty in range(tiles_y):
        for tx in range(tiles_x):
            d = padded[2 * ty:2 * ty + 4, 2 * tx:2 * tx + 4]               # (4, 4, C_in)
            v = np.einsum("ai,ijc,bj->abc", BT, d, BT).reshape(16, c_in)     # (16, C_in)
            m = wrap_signed(np.einsum("xkc,xc->xk", u, v), acc_width)       # (16, C_out)
            y = wrap_signed(np.einsum("ia,abk,jb->ijk", AT, m.reshape(4, 4, c_out), AT),
                            acc_width)
            out[2 * ty:2 * ty + 2, 2 * tx:2 * tx + 2] = y >> 2
    return out[:out_h, :out_w]
