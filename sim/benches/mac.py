"""cocotb bench of :class:`corolla.hw.arith.mac.Mac` against its golden model.

Parameters come from ``COROLLA_PARAMS`` (``width``, ``acc_width``, ``latency``);
``COROLLA_CYCLES`` sets the length of the random streams (default 20000).
"""

from __future__ import annotations

import os

import cocotb
import numpy as np

from corolla.sim.benches.common import TB, golden, pack, params, record_stats, rng, to_signed
from corolla.sim.models.mac import mac_reference


def _fields(width):
    return [("a", 0, width), ("b", width, width), ("clear", 2 * width, 1)]


async def check_stream(dut, a, b, valid, clear, *, what: str):
    """Drive one operand stream cycle by cycle and compare ``result`` with the model."""
    p = params()
    width, acc_width, latency = p["width"], p["acc_width"], p["latency"]
    model = golden(mac_reference)
    expected = np.asarray(model(a, b, valid, clear, width=width, acc_width=acc_width))
    fields = _fields(width)
    tb = TB(dut)
    await tb.reset()
    n = len(a)
    for i in range(n + latency):
        # Sample: the result now reflects the operand pair driven `latency` cycles ago.
        k = i - latency
        got_valid = int(dut.result__valid.value)
        got = to_signed(int(dut.result__payload.value), acc_width)
        want_valid = bool(valid[k]) if k >= 0 else False
        want = int(expected[k]) if k >= 0 else 0
        if got_valid != want_valid or got != want:
            lo = max(0, k - 4)
            history = ", ".join(
                f"[{j}] a={int(a[j])} b={int(b[j])} valid={int(valid[j])} clear={int(clear[j])}"
                for j in range(lo, k + 1)
            )
            raise AssertionError(
                f"{what}: first mismatch at operand cycle {k} (width={width}, "
                f"acc_width={acc_width}): expected result={want} valid={int(want_valid)}, "
                f"got result={got} valid={got_valid}; inputs {history}"
            )
        # Drive the next operand pair (idle cycles carry junk the MAC must ignore).
        if i < n:
            dut.operands__payload.value = pack(
                fields, {"a": a[i], "b": b[i], "clear": clear[i]})
            dut.operands__valid.value = int(valid[i])
        else:
            dut.operands__valid.value = 0
        await tb.tick()
    return n


@cocotb.test()
async def edge_cases(dut):
    """Extreme products, clear mid-stream, clear on idle cycles, accumulator wrap-around."""
    p = params()
    width, acc_width = p["width"], p["acc_width"]
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    seq = [
        # (a, b, valid, clear)
        (lo, lo, 1, 1),        # most positive product, e.g. -128 * -128 = 16384
        (lo, hi, 1, 0),        # most negative product
        (hi, hi, 1, 0),
        (-1, -1, 1, 0),
        (0, lo, 1, 0),
        (hi, lo, 0, 1),        # idle cycle with clear set: ignored
        (3, -5, 1, 0),
        (7, 7, 1, 1),          # clear mid-stream: restart at 49
        (lo, 1, 1, 0),
        (lo, lo, 0, 0),        # idle
        (lo, lo, 0, 0),
        (2, 2, 1, 1),
    ]
    # Enough maximal products to pass the most positive accumulator value, then wrap.
    wrap_count = ((1 << (acc_width - 1)) // (lo * lo)) + 3
    seq += [(lo, lo, 1, 1)] + [(lo, lo, 1, 0)] * wrap_count
    # And the negative direction.
    seq += [(lo, hi, 1, 1)] + [(lo, hi, 1, 0)] * (wrap_count + 2)
    a, b, valid, clear = (np.array(col, dtype=np.int64) for col in zip(*seq, strict=True))
    await check_stream(dut, a, b, valid.astype(bool), clear.astype(bool), what="edge cases")


@cocotb.test()
async def random_streams(dut):
    """Seeded random operands with idle cycles and clears, at three input duty cycles."""
    p = params()
    width = p["width"]
    cycles = int(os.environ.get("COROLLA_CYCLES", "20000"))
    gen = rng(1)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    parts = []
    for duty in (1.0, 0.7, 0.25):
        n = cycles // 3
        parts.append((
            gen.integers(lo, hi + 1, n), gen.integers(lo, hi + 1, n),
            gen.random(n) < duty, gen.random(n) < 0.02,
        ))
    a, b, valid, clear = (np.concatenate(col) for col in zip(*parts, strict=True))
    n = await check_stream(dut, a, b, valid, clear, what="random stream")
    record_stats(random_cycles=n, random_products=int(valid.sum()))


@cocotb.test(skip=params().get("width", 8) > 6)
async def exhaustive_products(dut):
    """Every operand pair of a small width, each alone (clear) and all summed in one run."""
    width = params()["width"]
    values = np.arange(-(1 << (width - 1)), 1 << (width - 1))
    a, b = (x.ravel() for x in np.meshgrid(values, values))
    n = len(a)
    # Interleave: pair k alone (clear) then pair k added onto a running total kept by
    # a second pass, so every product is checked both exactly and in accumulation.
    a2 = np.concatenate([a, a])
    b2 = np.concatenate([b, b])
    valid = np.ones(2 * n, dtype=bool)
    clear = np.concatenate([np.ones(n, dtype=bool), np.zeros(n, dtype=bool)])
    await check_stream(dut, a2, b2, valid, clear, what="exhaustive products")
