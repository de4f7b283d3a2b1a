"""The host link's building blocks on their own: UART transmitter and receiver, single-port RAM
(golden models, cocotb benches, mutation checks)."""

import pytest

from corolla.hw.io.ram import SinglePortRam
from corolla.hw.io.uart import UartRx, UartTx
from corolla.sim import runner
from corolla.sim.models.ram import ram_reference
from corolla.sim.models.uart import uart_bits, uart_decode, uart_line

UART = "corolla.sim.benches.uart"
RAM = "corolla.sim.benches.ram"


def test_uart_model_frames_lsb_first():
    assert uart_bits(0x01) == [0, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert uart_bits(0x80, stop=0)[-2:] == [1, 0]
    line = uart_line([(1, 0xA5, 1), (0, 0x3C, 0)], 4)
    assert len(line) == (1 + 10 + 10 + 2) * 4
    assert uart_decode(line, 4) == [(0xA5, 1), (0x3C, 0)]
    with pytest.raises(ValueError, match="byte must be"):
        uart_bits(256)


def test_ram_model_reads_a_cycle_later_and_masks_bytes():
    ops = [(2, 0x112233, 0b111, 0), (2, 0xAABBCC, 0b010, 0), (2, 0, 0, 1), (0, 0, 0, 0),
           (1, 0, 0, 0)]
    assert ram_reference(ops, width=24, depth=4) == [None, None, None, 0x11BB33, 0x11BB33]


@pytest.mark.parametrize("unit", [UartTx, UartRx])
@pytest.mark.parametrize("divisor", [4, 7])
def test_uart_bench(simulator, unit, divisor):
    runner.run(unit(divisor), test_module=UART, simulator=simulator, seed=divisor)


@pytest.mark.parametrize("unit", [UartTx, UartRx])
def test_uart_bench_fails_on_a_wrong_model(unit):
    with pytest.raises(runner.SimulationFailure):
        runner.run(unit(5), test_module=UART, seed=1,
                   env={"COROLLA_GOLDEN": "mutants:uart_line_msb_first"})


@pytest.mark.parametrize("width,depth", [(24, 37), (8, 16)])
def test_ram_bench(simulator, width, depth):
    runner.run(SinglePortRam(width, depth), test_module=RAM, simulator=simulator, seed=depth)


def test_ram_bench_fails_on_a_wrong_model():
    with pytest.raises(runner.SimulationFailure, match="first mismatch"):
        runner.run(SinglePortRam(24, 37), test_module=RAM, seed=1,
                   env={"COROLLA_GOLDEN": "mutants:ram_ignores_byte_enables"})
