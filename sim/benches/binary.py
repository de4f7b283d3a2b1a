"""cocotb bench of :class:`corolla.hw.arith.binary.BinaryDot` against its golden model.

Exhaustive over every pair of 8-bit words when ``n = 8`` (one-beat packets); seeded random
packets of 1 to 24 beats with random alpha and bias otherwise, including all-agree and
all-disagree words. Idle input cycles and output back-pressure.
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
from corolla.sim.models.binary import binary_dot


def _bits(word, n):
    return [(int(word) >> i) & 1 for i in range(n)]


async def _check(dut, tb, packets, alpha, bias, gen, what, valid_prob, ready_prob):
    """packets: list of lists of (a_word, w_word)."""
    p = params()
    n, acc_width, alpha_width = p["n"], p["acc_width"], p["alpha_width"]
    model = golden(binary_dot)
    dut.alpha.value = alpha
    dut.bias.value = bias & ((1 << p["bias_width"]) - 1)
    items, want = [], []
    for words in packets:
        a_bits, w_bits = [], []
        for b, (aw, ww) in enumerate(words):
            items.append(int(aw) | (int(ww) << n) | (int(b == len(words) - 1) << (2 * n)))
            a_bits += _bits(aw, n)
            w_bits += _bits(ww, n)
        want.append(tuple(model(a_bits, w_bits, alpha, bias, acc_width=acc_width)))
    got = await run_streams(dut, tb, source="operands", items=items, sink="result",
                            expected_count=len(packets), gen=gen, valid_prob=valid_prob,
                            ready_prob=ready_prob, payload_width=2 * n + 1)
    vw = acc_width + alpha_width + 1
    got = [(to_signed(g, vw), (g >> vw) & 1) for g in got]
    error = first_mismatch(got, want, lambda k: (
        f"{what}: packet {k} alpha={alpha} bias={bias} words (a, w) = "
        f"{[(hex(int(x)), hex(int(y))) for x, y in packets[k]]}"))
    assert error is None, error


@cocotb.test()
async def random_packets(dut):
    """Random words, 1 to 24 beats per packet, several alpha and bias values."""
    p = params()
    n = p["n"]
    tb, gen = await start(dut, 6)
    full = (1 << n) - 1
    amax = (1 << p["alpha_width"]) - 1
    bmax = (1 << (p["bias_width"] - 1)) - 1
    for alpha, bias in [(1, 0), (amax, 0), (3, -5), (int(gen.integers(0, amax + 1)),
                                                    int(gen.integers(-bmax, bmax + 1)))]:
        packets = []
        for _ in range(60):
            beats = int(gen.integers(1, 25))
            words = [(int(gen.integers(0, 1 << min(n, 62))) & full,
                      int(gen.integers(0, 1 << min(n, 62))) & full) for _ in range(beats)]
            if n > 62:
                words = [(int.from_bytes(gen.bytes((n + 7) // 8), "little") & full,
                          int.from_bytes(gen.bytes((n + 7) // 8), "little") & full)
                         for _ in range(beats)]
            packets.append(words)
        packets += [[(full, full)], [(0, full)], [(0, 0), (full, 0)]]
        await _check(dut, tb, packets, alpha, bias, gen, "random packets", 0.75, 0.6)


@cocotb.test(skip=params().get("n", 32) != 8)
async def exhaustive_words(dut):
    """Every pair of 8-bit words as a one-beat packet."""
    tb, gen = await start(dut, 7)
    words = np.arange(256)
    packets = [[(int(a), int(w))] for a in words for w in words]
    await _check(dut, tb, packets, 1, 0, gen, "exhaustive words", 1.0, 0.9)
