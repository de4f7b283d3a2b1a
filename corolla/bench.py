"""Benchmarks that print figures: resources and Fmax of the arithmetic units.

Resources are counted on the unit alone (Yosys, out of context). Fmax comes from placing
the unit inside a pin harness, because a unit's ports outnumber a small package's pins: a
shift register fed from one pin drives every input, and every output is registered and
XOR-reduced onto one pin, so no logic can be optimized away and every path starts and ends
at a flip-flop.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import Cat, Elaboratable, Module, Signal
from amaranth.back import verilog
from amaranth.lib import wiring

from .sim.runner import signal_ports, to_verilog
from .toolchain import place_and_route, synthesize

__all__ = ["PinHarness", "UnitFigures", "bench_units", "unit_catalogue"]


class PinHarness(Elaboratable):
    """Wrap a component so that it needs two pins (``din``, ``dout``) besides the clock."""

    def __init__(self, unit: wiring.Component):
        self.unit = unit
        self.din = Signal()
        self.dout = Signal()

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = self.unit
        inputs, outputs = [], []
        for _name, flow, value in signal_ports(self.unit):
            (inputs if flow == wiring.In else outputs).append(value)
        width_in = sum(len(v) for v in inputs)
        chain = Signal(max(width_in, 1))
        m.d.sync += chain.eq(Cat(self.din, chain[:-1]))
        offset = 0
        for v in inputs:
            m.d.comb += v.eq(chain[offset:offset + len(v)])
            offset += len(v)
        captured = Signal(sum(len(v) for v in outputs))
        m.d.sync += [captured.eq(Cat(*outputs)), self.dout.eq(captured.xor())]
        return m


@dataclass
class UnitFigures:
    """One row of ``corolla bench units``."""

    unit: str
    parameters: str
    device: str
    luts: int
    ffs: int
    dsps: int
    carries: int
    fmax_mhz: float | None
    macs_per_cycle: int

    @property
    def luts_per_mac(self) -> float | None:
        """Fabric LUTs per MAC (``None`` for units that do no MACs)."""
        return self.luts / self.macs_per_cycle if self.macs_per_cycle else None

    def to_dict(self) -> dict:
        """A JSON-friendly form."""
        return {"unit": self.unit, "parameters": self.parameters, "device": self.device,
                "luts": self.luts, "ffs": self.ffs, "dsps": self.dsps,
                "carries": self.carries, "fmax_mhz": self.fmax_mhz,
                "macs_per_cycle": self.macs_per_cycle,
                "luts_per_mac": (round(self.luts_per_mac, 2)
                                 if self.luts_per_mac is not None else None)}


def unit_catalogue():
    """The units benchmarked: (name, parameter text, factory, MACs per cycle, use DSPs)."""
    from corolla.hw.arith import BinaryDot, Mac, Requant, TernaryMac

    return [
        ("int8 MAC", "DSP", lambda: Mac(width=8, acc_width=32), 1, True),
        ("int8 MAC", "LUT only", lambda: Mac(width=8, acc_width=32), 1, False),
        ("ternary", "16 lanes, int8", lambda: TernaryMac(lanes=16, acc_width=24), 16, True),
        ("binary", "n=64", lambda: BinaryDot(n=64, levels_per_stage=2), 64, True),
        ("binary", "n=256", lambda: BinaryDot(n=256, levels_per_stage=2), 256, True),
        ("requant", "int32 -> int8", lambda: Requant(acc_width=32, out_width=8), 0, True),
    ]


def bench_units(device: str, *, pnr: bool = True, target_mhz: float = 100.0,
                progress=None) -> list[UnitFigures]:
    """Synthesize (and place) every unit of :func:`unit_catalogue` for ``device``."""
    rows = []
    for name, text, factory, macs, dsp in unit_catalogue():
        if progress:
            progress(f"{name} ({text}) on {device}")
        unit = factory()
        synth = synthesize(to_verilog(unit, name="unit"), top="unit", device=device, dsp=dsp)
        fmax = None
        if pnr:
            harness = PinHarness(factory())
            text_v = verilog.convert(harness, name="harness",
                                     ports=[harness.din, harness.dout], emit_src=False)
            _, routed = place_and_route(text_v, top="harness", device=device,
                                        target_mhz=target_mhz, dsp=dsp)
            fmax = round(routed.fmax_mhz, 1)
        rows.append(UnitFigures(unit=name, parameters=text, device=device, luts=synth.luts,
                                ffs=synth.ffs, dsps=synth.dsps, carries=synth.carries,
                                fmax_mhz=fmax, macs_per_cycle=macs))
    return rows
