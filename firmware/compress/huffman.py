"""Canonical Huffman coding of the index streams (the last stage of Deep Compression).

Codes are canonical: only each symbol's code length is stored (the code table), and encoder
and decoder rebuild the same codes from the lengths. Code lengths are limited to
``max_length`` bits (package-merge is not needed for the 16- to 256-symbol alphabets used
here: lengths are flattened by the usual heuristic when a tree is too deep).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

__all__ = ["DecodeTable", "HuffmanCode", "HuffmanError", "pack_bits"]


class HuffmanError(ValueError):
    """A stream cannot be coded or decoded (unknown symbol, truncated bits)."""


@dataclass(frozen=True)
class HuffmanCode:
    """A canonical prefix code over the symbols ``0 .. alphabet − 1``.

    Attributes
    ----------
    lengths : numpy.ndarray of int64
        Code length per symbol; 0 for symbols that never occur.
    """

    lengths: np.ndarray

    @classmethod
    def from_symbols(cls, symbols, alphabet: int, *, max_length: int = 24) -> HuffmanCode:
        """Build the code from the symbol frequencies of a stream."""
        s = _symbols(symbols, alphabet)
        freq = np.bincount(s, minlength=alphabet)
        return cls.from_frequencies(freq, max_length=max_length)

    @classmethod
    def from_frequencies(cls, freq, *, max_length: int = 24) -> HuffmanCode:
        """Build the code from a frequency per symbol."""
        freq = np.asarray(freq, dtype=np.int64)
        lengths = np.zeros(len(freq), dtype=np.int64)
        used = np.flatnonzero(freq)
        if len(used) == 1:
            lengths[used] = 1               # a lone symbol still needs one bit per occurrence
        elif len(used) > 1:
            heap = [(int(freq[s]), int(s), (int(s),)) for s in used]
            heapq.heapify(heap)
            while len(heap) > 1:
                f1, t1, a = heapq.heappop(heap)
                f2, t2, b = heapq.heappop(heap)
                for s in a + b:
                    lengths[s] += 1
                heapq.heappush(heap, (f1 + f2, min(t1, t2), a + b))
            lengths = _limit(lengths, max_length)
        return cls(lengths)

    @property
    def alphabet(self) -> int:
        return len(self.lengths)

    def codes(self) -> dict[int, tuple[int, int]]:
        """Symbol → (code, length), assigned canonically (by length, then symbol)."""
        out, code, prev_len = {}, 0, 0
        for s in sorted(np.flatnonzero(self.lengths), key=lambda s: (self.lengths[s], s)):
            n = int(self.lengths[s])
            code <<= n - prev_len
            out[int(s)] = (code, n)
            code += 1
            prev_len = n
        return out

    def decode_table(self, max_length: int) -> DecodeTable:
        """The canonical decoding table of this code for codes of at most ``max_length`` bits
        (the form the EIE engine's decoders hold, :class:`DecodeTable`)."""
        lengths = self.lengths
        if lengths.size and int(lengths.max()) > max_length:
            raise HuffmanError(f"code length {int(lengths.max())} exceeds {max_length} bits")
        counts = np.bincount(lengths[lengths > 0], minlength=max_length + 1)
        limits = np.zeros(max_length, dtype=np.int64)
        bases = np.zeros(max_length, dtype=np.int64)
        code = first = 0
        for n in range(1, max_length + 1):
            code <<= 1
            limits[n - 1] = code + counts[n]
            bases[n - 1] = first - code
            code += int(counts[n])
            first += int(counts[n])
        order = sorted(np.flatnonzero(lengths), key=lambda s: (lengths[s], s))
        return DecodeTable(max_length=max_length, limits=limits, bases=bases,
                           symbols=np.array(order, dtype=np.int64))

    def table_bits(self, length_bits: int = 5) -> int:
        """Size of the stored code table: one ``length_bits`` length per symbol."""
        return self.alphabet * length_bits

    def encoded_bits(self, symbols) -> int:
        """Length in bits of the coded stream (without the table)."""
        s = _symbols(symbols, self.alphabet)
        if np.any(self.lengths[s] == 0):
            bad = int(s[self.lengths[s] == 0][0])
            raise HuffmanError(f"symbol {bad} has no code")
        return int(self.lengths[s].sum())

    def encode(self, symbols) -> tuple[bytes, int]:
        """Code a stream: returns the bytes (MSB first, zero-padded) and the bit count."""
        s = _symbols(symbols, self.alphabet)
        table = self.codes()
        bits = []
        for sym in s.tolist():
            if sym not in table:
                raise HuffmanError(f"symbol {sym} has no code")
            code, n = table[sym]
            bits.extend((code >> (n - 1 - k)) & 1 for k in range(n))
        packed = np.packbits(np.array(bits, dtype=np.uint8)) if bits else np.zeros(0, np.uint8)
        return packed.tobytes(), len(bits)

    def decode(self, data: bytes, nbits: int, count: int) -> np.ndarray:
        """Decode ``count`` symbols from the first ``nbits`` bits of ``data``."""
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
        if nbits > len(bits):
            raise HuffmanError(f"stream claims {nbits} bits but holds {len(bits)}")
        lookup = {(n, code): sym for sym, (code, n) in self.codes().items()}
        max_len = int(self.lengths.max()) if self.lengths.size else 0
        out = np.zeros(count, dtype=np.int64)
        pos = 0
        for i in range(count):
            code, n = 0, 0
            while True:
                if pos >= nbits or n >= max_len:
                    raise HuffmanError(f"stream ends or holds an invalid code at symbol {i} "
                                       f"(bit {pos})")
                code = (code << 1) | int(bits[pos])
                pos += 1
                n += 1
                if (n, code) in lookup:
                    out[i] = lookup[(n, code)]
                    break
        if pos != nbits:
            raise HuffmanError(f"{nbits - pos} bits left over after {count} symbols")
        return out


@dataclass(frozen=True)
class DecodeTable:
    """Canonical decoding without a tree: ``L`` limits and bases and the symbols in code order.

    A code of ``n`` bits has the value ``c`` (its bits, first bit most significant); the codes
    of one length are consecutive. Reading the next ``L`` bits of a stream, the symbol's length
    is the smallest ``n`` whose first ``n`` bits ``c`` satisfy ``c < limits[n − 1]``, and the
    symbol is ``symbols[bases[n − 1] + c]``. No ``n`` satisfying it means an invalid code. Each
    comparison needs only the first ``n`` bits, so a decoder can make all ``L`` at once.

    Attributes
    ----------
    max_length : int
        ``L``, the longest code.
    limits : numpy.ndarray of int64, shape (L,)
        One past the last code value of each length (``first_code + count``).
    bases : numpy.ndarray of int64, shape (L,)
        ``first_index − first_code`` of each length (negative for long codes).
    symbols : numpy.ndarray of int64
        The coded symbols sorted by (code length, symbol).
    """

    max_length: int
    limits: np.ndarray
    bases: np.ndarray
    symbols: np.ndarray

    def decode(self, window: int):
        """``(length, position in symbols)`` of the code at the top of an ``L``-bit window, or
        ``None`` for an invalid code."""
        size = self.max_length
        for n in range(1, size + 1):
            c = window >> (size - n)
            if c < self.limits[n - 1]:
                return n, int(self.bases[n - 1]) + c
        return None


def pack_bits(codes, word_bits: int = 16) -> np.ndarray:
    """Pack ``(code, length)`` pairs into words of ``word_bits`` bits, first bit most
    significant, the last word padded with zeros."""
    total = sum(n for _, n in codes)
    words = np.zeros(-(-total // word_bits), dtype=np.int64)
    pos = 0
    for code, n in codes:
        for k in range(n):
            if (code >> (n - 1 - k)) & 1:
                words[pos // word_bits] |= 1 << (word_bits - 1 - pos % word_bits)
            pos += 1
    return words


def _symbols(symbols, alphabet):
    s = np.asarray(symbols).ravel()
    if s.size and not np.issubdtype(s.dtype, np.integer):
        raise HuffmanError(f"symbols must be integers, not {s.dtype}")
    s = s.astype(np.int64)
    if np.any((s < 0) | (s >= alphabet)):
        bad = int(s[(s < 0) | (s >= alphabet)][0])
        raise HuffmanError(f"symbol {bad} is outside the alphabet 0..{alphabet - 1}")
    return s


def _limit(lengths, max_length):
    """Clamp code lengths to ``max_length`` and restore the Kraft inequality."""
    lengths = lengths.copy()
    used = lengths > 0
    if lengths.max() <= max_length:
        return lengths
    lengths[used] = np.minimum(lengths[used], max_length)
    # Lengthen the longest codes still shorter than the limit until Kraft holds.
    while np.sum(2.0 ** -lengths[used]) > 1.0:
        cand = np.flatnonzero(used & (lengths < max_length))
        s = cand[np.argmax(lengths[cand])]
        lengths[s] += 1
    return lengths
