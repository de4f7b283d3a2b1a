"""Bring your own model: QONNX / ONNX graphs → Corolla integer networks.

The importer reads a model with the ``onnx`` package (weights in external data files beside it,
as Brevitas's exporter writes them, are loaded too), checks it before anything else, runs it in
a small numpy executor of its own (the reference: the graph's own float semantics, quantizers
included), and turns it into a :class:`~corolla.firmware.quant.layers.QuantNetwork` of the
registry's layer kinds.

What it reads
-------------
* QONNX quantizers in domain ``qonnx.custom_op.general`` or ``finn.custom_op.general``:
  ``Quant`` (also ``IntQuant``) with ``signed``, ``narrow``, ``rounding_mode``, per-tensor or
  per-channel scales; ``BipolarQuant``; ``Trunc``;
* ONNX ``QuantizeLinear`` / ``DequantizeLinear`` (per tensor or per axis);
* ``Gemm``, ``MatMul`` followed by ``Add``, ``Relu``, ``Identity``, ``Flatten`` and
  ``Reshape`` to a vector;
* initializers also listed as graph inputs, opsets 13 and up.

Everything else is refused before any work with one line naming the node, its op type and
why: ``node 'Conv_3' (Conv): op type Conv is not imported; expected one of …``.

How a layer becomes integers
----------------------------
A fully connected layer with inputs ``x = s_x · x_q`` (int8, per-tensor scale ``s_x``, zero
point 0), weights ``w = s_w[c] · w_q`` (at most 8 bits, a scale per output or one), a float
bias ``b`` and an activation quantizer ``s_y`` after it (int8) computes

    y_q = round((s_x · s_w[c] / s_y) · (Σ x_q · w_q + b[c] / (s_x · s_w[c])))

which the accelerator does exactly in integers: the bias rounded into the accumulator's units,
then ``sat((acc · M[c] + 2**(s−1)) >> s)`` with ``M[c] / 2**s`` the real multiplier
``s_x · s_w[c] / s_y`` to 16 bits (``M`` is 1 when every multiplier is a power of two: the
plain shift of Corolla's own models). The last layer, which has no quantizer after it in
exporters' graphs, gets an int8 output scale chosen on the calibration data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["ImportedModel", "ModelImportError", "execute", "import_float_mlp", "import_model",
           "load_graph"]

#: Domains of the QONNX custom ops (FINN's older name for them too).
QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general")
#: Op types the importer reads.
SUPPORTED = ("Quant", "IntQuant", "BipolarQuant", "Trunc", "QuantizeLinear",
             "DequantizeLinear", "Gemm", "MatMul", "Add", "Conv", "MaxPool", "Relu",
             "BatchNormalization", "Identity", "Flatten", "Reshape")
#: Largest model file read.
MAX_ONNX_BYTES = 256 << 20
#: Bits of the requantizer's multiplier.
MULT_BITS = 16


class ModelImportError(ValueError):
    """The model cannot be imported; the message names the node (or file) and why."""


def _node_name(node) -> str:
    return f"node {node.name or node.output[0]!r} ({node.op_type})"


@dataclass
class Graph:
    """A checked ONNX graph: nodes in execution order, constant tensors as numpy."""

    nodes: list
    constants: dict
    input: str
    input_shape: tuple
    output: str
    path: str = ""

    def consumers(self) -> dict:
        """Tensor name → the nodes that read it."""
        out: dict = {}
        for node in self.nodes:
            for name in node.input:
                out.setdefault(name, []).append(node)
        return out

    def attr(self, node, name, default=None):
        from onnx import helper

        for a in node.attribute:
            if a.name == name:
                value = helper.get_attribute_value(a)
                return value.decode() if isinstance(value, bytes) else value
        return default


def load_graph(path) -> Graph:
    """Read and check an ONNX / QONNX model file.

    Raises
    ------
    ModelImportError
        Missing or unreadable file, truncated or malformed protobuf, missing external data,
        opset below 13, an unknown op or domain, a tensor no node produces, a cycle, more
        than one graph input or output.
    """
    import onnx
    from onnx import numpy_helper

    p = Path(path)
    if not p.is_file():
        raise ModelImportError(f"{path}: no such file")
    if p.stat().st_size > MAX_ONNX_BYTES:
        raise ModelImportError(f"{path}: {p.stat().st_size:,} bytes; expected at most "
                               f"{MAX_ONNX_BYTES:,}")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:                  # DecodeError and friends from protobuf
        raise ModelImportError(f"{path}: not an ONNX model ({type(exc).__name__}: "
                               f"{str(exc)[:120]})") from None
    try:
        from onnx.external_data_helper import load_external_data_for_model

        load_external_data_for_model(model, str(p.parent))
    except Exception as exc:                  # OSError, onnx's ValidationError
        exc = str(exc).split("\n")[0][:200]
        raise ModelImportError(f"{path}: its external weight data cannot be read: "
                               f"{exc}") from None
    g = model.graph
    if not g.node:
        raise ModelImportError(f"{path}: the graph has no nodes")
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    if opsets.get("ai.onnx", 0) < 13:
        raise ModelImportError(f"{path}: opset {opsets.get('ai.onnx', 0)}; expected 13 or "
                               f"later")
    constants = {}
    for t in g.initializer:
        try:
            constants[t.name] = numpy_helper.to_array(t).astype(np.float64)
        except Exception as exc:
            raise ModelImportError(f"{path}: initializer {t.name!r} cannot be read: "
                                   f"{exc}") from None
    for node in g.node:
        if node.op_type == "Constant":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t).astype(
                np.float64)
    inputs = [i for i in g.input if i.name not in constants]
    if len(inputs) != 1 or len(g.output) != 1:
        raise ModelImportError(f"{path}: {len(inputs)} input(s) and {len(g.output)} "
                               f"output(s); expected one of each")
    dims = tuple(d.dim_value if d.HasField("dim_value") else 0
                 for d in inputs[0].type.tensor_type.shape.dim)
    nodes = [n for n in g.node if n.op_type != "Constant"]
    for node in nodes:
        domain = node.domain or ""
        if node.op_type not in SUPPORTED:
            raise ModelImportError(f"{_node_name(node)}: op type {node.op_type} is not "
                                   f"imported; expected one of {', '.join(SUPPORTED)}")
        custom = node.op_type in ("Quant", "IntQuant", "BipolarQuant", "Trunc")
        if custom and domain not in QONNX_DOMAINS:
            raise ModelImportError(f"{_node_name(node)}: domain {domain!r}; expected "
                                   f"{' or '.join(QONNX_DOMAINS)}")
        if not custom and domain not in ("", "ai.onnx"):
            raise ModelImportError(f"{_node_name(node)}: domain {domain!r}; expected the "
                                   f"ONNX domain")
    # Execution order: every input produced before its node (a cycle never gets there).
    known = set(constants) | {inputs[0].name}
    order, pending = [], list(nodes)
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input if i)]
        if not ready:
            node = pending[0]
            missing = [i for i in node.input if i and i not in known]
            produced = {o for n in pending for o in n.output}
            why = ("its input is produced in a cycle" if set(missing) & produced
                   else "no initializer, graph input or node produces it")
            raise ModelImportError(f"{_node_name(node)}: input {missing[0]!r}: {why}")
        for n in ready:
            order.append(n)
            known.update(n.output)
            pending.remove(n)
    if g.output[0].name not in known:
        raise ModelImportError(f"{path}: output {g.output[0].name!r} is produced by no node")
    return Graph(order, constants, inputs[0].name, dims, g.output[0].name, str(path))


# -- the reference: the graph's own float semantics ------------------------------------------

def _round(x, mode: str):
    mode = (mode or "ROUND").upper()
    if mode == "ROUND":
        return np.round(x)                    # half to even, as QONNX does
    if mode == "CEIL":
        return np.ceil(x)
    if mode == "FLOOR":
        return np.floor(x)
    if mode in ("ROUND_TO_ZERO", "TRUNC"):
        return np.trunc(x)
    raise ValueError(f"rounding_mode {mode!r}")


def int_range(bits: float, signed: bool, narrow: bool) -> tuple[float, float]:
    """The integer range of a QONNX ``Quant`` of ``bits`` bits."""
    if signed:
        return (-(2 ** (bits - 1)) + narrow, 2 ** (bits - 1) - 1)
    return (0.0, 2 ** bits - 1 - narrow)


def _quant_args(graph: Graph, node):
    """Scale, zero point, bits, signed, narrow and rounding of a ``Quant`` node, checked."""
    c = graph.constants
    where = _node_name(node)
    for name in node.input[1:4]:
        if name not in c:
            raise ModelImportError(f"{where}: its parameter {name!r} is not a constant")
    scale, zp, bits = (c[name] for name in node.input[1:4])
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ModelImportError(f"{where}: scale {scale.ravel()[:4].tolist()}; expected "
                               f"finite values above 0")
    if bits.size != 1 or not 1 <= float(bits) <= 32 or float(bits) != int(bits):
        raise ModelImportError(f"{where}: bit width {bits.ravel().tolist()}; expected an "
                               f"integer from 1 to 32")
    signed = bool(graph.attr(node, "signed", 1))
    narrow = bool(graph.attr(node, "narrow", 0))
    mode = graph.attr(node, "rounding_mode", "ROUND")
    try:
        _round(np.zeros(1), mode)
    except ValueError:
        raise ModelImportError(f"{where}: rounding_mode {mode!r}; expected ROUND, CEIL, "
                               f"FLOOR or ROUND_TO_ZERO") from None
    return scale, zp, int(bits), signed, narrow, mode


def execute(graph: Graph, x) -> dict:
    """Run ``graph`` on inputs ``x`` (batch first) in float64; every tensor by name."""
    v = dict(graph.constants)
    x = np.asarray(x, dtype=np.float64)
    if len(graph.input_shape) == 4:                  # NCHW maps, given flat or not
        x = x.reshape(len(x), *graph.input_shape[1:])
    v[graph.input] = x
    for node in graph.nodes:
        a = [v[i] if i else None for i in node.input]
        op = node.op_type
        if op in ("Quant", "IntQuant"):
            scale, zp, bits, signed, narrow, mode = _quant_args(graph, node)
            lo, hi = int_range(bits, signed, narrow)
            q = np.clip(_round(a[0] / scale + zp, mode), lo, hi)
            out = (q - zp) * scale
        elif op == "BipolarQuant":
            out = np.where(a[0] >= 0, 1.0, -1.0) * a[1]
        elif op == "Trunc":
            scale, zp, in_bits, out_bits = a[1], a[2], a[3], a[4]
            q = np.round(a[0] / scale + zp)
            q = np.floor(q / 2.0 ** (float(in_bits) - float(out_bits)))
            out = (q - zp) * scale * 2.0 ** (float(in_bits) - float(out_bits))
        elif op == "QuantizeLinear":
            out = _quantize_linear(graph, node, a)
        elif op == "DequantizeLinear":
            zp = a[2] if len(a) > 2 and a[2] is not None else 0.0
            axis = graph.attr(node, "axis", 1)
            out = (a[0] - _axis(zp, axis, a[0])) * _axis(a[1], axis, a[0])
        elif op == "Gemm":
            ma = a[0].T if graph.attr(node, "transA", 0) else a[0]
            mb = a[1].T if graph.attr(node, "transB", 0) else a[1]
            out = graph.attr(node, "alpha", 1.0) * (ma @ mb)
            if len(a) > 2 and a[2] is not None:
                out = out + graph.attr(node, "beta", 1.0) * a[2]
        elif op == "MatMul":
            out = a[0] @ a[1]
        elif op == "Add":
            out = a[0] + a[1]
        elif op == "Relu":
            out = np.maximum(a[0], 0.0)
        elif op == "BatchNormalization":
            gain, shift = _batchnorm(graph, node)
            if a[0].ndim == 4:
                out = a[0] * _axis(gain, 1, a[0]) + _axis(shift, 1, a[0])
            else:
                out = a[0] * gain + shift
        elif op == "Conv":
            k, s, p = _conv_attrs(graph, node)
            out = _conv_nchw(a[0], a[1], k, s, p)
            if len(a) > 2 and a[2] is not None:
                out = out + a[2].reshape(1, -1, 1, 1)
        elif op == "MaxPool":
            k, s, _ = _conv_attrs(graph, node, pool=True)
            h, w = a[0].shape[2:]
            oh, ow = (h - k) // s + 1, (w - k) // s + 1
            out = np.max(np.stack([a[0][:, :, ky:ky + s * (oh - 1) + 1:s,
                                        kx:kx + s * (ow - 1) + 1:s]
                                   for ky in range(k) for kx in range(k)]), axis=0)
        elif op in ("Identity",):
            out = a[0]
        else:                                    # Flatten, Reshape to (batch, features)
            out = a[0].reshape(len(a[0]), -1)
        v[node.output[0]] = out
    return v


def _conv_attrs(graph, node, *, pool: bool = False):
    """``(kernel, stride, pad)`` of a square ``Conv`` / ``MaxPool``, checked."""
    where = _node_name(node)
    kernel = list(graph.attr(node, "kernel_shape", []) or [])
    if not kernel and not pool and node.input[1] in graph.constants:
        kernel = list(graph.constants[node.input[1]].shape[2:])
    strides = list(graph.attr(node, "strides", [1, 1]))
    pads = list(graph.attr(node, "pads", [0, 0, 0, 0]))
    dil = list(graph.attr(node, "dilations", [1, 1]))
    if len(kernel) != 2 or kernel[0] != kernel[1] or not 1 <= kernel[0] <= 7:
        raise ModelImportError(f"{where}: kernel {kernel}; expected square, 1 to 7")
    if strides[0] != strides[1] or strides[0] not in (1, 2):
        raise ModelImportError(f"{where}: strides {strides}; expected [1, 1] or [2, 2]")
    if len(set(pads)) != 1 or (pool and pads[0]) or pads[0] >= kernel[0]:
        raise ModelImportError(f"{where}: pads {pads}; expected the same on every side, "
                               f"{'0' if pool else 'below the kernel'}")
    if dil != [1, 1]:
        raise ModelImportError(f"{where}: dilations {dil}; expected [1, 1]")
    if graph.attr(node, "group", 1) != 1:
        raise ModelImportError(f"{where}: group {graph.attr(node, 'group')}; expected 1")
    if pool and graph.attr(node, "ceil_mode", 0):
        raise ModelImportError(f"{where}: ceil_mode 1; expected 0")
    if graph.attr(node, "auto_pad", "NOTSET") not in ("NOTSET", ""):
        raise ModelImportError(f"{where}: auto_pad {graph.attr(node, 'auto_pad')}; expected "
                               f"explicit pads")
    return kernel[0], strides[0], pads[0]


def _conv_nchw(x, w, k, s, p):
    """Direct convolution of NCHW maps ``x`` with OIHW weights ``w`` (float)."""
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    oh, ow = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
    cols = np.stack([xp[:, :, ky:ky + s * (oh - 1) + 1:s, kx:kx + s * (ow - 1) + 1:s]
                     for ky in range(k) for kx in range(k)], axis=2)   # (n, c, k·k, oh, ow)
    cols = cols.reshape(n, c * k * k, oh * ow)
    out = np.einsum("ok,nkp->nop", w.reshape(w.shape[0], -1), cols)
    return out.reshape(n, w.shape[0], oh, ow)


def _batchnorm(graph, node):
    """A ``BatchNormalization`` as ``y = gain · x + shift`` per channel."""
    c = graph.constants
    names = node.input[1:5]
    if len(names) != 4 or any(n not in c for n in names):
        raise ModelImportError(f"{_node_name(node)}: its scale, bias, mean and variance must be "
                               f"constants")
    gamma, beta, mean, var = (c[n] for n in names)
    gain = gamma / np.sqrt(var + graph.attr(node, "epsilon", 1e-5))
    if not np.all(np.isfinite(gain)):
        raise ModelImportError(f"{_node_name(node)}: variance {var.ravel()[:4].tolist()} "
                               f"gives no finite scale")
    return gain, beta - mean * gain


def _axis(t, axis, like):
    t = np.asarray(t, dtype=np.float64)
    if t.ndim == 0 or like.ndim <= 1:
        return t
    shape = [1] * like.ndim
    shape[axis] = -1
    return t.reshape(shape)


def _quantize_linear(graph, node, a):
    zp_t = None
    zp = 0.0
    if len(node.input) > 2 and node.input[2]:
        zp = a[2]
        zp_t = graph.constants.get(node.input[2])
    axis = graph.attr(node, "axis", 1)
    signed = zp_t is None or _zero_point_signed(graph, node.input[2])
    lo, hi = (-128, 127) if signed else (0, 255)
    return np.clip(np.round(a[0] / _axis(a[1], axis, a[0])) + _axis(zp, axis, a[0]), lo, hi)


def _zero_point_signed(graph, name) -> bool:
    return graph.constants.get(f"{name}:signed", np.array(1.0)).item() != 0


# -- the integer network ----------------------------------------------------------------------

@dataclass
class ImportedModel:
    """An imported network and what it was checked against."""

    network: object
    input_scale: float
    graph: Graph
    layers: list = field(default_factory=list)
    #: The real value of one step of the int8 outputs.
    output_scale: float = 1.0

    def quantize_inputs(self, x) -> np.ndarray:
        """The int8 input codes of float inputs ``x``, as the model's input quantizer gives
        them; NCHW maps become the accelerator's H × W × C maps."""
        x = np.asarray(x, dtype=np.float64)
        shape = self.graph.input_shape
        if len(shape) == 4:
            x = x.reshape(len(x), *shape[1:]).transpose(0, 2, 3, 1).reshape(len(x), -1)
        return self.network.quantize_inputs(x)


