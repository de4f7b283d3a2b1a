"""Unit benchmarks: the pin harness places and reports real figures."""

from amaranth.back import verilog

from corolla.bench import PinHarness, unit_catalogue
from corolla.hw.arith import Mac
from corolla.toolchain import place_and_route


def test_harnessed_mac_places_on_ice40():
    harness = PinHarness(Mac())
    text = verilog.convert(harness, name="harness", ports=[harness.din, harness.dout],
                           emit_src=False)
    synth, routed = place_and_route(text, top="harness", device="ice40up5k", target_mhz=30)
    assert synth.dsps == 1, synth.cells
    # Every input bit comes through the shift register: 17 operand bits + valid, at least.
    assert synth.ffs >= 18 + 32
    assert 10 < routed.fmax_mhz < 500
    assert routed.utilization["ICESTORM_DSP"]["used"] == 1


def test_catalogue_covers_every_pe_kind():
    names = {name for name, *_ in unit_catalogue()}
    assert {"int8 MAC", "ternary", "binary", "requant"} <= names
