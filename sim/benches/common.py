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
