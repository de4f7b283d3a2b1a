"""The QONNX / ONNX importer: models built with onnx.helper the way Brevitas and ONNX's QDQ
exporters write them, the real Brevitas export in the shared models, and broken models."""

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from corolla.firmware.compile import compile_network, golden_outputs
from corolla.firmware.importer import ModelImportError, execute, import_model, load_graph
from corolla.params import ArrayParams, TopParams

QONNX = "qonnx.custom_op.general"
#: A real Brevitas export (``brevitas.export.export_qonnx``) of a 64-48-10 MLP trained on the
#: digits with 4-bit per-channel float-scaled weights and 8-bit float-scaled activations, its
#: external weight data, and the 450 test images with their labels and the model's logits.
SHARED = Path(__file__).resolve().parent / "data"


def _const(name, value):
    return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)


def qonnx_mlp(gen, sizes=(16, 12, 5), *, w_bits=4, scales="float", per_channel=True,
              relu=True):
    """An MLP as Brevitas exports it: a Quant on the input, then per layer a Quant of the
    float weights, Gemm (transB = 1) with a float bias, Relu and a Quant of the activations;
    the last layer's output is float."""
    nodes, inits = [], []

    def scale(n, base):
        if scales == "pow2":
            v = 2.0 ** np.round(np.log2(base)) * np.ones(n)
        else:
            v = base * gen.uniform(0.7, 1.3, n)
        return v if per_channel else v[:1]

    inits += [_const("s_in", 1 / 64), _const("zero", 0.0), _const("b8", 8.0),
              _const("bw", float(w_bits))]
    nodes.append(helper.make_node("Quant", ["x", "s_in", "zero", "b8"], ["xq"], domain=QONNX,
                                  signed=1, narrow=0, rounding_mode="ROUND"))
    cur = "xq"
    last = len(sizes) - 2
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        w = gen.normal(0, 0.5, (n_out, n_in))
        sw = scale(n_out, 0.1).reshape(-1, 1)
        inits += [_const(f"w{i}", w), _const(f"sw{i}", sw), _const(f"b{i}", gen.normal(0, 0.2,
                                                                                     n_out))]
        nodes.append(helper.make_node("Quant", [f"w{i}", f"sw{i}", "zero", "bw"], [f"wq{i}"],
                                      domain=QONNX, signed=1, narrow=1,
                                      rounding_mode="ROUND"))
        nodes.append(helper.make_node("Gemm", [cur, f"wq{i}", f"b{i}"], [f"y{i}"], transB=1))
        cur = f"y{i}"
        if i < last:
            if relu:
                nodes.append(helper.make_node("Relu", [cur], [f"r{i}"]))
                cur = f"r{i}"
            inits.append(_const(f"sa{i}", scale(1, 0.05)[0]))
            nodes.append(helper.make_node("Quant", [cur, f"sa{i}", "zero", "b8"], [f"a{i}"],
                                          domain=QONNX, signed=1, narrow=0,
                                          rounding_mode="ROUND"))
            cur = f"a{i}"
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, sizes[0]])],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT, [1, sizes[-1]])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid(QONNX, 2)])


def qdq_mlp(gen, sizes=(16, 10, 4)):
    """An MLP in ONNX's QDQ form: int8 weights through DequantizeLinear (a scale per output
    along axis 0), activations through QuantizeLinear/DequantizeLinear pairs, MatMul + Add."""
    nodes, inits = [], [_const("s_in", 1 / 64),
                        numpy_helper.from_array(np.array(0, dtype=np.int8), "zp")]
    nodes += [helper.make_node("QuantizeLinear", ["x", "s_in", "zp"], ["xq"]),
              helper.make_node("DequantizeLinear", ["xq", "s_in", "zp"], ["xd"])]
    cur = "xd"
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        w = gen.integers(-127, 128, (n_in, n_out)).astype(np.int8)
        inits += [numpy_helper.from_array(w, f"w{i}"),
                  _const(f"sw{i}", 0.01 * gen.uniform(0.5, 1.5, n_out)),
                  numpy_helper.from_array(np.zeros(n_out, dtype=np.int8), f"zw{i}"),
                  _const(f"b{i}", gen.normal(0, 0.1, n_out))]
        nodes += [helper.make_node("DequantizeLinear", [f"w{i}", f"sw{i}", f"zw{i}"],
                                   [f"wd{i}"], axis=1),
                  helper.make_node("MatMul", [cur, f"wd{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], [f"y{i}"])]
        cur = f"y{i}"
        if i < len(sizes) - 2:
            inits.append(_const(f"sa{i}", 0.04))
            nodes += [helper.make_node("Relu", [cur], [f"r{i}"]),
                      helper.make_node("QuantizeLinear", [f"r{i}", f"sa{i}", "zp"], [f"q{i}"]),
                      helper.make_node("DequantizeLinear", [f"q{i}", f"sa{i}", "zp"],
                                       [f"a{i}"])]
            cur = f"a{i}"
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, sizes[0]])],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT, [1, sizes[-1]])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _save(model, path):
    onnx.save(model, str(path))
    return path


