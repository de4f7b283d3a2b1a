"""Shared pieces of Corolla's cocotb benches (imported inside the simulator only).

A bench receives the component's parameters as JSON in ``COROLLA_PARAMS`` (see
:func:`corolla.sim.runner.run`), derives its numpy generator from cocotb's random seed, and
compares the design against a golden model cycle by cycle, reporting the first mismatch with
the inputs that led to it.
"""

from __future__ import annotations

import importlib
import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from corolla.sim.runner import CLOCK_PERIOD_NS

__all__ = ["TB", "golden", "pack", "params", "rng", "to_signed"]


def params() -> dict:
    """Parameters of the design under test, as given to the runner."""
    return json.loads(os.environ.get("COROLLA_PARAMS", "{}"))


def rng(salt: int = 0) -> np.random.Generator:
    """numpy generator seeded from cocotb's seed (``COCOTB_RANDOM_SEED``) and ``salt``."""
    return np.random.default_rng([cocotb.RANDOM_SEED, salt])


def golden(default):
    """The golden model to compare against.

    ``COROLLA_GOLDEN`` = ``module:function`` replaces the model: the test suite uses it to
    show that a bench fails when the model is wrong.
    """
    override = os.environ.get("COROLLA_GOLDEN")
    if not override:
        return default
    module, _, attr = override.partition(":")
    return getattr(importlib.import_module(module), attr)


def pack(layout_fields, values: dict) -> int:
    """Pack field values into the integer of a ``data.StructLayout`` port.

    Parameters
    ----------
    layout_fields : iterable of (name, offset, width)
        The layout's fields, lowest offset first.
    values : dict
        Field values; negative values are stored in two's complement.
    """
    word = 0
    for name, offset, width in layout_fields:
        word |= (int(values[name]) & ((1 << width) - 1)) << offset
    return word


def to_signed(value: int, width: int) -> int:
    """Interpret the low ``width`` bits of ``value`` as two's complement."""
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


class TB:
    """Owns the clock and reset of a single-clock Amaranth design (``clk``, ``rst``).

    Benches drive inputs and sample outputs on the falling edge, half a cycle away from
    the registers, which is race-free on every simulator.
    """

    def __init__(self, dut):
        self.dut = dut
        self.cycle = 0
        cocotb.start_soon(Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start())

    async def reset(self, cycles: int = 2):
        """Hold ``rst`` for ``cycles`` rising edges; returns on a falling edge."""
        self.dut.rst.value = 1
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        self.cycle = 0

    async def tick(self):
        """Advance to the next falling edge."""
        await FallingEdge(self.dut.clk)
        self.cycle += 1


def record_stats(**stats):
    """Add figures to the run's stats file (read back by the runner)."""
    path = os.environ.get("COROLLA_STATS_FILE")
    if not path:
        return
    current = {}
    if os.path.exists(path):
        with open(path) as f:
            current = json.load(f)
    current.update(stats)
    with open(path, "w") as f:
        json.dump(current, f)


class StreamTimeout(AssertionError):
    """A stream transfer did not complete within its cycle budget."""


async def run_streams(dut, tb, *, source: str, items, sink: str, expected_count: int,
                      gen: np.random.Generator, valid_prob: float = 1.0,
                      ready_prob: float = 1.0, sink_has_ready: bool = True,
                      payload_width: int = 0, max_cycles: int | None = None,
                      stall_cycles=()):
    """Push ``items`` (packed payload integers) into a stream and collect another stream.

    The source holds each payload stable until it is accepted and inserts idle cycles with
    probability ``1 - valid_prob`` (junk payloads on idle cycles); the sink drops ``ready``
    with probability ``1 - ready_prob`` (back-pressure). Returns the received payload integers
    in order. Values are written on the falling edge and handshakes judged at ``ReadOnly``.
    """
    from cocotb.triggers import ReadOnly

    items = list(items)
    received = []
    pending = None
    index = 0
    budget = max_cycles or 50 * (len(items) + expected_count) + 1000
    src_valid = getattr(dut, f"{source}__valid")
    src_ready = getattr(dut, f"{source}__ready", None)
    src_payload = getattr(dut, f"{source}__payload")
    snk_valid = getattr(dut, f"{sink}__valid")
    snk_payload = getattr(dut, f"{sink}__payload")
    snk_ready = getattr(dut, f"{sink}__ready") if sink_has_ready else None
    stall_cycles = set(stall_cycles)
    for cycle in range(budget):
        if pending is None and index < len(items) and gen.random() < valid_prob \
                and cycle not in stall_cycles:
            pending = items[index]
            index += 1
        src_valid.value = int(pending is not None)
        if pending is not None:
            src_payload.value = pending
        elif payload_width:
            src_payload.value = int(gen.integers(0, 1 << min(payload_width, 62)))
        if snk_ready is not None:
            snk_ready.value = int(gen.random() < ready_prob)
        await ReadOnly()
        if pending is not None and (src_ready is None or int(src_ready.value)):
            pending = None
        if int(snk_valid.value) and (snk_ready is None or int(snk_ready.value)):
            received.append(int(snk_payload.value))
        if index == len(items) and pending is None and len(received) >= expected_count:
            await tb.tick()
            return received
        await tb.tick()
    raise StreamTimeout(
        f"timed out after {budget} cycles: sent {index - (pending is not None)} of "
        f"{len(items)} items, received {len(received)} of {expected_count} results")


def first_mismatch(got, want, describe) -> str | None:
    """Message for the first index where ``got`` and ``want`` differ, or ``None``."""
    for k, (g, w) in enumerate(zip(got, want, strict=False)):
        if g != w:
            return f"first mismatch at result {k}: expected {w}, got {g}; {describe(k)}"
    if len(got) != len(want):
        return f"expected {len(want)} results, got {len(got)}"
    return None


async def start(dut, salt: int, *, sinks=("result",)):
    """Start a stream bench: clock, reset, sinks not ready; returns ``(tb, generator)``."""
    tb = TB(dut)
    await tb.reset()
    for sink in sinks:
        getattr(dut, f"{sink}__ready").value = 0
    return tb, rng(salt)
