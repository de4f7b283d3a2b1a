"""cocotb benches of the LNS units in :mod:`corolla.hw.arith.lns` against their golden models.

Multiplier and adder: every pair of words when the format has at most 8 bits (65,536 pairs,
the adder also subtracting at random), seeded random pairs otherwise. Converters: every int8
value, every LNS word. MAC: random packets of 1 to 70 beats with zeros, extremes and
near-cancelling products, in the unit's accumulation mode. Idle input cycles and output
back-pressure throughout.
"""

from __future__ import annotations

import cocotb
import numpy as np

from corolla.formats import LnsFormat
from corolla.sim.benches.common import first_mismatch, golden, params, run_streams, start, to_signed
from corolla.sim.models.lns import lns_add, lns_dot, lns_from_int, lns_mul, lns_sub, lns_to_fixed

P = params()


def _fmt() -> LnsFormat:
    return LnsFormat(P["int_bits"], P["frac_bits"], P["table_frac_bits"], P["interpolate"])


def _pairs(fmt, gen, limit=70_000):
    n = 1 << fmt.width
    if n * n <= limit:
        a, b = np.meshgrid(np.arange(n), np.arange(n))
        order = gen.permutation(n * n)
        return a.ravel()[order], b.ravel()[order]
    return gen.integers(0, n, limit // 4), gen.integers(0, n, limit // 4)


def _describe(fmt, **inputs):
    def describe(k):
        parts = []
        for name, values in inputs.items():
            v = int(values[k])
            parts.append(f"{name}={v:#x} ({fmt.decode(v):.6g})" if name != "sub"
                         else f"sub={v}")
        return ", ".join(parts)
    return describe


@cocotb.test(skip=P.get("op") != "mul")
async def mul_pairs(dut):
    """Products of all (or random) word pairs."""
    fmt = _fmt()
    tb, gen = await start(dut, 11)
    a, b = _pairs(fmt, gen)
    items = (a | (b << fmt.width)).tolist()
    want = golden(lns_mul)(fmt, a, b).tolist()
    got = await run_streams(dut, tb, source="operands", items=items, sink="result",
                            expected_count=len(items), gen=gen, valid_prob=0.9, ready_prob=0.8,
                            payload_width=2 * fmt.width)
    error = first_mismatch(got, want, _describe(fmt, a=a, b=b))
    assert error is None, error


@cocotb.test(skip=P.get("op") != "add")
async def add_pairs(dut):
    """Sums and differences of all (or random) word pairs."""
    fmt = _fmt()
    tb, gen = await start(dut, 12)
    a, b = _pairs(fmt, gen)
    sub = gen.integers(0, 2, len(a))
    items = (a | (b << fmt.width) | (sub << (2 * fmt.width))).tolist()
    want = np.where(sub == 1, golden(lns_sub)(fmt, a, b), golden(lns_add)(fmt, a, b)).tolist()
    got = await run_streams(dut, tb, source="operands", items=items, sink="result",
                            expected_count=len(items), gen=gen, valid_prob=0.9, ready_prob=0.8,
                            payload_width=2 * fmt.width + 1)
    error = first_mismatch(got, want, _describe(fmt, a=a, b=b, sub=sub))
    assert error is None, error


@cocotb.test(skip="in_frac" not in P)
async def int_to_lns_all(dut):
    """Every int8 value, twice, in random order."""
    fmt = _fmt()
    tb, gen = await start(dut, 13)
    values = gen.permutation(np.tile(np.arange(-128, 128), 2))
    want = golden(lns_from_int)(fmt, values, in_frac=P["in_frac"]).tolist()
    got = await run_streams(dut, tb, source="operands", items=(values & 0xFF).tolist(),
                            sink="result", expected_count=len(values), gen=gen,
                            valid_prob=0.8, ready_prob=0.7, payload_width=8)
    error = first_mismatch(got, want, lambda k: f"value={int(values[k])}")
    assert error is None, error


@cocotb.test(skip="width" not in P)
async def lns_to_fixed_all(dut):
    """Every LNS word (or 20,000 random ones for wide formats)."""
    fmt = _fmt()
    tb, gen = await start(dut, 14)
    n = 1 << fmt.width
    words = gen.permutation(n) if n <= 1 << 14 else gen.integers(0, n, 20_000)
    want = golden(lns_to_fixed)(fmt, words, frac_bits=P["frac_bits_out"], width=P["width"],
                                antilog_bits=P["antilog_bits"]).tolist()
    got = await run_streams(dut, tb, source="operands", items=words.tolist(), sink="result",
                            expected_count=len(words), gen=gen, valid_prob=0.8,
                            ready_prob=0.7, payload_width=fmt.width)
    got = [to_signed(g, P["width"]) for g in got]
    error = first_mismatch(got, want, _describe(fmt, word=words))
    assert error is None, error


def _mac_packets(fmt, gen, count):
    """Packets of words: random, with zeros, extremes, and pairs that cancel."""
    n = 1 << fmt.width
    packets = []
    for k in range(count):
        beats = int(gen.integers(1, 71))
        a = gen.integers(0, n, beats)
        w = gen.integers(0, n, beats)
        if k % 4 == 1:                                  # sprinkle zeros and extremes
            a[gen.random(beats) < 0.2] = fmt.zero
            w[gen.random(beats) < 0.1] = fmt.pack(0, fmt.log_max)
        if k % 4 == 2 and beats > 1:                    # x·w followed by −x·w: cancellation
            a[1::2] = a[0:-1:2] ^ (1 << fmt.log_width)
            w[1::2] = w[0:-1:2]
        packets.append((a, w))
    return packets


@cocotb.test(skip="mode" not in P)
async def mac_packets(dut):
    """Random dot products of 1 to 70 beats in the unit's accumulation mode."""
    fmt = _fmt()
    tb, gen = await start(dut, 15)
    packets = _mac_packets(fmt, gen, 150)
    items, want = [], []
    model = golden(lns_dot)
    for a, w in packets:
        for i in range(len(a)):
            last = int(i == len(a) - 1)
            items.append(int(a[i]) | (int(w[i]) << fmt.width) | (last << (2 * fmt.width)))
        want.append(model(fmt, a, w, mode=P["mode"], acc_width=P["acc_width"],
                          acc_frac=P["acc_frac"], antilog_bits=P["antilog_bits"]))
    got = await run_streams(dut, tb, source="operands", items=items, sink="result",
                            expected_count=len(packets), gen=gen, valid_prob=0.8,
                            ready_prob=0.6, payload_width=2 * fmt.width + 1)
    if P["mode"] == "linear":
        got = [to_signed(g, P["acc_width"]) for g in got]
    error = first_mismatch(got, want, lambda k: f"mode={P['mode']} a={packets[k][0].tolist()} "
                                                f"w={packets[k][1].tolist()}")
    assert error is None, error
