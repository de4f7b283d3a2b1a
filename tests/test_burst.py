"""The burst link of fast simulations: golden model, cocotb benches, mutation checks, and the
top over it."""

import pytest

from corolla.hw.io.burst import BurstToStream, StreamToBurst
from corolla.sim import runner
from corolla.sim.models.burst import burst_bytes, pack_bytes

BENCH = "corolla.sim.benches.burst"


def test_model():
    assert burst_bytes([(0x0201, 2), (0xFF, 0), (0x0403, 1)]) == b"\x01\x02\x03"
    arrivals = [(0, 1), (1, 2), (2, 3), (20, 4), (21, 5)]
    assert pack_bytes(arrivals, width=2, idle=8) == [b"\x01\x02", b"\x03", b"\x04\x05"]
    assert pack_bytes(arrivals, width=8, idle=8) == [b"\x01\x02\x03", b"\x04\x05"]


@pytest.mark.parametrize("unit", [BurstToStream(width=4, depth=4),
                                  BurstToStream(width=16, depth=8)], ids=["w4", "w16"])
def test_words_to_bytes(unit):
    runner.run(unit, test_module=BENCH, seed=3)


@pytest.mark.parametrize("unit", [StreamToBurst(width=4, depth=2, idle=3),
                                  StreamToBurst(width=16, depth=8, idle=8)], ids=["w4", "w16"])
def test_bytes_to_words(unit):
    runner.run(unit, test_module=BENCH, seed=4)


@pytest.mark.parametrize(("unit", "mutant"), [
    (BurstToStream(width=4, depth=4), "burst_bytes_reversed"),
    (StreamToBurst(width=4, depth=2, idle=3), "pack_bytes_never_flushes")])
def test_benches_fail_on_a_wrong_model(unit, mutant):
    with pytest.raises(runner.SimulationFailure):
        runner.run(unit, test_module=BENCH, seed=3, env={"COROLLA_GOLDEN": f"mutants:{mutant}"})


def test_bad_parameters():
    with pytest.raises(ValueError, match="Burst width must be"):
        BurstToStream(width=0)
    with pytest.raises(ValueError, match="Idle cycles"):
        StreamToBurst(idle=0)
