"""Golden model of the EIE sparse engine: the interleaved CSC layout and its SpMV.

An M×N weight matrix is split over P processing elements: row ``i`` belongs to PE ``i mod P``
and is that PE's local row ``i // P``. For each PE and column ``j`` the PE stores the column's
non-zero weights of its local rows as entries ``(z, v)``: ``v`` is the codebook index
(entry 0 of the codebook is exact zero) and ``z`` is how many zero local rows lie between the
previous entry of the column (or the column's first local row) and this one. A gap longer
than ``2**z_bits − 1`` is bridged by a padding entry ``(z = 2**z_bits − 1, v = 0)``. The
entries of column ``j`` on PE ``p`` are ``ptr[p, j] .. ptr[p, j + 1] − 1``.

The SpMV walks this layout exactly as the hardware does: only non-zero activations are
broadcast; for each, every PE walks its entries of that column, advancing its local row
address by ``z + 1`` per entry and adding ``codebook[v] · a_j`` to that row's accumulator
(which wraps at the accumulator width). Bias, requantization and ReLU follow.

With Huffman coding (:class:`CodedMatrix`) each PE's entries are one bit stream: for each
entry of its columns in column order, the canonical code of ``z`` followed by the canonical
code of ``v`` (one code for the layer's ``z`` values and one for its ``v`` values, as Deep
Compression codes the two streams), packed into 16-bit words first bit first. Column pointers
are then bit addresses, and a column is decoded exactly as the engine's decoders do it
(:class:`~corolla.firmware.compress.huffman.DecodeTable`): a code that matches no length, or
an entry whose codes would end past the column's end pointer, is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from corolla.formats import ACTIVATION, IntFormat, requantize, wrap_signed

__all__ = ["CodedMatrix", "EieEncodingError", "EieMatrix", "SpmvResult", "eie_spmv"]


class EieEncodingError(ValueError):
    """An encoded matrix is inconsistent; the message names the PE, column and entry."""


@dataclass(frozen=True)
class EieMatrix:
    """A matrix in EIE's interleaved CSC layout.

    Attributes
    ----------
    rows, cols : int
        M and N of the dense matrix.
    pes : int
        P, the number of processing elements.
    z : tuple of numpy.ndarray
        Per PE, the relative row index of each entry.
    v : tuple of numpy.ndarray
        Per PE, the codebook index of each entry (0 for padding).
    ptr : numpy.ndarray of int64, shape (P, N + 1)
        Column pointers per PE.
    z_bits, v_bits : int
        Field widths of an entry.
    """

    rows: int
    cols: int
    pes: int
    z: tuple
    v: tuple
    ptr: np.ndarray
    z_bits: int = 4
    v_bits: int = 4

    def local_rows(self, pe: int) -> int:
        """How many rows PE ``pe`` owns: ``ceil((M − pe) / P)``."""
        return max(0, -(-(self.rows - pe) // self.pes))

    @property
    def entries_per_pe(self) -> np.ndarray:
        """Number of entries (padding included) stored by each PE."""
        return np.array([len(z) for z in self.z], dtype=np.int64)

    @property
    def entries(self) -> int:
        """Total number of entries, padding included."""
        return int(self.entries_per_pe.sum())

    @property
    def padding(self) -> int:
        """Number of padding entries (``v = 0``)."""
        return int(sum(int(np.count_nonzero(v == 0)) for v in self.v))

    @property
    def nnz(self) -> int:
        """Number of non-zero-index entries (the matrix's stored weights)."""
        return self.entries - self.padding

    def column(self, pe: int, col: int):
        """Walk PE ``pe``'s entries of column ``col`` as the hardware does.

        Returns
        -------
        start : int
            Index of the column's first entry in the PE's entry memory.
        rows : numpy.ndarray of int64
            Local row address of each entry (``z + 1`` per entry from −1).
        v : numpy.ndarray of int64
            Codebook index of each entry.

        Raises
        ------
        EieEncodingError
            The pointers are outside the entry memory or decreasing, or an entry reaches past
            the PE's last local row.
        """
        size = len(self.z[pe])
        start, end = int(self.ptr[pe, col]), int(self.ptr[pe, col + 1])
        if not 0 <= start <= size or not 0 <= end <= size:
            raise EieEncodingError(f"PE {pe} column {col}: pointers {start}..{end} outside "
                                   f"the {size}-entry memory")
        if end < start:
            raise EieEncodingError(f"PE {pe} column {col}: end pointer {end} < start {start}")
        rows = _local_row_walk(self, pe, col, self.z[pe][start:end],
                               lambda k: f"entry {start + k}")
        return start, rows, np.asarray(self.v[pe][start:end], dtype=np.int64)


def _local_row_walk(matrix, pe: int, col: int, z, entry) -> np.ndarray:
    """The local row of each of a column's entries (``z + 1`` per entry from −1), as the
    walker computes them; an entry past the PE's rows raises :class:`EieEncodingError`
    naming it with ``entry(k)``."""
    rows = np.cumsum(np.asarray(z, dtype=np.int64) + 1) - 1
    n_local = matrix.local_rows(pe)
    if rows.size and rows[-1] >= n_local:
        k = int(np.argmax(rows >= n_local))
        raise EieEncodingError(f"PE {pe} column {col}: {entry(k)} reaches local row "
                               f"{rows[k]}, past the PE's {n_local} rows")
    return rows


@dataclass(frozen=True)
class CodedMatrix:
    """A matrix in EIE's layout with every PE's entries Huffman-coded (see the module
    docstring), as the engine's memories hold it.

    Attributes
    ----------
    rows, cols, pes : int
        M, N and P.
    words : tuple of numpy.ndarray
        Per PE, the coded memory: 16-bit words, first bit most significant.
    ptr : numpy.ndarray of int64, shape (P, N + 1)
        Column pointers per PE, as bit addresses.
    limits, bases : numpy.ndarray of int64, shape (2, L)
        The decoders' tables of the ``z`` code (row 0) and the ``v`` code (row 1): one past
        the last code of each length, and ``first index − first code`` of each length
        (:class:`~corolla.firmware.compress.huffman.DecodeTable`).
    symbols : numpy.ndarray of int64, shape (2, S)
        The ``z`` (row 0) and ``v`` (row 1) value at each position in code order; ``S`` is
        ``2**max(z_bits, v_bits)``.
    z_bits, v_bits : int
        Field widths of an entry.
    """

    rows: int
    cols: int
    pes: int
    words: tuple
    ptr: np.ndarray
    limits: np.ndarray
    bases: np.ndarray
    symbols: np.ndarray
    z_bits: int = 4
    v_bits: int = 4

    #: Bits of a coded word.
    word_bits = 16

    def local_rows(self, pe: int) -> int:
        """How many rows PE ``pe`` owns: ``ceil((M − pe) / P)``."""
        return max(0, -(-(self.rows - pe) // self.pes))

    @property
    def code_length(self) -> int:
        """``L``, the longest code the decoders take."""
        return self.limits.shape[1]

    @property
    def bits_per_pe(self) -> np.ndarray:
        """Coded bits each PE stores (its last column's end pointer)."""
        return self.ptr[:, -1].astype(np.int64)

    def _bit(self, pe: int, pos: int) -> int:
        word = int(self.words[pe][pos // self.word_bits])
        return (word >> (self.word_bits - 1 - pos % self.word_bits)) & 1

    def _code(self, pe: int, field: int, bit: int, end: int):
        """``(length, value)`` of the code of ``field`` (0 = z, 1 = v) at ``bit``, judged on
        the bits before ``end`` only, or ``None``."""
        c = 0
        for n in range(1, min(self.code_length, end - bit) + 1):
            c = (c << 1) | self._bit(pe, bit + n - 1)
            if c < self.limits[field, n - 1]:
                size = self.symbols.shape[1]
                return n, int(self.symbols[field, (int(self.bases[field, n - 1]) + c)
                                           & (size - 1)])
        return None

    def decode_column(self, pe: int, col: int):
        """The ``(z, v)`` entries of PE ``pe``'s column ``col``, decoded as the engine does.

        Returns
        -------
        start : int
            The column's first bit.
        z, v : numpy.ndarray of int64
            Its entries.

        Raises
        ------
        EieEncodingError
            The pointers are outside the coded memory or decreasing, a code matches no length,
            or an entry's codes would end past the column's end.
        """
        size = len(self.words[pe]) * self.word_bits
        start, end = int(self.ptr[pe, col]), int(self.ptr[pe, col + 1])
        if not 0 <= start <= size or not 0 <= end <= size:
            raise EieEncodingError(f"PE {pe} column {col}: pointers {start}..{end} outside "
                                   f"the {size}-bit coded memory")
        if end < start:
            raise EieEncodingError(f"PE {pe} column {col}: end pointer {end} < start {start}")
        zs, vs, bit = [], [], start
        while bit < end:
            entry = []
            for field, name in enumerate("zv"):
                code = self._code(pe, field, bit, end)
                if code is None:
                    raise EieEncodingError(
                        f"PE {pe} column {col}: no valid {name} code at bit {bit} before the "
                        f"column's end at bit {end}")
                bit += code[0]
                entry.append(code[1])
            zs.append(entry[0])
            vs.append(entry[1])
        return start, np.array(zs, dtype=np.int64), np.array(vs, dtype=np.int64)

    def column(self, pe: int, col: int):
        """Walk PE ``pe``'s entries of column ``col`` as the hardware does (see
        :meth:`EieMatrix.column`); ``start`` is the column's first bit."""
        start, z, v = self.decode_column(pe, col)
        rows = _local_row_walk(self, pe, col, z,
                               lambda k: f"entry {k} of the column (from bit {start})")
        return start, rows, v


@dataclass(frozen=True)
class SpmvResult:
    """What the engine produces for one activation vector.

    Attributes
    ----------
    acc : numpy.ndarray of int64, shape (M,)
        Accumulators after the bias, wrapped to the accumulator width.
    out : numpy.ndarray of int64, shape (M,)
        Requantized (and ReLU'd) outputs, in row order.
    work : numpy.ndarray of int64, shape (P,)
        Entries each PE processed (non-zero activations only): the load-balance figure.
    broadcasts : int
        Number of non-zero activations broadcast.
    """

    acc: np.ndarray
    out: np.ndarray
    work: np.ndarray
    broadcasts: int


def eie_spmv(matrix: EieMatrix, codebook, activations, *, bias=None, shift: int = 0,
             relu: bool = False, acc_width: int = 32,
             out: IntFormat = ACTIVATION) -> SpmvResult:
    """Sparse matrix × sparse vector on the encoded form, with the hardware's integer arithmetic.

    Parameters
    ----------
    matrix : EieMatrix or CodedMatrix
    codebook : array_like of int
        Signed fixed-point weight values, ``2**v_bits`` entries at most; entry 0 must be 0.
    activations : array_like of int, shape (N,)
        Input activations (int8 codes).
    bias : array_like of int, shape (M,), optional
        Added to the accumulators before requantization (same scale as the products).
    shift, relu, out
        Requantization of :func:`corolla.formats.requantize`.
    acc_width : int
        Accumulator width; sums wrap at it.

    Raises
    ------
    EieEncodingError
        A column pointer is outside the entry memory or decreasing, an entry addresses a row
        past the PE's last local row, or an index is outside the codebook. The hardware flags
        the same conditions.
    """
    a = np.asarray(activations, dtype=np.int64)
    if a.shape != (matrix.cols,):
        raise ValueError(f"activations must have shape ({matrix.cols},), not {a.shape}")
    cb = np.asarray(codebook, dtype=np.int64)
    if cb.ndim != 1 or not 1 <= len(cb) <= 1 << matrix.v_bits:
        raise ValueError(f"codebook must have 1 to {1 << matrix.v_bits} entries, not {cb.shape}")
    if cb[0] != 0:
        raise ValueError(f"codebook entry 0 must be exact zero, not {cb[0]}")
    ptr = np.asarray(matrix.ptr, dtype=np.int64)
    if ptr.shape != (matrix.pes, matrix.cols + 1):
        raise EieEncodingError(f"ptr has shape {ptr.shape}; expected "
                               f"({matrix.pes}, {matrix.cols + 1})")
    local = [np.zeros(matrix.local_rows(p), dtype=np.int64) for p in range(matrix.pes)]
    work = np.zeros(matrix.pes, dtype=np.int64)
    nonzero = np.flatnonzero(a)
    for p in range(matrix.pes):
        for j in nonzero:
            start, addr, idx = matrix.column(p, j)
            if not idx.size:
                continue
            if np.any(idx >= len(cb)) or np.any(idx < 0):
                k = int(np.argmax((idx >= len(cb)) | (idx < 0)))
                raise EieEncodingError(f"PE {p} column {j}: entry {start + k} has codebook "
                                       f"index {idx[k]}; the codebook has {len(cb)} entries")
            np.add.at(local[p], addr, cb[idx] * a[j])
            local[p] = wrap_signed(local[p], acc_width)
            work[p] += idx.size
    acc = np.zeros(matrix.rows, dtype=np.int64)
    for p in range(matrix.pes):
        acc[p::matrix.pes] = local[p]
    if bias is not None:
        b = np.asarray(bias, dtype=np.int64)
        if b.shape != (matrix.rows,):
            raise ValueError(f"bias must have shape ({matrix.rows},), not {b.shape}")
        acc = acc + b
    acc = wrap_signed(acc, acc_width)
    return SpmvResult(acc=acc, out=requantize(acc, shift, relu=relu, out=out), work=work,
                      broadcasts=len(nonzero))