def _agreement(imported, x, info):
    net = imported.network
    prog = compile_network(net, info)
    got = golden_outputs(net, prog, imported.quantize_inputs(x))
    ref = execute(imported.graph, x)[imported.graph.output]
    return float(np.mean(np.argmax(got, axis=1) == np.argmax(ref, axis=1)))


@pytest.mark.parametrize("scales", ["pow2", "float"])
def test_qonnx_mlp_imports_and_agrees(tmp_path, scales):
    gen = np.random.default_rng(1)
    path = _save(qonnx_mlp(gen, scales=scales), tmp_path / "m.onnx")
    x = gen.uniform(0, 1, (400, 16))
    imported = import_model(path, x)
    layers = imported.network.layers
    if scales == "pow2":
        assert all(q.mult is None for q in layers)          # shift only
    else:
        assert all(q.mult is not None and q.mult.max() < 1 << 16 for q in layers)
    # Untrained random weights leave near ties between outputs; the real export below agrees
    # on 99.8 %.
    assert _agreement(imported, x, TopParams().info()) >= 0.97


def test_qdq_mlp_imports_and_agrees(tmp_path):
    gen = np.random.default_rng(2)
    path = _save(qdq_mlp(gen), tmp_path / "m.onnx")
    x = gen.uniform(-1, 1, (400, 16))
    imported = import_model(path, x)
    assert _agreement(imported, x, TopParams().info()) >= 0.97


def test_the_brevitas_export_imports_and_agrees():
    data = np.load(SHARED / "digits_test.npz")
    imported = import_model(SHARED / "brevitas_mlp_w4a8.onnx", data["x"])
    ref = execute(imported.graph, data["x"])[imported.graph.output]
    assert np.allclose(ref, data["logits"], atol=1e-4)     # the executor is the graph's own
    assert _agreement(imported, data["x"], TopParams().info()) >= 0.99


def _broken(tmp_path, gen, how):
    m = qonnx_mlp(gen)
    g = m.graph
    if how == "missing initializer":
        del g.initializer[[i.name for i in g.initializer].index("w0")]
    elif how == "cycle":
        g.node[2].input[0] = g.node[-1].output[0]
    elif how == "unknown op":
        g.node[3].op_type = "Softsign"
    elif how == "conv on a vector":
        g.node[2].op_type = "Conv"
    elif how == "nan scale":
        i = [t.name for t in g.initializer].index("sw0")
        g.initializer[i].CopyFrom(_const("sw0", np.full((12, 1), np.nan)))
    elif how in ("bits 0", "bits 33"):
        i = [t.name for t in g.initializer].index("bw")
        g.initializer[i].CopyFrom(_const("bw", 0.0 if how == "bits 0" else 33.0))
    elif how == "wrong shapes":
        i = [t.name for t in g.initializer].index("w1")
        g.initializer[i].CopyFrom(_const("w1", np.ones((5, 7))))
    elif how == "wrong bias":
        i = [t.name for t in g.initializer].index("b0")
        g.initializer[i].CopyFrom(_const("b0", np.ones(5)))
    elif how == "old opset":
        m.opset_import[0].version = 11
    path = tmp_path / "bad.onnx"
    onnx.save(m, str(path))
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    return path


