"""cocotb bench of :class:`corolla.hw.io.ram.SinglePortRam` against its golden model
(:func:`corolla.sim.models.ram.ram_reference`).

Seeded random traffic on a RAM of a non-power-of-two depth: whole-word and partial (byte
enable) writes, reads right after writes to the same word, idle cycles (``rdata`` must hold),
and a read of every word at the end. ``rdata`` is compared with the model in every cycle.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import ReadOnly

from corolla.sim.benches.common import TB, first_mismatch, golden, params, record_stats, rng
from corolla.sim.models.ram import ram_reference


@cocotb.test()
async def random_traffic(dut):
    """Writes, partial writes, reads and idle cycles; ``rdata`` every cycle."""
    p = params()
    width, depth = p["width"], p["depth"]
    model = golden(ram_reference)
    tb = TB(dut)
    await tb.reset()
    gen = rng(3)
    lanes = width // 8
    ops = []
    for _ in range(p.get("cycles", 2000)):
        addr = int(gen.integers(depth))
        r = gen.random()
        if r < 0.35:
            we = (1 << lanes) - 1 if gen.random() < 0.5 else int(gen.integers(1, 1 << lanes))
            ops.append((addr, int(gen.integers(0, 1 << width)), we, int(gen.random() < 0.5)))
            if gen.random() < 0.3:                     # read the word just written
                ops.append((addr, int(gen.integers(0, 1 << width)), 0, 1))
        elif r < 0.75:
            ops.append((addr, int(gen.integers(0, 1 << width)), 0, 1))
        else:                                           # idle: junk on addr and wdata
            ops.append((addr, int(gen.integers(0, 1 << width)), 0, 0))
    ops += [(a, 0, 0, 1) for a in range(depth)] + [(0, 0, 0, 0)]
    want = model(ops, width=width, depth=depth)
    got = []
    for (addr, wdata, we, re), expected in zip(ops, want, strict=True):
        dut.addr.value, dut.wdata.value, dut.we.value, dut.re.value = addr, wdata, we, re
        await ReadOnly()
        # Before the first read the output is undefined (X on Icarus): not compared.
        got.append(None if expected is None else int(dut.rdata.value))
        await tb.tick()
    error = first_mismatch(got, want, lambda k: "inputs (addr, wdata, we, re) of the cycle "
                                                f"before: {ops[k - 1] if k else None}")
    assert error is None, error
    record_stats(ram_cycles=len(ops))
