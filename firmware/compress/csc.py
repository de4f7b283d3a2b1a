"""EIE interleaved CSC encoder and decoder (Han et al., ISCA'16).

:func:`eie_encode` turns a matrix of codebook indices (0 = pruned) into the layout described in
:mod:`corolla.sim.models.sparse`, which also holds the golden SpMV that runs on that layout
(:func:`~corolla.sim.models.sparse.eie_spmv`, re-exported here). :func:`eie_decode` rebuilds
the index matrix.
"""

from __future__ import annotations

import numpy as np

from corolla.sim.models.sparse import CodedMatrix, EieEncodingError, EieMatrix, eie_spmv

from .huffman import HuffmanCode, pack_bits

__all__ = ["CodedMatrix", "EieEncodingError", "EieMatrix", "eie_decode", "eie_encode",
           "eie_huffman", "eie_spmv"]


def eie_encode(index, pes: int, *, z_bits: int = 4, v_bits: int = 4) -> EieMatrix:
    """Encode a matrix of codebook indices for ``pes`` processing elements.

    Parameters
    ----------
    index : numpy.ndarray of int, shape (M, N)
        Codebook index per weight; 0 means the weight is zero (pruned) and is not stored.
    pes : int
        P, the number of processing elements (row ``i`` goes to PE ``i mod P``).
    z_bits, v_bits : int
        Widths of the relative row index and of the codebook index.
    """
    index = np.asarray(index)
    if index.ndim != 2 or 0 in index.shape:
        raise ValueError(f"index must be a non-empty 2-D matrix, not shape {index.shape}")
    if not np.issubdtype(index.dtype, np.integer):
        raise TypeError(f"index must hold integers, not {index.dtype}")
    if np.any((index < 0) | (index >= 1 << v_bits)):
        bad = index[(index < 0) | (index >= 1 << v_bits)].flat[0]
        raise ValueError(f"index value {bad} does not fit the {v_bits}-bit codebook index "
                         f"(0 to {(1 << v_bits) - 1})")
    if isinstance(pes, bool) or not isinstance(pes, int) or pes < 1:
        raise ValueError(f"pes must be a positive integer, not {pes!r}")
    if not 1 <= z_bits <= 16:
        raise ValueError(f"z_bits must be from 1 to 16, not {z_bits}")
    rows, cols = index.shape
    max_gap = (1 << z_bits) - 1
    zs, vs, ptr = [], [], np.zeros((pes, cols + 1), dtype=np.int64)
    for p in range(pes):
        local = index[p::pes].astype(np.int64)          # (local rows, N)
        z_out, v_out = [], []
        for j in range(cols):
            ptr[p, j] = len(z_out)
            prev = -1
            for r in np.flatnonzero(local[:, j]):
                gap = int(r) - prev - 1
                while gap > max_gap:
                    z_out.append(max_gap)
                    v_out.append(0)
                    gap -= max_gap + 1
                z_out.append(gap)
                v_out.append(int(local[r, j]))
                prev = int(r)
        ptr[p, cols] = len(z_out)
        zs.append(np.array(z_out, dtype=np.uint8 if z_bits <= 8 else np.uint16))
        vs.append(np.array(v_out, dtype=np.uint8))
    return EieMatrix(rows=rows, cols=cols, pes=pes, z=tuple(zs), v=tuple(vs), ptr=ptr,
                     z_bits=z_bits, v_bits=v_bits)


def eie_huffman(matrix: EieMatrix, code_length: int = 8) -> CodedMatrix:
    """Huffman-code an encoded matrix's entries (the last stage of Deep Compression, kept on
    chip): one canonical code for the layer's ``z`` values and one for its ``v`` values, built
    from the entries of every PE, codes at most ``code_length`` bits; each PE's entries coded
    in column order (``z`` code, then ``v`` code), column pointers as bit addresses.
    """
    size = 1 << max(matrix.z_bits, matrix.v_bits)
    fields = [[np.asarray(z, dtype=np.int64) for z in matrix.z],
              [np.asarray(v, dtype=np.int64) for v in matrix.v]]
    codes, lengths = [], []
    limits = np.zeros((2, code_length), dtype=np.int64)
    bases = np.zeros((2, code_length), dtype=np.int64)
    symbols = np.zeros((2, size), dtype=np.int64)
    for k, (streams, bits) in enumerate(zip(fields, (matrix.z_bits, matrix.v_bits),
                                            strict=True)):
        every = np.concatenate([np.zeros(0, np.int64), *streams])
        code = HuffmanCode.from_symbols(every, 1 << bits, max_length=code_length)
        table = code.decode_table(code_length)
        limits[k], bases[k] = table.limits, table.bases
        symbols[k, :len(table.symbols)] = table.symbols
        codes.append(code.codes())
        lengths.append(code.lengths)
    words, ptr = [], np.zeros_like(matrix.ptr)
    for p in range(matrix.pes):
        z, v = fields[0][p], fields[1][p]
        sizes = lengths[0][z] + lengths[1][v] if z.size else np.zeros(0, np.int64)
        ptr[p] = np.concatenate([[0], np.cumsum(sizes)])[matrix.ptr[p]]
        words.append(pack_bits([c for zi, vi in zip(z.tolist(), v.tolist(), strict=True)
                                for c in (codes[0][zi], codes[1][vi])]))
    return CodedMatrix(rows=matrix.rows, cols=matrix.cols, pes=matrix.pes, words=tuple(words),
                       ptr=ptr, limits=limits, bases=bases, symbols=symbols,
                       z_bits=matrix.z_bits, v_bits=matrix.v_bits)


def eie_decode(matrix: EieMatrix) -> np.ndarray:
    """Rebuild the (M, N) index matrix from its encoding.

    Raises
    ------
    EieEncodingError
        Pointers outside the entry memory or decreasing, or an entry past the PE's last row.
    """
    out = np.zeros((matrix.rows, matrix.cols), dtype=np.int64)
    for p in range(matrix.pes):
        for j in range(matrix.cols):
            _, addr, v = matrix.column(p, j)
            keep = v != 0
            out[p + matrix.pes * addr[keep], j] = v[keep]
    return out
