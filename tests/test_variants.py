"""The digits MLP in every arithmetic: quantization-aware training, the integer networks, their
accuracy on the test split, network files and the variant checks of `corolla run`."""

import subprocess
import sys
import time

import numpy as np
import pytest

from corolla.firmware.compile import CompileError, compile_network, golden_outputs
from corolla.firmware.digits import digits_model, load_digits_data
from corolla.firmware.quant.layers import load_network, save_network
from corolla.firmware.quant.qat import QatLayer, quantize_weights
from corolla.firmware.variants import VARIANTS, digits_network
from corolla.params import ArrayParams, EieParams, TopParams

INFO = TopParams(**{name: ArrayParams() for name in TopParams.ARRAYS}).info()


def _accuracy(net):
    data = load_digits_data()
    out = golden_outputs(net, compile_network(net, INFO), data.pixels_test)
    return float(np.mean(np.argmax(out, axis=1) == data.y_test))


@pytest.fixture(scope="module")
def float_accuracy():
    data = load_digits_data()
    return digits_model().accuracy(data.x_test, data.y_test)


@pytest.mark.parametrize("variant,gap", [("ternary", 0.015), ("twn", 0.015), ("lns", 0.01),
                                         ("mixed", 0.015), ("binary", 0.015)])
def test_variant_accuracy_on_the_test_split(variant, gap, float_accuracy):
    """The golden model (bit for bit the accelerator) on all 450 test images: TTQ and TWN
    within 1.5 points of float, LNS within 1; XNOR-Net (int8 first and last layer) within 1.5."""
    assert _accuracy(digits_network(variant)) >= float_accuracy - gap


def test_variant_layers_are_of_their_kinds():
    for name, v in VARIANTS.items():
        net = digits_network(name)
        assert net.kinds == v.kinds and net.name == name
        prog = compile_network(net, INFO)
        assert prog.variant == name and [s["kind"] for s in prog.steps]
    binary = digits_network("binary")
    assert set(np.unique(binary.layers[1].bits)) <= {0, 1}
    ternary = digits_network("ternary")
    assert all(set(np.unique(q.codes)) <= {0, 1, 3} for q in ternary.layers)
    # Zhu et al.'s threshold leaves most weights non-zero; the mixed variant's middle layer is
    # pruned to 10 % for the EIE engine.
    mixed = digits_network("mixed").layers[1]
    assert np.count_nonzero(mixed.index) <= 0.1 * mixed.index.size + 1
    assert len(mixed.codebook) == 3


def test_ttq_trains_its_scales_and_keeps_the_threshold():
    w = np.random.default_rng(0).normal(size=(6, 9))
    spec = QatLayer(quant="ttq", wp=0.5, wn=0.25)
    q, (pos, neg) = quantize_weights(w, spec)
    delta = 0.05 * np.abs(w).max()
    assert np.array_equal(pos, w > delta) and np.array_equal(neg, w < -delta)
    assert set(np.unique(q)) <= {0.5, 0.0, -0.25}


def test_network_files_round_trip(tmp_path):
    for name in ("binary", "lns", "ternary"):
        net = digits_network(name)
        back = load_network(save_network(net, tmp_path / f"{name}.npz"))
        assert back.kinds == net.kinds and back.name == name
        x = load_digits_data().pixels_test[:20]
        assert np.array_equal(golden_outputs(back, compile_network(back, INFO), x),
                              golden_outputs(net, compile_network(net, INFO), x))


def test_a_layer_of_the_wrong_type_is_refused():
    net = digits_network("ternary")
    with pytest.raises(CompileError, match="layer type is TernaryLayer; expected QuantLayer"):
        compile_network(net, INFO, "dense")


def test_a_variant_the_configuration_cannot_run_is_refused_at_once():
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "corolla.cli", "run", "--sim", "--config",
                           "icebreaker", "--variant", "lns"], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "has no lns array" in proc.stderr and "Traceback" not in proc.stderr
    assert time.perf_counter() - t0 < 20


def _narrow_info(acc_width: int) -> dict:
    return {**TopParams(acc_width=acc_width, rows=8, cols=2).info()}


def test_a_model_of_wider_sums_runs_on_narrower_accumulators():
    """The digits MLP (32-bit sums) on 24-bit accumulators: every row's bound fits, so the
    golden outputs (wrapping at 32 bits) are what the narrower hardware computes."""
    net = digits_network("dense")
    assert net.acc_width == 32
    prog = compile_network(net, _narrow_info(24))
    data = load_digits_data()
    wide = golden_outputs(net, compile_network(net, INFO), data.pixels_test[:50])
    assert np.array_equal(golden_outputs(net, prog, data.pixels_test[:50]), wide)


def test_a_layer_whose_sums_could_wrap_the_accumulator_is_refused():
    net = digits_network("dense")
    # 16-bit accumulators: fc1's rows reach 128 · Σ|w| far beyond 32767.
    with pytest.raises(CompileError, match=r"layer 0 \(.*\): largest possible sum is \d+; "
                                           r"expected at most 32767"):
        compile_network(net, _narrow_info(16))


def test_narrower_accumulators_need_kinds_that_bound_their_sums():
    # Sparse layers do not bound their sums: the model's acc_width must be the accelerator's.
    net = digits_network("dense")
    info = TopParams(acc_width=24, eie=EieParams(acc_width=24)).info()
    with pytest.raises(CompileError, match=r"model: acc_width is 32; expected the "
                                           r"accelerator's 24$"):
        compile_network(net, info, "sparse")
