"""cocotb bench of :class:`corolla.hw.arith.requant.Requant` against its golden model.

Every shift and both ReLU settings; accumulators exhaustive for widths up to 12 bits,
otherwise the extremes, every rounding tie and seeded random values. Idle cycles on the input
and back-pressure on the output.
"""

from __future__ import annotations

import cocotb
import numpy as np

from corolla.sim.benches.common import (
    first_mismatch,
    golden,
    params,
    run_streams,
    start,
    to_signed,
)
from corolla.sim.models.requant import requant_reference


def _accumulators(acc_width, shift, gen):
    lo, hi = -(1 << (acc_width - 1)), (1 << (acc_width - 1)) - 1
    if acc_width <= 12:
        return np.arange(lo, hi + 1)
    half = 1 << max(shift - 1, 0)
    ties = (gen.integers(-(1 << 20), 1 << 20, 64) << shift) + half
    edges = [lo, lo + 1, hi, hi - 1, 0, 1, -1, half, -half, half - 1, -half - 1]
    values = np.concatenate([edges, ties, ties - 1, gen.integers(lo, hi + 1, 400)])
    return np.clip(values, lo, hi)


@cocotb.test()
async def all_shifts(dut):
    """Each shift and ReLU setting over a stream of accumulators."""
    p = params()
    acc_width, out_width = p["acc_width"], p["out_width"]
    model = golden(requant_reference)
    tb, gen = await start(dut, 2, sinks=("output",))
    for relu in (0, 1):
        for shift in range(acc_width):
            acc = _accumulators(acc_width, shift, gen)
            dut.shift.value = shift
            dut.relu.value = relu
            want = [int(x) for x in model(acc, shift, relu, acc_width=acc_width,
                                          out_width=out_width)]
            mask = (1 << acc_width) - 1
            got = await run_streams(
                dut, tb, source="input", items=[int(x) & mask for x in acc], sink="output",
                expected_count=len(acc), gen=gen, valid_prob=0.8, ready_prob=0.7,
                payload_width=acc_width)
            got = [to_signed(g, out_width) for g in got]
            error = first_mismatch(got, want, lambda k, acc=acc, s=shift, r=relu:
                                   f"inputs acc={int(acc[k])} shift={s} relu={r}")
            assert error is None, error
