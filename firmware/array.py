"""Host side of the systolic array: GEMM tiling, result assembly and convolution by im2col.

A GEMM ``Y = A · B`` (``A``: M × K, ``B``: K × N) is cut into ``ceil(M / rows) ·
ceil(N / cols)`` output tiles, taken row of tiles by row of tiles. Each tile is ``K`` beats:
beat ``k`` carries ``A[m0 : m0 + rows, k]`` and ``B[k, n0 : n0 + cols]``, zero-padded at the
matrix edges, with ``last`` on beat ``K − 1``. The array returns ``rows`` result rows per
tile; :func:`assemble` crops the padding away.

A convolution becomes a GEMM by im2col: ``A`` is the weights as ``C_out × (C_in·KH·KW)``,
``B`` the input patches as ``(C_in·KH·KW) × (H_out·W_out)``, so the array's rows run over
output channels and its columns over output pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GemmTiling", "assemble", "conv_as_gemm", "gemm_beats", "im2col"]


@dataclass(frozen=True)
class GemmTiling:
    """How an ``M × N × K`` GEMM maps onto a ``rows × cols`` array."""

    m: int
    n: int
    k: int
    rows: int
    cols: int

    def __post_init__(self):
        for name in ("m", "n", "k", "rows", "cols"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"GEMM {name} = {value!r} is out of range; expected a "
                                 f"positive integer")

    @property
    def tile_rows(self) -> int:
        """Tiles along M."""
        return -(-self.m // self.rows)

    @property
    def tile_cols(self) -> int:
        """Tiles along N."""
        return -(-self.n // self.cols)

    @property
    def tiles(self) -> int:
        return self.tile_rows * self.tile_cols

    @property
    def beats(self) -> int:
        """Operand beats the whole GEMM takes (``K`` per tile)."""
        return self.tiles * self.k

    @property
    def result_beats(self) -> int:
        """Result rows the array returns (``rows`` per tile)."""
        return self.tiles * self.rows

    @property
    def macs(self) -> int:
        """Useful multiply-accumulates, ``M · N · K``."""
        return self.m * self.n * self.k

    def tile_period(self, latency: int) -> int:
        """Cycles between tiles' last beats at full speed: ``K``, or the time a tile's last
        beat takes to cross the array and drain (``2·rows + cols + latency``) if longer."""
        return max(self.k, 2 * self.rows + self.cols + latency)

    def cycles(self, latency: int) -> int:
        """Cycles from the first beat to the last result row with no stalls on either
        stream, for PEs of the given latency (the array's cycle model)."""
        return (self.k - 1 + (self.tiles - 1) * self.tile_period(latency)
                + 2 * self.rows + self.cols + latency)

    def utilization(self, latency: int) -> float:
        """Useful MACs over PE-cycles, ``M·N·K / (rows·cols·cycles)``, at full speed."""
        return self.macs / (self.rows * self.cols * self.cycles(latency))

    def origins(self):
        """``(m0, n0)`` of each tile, in the order they are sent."""
        return [(i * self.rows, j * self.cols)
                for i in range(self.tile_rows) for j in range(self.tile_cols)]


def _matrix(name, values):
    values = np.asarray(values)
    if values.ndim != 2 or 0 in values.shape:
        raise ValueError(f"{name} must be a non-empty 2-D matrix, not shape {values.shape}")
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, not {values.dtype}")
    return values.astype(np.int64)


def gemm_beats(a, b, rows: int, cols: int, *, pad_a: int = 0, pad_b: int = 0):
    """Operand beats for ``Y = A · B`` on a ``rows × cols`` array.

    Parameters
    ----------
    a : array_like of int, shape (M, K)
    b : array_like of int, shape (K, N)
    rows, cols : int
        Array size.
    pad_a, pad_b : int
        Operand values that fill the tiles past the matrix edges (the zero of the PE kind:
        0 for int8 and ternary, the zero word for LNS). Padded outputs are cropped anyway.

    Returns
    -------
    tiling : GemmTiling
    beat_a : numpy.ndarray, shape (beats, rows)
    beat_b : numpy.ndarray, shape (beats, cols)
    last : numpy.ndarray of bool, shape (beats,)
    """
    a, b = _matrix("A", a), _matrix("B", b)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"A is {a.shape[0]}×{a.shape[1]} and B is {b.shape[0]}×"
                         f"{b.shape[1]}: A's columns must equal B's rows")
    tiling = GemmTiling(a.shape[0], b.shape[1], a.shape[1], rows, cols)
    a_pad = np.full((tiling.tile_rows * rows, tiling.k), pad_a, dtype=np.int64)
    a_pad[:tiling.m] = a
    b_pad = np.full((tiling.k, tiling.tile_cols * cols), pad_b, dtype=np.int64)
    b_pad[:, :tiling.n] = b
    beat_a, beat_b = [], []
    for m0, n0 in tiling.origins():
        beat_a.append(a_pad[m0:m0 + rows].T)
        beat_b.append(b_pad[:, n0:n0 + cols])
    last = np.zeros(tiling.beats, dtype=bool)
    last[tiling.k - 1::tiling.k] = True
    return tiling, np.concatenate(beat_a), np.concatenate(beat_b), last


