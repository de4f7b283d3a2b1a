"""cocotb benches of :class:`corolla.hw.io.burst.BurstToStream` and
:class:`~corolla.hw.io.burst.StreamToBurst` against :mod:`corolla.sim.models.burst`.

* words → bytes: seeded random words (every count from 0 to ``width``) with idle cycles and
  back-pressure on the byte side; the bytes must be the words' bytes, in order;
* bytes → words: seeded random bytes in bursts with gaps shorter and longer than ``idle``;
  with the word side always ready the words must be the model's packing exactly; then again
  with back-pressure, where the bytes must still come out whole and in order.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import ReadOnly

from corolla.sim.benches.common import TB, first_mismatch, golden, params, record_stats, rng
from corolla.sim.models.burst import burst_bytes, pack_bytes


@cocotb.test(skip=params().get("unit") != "burst_to_stream")
async def words_to_bytes(dut):
    p = params()
    w = p["width"]
    model = golden(burst_bytes)
    tb = TB(dut)
    dut.input__valid.value = 0
    dut.output__ready.value = 0
    await tb.reset()
    gen = rng(41)
    words = []
    for k in range(300):
        count = int(gen.integers(0, w + 1)) if k % 7 else w
        words.append((int.from_bytes(gen.bytes(w), "little"), count))
    got, index, pending = bytearray(), 0, None
    want = model(words)
    for _ in range(40 * len(words) * w):
        if pending is None and index < len(words) and gen.random() < 0.6:
            pending, index = words[index], index + 1
        dut.input__valid.value = int(pending is not None)
        if pending is not None:
            dut.input__payload.value = pending[0] | pending[1] << 8 * w
        dut.output__ready.value = int(gen.random() < 0.7)
        await ReadOnly()
        if pending is not None and int(dut.input__ready.value):
            pending = None
        if int(dut.output__valid.value) and int(dut.output__ready.value):
            got.append(int(dut.output__payload.value))
        await tb.tick()
        if index == len(words) and pending is None and len(got) >= len(want):
            break
    error = first_mismatch(list(got), list(want), lambda k: f"inputs byte {k} of the words")
    assert error is None, error
    record_stats(bytes=len(got))


@cocotb.test(skip=params().get("unit") != "stream_to_burst")
async def bytes_to_words(dut):
    p = params()
    w, idle = p["width"], p["idle"]
    model = golden(pack_bytes)
    tb = TB(dut)
    dut.input__valid.value = 0
    dut.output__ready.value = 0
    await tb.reset()
    gen = rng(42)
    for back_pressure in (False, True):
        schedule = []                               # (gap before, byte)
        for _ in range(400):
            gap = int(gen.choice([0, 0, 0, 1, 2, idle - 1, idle, idle + 1, 3 * idle]))
            schedule.append((gap, int(gen.integers(256))))
        arrivals, words = [], []
        k, wait, pending = 0, schedule[0][0], None
        for cycle in range(30 * len(schedule) + 10 * idle):
            if pending is None and k < len(schedule):
                if wait == 0:
                    pending, k = schedule[k][1], k + 1
                    wait = schedule[k][0] if k < len(schedule) else 0
                else:
                    wait -= 1
            dut.input__valid.value = int(pending is not None)
            dut.input__payload.value = pending if pending is not None else 0
            dut.output__ready.value = int(not back_pressure or gen.random() < 0.5)
            await ReadOnly()
            if pending is not None and int(dut.input__ready.value):
                arrivals.append((cycle, pending))
                pending = None
            if int(dut.output__valid.value) and int(dut.output__ready.value):
                raw = int(dut.output__payload.value)
                count = raw >> 8 * w
                assert 1 <= count <= w, f"a word with count {count}"
                words.append(raw.to_bytes(w + 2, "little")[:count])
            await tb.tick()
            if k == len(schedule) and pending is None and \
                    sum(map(len, words)) == len(schedule):
                break
        sent = bytes(b for _, b in arrivals)
        assert b"".join(words) == sent, "the words do not carry the bytes in order"
        if not back_pressure:
            want = model(arrivals, width=w, idle=idle)
            first = arrivals[:4]
            error = first_mismatch(words, want, lambda j, first=first: f"inputs arrivals "
                                   f"{first}…")
            assert error is None, error
    record_stats(words=len(words))