@dataclass
class _Block:
    """One fully connected layer found in the graph."""

    name: str
    w_q: np.ndarray              # (out, in) integers
    s_w: np.ndarray              # (out,) weight scales
    bias: np.ndarray             # (out,) float
    relu: bool = False
    s_y: float | None = None     # the output quantizer's scale (None: the last layer)
    bits: int = 8                # the weights' bit width
    kind: str = "dense"          # "binary": BipolarQuant weights (±1 times s_w)
    bipolar_out: bool = False    # a BipolarQuant on its outputs (a sign: ±1 times s_y)
    conv: tuple | None = None    # (in_h, in_w, in_c, kernel, stride, pad) of a convolution
    pool: tuple | None = None    # (in_h, in_w, in_c, size, stride) of a max pooling


def _weights(graph: Graph, name: str, where: str):
    """Integer weights and per-output scales of the weight tensor ``name`` (a ``Quant`` /
    ``DequantizeLinear`` of a constant, or a constant of integers)."""
    producer = next((n for n in graph.nodes if name in n.output), None)
    c = graph.constants
    if producer is None:
        if name not in c:
            raise ModelImportError(f"{where}: its weights {name!r} are not a constant")
        w = c[name]
        if not np.all(w == np.round(w)):
            raise ModelImportError(f"{where}: float weights without a quantizer; expected "
                                   f"a Quant or DequantizeLinear of at most 8 bits "
                                   f"(`corolla compress` takes float models)")
        return w, np.ones(w.shape[0] if w.ndim else 1), 8
    if producer.op_type in ("Quant", "IntQuant"):
        if producer.input[0] not in c:
            raise ModelImportError(f"{_node_name(producer)}: quantizes {producer.input[0]!r}, "
                                   f"which is not a constant weight tensor")
        scale, zp, bits, signed, narrow, mode = _quant_args(graph, producer)
        if np.any(zp != 0):
            raise ModelImportError(f"{_node_name(producer)}: weight zero point "
                                   f"{zp.ravel()[:4].tolist()}; expected 0")
        if bits > 8:
            raise ModelImportError(f"{_node_name(producer)}: {bits}-bit weights; expected at "
                                   f"most 8 (the int8 array)")
        lo, hi = int_range(bits, signed, narrow)
        q = np.clip(_round(c[producer.input[0]] / scale, mode), lo, hi)
        return q, scale, bits
    if producer.op_type == "BipolarQuant":
        if producer.input[0] not in c or producer.input[1] not in c:
            raise ModelImportError(f"{_node_name(producer)}: expected constant weights and "
                                   f"scale")
        scale = c[producer.input[1]]
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise ModelImportError(f"{_node_name(producer)}: scale "
                                   f"{scale.ravel()[:4].tolist()}; expected finite values "
                                   f"above 0")
        return np.where(c[producer.input[0]] >= 0, 1.0, -1.0), scale, 1
    if producer.op_type == "DequantizeLinear":
        if producer.input[0] not in c:
            raise ModelImportError(f"{_node_name(producer)}: dequantizes "
                                   f"{producer.input[0]!r}, which is not a constant")
        zp = c.get(producer.input[2], 0.0) if len(producer.input) > 2 else 0.0
        if np.any(np.asarray(zp) != 0):
            raise ModelImportError(f"{_node_name(producer)}: weight zero point "
                                   f"{np.ravel(zp)[:4].tolist()}; expected 0")
        return c[producer.input[0]], c[producer.input[1]], 8
    raise ModelImportError(f"{where}: its weights come from {_node_name(producer)}; expected "
                           f"a constant, Quant or DequantizeLinear")