def assemble(tiling: GemmTiling, result_rows) -> np.ndarray:
    """``Y`` (M × N × F) from the array's result rows (``result_beats × cols × F``)."""
    result_rows = np.asarray(result_rows)
    if result_rows.shape[:2] != (tiling.result_beats, tiling.cols):
        raise ValueError(f"expected {tiling.result_beats} result rows of {tiling.cols}, got "
                         f"shape {result_rows.shape[:2]}")
    fields = result_rows.shape[2:]
    full = np.zeros((tiling.tile_rows * tiling.rows, tiling.tile_cols * tiling.cols, *fields),
                    dtype=result_rows.dtype)
    for t, (m0, n0) in enumerate(tiling.origins()):
        full[m0:m0 + tiling.rows, n0:n0 + tiling.cols] = \
            result_rows[t * tiling.rows:(t + 1) * tiling.rows]
    return full[:tiling.m, :tiling.n]


def im2col(x, kh: int, kw: int, *, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Input patches as columns: ``(C_in·KH·KW) × (H_out·W_out)``.

    Row ``(c, i, j)`` (in that order) of column ``(y, x)`` is input pixel
    ``(c, y·stride + i − pad, x·stride + j − pad)``, zero outside the image.

    Raises
    ------
    ValueError
        If ``x`` is not ``C_in × H × W``, or the kernel, stride or padding do not fit.
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"input must be C_in × H × W, not shape {x.shape}")
    for name, value in (("kh", kh), ("kw", kw), ("stride", stride)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} = {value!r} is out of range; expected a positive integer")
    if not isinstance(pad, int) or pad < 0:
        raise ValueError(f"pad = {pad!r} is out of range; expected an integer ≥ 0")
    c_in, h, w = x.shape
    if h + 2 * pad < kh or w + 2 * pad < kw:
        raise ValueError(f"a {kh}×{kw} kernel does not fit a {h}×{w} input padded by {pad}")
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    h_out = (h + 2 * pad - kh) // stride + 1
    w_out = (w + 2 * pad - kw) // stride + 1
    cols = np.empty((c_in, kh, kw, h_out, w_out), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, i, j] = xp[:, i:i + stride * h_out:stride, j:j + stride * w_out:stride]
    return cols.reshape(c_in * kh * kw, h_out * w_out)


def conv_as_gemm(x, w, *, stride: int = 1, pad: int = 0):
    """A convolution as a GEMM: returns ``(A, B, (C_out, H_out, W_out))`` with
    ``Y = A · B`` reshaped to the output shape equal to the convolution of ``x`` by ``w``."""
    w = np.asarray(w)
    x = np.asarray(x)
    if w.ndim != 4:
        raise ValueError(f"weights must be C_out × C_in × KH × KW, not shape {w.shape}")
    if x.ndim != 3 or x.shape[0] != w.shape[1]:
        raise ValueError(f"input shape {x.shape} does not match weights' C_in = {w.shape[1]}")
    c_out, c_in, kh, kw = w.shape
    patches = im2col(x, kh, kw, stride=stride, pad=pad)
    h_out = (x.shape[1] + 2 * pad - kh) // stride + 1
    w_out = (x.shape[2] + 2 * pad - kw) // stride + 1
    return w.reshape(c_out, c_in * kh * kw), patches, (c_out, h_out, w_out)
