# amaranth: UnusedElaboratable=no
"""The int8 MAC PE: cocotb bench against the golden model, mutation check, DSP mapping."""

import pytest

from corolla.hw.arith.mac import Mac
from corolla.sim import runner
from corolla.toolchain import synthesize

BENCH = "corolla.sim.benches.mac"


@pytest.mark.parametrize("width,acc_width", [(8, 32), (8, 16), (4, 8)])
def test_bench(simulator, width, acc_width):
    result = runner.run(Mac(width=width, acc_width=acc_width), test_module=BENCH,
                        simulator=simulator, seed=width * 1000 + acc_width,
                        env={"COROLLA_CYCLES": "6000"})
    ran = {t.name for t in result.tests if not t.skipped}
    assert {"edge_cases", "random_streams"} <= ran
    if width <= 6:
        assert "exhaustive_products" in ran
    assert result.stats["random_products"] > 2000


@pytest.mark.parametrize("mutant", ["mac_ignores_clear", "mac_off_by_one"])
def test_bench_fails_on_a_wrong_model(mutant):
    with pytest.raises(runner.SimulationFailure, match="first mismatch at operand cycle") as info:
        runner.run(Mac(width=8, acc_width=16), test_module=BENCH, seed=1,
                   env={"COROLLA_GOLDEN": f"mutants:{mutant}", "COROLLA_CYCLES": "600"})
    # The report names the inputs that led to the mismatch.
    assert "inputs [" in str(info.value)


@pytest.mark.parametrize("kwargs,message", [
    ({"width": 1}, "Operand width must be an integer from 2 to 18, not 1"),
    ({"width": 8, "acc_width": 15}, "Accumulator width must be an integer from 16"),
    ({"width": 8, "acc_width": 49}, "to 48, not 49"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Mac(**kwargs)


@pytest.mark.parametrize("device,dsp_cell", [("ice40up5k", "SB_MAC16"), ("ecp5-85f", "MULT18X18D")])
def test_maps_onto_one_dsp(device, dsp_cell):
    report = synthesize(runner.to_verilog(Mac(), name="mac"), top="mac", device=device)
    assert report.cells.get(dsp_cell) == 1, report.cells
    # The multiplier is in the DSP: the fabric holds only the accumulator adder.
    assert report.luts <= 40, report.cells
