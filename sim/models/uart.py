"""Golden model of the UART (:mod:`corolla.hw.io.uart`): 8N1 frames on a line, bit by bit.

A frame is a start bit (0), eight data bits LSB first and a stop bit (1), each ``divisor``
clock cycles long; the line idles high.
"""

from __future__ import annotations

import numpy as np

__all__ = ["uart_bits", "uart_decode", "uart_line"]


def uart_bits(byte: int, *, stop: int = 1) -> list[int]:
    """The ten bits of one frame (``stop = 0`` makes a framing error)."""
    if not 0 <= int(byte) <= 0xFF:
        raise ValueError(f"byte must be from 0 to 255, not {byte!r}")
    return [0, *((int(byte) >> i) & 1 for i in range(8)), stop]


def uart_line(frames, divisor: int) -> np.ndarray:
    """The line, one sample per clock cycle, for ``frames``: ``(idle_bits_before, byte, stop)``
    tuples (idle time in whole bits of ``divisor`` cycles)."""
    out = []
    for idle, byte, stop in frames:
        out += [1] * (idle * divisor)
        for bit in uart_bits(byte, stop=stop):
            out += [bit] * divisor
    out += [1] * (2 * divisor)
    return np.array(out, dtype=np.int64)


def uart_decode(samples, divisor: int) -> list[tuple[int, int]]:
    """Frames on a line sampled once per cycle, as ``(byte, stop_bit)``: a falling edge starts a
    frame and every bit is read at its middle (what a receiver with this divisor sees)."""
    s = np.asarray(samples, dtype=np.int64)
    frames, i = [], 1
    while i < len(s):
        if s[i - 1] == 1 and s[i] == 0:
            mids = [i + divisor // 2 + k * divisor for k in range(10)]
            if mids[-1] >= len(s):
                break
            bits = [int(s[j]) for j in mids]
            if bits[0] == 0:
                frames.append((sum(b << k for k, b in enumerate(bits[1:9])), bits[9]))
                i = mids[-1] + 1
                continue
        i += 1
    return frames
