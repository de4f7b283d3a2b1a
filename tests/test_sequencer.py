"""The sequencer on its own: golden model, cocotb bench against it, mutation check."""

import pytest

from corolla import protocol as proto
from corolla.hw.sequencer import Sequencer
from corolla.sim import runner
from corolla.sim.models.sequencer import sequencer_reference

BENCH = "corolla.sim.benches.sequencer"


def test_model_stops_at_the_first_bad_step():
    ok = {"kind": 1, "rows": 4, "cols": 4, "batch": 1}
    program = [ok, ok | {"kind": 2}, ok | {"kind": 9}, ok]
    res = sequencer_reference(program, first=0, count=4, codes=[1, 2], act_depth=8, lanes=2,
                              engine_errors=[0, 0, 0])
    assert (res.engines, res.steps, res.pc) == ([0, 1], 2, 2)
    assert res.errors == 1 << proto.ErrorFlag.DESCRIPTOR
    res = sequencer_reference(program, first=0, count=2, codes=[1, 2], act_depth=8, lanes=2,
                              engine_errors=[0, 1 << proto.ErrorFlag.EIE_ROW])
    assert (res.engines, res.steps, res.errors) == ([0, 1], 1, 1 << proto.ErrorFlag.EIE_ROW)


@pytest.mark.parametrize("codes", [[1, 2], [1], [2, 5, 1]])
def test_bench(codes):
    runner.run(Sequencer(codes=codes, program_depth=8, act_depth=20, lanes=4),
               test_module=BENCH, seed=len(codes))


def _model_ignoring_batch(program, **kwargs):
    return sequencer_reference([d | {"batch": 1} for d in program], **kwargs)


def test_bench_fails_on_a_wrong_model(monkeypatch):
    with pytest.raises(runner.SimulationFailure):
        runner.run(Sequencer(codes=[1, 2], program_depth=8, act_depth=20, lanes=4),
                   test_module=BENCH, seed=1,
                   env={"COROLLA_GOLDEN": "test_sequencer:_model_ignoring_batch"})