def _per_output(w, scale, transposed: bool, where: str):
    """Weights as (out, in) and one scale per output from a tensor laid out (out, in)
    (``transposed``) or (in, out)."""
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2:
        raise ModelImportError(f"{where}: weights of shape {list(w.shape)}; expected a matrix")
    s = np.broadcast_to(np.asarray(scale, dtype=np.float64), w.shape)
    if not transposed:
        w, s = w.T, s.T
    if not np.all(s == s[:, :1]):
        raise ModelImportError(f"{where}: weight scales vary along the inputs; expected one "
                               f"per output or one per tensor")
    return w, s[:, 0].copy()


def _activation_scale(graph, node, where_next):
    """The per-tensor scale of an activation quantizer (``Quant`` or ``QuantizeLinear``)."""
    c = graph.constants
    where = _node_name(node)
    if node.op_type == "QuantizeLinear":
        scale = c.get(node.input[1])
        zp = c.get(node.input[2], np.zeros(1)) if len(node.input) > 2 else np.zeros(1)
        bits, signed = 8, True
    else:
        scale, zp, bits, signed, _, _ = _quant_args(graph, node)
    if scale is None or np.asarray(scale).size != 1:
        raise ModelImportError(f"{where}: activation scale of shape "
                               f"{list(np.shape(scale))}; expected one per tensor")
    if np.any(np.asarray(zp) != 0):
        raise ModelImportError(f"{where}: activation zero point "
                               f"{np.ravel(zp)[:4].tolist()}; expected 0 (symmetric int8 "
                               f"activations)")
    if bits > 8 or (not signed and bits > 7):
        raise ModelImportError(f"{where}: {bits}-bit {'signed' if signed else 'unsigned'} "
                               f"activations; expected to fit int8")
    return float(scale)


