"""Golden model of :class:`corolla.hw.io.ram.SinglePortRam`: one port, byte write enables,
read data one cycle after a read, held otherwise."""

from __future__ import annotations

import numpy as np

__all__ = ["ram_reference"]


def ram_reference(ops, *, width: int, depth: int) -> list[int]:
    """``rdata`` in each cycle of ``ops``, a sequence of ``(addr, wdata, we, re)`` per cycle.

    A write (``we`` ≠ 0) stores the bytes of ``wdata`` its bits select; a read (``re`` and no
    write) shows the word on ``rdata`` from the next cycle on. Before the first read ``rdata``
    is undefined (``None``; a simulator may show X there).
    """
    mem = np.zeros(depth, dtype=object)
    mem[:] = 0
    rdata, out = None, []
    for addr, wdata, we, re in ops:
        if not 0 <= addr < depth:
            raise ValueError(f"address {addr} is outside the {depth} words")
        out.append(rdata)
        if we:
            word = int(mem[addr])
            for b in range(width // 8):
                if we >> b & 1:
                    word = (word & ~(0xFF << 8 * b)) | (int(wdata) & (0xFF << 8 * b))
            mem[addr] = word
        elif re:
            rdata = int(mem[addr])
    return out
