"""Each engine of the accelerator top on its own: cocotb bench against its layer kind's golden
model, and a mutation check."""

import pytest

from corolla.layers import LAYER_KINDS
from corolla.params import ArrayParams, EieParams, TopParams
from corolla.sim import runner

BENCH = "corolla.sim.benches.engines"


def _engine(kind, **top):
    params = TopParams(rows=4, cols=2, act_depth=64, weight_depth=512, bias_depth=128,
                       eie=EieParams(pes=2, entry_depth=256, ptr_depth=128, bias_depth=128,
                                     max_rows=64, codebooks=4),
                       **{name: ArrayParams(rows=4, weight_depth=256, bias_depth=64)
                          for name in TopParams.ARRAYS}, **top)
    return LAYER_KINDS[kind].engine_class()(params)


@pytest.mark.parametrize("kind", list(LAYER_KINDS))
def test_engine_bench(kind):
    runner.run(_engine(kind), test_module=BENCH, seed=3)


@pytest.mark.parametrize(("kind", "mutant"), [
    ("dense", "layer_golden_without_bias"), ("winograd", "winograd_golden_transposed_bt")])
def test_engine_bench_fails_on_a_wrong_model(kind, mutant):
    with pytest.raises(runner.SimulationFailure, match="first mismatch"):
        runner.run(_engine(kind), test_module=BENCH, seed=3, testcase="network",
                   env={"COROLLA_GOLDEN": f"mutants:{mutant}"})
