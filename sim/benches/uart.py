"""cocotb benches of :class:`corolla.hw.io.uart.UartTx` and :class:`~corolla.hw.io.uart.UartRx`
against the 8N1 line model (:mod:`corolla.sim.models.uart`).

``COROLLA_PARAMS`` names the unit (``"unit": "tx"`` or ``"rx"``) and its ``divisor``.

* TX: seeded random bytes (0x00, 0xFF and 0x55 among them) offered with idle cycles; the line is
  sampled every cycle and must be, cycle for cycle, the model's line for the bytes in the order
  taken, with each bit exactly ``divisor`` cycles long.
* RX: the model's line for random bytes with random idle gaps between frames, a glitch shorter
  than half a bit, frames with a low stop bit (dropped, ``framing_error``), and a consumer
  that drops ``ready`` at random: every byte must come out in order, except the ones whose
  frame ended while the previous byte was still not taken (dropped, ``overrun``).
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import ReadOnly

from corolla.sim.benches.common import TB, first_mismatch, golden, params, record_stats, rng
from corolla.sim.models.uart import uart_decode, uart_line


def _bytes(gen, count):
    values = [0x00, 0xFF, 0x55, 0xAA, 0x01, 0x80]
    return values + [int(v) for v in gen.integers(0, 256, count - len(values))]


@cocotb.test(skip=params().get("unit") != "tx")
async def tx_line(dut):
    """Bytes in with idle cycles → the line, cycle for cycle."""
    divisor = params()["divisor"]
    line_model = golden(uart_line)
    tb = TB(dut)
    dut.input__valid.value = 0
    await tb.reset()
    gen = rng(1)
    data = _bytes(gen, 40)
    samples, taken, starts = [], [], []
    pending, index, cycle = None, 0, 0
    while (len(taken) < len(data) or pending is not None or len(samples) < 2) \
            and cycle < 20 * divisor * (len(data) + 2):
        if pending is None and index < len(data) and gen.random() < 0.3:
            pending, index = data[index], index + 1
        dut.input__valid.value = int(pending is not None)
        dut.input__payload.value = pending if pending is not None else int(gen.integers(256))
        await ReadOnly()
        samples.append(int(dut.tx.value))
        if pending is not None and int(dut.input__ready.value):
            taken.append(pending)
            starts.append(cycle + 1)
            pending = None
        await tb.tick()
        cycle += 1
    for _ in range(12 * divisor):
        dut.input__valid.value = 0
        await ReadOnly()
        samples.append(int(dut.tx.value))
        await tb.tick()
    assert taken == data, f"bytes taken {taken[:8]}…; expected {data[:8]}…"
    # The line after each taken byte is exactly that byte's frame.
    for k, (byte, start) in enumerate(zip(taken, starts, strict=True)):
        want = line_model([(0, byte, 1)], divisor)[:10 * divisor]
        got = samples[start:start + 10 * divisor]
        error = first_mismatch(got, list(want), lambda j, k=k, byte=byte:
                               f"inputs byte {k} = 0x{byte:02x}, cycle {j} of its frame")
        assert error is None, error
    assert [b for b, _ in uart_decode(samples, divisor)] == data
    record_stats(tx_bytes=len(data))


@cocotb.test(skip=params().get("unit") != "rx")
async def rx_bytes(dut):
    """The model's line with gaps, a glitch and bad stop bits → bytes, with back-pressure."""
    divisor = params()["divisor"]
    line_model = golden(uart_line)
    tb = TB(dut)
    dut.rx.value = 1
    dut.output__ready.value = 0
    await tb.reset()
    gen = rng(2)
    data = _bytes(gen, 60)
    frames = []
    for k, byte in enumerate(data):
        idle = int(gen.integers(0, 3))
        stop = 0 if k % 17 == 9 else 1
        frames.append((idle, byte, stop))
    line = list(line_model(frames, divisor))
    # A glitch shorter than half a bit in the first idle stretch: not a start bit.
    line = [1] * divisor + [0] * max(1, divisor // 2 - 2) + [1] * divisor + line
    got, framing, overruns = [], 0, 0
    for k in range(len(line) + 4 * divisor):
        dut.rx.value = int(line[k]) if k < len(line) else 1
        dut.output__ready.value = int(gen.random() < 0.6)
        await ReadOnly()
        if int(dut.output__valid.value) and int(dut.output__ready.value):
            got.append(int(dut.output__payload.value))
        framing += int(dut.framing_error.value)
        overruns += int(dut.overrun.value)
        await tb.tick()
    want = [byte for _, byte, stop in frames if stop]
    bad_stops = sum(1 for f in frames if not f[2])
    assert framing == bad_stops, f"{framing} framing errors; expected {bad_stops}"
    # Every good byte arrives in order unless the receiver reported it dropped (overrun).
    assert len(got) + overruns == len(want), (f"{len(got)} bytes and {overruns} overruns; "
                                              f"expected {len(want)} bytes in all")
    it = iter(want)
    for k, byte in enumerate(got):
        for expected in it:
            if expected == byte:
                break
        else:
            raise AssertionError(f"first mismatch at result {k}: got 0x{byte:02x}, not in "
                                 f"order among the sent bytes {[hex(b) for b in want[:8]]}…")
    record_stats(rx_bytes=len(got), rx_framing_errors=framing, rx_overruns=overruns)
