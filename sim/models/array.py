"""Golden model of :class:`corolla.hw.array.SystolicArray`: GEMM with each PE kind's exact
arithmetic, and a direct convolution to check the im2col lowering against.
"""

from __future__ import annotations

import numpy as np

from corolla.formats import LnsFormat

from .lns import lns_to_fixed

__all__ = ["array_gemm", "conv2d_reference", "lns_product_table"]


def lns_product_table(fmt: LnsFormat, *, acc_frac: int, acc_width: int,
                      antilog_bits: int) -> np.ndarray:
    """Fixed-point value of every LNS word (index: the product word), as the LNS PE converts
    it."""
    words = np.arange(1 << fmt.width, dtype=np.int64)
    return lns_to_fixed(fmt, words, frac_bits=acc_frac, width=acc_width,
                        antilog_bits=antilog_bits)


def array_gemm(kind: dict, a, b) -> np.ndarray:
    """``Y = A · B`` as the array computes it.

    Parameters
    ----------
    kind : dict or PeKind
        The PE kind (:data:`corolla.pe_kinds.PE_KINDS`), or its ``to_dict()`` form; the
        arithmetic is the kind's own :meth:`~corolla.pe_kinds.PeKind.gemm`.
    a : array_like of int, shape (M, K)
        Left operands as the PE sees them: signed ints (int8), 2-bit codes (ternary:
        01 = +1, 11 = −1, 00 and the invalid 10 = 0), ``bits``-bit words (binary), LNS words.
    b : array_like of int, shape (K, N)
        Top operands: signed ints (int8, ternary activations), words (binary, LNS).

    Returns
    -------
    numpy.ndarray of int64, shape (M, N, F)
        One value per result field, in the order of the kind's ``result_fields``: ``value``,
        or ``pos`` and ``neg`` for ternary. Every field wraps at the accumulator width.

    Raises
    ------
    ValueError
        For an unknown kind, mismatched shapes or operands out of range.
    """
    from corolla.pe_kinds import pe_kind

    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"A (M×K) and B (K×N) do not chain: shapes {a.shape} and {b.shape}")
    return pe_kind(kind).gemm(a, b)


def conv2d_reference(x, w, *, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Direct 2-D convolution (cross-correlation, as in CNN layers), exact in int64.

    Parameters
    ----------
    x : array_like, shape (C_in, H, W)
    w : array_like, shape (C_out, C_in, KH, KW)
    stride, pad : int
        Stride and zero padding on every side.

    Returns
    -------
    numpy.ndarray of int64, shape (C_out, H_out, W_out)
    """
    x = np.pad(np.asarray(x, dtype=np.int64), ((0, 0), (pad, pad), (pad, pad)))
    w = np.asarray(w, dtype=np.int64)
    c_out, _, kh, kw = w.shape
    h_out = (x.shape[1] - kh) // stride + 1
    w_out = (x.shape[2] - kw) // stride + 1
    out = np.zeros((c_out, h_out, w_out), dtype=np.int64)
    for o in range(c_out):
        for i in range(h_out):
            for j in range(w_out):
                patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw]
                out[o, i, j] = int(np.sum(patch * w[o]))
    return out