@pytest.mark.parametrize("how,fragment", [
    ("missing initializer", "input 'w0': no initializer, graph input or node produces it"),
    ("cycle", "produced in a cycle"),
    ("unknown op", "op type Softsign is not imported"),
    ("conv on a vector", "(Conv): its input is a vector; expected an NCHW feature map"),
    ("nan scale", "scale [nan, nan, nan, nan]; expected finite values above 0"),
    ("bits 0", "bit width [0.0]; expected an integer from 1 to 32"),
    ("bits 33", "bit width [33.0]; expected an integer from 1 to 32"),
    ("old opset", "opset 11; expected 13 or later"),
    ("wrong shapes", "the graph does not run on inputs of shape [4, 16]"),
    ("wrong bias", "bias of shape [5] for 12 outputs"),
    ("truncated", "not an ONNX model"),
])
def test_broken_models_are_refused(tmp_path, how, fragment):
    path = _broken(tmp_path, np.random.default_rng(3), how)
    with pytest.raises(ModelImportError, match=fragment.replace("[", r"\[")
                       .replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")):
        import_model(path, np.zeros((4, 16)))


def test_load_graph_reads_external_data(tmp_path):
    m = qonnx_mlp(np.random.default_rng(4))
    onnx.save(m, str(tmp_path / "m.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="m.onnx.data", size_threshold=0)
    assert (tmp_path / "m.onnx.data").is_file()
    g = load_graph(tmp_path / "m.onnx")
    assert g.constants["w0"].shape == (12, 16)
    (tmp_path / "m.onnx.data").unlink()
    with pytest.raises(ModelImportError, match="external weight data"):
        load_graph(tmp_path / "m.onnx")


def corolla(*args):
    return subprocess.run([sys.executable, "-m", "corolla.cli", *args], capture_output=True,
                          text=True)


def test_import_cli_json(tmp_path):
    gen = np.random.default_rng(5)
    model = _save(qonnx_mlp(gen, sizes=(64, 20, 10)), tmp_path / "m.onnx")
    x = gen.uniform(0, 1, (200, 64))
    np.savez(tmp_path / "data.npz", x=x, y=gen.integers(0, 10, 200))
    proc = corolla("import", str(model), "--out", str(tmp_path / "out"), "--data",
                   str(tmp_path / "data.npz"), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["prediction_agreement"] >= 0.95 and doc["images"] == 200
    assert doc["max_output_error_lsb"] < 8 and 0 <= doc["accuracy"] <= 1
    assert [la["requantize"] for la in doc["layers"]] == ["multiply and shift"] * 2
    assert (tmp_path / "out" / "model.npz").is_file()


@pytest.mark.parametrize("args,fragment", [
    (["no.onnx"], "'no.onnx' does not exist"),
    (["model.txt"], "expected an .onnx model file"),
    (["BAD", "--data", "missing.npz"], "'missing.npz' does not exist"),
])
def test_import_cli_bad_input_exits_2(tmp_path, args, fragment):
    bad = _broken(tmp_path, np.random.default_rng(6), "unknown op")
    args = [str(bad) if a == "BAD" else a for a in args]
    proc = corolla("import", *args, "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr


def test_import_cli_refuses_an_unknown_op(tmp_path):
    bad = _broken(tmp_path, np.random.default_rng(6), "unknown op")
    proc = corolla("import", str(bad), "--out", str(tmp_path / "out"), "--data",
                   str(_data_file(tmp_path)))
    assert proc.returncode == 2
    assert "(Softsign): op type Softsign is not imported" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_float_scaled_model_on_a_top_without_multipliers_is_refused(tmp_path):
    gen = np.random.default_rng(7)
    model = _save(qonnx_mlp(gen, sizes=(16, 8, 4)), tmp_path / "m.onnx")
    proc = corolla("import", str(model), "--out", str(tmp_path / "out"), "--data",
                   str(_data_file(tmp_path)), "--config", "icebreaker")
    assert proc.returncode == 2
    assert "the accelerator's requantizers only shift" in proc.stderr


def _data_file(tmp_path, features=16):
    path = tmp_path / "data.npz"
    np.savez(path, x=np.random.default_rng(8).uniform(0, 1, (50, features)))
    return path


def test_run_the_brevitas_export_on_the_simulated_accelerator():
    proc = corolla("run", "--sim", "--model", str(SHARED / "brevitas_mlp_w4a8.onnx"),
                   "--images", "12", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["bit_exact"] and r["images"] == 12 and r["test_accuracy"] >= 0.96


# Trained models: the Done-when figures (≥ 99 % agreement with the graph on the test split) ----

@pytest.fixture(scope="module")
def trained():
    """A float 64-32-32-10 MLP trained on the digits (a few seconds)."""
    from corolla.firmware.digits import load_digits_data
    from corolla.firmware.model import TrainConfig, init_mlp, train

    data = load_digits_data()
    model = train(init_mlp((64, 32, 32, 10), seed=3), data.x_train, data.y_train,
                  TrainConfig(epochs=30, seed=3))
    return model, data


def _trained_qonnx(model, style):
    """``pow2``: 4-bit weights and 8-bit activations, power-of-two per-tensor scales;
    ``float``: float per-tensor scales; ``bipolar``: int8 → sign → binary (BipolarQuant
    weights) → int8, with a BatchNormalization before the sign, as Brevitas writes it."""
    layers = model.layers
    nodes, inits = [], [_const("zero", 0.0), _const("b8", 8.0), _const("b4", 4.0)]

    def scale(v):
        return 2.0 ** np.ceil(np.log2(v)) if style == "pow2" else v

    inits.append(_const("s_in", scale(1 / 127)))
    nodes.append(helper.make_node("Quant", ["x", "s_in", "zero", "b8"], ["xq"], domain=QONNX,
                                  signed=1, narrow=0, rounding_mode="ROUND"))
    cur = "xq"
    for i, layer in enumerate(layers):
        w = layer.weight
        binary = style == "bipolar" and i == 1
        inits += [_const(f"w{i}", w), _const(f"b{i}", layer.bias)]
        if binary:
            inits.append(_const(f"sw{i}", np.mean(np.abs(w))))
            nodes.append(helper.make_node("BipolarQuant", [f"w{i}", f"sw{i}"], [f"wq{i}"],
                                          domain=QONNX))
        else:
            inits.append(_const(f"sw{i}", scale(np.abs(w).max() / 7)))
            nodes.append(helper.make_node("Quant", [f"w{i}", f"sw{i}", "zero", "b4"],
                                          [f"wq{i}"], domain=QONNX, signed=1, narrow=1,
                                          rounding_mode="ROUND"))
        nodes.append(helper.make_node("Gemm", [cur, f"wq{i}", f"b{i}"], [f"y{i}"], transB=1))
        cur = f"y{i}"
        if i == len(layers) - 1:
            break
        if style == "bipolar" and i == 0:
            n = w.shape[0]
            inits += [_const("g", np.linspace(0.5, 1.5, n)), _const("be", np.zeros(n)),
                      _const("mu", np.full(n, 0.1)), _const("var", np.ones(n)),
                      _const("s_sign", 1.0)]
            nodes += [helper.make_node("BatchNormalization", [cur, "g", "be", "mu", "var"],
                                       ["bn"]),
                      helper.make_node("BipolarQuant", ["bn", "s_sign"], ["sg"], domain=QONNX)]
            cur = "sg"
            continue
        inits.append(_const(f"sa{i}", scale(4.0 / 127)))
        nodes += [helper.make_node("Relu", [cur], [f"r{i}"]),
                  helper.make_node("Quant", [f"r{i}", f"sa{i}", "zero", "b8"], [f"a{i}"],
                                   domain=QONNX, signed=1, narrow=0, rounding_mode="ROUND")]
        cur = f"a{i}"
    graph = helper.make_graph(
        nodes, style, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid(QONNX, 2)])


@pytest.mark.parametrize("style,kinds", [("pow2", ("dense",) * 3), ("float", ("dense",) * 3),
                                         ("bipolar", ("dense", "binary", "dense"))])
def test_trained_qonnx_models_agree_with_their_graphs(tmp_path, trained, style, kinds):
    model, data = trained
    path = _save(_trained_qonnx(model, style), tmp_path / f"{style}.onnx")
    imported = import_model(path, data.x_train)
    assert imported.network.kinds == kinds
    if style == "pow2":
        assert all(q.mult is None for q in imported.network.layers)
    assert _agreement(imported, data.x_test, TopParams(binary=ArrayParams()).info()) >= 0.99


@pytest.mark.parametrize("style", ["pow2", "float", "bipolar"])
def test_trained_qonnx_models_run_bit_exact_in_simulation(tmp_path, trained, style):
    model, _ = trained
    path = _save(_trained_qonnx(model, style), tmp_path / f"{style}.onnx")
    proc = corolla("run", "--sim", "--model", str(path), "--images", "8", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["bit_exact"] and r["images"] == 8
    # The float model was not retrained for the binary layer (agreement with its own graph is
    # checked above), so only the others are accurate.
    assert r["test_accuracy"] > (0.2 if style == "bipolar" else 0.9)


def test_compress_an_onnx_float_model_on_its_data(tmp_path):
    """Deep Compression of an imported float model (MatMul + Add + Relu) on a data file."""
    gen = np.random.default_rng(9)
    nodes, inits, cur = [], [], "x"
    for i, (n_in, n_out) in enumerate(itertools.pairwise((12, 16, 3))):
        inits += [_const(f"w{i}", gen.normal(0, 0.5, (n_in, n_out))),
                  _const(f"b{i}", np.zeros(n_out))]
        nodes += [helper.make_node("MatMul", [cur, f"w{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], [f"y{i}"])]
        cur = f"y{i}"
        if i == 0:
            nodes.append(helper.make_node("Relu", [cur], ["r0"]))
            cur = "r0"
    graph = helper.make_graph(
        nodes, "f", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12])],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT, [1, 3])], inits)
    path = _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
                 tmp_path / "f.onnx")
    x = gen.uniform(-1, 1, (240, 12))
    np.savez(tmp_path / "d.npz", x=x, y=np.argmax(x[:, :3], axis=1))
    proc = corolla("compress", "--model", str(path), "--data", str(tmp_path / "d.npz"),
                   "--out", str(tmp_path / "c"), "--sparsity", "0.5", "--json")
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert [la["shape"] for la in s["layers"]] == [[16, 12], [3, 16]]
    assert s["compression_ratio"] > 2 and 0 <= s["accuracy_compressed"] <= 1
    proc = corolla("compress", "--model", str(path), "--out", str(tmp_path / "c2"))
    assert proc.returncode == 2 and "the digits data set needs 64 and 10" in proc.stderr


def _qonnx_cnn(path):
    """The built-in digits CNN's float weights as Brevitas would export a quantized CNN:
    NCHW input, Quant of every weight tensor (8-bit, float per-channel scales), Conv with
    pads, Relu, Quant, MaxPool, Flatten, Gemm."""
    from corolla.firmware.cnn import digits_cnn_model, forward
    from corolla.firmware.digits import load_digits_data

    cnn = digits_cnn_model()
    acts = forward(cnn, load_digits_data().x_train)[0]     # activation scales from the data
    nodes = [helper.make_node("Quant", ["x", "s_in", "zero", "b8"], ["xq"], domain=QONNX,
                              signed=1, narrow=0, rounding_mode="ROUND")]
    inits = [_const("s_in", 1 / 127), _const("zero", 0.0), _const("b8", 8.0)]
    cur = "xq"
    for i, layer in enumerate(cnn.layers):
        h, w, c = layer.shape
        if layer.op == "pool":
            nodes.append(helper.make_node("MaxPool", [cur], [f"p{i}"], kernel_shape=[2, 2],
                                          strides=[2, 2]))
            cur = f"p{i}"
            continue
        if layer.op == "conv":
            k = layer.kernel
            wt = layer.weight.reshape(-1, k, k, c).transpose(0, 3, 1, 2)       # OIHW
        else:
            nodes.append(helper.make_node("Flatten", [cur], [f"f{i}"]))
            cur = f"f{i}"
            wt = layer.weight.reshape(-1, h, w, c).transpose(0, 3, 1, 2).reshape(
                layer.weight.shape[0], -1)                                        # (C, H, W)
        sw = np.abs(wt).reshape(len(wt), -1).max(axis=1) / 127
        inits += [_const(f"w{i}", wt), _const(f"sw{i}", sw.reshape(-1, *[1] * (wt.ndim - 1))),
                  _const(f"b{i}", layer.bias)]
        nodes.append(helper.make_node("Quant", [f"w{i}", f"sw{i}", "zero", "b8"], [f"wq{i}"],
                                      domain=QONNX, signed=1, narrow=1, rounding_mode="ROUND"))
        if layer.op == "conv":
            nodes.append(helper.make_node("Conv", [cur, f"wq{i}", f"b{i}"], [f"y{i}"],
                                          kernel_shape=[k, k], pads=[1, 1, 1, 1],
                                          strides=[1, 1]))
        else:
            nodes.append(helper.make_node("Gemm", [cur, f"wq{i}", f"b{i}"], [f"y{i}"],
                                          transB=1))
        cur = f"y{i}"
        if layer.relu:
            inits.append(_const(f"sa{i}", acts[i + 1].max() / 127))
            nodes += [helper.make_node("Relu", [cur], [f"r{i}"]),
                      helper.make_node("Quant", [f"r{i}", f"sa{i}", "zero", "b8"], [f"a{i}"],
                                       domain=QONNX, signed=1, narrow=0, rounding_mode="ROUND")]
            cur = f"a{i}"
    graph = helper.make_graph(
        nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT, [1, 10])], inits)
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                         helper.make_opsetid(QONNX, 2)]), path)


