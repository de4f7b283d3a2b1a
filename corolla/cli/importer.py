"""``corolla import``: a QONNX / ONNX model → a Corolla network file, checked against the
graph's own execution."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from rich.table import Table

from . import checks
from .common import EXIT_BAD_INPUT, EXIT_OK, CliError, console_out, escape, progress


def _data(path):
    """``x`` (float inputs) and ``y`` (labels, optional) of a data file, checked."""
    from ..firmware.model import ModelError, open_npz

    try:
        _, data = open_npz(path, "data file")
    except (ModelError, OSError) as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None
    if "x" not in data:
        raise CliError(f"{path}: key 'x' is missing; expected the inputs (batch, features)",
                       EXIT_BAD_INPUT)
    x = np.asarray(data["x"], dtype=np.float64)
    if x.ndim != 2 or len(x) == 0 or not np.all(np.isfinite(x)):
        raise CliError(f"{path}: key 'x' has shape {list(x.shape)}; expected finite inputs "
                       f"(batch, features)", EXIT_BAD_INPUT)
    y = data.get("y")
    if y is not None and (np.shape(y) != (len(x),)):
        raise CliError(f"{path}: key 'y' has shape {list(np.shape(y))}; expected ({len(x)},)",
                       EXIT_BAD_INPUT)
    return x, None if y is None else np.asarray(y, dtype=np.int64)


def run(args) -> int:
    from ..config import load_config
    from ..firmware.compile import CompileError, compile_network, golden_outputs
    from ..firmware.importer import ModelImportError, execute, import_model, load_graph
    from ..firmware.quant.layers import save_network
    from ..generate import top_params

    t0 = time.perf_counter()
    if args.data:
        x, y = _data(args.data)
        x_calib = x
    else:
        from ..firmware.digits import load_digits_data

        digits = load_digits_data()
        x, y, x_calib = digits.x_test, digits.y_test, digits.x_train
    config = load_config(args.config or "default")
    params = top_params(config, link="stream")
    try:
        graph = load_graph(args.model)      # the file and the graph, before any work
    except ModelImportError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None
    with progress("Importing") as status:
        try:
            imported = import_model(graph, x_calib)
        except ModelImportError as exc:
            raise CliError(str(exc), EXIT_BAD_INPUT) from None
        net = imported.network
        try:
            prog = compile_network(net, params.info())
        except CompileError as exc:
            raise CliError(f"{args.model} does not fit configuration {config.name!r}: {exc}",
                           EXIT_BAD_INPUT) from None
        status("Running the integer model and the graph on the data")
        codes = net.quantize_inputs(x)
        got = golden_outputs(net, prog, codes)
        ref = execute(imported.graph, x)[imported.graph.output]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = save_network(net, out / "model.npz")
    s_out = imported.output_scale
    layers = []
    for i, (q, block) in enumerate(zip(net.layers, imported.layers, strict=True)):
        layers.append({"layer": prog.layer_names[i], "node": block.name, "kind": net.kinds[i],
                       "weight_bits": int(block.bits), "relu": bool(q.relu),
                       "shift": int(q.shift),
                       "requantize": "shift" if q.mult is None else "multiply and shift",
                       "mult_range": None if q.mult is None else
                       [int(q.mult.min()), int(q.mult.max())]})
    agree = float(np.mean(np.argmax(got, axis=1) == np.argmax(ref, axis=1)))
    # The last layer's int8 outputs give the top values their resolution and let very
    # negative ones saturate: the deviation is measured where they do not.
    inside = (got > -128) & (got < 127)
    err = np.abs(got * s_out - ref)[inside]
    max_err = float(err.max()) if err.size else 0.0
    doc = {
        "model": str(args.model), "out": str(path), "config": config.name,
        "images": len(x), "input_scale": imported.input_scale, "output_scale": s_out,
        "layers": layers, "prediction_agreement": agree,
        "max_output_error": max_err, "max_output_error_lsb": max_err / s_out,
        "saturated_outputs": float(1 - np.mean(inside)),
        "accuracy": None if y is None else float(np.mean(np.argmax(got, axis=1) == y)),
        "reference_accuracy": None if y is None else float(np.mean(np.argmax(ref, axis=1)
                                                                    == y)),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    (out / "import.json").write_text(json.dumps(doc, indent=1))
    if args.json:
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    console = console_out()
    table = Table("layer", "ONNX node", "kind", "weight bits", "requantize", "shift",
                  title=f"{escape(str(args.model))} → {escape(str(path))}")
    for la in layers:
        req = la["requantize"] + (f" (M {la['mult_range'][0]}..{la['mult_range'][1]})"
                                  if la["mult_range"] else "")
        table.add_row(la["layer"], escape(la["node"]), la["kind"], str(la["weight_bits"]),
                      req, str(la["shift"]))
    console.print(table)
    acc = ""
    if y is not None:
        acc = (f"; accuracy {doc['accuracy']:.1%} integer, {doc['reference_accuracy']:.1%} "
               f"the graph")
    console.print(f"{len(x)} inputs: predictions agree with the graph's own execution on "
                  f"{agree:.1%}; largest output difference {doc['max_output_error']:.4g} "
                  f"({doc['max_output_error_lsb']:.2f} output steps; "
                  f"{doc['saturated_outputs']:.1%} of the outputs saturated){acc}")
    console.print(f"run it: corolla run --sim --model {escape(str(path))}")
    return EXIT_OK


def register(sub) -> None:
    """Add ``corolla import`` to the verbs."""
    p = sub.add_parser("import", help="import a QONNX / ONNX model as a Corolla network",
                       description="Read a QONNX (Brevitas, FINN) or ONNX QDQ model, map each "
                                   "layer to a layer kind of the accelerator with its exact "
                                   "integer requantization, write DIR/model.npz and check "
                                   "the integer model against the graph's own execution on "
                                   "the data (prediction agreement, largest output "
                                   "difference, accuracy when labels are given).")
    p.add_argument("model", metavar="MODEL.onnx", type=checks.onnx_file,
                   help="the model (external weight data beside it is read too)")
    p.add_argument("--out", required=True, type=checks.out_dir, metavar="DIR",
                   help="output folder (model.npz, import.json)")
    p.add_argument("--data", type=checks.data_file, metavar="DATA.npz",
                   help="inputs 'x' (float, batch first) and labels 'y' to check on, and "
                        "to calibrate an output scale; default: the digits data set")
    p.add_argument("--config", metavar="NAME|FILE",
                   help="the accelerator configuration it must fit (default: 'default')")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=run)