def _blocks(graph: Graph):
    """The input scale and the fully connected layers along the graph's chain."""
    consumers = graph.consumers()
    cur, s_x, blocks, pending = graph.input, None, [], None
    skip = set()
    # The feature map (H, W, C) the chain carries, or None for a vector; a vector flattened
    # from a map keeps the map's (C, H, W) order until a Gemm reads it.
    shape = ((*graph.input_shape[2:], graph.input_shape[1])
             if len(graph.input_shape) == 4 else None)
    flat_from = None
    while cur != graph.output:
        users = [n for n in consumers.get(cur, []) if id(n) not in skip]
        if len(users) != 1:
            raise ModelImportError(f"tensor {cur!r} feeds {len(users)} nodes; expected a "
                                   f"chain of layers (one consumer each)")
        node = users[0]
        op, where = node.op_type, _node_name(node)
        if op in ("Quant", "IntQuant", "QuantizeLinear"):
            scale = _activation_scale(graph, node, where)
            out = node.output[0]
            if op == "QuantizeLinear":                  # … and its DequantizeLinear
                deq = consumers.get(out, [])
                if len(deq) != 1 or deq[0].op_type != "DequantizeLinear":
                    raise ModelImportError(f"{where}: expected a DequantizeLinear after it")
                out = deq[0].output[0]
            if pending is not None:
                pending.s_y = scale
                blocks.append(pending)
                pending = None
            elif not blocks and s_x is None:
                s_x = scale
            else:
                raise ModelImportError(f"{where}: a second quantizer with no layer between; "
                                       f"expected one activation quantizer per layer")
            cur = out
            continue
        if op == "Conv":
            if pending is not None:
                raise ModelImportError(f"{where}: follows {pending.name} with no activation "
                                       f"quantizer between them; expected int8 activations "
                                       f"between layers")
            if shape is None:
                raise ModelImportError(f"{where}: its input is a vector; expected an NCHW "
                                       f"feature map")
            k, st, pad = _conv_attrs(graph, node)
            w, scale, bits = _weights(graph, node.input[1], where)
            if w.ndim != 4 or w.shape[1] != shape[2] or w.shape[2:] != (k, k):
                raise ModelImportError(f"{where}: weights of shape {list(w.shape)}; expected "
                                       f"[C_out, {shape[2]}, {k}, {k}]")
            flat, s_w = _per_output(w.reshape(w.shape[0], -1),
                                    np.broadcast_to(scale, w.shape).reshape(w.shape[0], -1),
                                    True, where)
            # (C_in, ky, kx) columns → (ky, kx, C_in): the patch order of the feature map.
            flat = flat.reshape(w.shape).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
            bias = np.zeros(w.shape[0])
            if len(node.input) > 2 and node.input[2]:
                bias = bias + np.ravel(graph.constants[node.input[2]])
            pending = _Block(node.name or node.output[0], flat, s_w, bias, bits=bits,
                             conv=(shape[0], shape[1], shape[2], k, st, pad))
            if bits == 1:
                raise ModelImportError(f"{where}: binary convolution weights; expected at "
                                       f"most 8-bit (binary convolutions are not imported "
                                       f"yet)")
            shape = ((shape[0] + 2 * pad - k) // st + 1, (shape[1] + 2 * pad - k) // st + 1,
                     w.shape[0])
        elif op == "MaxPool":
            if pending is not None:
                raise ModelImportError(f"{where}: expected after the activation quantizer")
            if shape is None:
                raise ModelImportError(f"{where}: its input is a vector")
            k, st, _ = _conv_attrs(graph, node, pool=True)
            blocks.append(_Block(node.name or node.output[0], np.zeros((0, 0)), np.ones(0),
                                 np.zeros(0), kind="maxpool",
                                 pool=(shape[0], shape[1], shape[2], k, st)))
            shape = ((shape[0] - k) // st + 1, (shape[1] - k) // st + 1, shape[2])
        elif op in ("Flatten", "Reshape") and shape is not None:
            flat_from, shape = shape, None
        elif op in ("Gemm", "MatMul"):
            if shape is not None:
                raise ModelImportError(f"{where}: its input is a feature map; expected a "
                                       f"Flatten or Reshape before it")
            if pending is not None:
                raise ModelImportError(f"{where}: follows {pending.name} with no activation "
                                       f"quantizer between them; expected int8 activations "
                                       f"between layers")
            if op == "Gemm" and graph.attr(node, "transA", 0):
                raise ModelImportError(f"{where}: transA = 1; expected 0")
            if op == "Gemm" and graph.attr(node, "alpha", 1.0) != 1.0:
                raise ModelImportError(f"{where}: alpha = {graph.attr(node, 'alpha')}; "
                                       f"expected 1")
            w, scale, bits = _weights(graph, node.input[1], where)
            transposed = op == "Gemm" and bool(graph.attr(node, "transB", 0))
            w, s_w = _per_output(w, scale, transposed, where)
            bias = np.zeros(w.shape[0])
            if op == "Gemm" and len(node.input) > 2 and node.input[2]:
                if node.input[2] not in graph.constants:
                    raise ModelImportError(f"{where}: its bias {node.input[2]!r} is not a "
                                           f"constant")
                try:
                    bias = bias + graph.attr(node, "beta", 1.0) * np.broadcast_to(
                        graph.constants[node.input[2]], bias.shape)
                except ValueError:
                    raise ModelImportError(
                        f"{where}: bias of shape {list(graph.constants[node.input[2]].shape)} "
                        f"for {len(bias)} outputs") from None
            if flat_from is not None:
                # The graph flattens maps as (C, H, W); Corolla's maps lie as (H, W, C).
                h, wd, c = flat_from
                if w.shape[1] != h * wd * c:
                    raise ModelImportError(f"{where}: {w.shape[1]} inputs; the flattened map "
                                           f"has {h * wd * c}")
                w = w.reshape(w.shape[0], c, h, wd).transpose(0, 2, 3, 1).reshape(
                    w.shape[0], -1)
                flat_from = None
            pending = _Block(node.name or node.output[0], w, s_w, bias, bits=bits,
                             kind="binary" if bits == 1 else "dense")
            if pending.kind == "binary" and not (blocks and blocks[-1].bipolar_out):
                raise ModelImportError(f"{where}: binary weights on inputs that are not ±1; "
                                       f"expected a BipolarQuant activation before it (the "
                                       f"binary array's inputs are signs)")
            if pending.kind == "dense" and blocks and blocks[-1].bipolar_out:
                raise ModelImportError(f"{where}: ±1 inputs to a layer of {bits}-bit "
                                       f"weights; expected BipolarQuant weights after a "
                                       f"BipolarQuant activation")
        elif op == "Add":
            other = [i for i in node.input if i != cur]
            if pending is None or len(other) != 1 or other[0] not in graph.constants:
                raise ModelImportError(f"{where}: expected the bias of a MatMul (a constant "
                                       f"added to its output)")
            pending.bias = pending.bias + np.broadcast_to(graph.constants[other[0]],
                                                          pending.bias.shape)
        elif op == "Relu":
            if pending is None:
                raise ModelImportError(f"{where}: expected after a layer, before its "
                                       f"activation quantizer")
            pending.relu = True
        elif op == "BatchNormalization":
            if pending is None or pending.relu:
                raise ModelImportError(f"{where}: expected right after a layer (it is folded "
                                       f"into the layer)")
            gain, shift = _batchnorm(graph, node)
            gain = np.broadcast_to(gain, pending.bias.shape)
            if np.any(gain == 0):
                raise ModelImportError(f"{where}: a channel's scale is 0")
            # gain · (s_w·acc + b) + shift: the weight scales take |gain|; a negative gain
            # negates the channel's weights.
            sign = np.sign(gain)
            if np.any((sign < 0)[:, None] & (pending.w_q <= -(2 ** (pending.bits - 1)))):
                raise ModelImportError(f"{where}: a negative scale on a channel that holds the "
                                       f"most negative weight (it has no positive twin)")
            pending.w_q = pending.w_q * sign[:, None]
            pending.bias = pending.bias * gain + shift
            pending.s_w = pending.s_w * np.abs(gain)
        elif op == "BipolarQuant":
            if pending is None:
                raise ModelImportError(f"{where}: expected after a layer (a sign activation)")
            if pending.relu:
                raise ModelImportError(f"{where}: a sign after a ReLU is always +1")
            if node.input[1] not in graph.constants:
                raise ModelImportError(f"{where}: its scale is not a constant")
            pending.bipolar_out = True
            pending.s_y = float(np.ravel(graph.constants[node.input[1]])[0])
            blocks.append(pending)
            pending = None
        elif op in ("Trunc", "DequantizeLinear"):
            raise ModelImportError(f"{where}: {op} on the activations is not imported yet; "
                                   f"expected Quant, QuantizeLinear or BipolarQuant")
        # Identity, Flatten and Reshape leave the vector as it is.
        cur = node.output[0]
    if pending is not None:
        blocks.append(pending)
    if not blocks:
        raise ModelImportError(f"{graph.path}: no Gemm or MatMul layer found")
    return s_x, blocks


def multipliers(real: np.ndarray, *, bits: int = MULT_BITS, max_shift: int = 47):
    """``(M, shift)`` with ``M / 2**shift`` the real multipliers (one per output): ``M = 1``
    when they are all the same power of two at most 1, else ``M`` of at most ``bits`` bits
    sharing one shift."""
    real = np.asarray(real, dtype=np.float64)
    exps = np.log2(real)
    if np.all(exps == np.round(exps)) and np.all(exps == exps[0]) and exps[0] <= 0:
        return np.ones(len(real), dtype=np.int64), int(-exps[0])
    shift = int(np.floor(np.log2(((1 << bits) - 1) / real.max())))
    shift = min(shift, max_shift)
    m = np.maximum(np.round(real * 2.0 ** shift), 1).astype(np.int64)
    if shift < 0:
        raise ModelImportError(f"a real multiplier of {real.max():g} is above 2**{bits}")
    return m, shift


def _dense_layer(b: _Block, real, acc_scale, where, top):
    """An int8-array layer: the bias in accumulator units, then ``(acc · M) >> shift``; before
    a sign activation, the sum itself saturated to int8 (its sign is what the next layer
    takes)."""
    from .compress.qmodel import QuantLayer

    if b.bipolar_out:
        # Only the sign matters: acc + β ≥ 0 exactly when acc + floor(β) ≥ 0 (acc is an
        # integer), so the threshold is exact.
        mult, shift = np.ones(len(real), dtype=np.int64), 0
        bias = np.floor(b.bias / acc_scale).astype(np.int64)
    else:
        mult, shift = multipliers(real)
        bias = np.round(b.bias / acc_scale).astype(np.int64)
    if np.abs(bias).max(initial=0) > top:
        raise ModelImportError(f"{where}: a bias of {np.abs(bias).max()} accumulator units "
                               f"does not fit the accumulator")
    w = b.w_q.astype(np.int64)
    return QuantLayer(codebook=np.arange(-128, 128), codebook_frac=0, codebook_width=8,
                      index=w + 128, bias=bias, shift=shift, relu=b.relu, in_frac=0,
                      out_frac=0, mult=None if np.all(mult == 1) else mult)


def _binary_layer(b: _Block, real, s_y, where, top):
    """A binary-array layer: ``α · dot + bias`` with α the real multiplier in 16-bit fixed
    point (a shared exponent), then the shift back (or the sign, before a binary layer)."""
    from .quant.binary import BinaryWeights
    from .quant.layers import BinaryLayer

    alpha, frac = BinaryWeights(bits=None, alpha=np.asarray(real)).fixed_alpha(16)
    bias = np.round(b.bias / s_y * 2.0 ** frac).astype(np.int64)
    if np.abs(bias).max(initial=0) > top:
        raise ModelImportError(f"{where}: a bias of {np.abs(bias).max()} does not fit the "
                               f"accumulator")
    return BinaryLayer(bits=(b.w_q >= 0).astype(np.uint8), alpha=np.maximum(alpha, 1),
                       bias=bias, shift=max(frac, 0), relu=b.relu)


def import_model(path, x_calib, *, acc_width: int = 32) -> ImportedModel:
    """Import the model at ``path`` (or a :class:`Graph` :func:`load_graph` read);
    ``x_calib`` (float inputs, batch first) sets the output scale of a last layer that has no
    quantizer and, without an input quantizer, the input scale.

    Raises
    ------
    ModelImportError
        Anything the importer does not take, naming the node.
    """
    from .quant.layers import ConvLayer, MaxPoolLayer, QuantNetwork

    graph = path if isinstance(path, Graph) else load_graph(path)
    path = graph.path
    x_calib = np.asarray(x_calib, dtype=np.float64)
    features = int(np.prod(graph.input_shape[1:])) if len(graph.input_shape) > 1 else 0
    if features and int(np.prod(x_calib.shape[1:])) != features:
        raise ModelImportError(f"{path}: the model takes {features} inputs "
                               f"({list(graph.input_shape[1:])}); the data has "
                               f"{int(np.prod(x_calib.shape[1:]))}")
    s_x, blocks = _blocks(graph)
    if s_x is None:
        s_x = float(np.max(np.abs(x_calib))) / 127 or 1.0
    try:
        values = execute(graph, x_calib)
    except ValueError as exc:                  # numpy: shapes that do not chain
        raise ModelImportError(f"{path}: the graph does not run on inputs of shape "
                               f"{list(x_calib.shape)}: {exc}") from None
    layers = []
    scale_in = s_x
    top = (1 << (acc_width - 1)) - 1
    for i, b in enumerate(blocks):
        where = f"layer {i} ({b.name})"
        if b.kind == "maxpool":
            layers.append(MaxPoolLayer(*b.pool))
            continue
        n_in = layers[-1].shape[0] if layers else int(np.prod(x_calib.shape[1:]))
        if b.conv is not None:
            h, w, c = b.conv[:3]
            n_in, b_in = h * w * c, h * w * c
        else:
            b_in = b.w_q.shape[1]
        if b_in != n_in:
            before = "the layer before" if i else "the model input"
            raise ModelImportError(f"{where}: weights of shape {list(b.w_q.shape)} take "
                                   f"{b.w_q.shape[1]} inputs; {before} gives {n_in}")
        if len(b.bias) != b.w_q.shape[0]:
            raise ModelImportError(f"{where}: {len(b.bias)} biases for {b.w_q.shape[0]} "
                                   f"outputs")
        if b.w_q.min() < -128 or b.w_q.max() > 127:
            raise ModelImportError(f"{where}: weights {b.w_q.min():g}..{b.w_q.max():g}; "
                                   f"expected int8")
        s_y = b.s_y
        acc_scale = scale_in * b.s_w
        if s_y is None:
            # The last layer's int8 outputs hold the largest output of the calibration data:
            # the outputs are compared, so the top values get the resolution and very
            # negative ones may saturate. A power of two when the layer's own scales are (a
            # shift is enough then).
            out = values[graph.output]
            peak = float(np.max(out)) if np.max(out) > 0 else float(np.max(np.abs(out)))
            s_y = (peak or 1.0) / 127
            exps = np.log2(acc_scale)
            if np.all(exps == np.round(exps)):
                s_y = 2.0 ** np.ceil(np.log2(s_y))
        real = acc_scale / s_y
        if not np.all(np.isfinite(real)) or np.any(real <= 0):
            raise ModelImportError(f"{where}: scales give a multiplier of "
                                   f"{real.ravel()[:3].tolist()}; expected finite and above 0")
        if b.kind == "binary":
            layers.append(_binary_layer(b, real, s_y, where, top))
        else:
            q = _dense_layer(b, real, acc_scale, where, top)
            layers.append(ConvLayer(q, *b.conv) if b.conv is not None else q)
        scale_in = s_y
    net = QuantNetwork(tuple(layers), tuple(b.kind for b in blocks), input_frac=0,
                       acc_width=acc_width, name=Path(path).stem, input_scale=s_x)
    return ImportedModel(net, s_x, graph, blocks, output_scale=scale_in)


def import_float_mlp(path):
    """The float MLP of an ONNX model (:class:`corolla.firmware.model.Mlp`), for Deep
    Compression (``corolla compress --model FILE.onnx``): its ``Gemm`` / ``MatMul`` + ``Add``
    layers with the weights as the graph computes them (quantized weights dequantized),
    ``Relu`` as the activation; activation quantizers are dropped (Deep Compression chooses
    its own int8 radix points).

    Raises
    ------
    ModelImportError
        Naming the node the importer does not take.
    """
    from .model import Dense, Mlp, ModelError

    graph = load_graph(path)
    consumers = graph.consumers()
    # Every constant tensor as the graph computes it (weights through their quantizers).
    values = execute(graph, np.zeros((1, graph.input_shape[-1] or 1)))
    cur, layers = graph.input, []
    while cur != graph.output:
        users = consumers.get(cur, [])
        if len(users) != 1:
            raise ModelImportError(f"tensor {cur!r} feeds {len(users)} nodes; expected a "
                                   f"chain of layers")
        node = users[0]
        op, where = node.op_type, _node_name(node)
        if op in ("Gemm", "MatMul"):
            w = np.asarray(values[node.input[1]], dtype=np.float64)
            if w.ndim != 2:
                raise ModelImportError(f"{where}: weights of shape {list(w.shape)}; expected a "
                                       f"matrix")
            if op == "MatMul" or not graph.attr(node, "transB", 0):
                w = w.T
            bias = np.zeros(w.shape[0])
            if op == "Gemm" and len(node.input) > 2 and node.input[2]:
                bias = bias + np.broadcast_to(values[node.input[2]], bias.shape)
            layers.append(Dense(w.copy(), bias.copy(), "linear"))
        elif op == "Add":
            other = [i for i in node.input if i != cur]
            if not layers or len(other) != 1 or other[0] not in graph.constants:
                raise ModelImportError(f"{where}: expected the bias of a MatMul")
            layers[-1].bias = layers[-1].bias + np.broadcast_to(graph.constants[other[0]],
                                                                layers[-1].bias.shape)
        elif op == "Relu":
            if not layers:
                raise ModelImportError(f"{where}: expected after a layer")
            layers[-1].activation = "relu"
        elif op in ("BatchNormalization", "BipolarQuant", "Trunc"):
            raise ModelImportError(f"{where}: not taken by Deep Compression of a float MLP")
        if op == "QuantizeLinear":
            deq = consumers.get(node.output[0], [])
            cur = deq[0].output[0] if len(deq) == 1 else node.output[0]
            continue
        cur = node.output[0]
    if not layers:
        raise ModelImportError(f"{path}: no Gemm or MatMul layer found")
    try:
        return Mlp(layers)
    except (ModelError, ValueError) as exc:
        raise ModelImportError(f"{path}: {exc}") from None
