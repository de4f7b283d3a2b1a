"""Golden model of :mod:`corolla.hw.io.burst`: words of several bytes ↔ a byte stream."""

from __future__ import annotations

__all__ = ["burst_bytes", "pack_bytes"]


def burst_bytes(words) -> bytes:
    """The byte stream of ``(data, count)`` words: the low ``count`` bytes of each, in order."""
    out = bytearray()
    for data, count in words:
        out += int(data).to_bytes(64, "little")[:count]
    return bytes(out)


def pack_bytes(arrivals, *, width: int, idle: int) -> list[bytes]:
    """The words :class:`~corolla.hw.io.burst.StreamToBurst` makes of bytes taken at the given
    cycles (``(cycle, byte)`` in order), with its output always ready: a word leaves when it
    holds ``width`` bytes, or when ``idle`` cycles have passed without a byte."""
    words, word, last = [], bytearray(), None
    for cycle, byte in arrivals:
        if word and last is not None and cycle - last > idle:
            words.append(bytes(word))
            word = bytearray()
        word.append(byte)
        last = cycle
        if len(word) == width:
            words.append(bytes(word))
            word = bytearray()
    if word:
        words.append(bytes(word))
    return words
