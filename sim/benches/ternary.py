"""cocotb bench of :class:`corolla.hw.arith.ternary.TernaryMac` against its golden model.

Exhaustive over every (activation, code) pair for 4-bit activations (each pair a one-lane
product in lane 0 with the other lanes zero-weighted, then all pairs summed in one packet);
seeded random packets of 1 to 40 beats with varying scales; invalid codes in their own
phase, checking that they read as zero and raise the sticky error flag. Idle input cycles and
output back-pressure throughout.
"""

from __future__ import annotations

import cocotb
import numpy as np

from corolla.formats import TERNARY_CODES, TERNARY_INVALID
from corolla.sim.benches.common import (
    first_mismatch,
    golden,
    params,
    run_streams,
    start,
    to_signed,
)
from corolla.sim.models.ternary import ternary_dot

_CODES = sorted(TERNARY_CODES.values())


def _pack_beat(a_row, w_row, last, lanes, act_width):
    word = 0
    for i in range(lanes):
        word |= (int(a_row[i]) & ((1 << act_width) - 1)) << (i * act_width)
    base = lanes * act_width
    for i in range(lanes):
        word |= (int(w_row[i]) & 3) << (base + 2 * i)
    return word | (int(last) << (base + 2 * lanes))


async def _check_packets(dut, tb, packets, wp, wn, gen, what):
    """packets: list of (a[beats, lanes], codes[beats, lanes])."""
    p = params()
    lanes, act_width, acc_width, scale_width = (p["lanes"], p["act_width"], p["acc_width"],
                                                p["scale_width"])
    model = golden(ternary_dot)
    dut.wp.value = wp
    dut.wn.value = wn
    items, want = [], []
    for a, codes in packets:
        for b in range(len(a)):
            items.append(_pack_beat(a[b], codes[b], b == len(a) - 1, lanes, act_width))
        want.append(model(a.ravel(), codes.ravel(), wp, wn, act_width=act_width,
                          acc_width=acc_width)[0])
    got = await run_streams(dut, tb, source="operands", items=items, sink="result",
                            expected_count=len(packets), gen=gen, valid_prob=0.75,
                            ready_prob=0.6, payload_width=lanes * (act_width + 2) + 1)
    out_width = acc_width + scale_width + 1
    got = [to_signed(g, out_width) for g in got]

    def describe(k):
        a, codes = packets[k]
        return (f"{what}: packet {k} wp={wp} wn={wn} a={a.tolist()} codes={codes.tolist()}")
    error = first_mismatch(got, want, describe)
    assert error is None, error


def _random_packets(gen, count, lanes, act_width, max_beats, invalid=False):
    lo, hi = -(1 << (act_width - 1)), 1 << (act_width - 1)
    codes_set = [*_CODES, TERNARY_INVALID] if invalid else _CODES
    packets = []
    for _ in range(count):
        beats = int(gen.integers(1, max_beats + 1))
        a = gen.integers(lo, hi, (beats, lanes))
        codes = gen.choice(codes_set, (beats, lanes))
        packets.append((a, codes))
    return packets


@cocotb.test()
async def random_packets(dut):
    """Random activations and codes, packets of 1 to 40 beats, several scale pairs."""
    p = params()
    tb, gen = await start(dut, 3)
    smax = (1 << p["scale_width"]) - 1
    for wp, wn in [(1, 1), (smax, smax), (smax, 1), (0, smax), (int(gen.integers(0, smax + 1)),
                                                                int(gen.integers(0, smax + 1)))]:
        packets = _random_packets(gen, 60, p["lanes"], p["act_width"], 40)
        await _check_packets(dut, tb, packets, wp, wn, gen, "random packets")
    assert int(dut.error.value) == 0, "error flag raised without an invalid code"


@cocotb.test(skip=params().get("act_width", 8) > 4)
async def exhaustive_pairs(dut):
    """Every (activation, code) pair alone, then all of them in one long packet."""
    p = params()
    lanes, act_width = p["lanes"], p["act_width"]
    tb, gen = await start(dut, 4)
    values = np.arange(-(1 << (act_width - 1)), 1 << (act_width - 1))
    pairs = [(int(a), c) for a in values for c in _CODES]
    packets = []
    for a, c in pairs:
        act = np.zeros((1, lanes), dtype=np.int64)
        codes = np.zeros((1, lanes), dtype=np.int64)
        act[0, 0], codes[0, 0] = a, c
        # The other lanes carry activations with a zero weight: they must not count.
        act[0, 1:] = gen.integers(values[0], values[-1] + 1, lanes - 1)
        packets.append((act, codes))
    big_a = np.array([a for a, _ in pairs] + [0] * (-len(pairs) % lanes)).reshape(-1, lanes)
    big_c = np.array([c for _, c in pairs] + [0] * (-len(pairs) % lanes)).reshape(-1, lanes)
    packets.append((big_a, big_c))
    await _check_packets(dut, tb, packets, 3, 5, gen, "exhaustive pairs")


@cocotb.test()
async def invalid_codes(dut):
    """Code 10 counts as zero and raises the sticky error flag, which stays set."""
    p = params()
    tb, gen = await start(dut, 5)
    packets = _random_packets(gen, 10, p["lanes"], p["act_width"], 5)
    await _check_packets(dut, tb, packets, 2, 3, gen, "before invalid codes")
    assert int(dut.error.value) == 0, "error flag set before any invalid code"
    packets = _random_packets(gen, 20, p["lanes"], p["act_width"], 5, invalid=True)
    assert any((codes == 2).any() for _, codes in packets)
    await _check_packets(dut, tb, packets, 2, 3, gen, "with invalid codes")
    assert int(dut.error.value) == 1, "error flag not set by an invalid code"
    packets = _random_packets(gen, 5, p["lanes"], p["act_width"], 5)
    await _check_packets(dut, tb, packets, 2, 3, gen, "after invalid codes")
    assert int(dut.error.value) == 1, "error flag is not sticky"