def test_a_qonnx_cnn_imports_onto_convolutions_and_agrees(tmp_path):
    from corolla.firmware.digits import load_digits_data

    data = load_digits_data()
    imported = import_model(_qonnx_cnn(tmp_path / "cnn.onnx"), data.x_train)
    assert imported.network.kinds == ("dense", "maxpool", "dense", "maxpool", "dense")
    assert type(imported.network.layers[0]).__name__ == "ConvLayer"
    assert _agreement(imported, data.x_test, TopParams().info()) >= 0.99
    proc = corolla("run", "--sim", "--model", str(tmp_path / "cnn.onnx"), "--images", "8",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["bit_exact"] and r["test_accuracy"] >= 0.97


def test_unsupported_convolutions_are_refused(tmp_path):
    path = _qonnx_cnn(tmp_path / "cnn.onnx")
    m = onnx.load(str(path))
    conv = next(n for n in m.graph.node if n.op_type == "Conv")
    conv.attribute.append(helper.make_attribute("dilations", [2, 2]))
    onnx.save(m, str(tmp_path / "bad.onnx"))
    with pytest.raises(ModelImportError, match=r"\(Conv\): dilations \[2, 2\]; expected "
                                               r"\[1, 1\]"):
        load_graph(tmp_path / "bad.onnx") and import_model(tmp_path / "bad.onnx",
                                                           np.zeros((2, 64)))


def test_a_model_too_big_for_the_accelerator_is_refused(tmp_path):
    model = _save(qonnx_mlp(np.random.default_rng(10), sizes=(16, 600, 4)), tmp_path / "m.onnx")
    proc = corolla("import", str(model), "--out", str(tmp_path / "out"), "--data",
                   str(_data_file(tmp_path)))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "does not fit configuration 'default'" in proc.stderr
    assert "outputs is 600; expected at most act_depth = 512" in proc.stderr


def test_generate_sizes_a_model_against_the_configuration(tmp_path):
    proc = corolla("generate", "--out", str(tmp_path / "g"), "--model",
                   str(SHARED / "brevitas_mlp_w4a8.onnx"), "--json")
    assert proc.returncode == 0, proc.stderr
    fit = json.loads(proc.stdout)["model_fit"]
    assert fit["kinds"] == ["dense", "dense"]
    memories = {r["memory"]: r for r in fit["memories"]}
    assert memories["weights"]["used_bytes"] == (12 * 64 + 3 * 48) * 4   # tiles·beats·rows
    assert memories["program steps"]["used_bytes"] == 2
    proc = corolla("generate", "--out", str(tmp_path / "g2"), "--config", "icebreaker",
                   "--model", "digits-cnn")
    assert proc.returncode == 2 and "the accelerator runs no convolutions" in proc.stderr
