"""Network → accelerator program: layer descriptors, memory images and golden outputs.

:func:`compile_network` takes an integer model (:class:`~corolla.firmware.compress.qmodel.
CompressedMlp`, the form ``corolla compress`` writes) and the accelerator's sizes (the PING
reply, :meth:`corolla.hw.top.TopParams.info`) and lays the network out for one of two
variants:

* ``dense``: every layer on the PE array; its integer weights ``codebook[index]`` (pruned
  weights as zeros) go to the weight memory in tile order, its biases to the bias memory;
* ``sparse``: every layer on the EIE engine; the index matrix is EIE-encoded
  (:func:`~corolla.firmware.compress.csc.eie_encode`) and placed with
  :func:`~corolla.firmware.sparse.plan_layers`, its codebook and biases in the engine.

Layer ``i`` reads activation bank ``i mod 2`` and writes the other one, so a whole network runs
without the host. Inputs go to bank 0 (word = feature, lane = image) and the outputs are read
from bank ``L mod 2``. Both variants compute exactly :meth:`CompressedMlp.forward`;
:func:`golden_outputs` gives each variant's expected int8 outputs from its own golden model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from corolla.hw.io import protocol as proto
from corolla.hw.sparse.engine import EieParams
from corolla.sim.models.sparse import eie_spmv

from .compress.csc import eie_encode
from .sparse import EieImageError, layer_descriptor, load_words, plan_layers

__all__ = ["VARIANTS", "CompileError", "Program", "compile_network", "golden_outputs"]

VARIANTS = ("dense", "sparse")


class CompileError(ValueError):
    """The network does not fit the accelerator; the message names the layer and field."""


@dataclass
class Program:
    """A compiled network.

    Attributes
    ----------
    variant : str
    info : dict
        The accelerator's sizes it was compiled for.
    writes : list of (Space, int, bytes)
        The model image: weights, biases, EIE records.
    steps : list of dict
        Descriptor fields per layer, without ``batch``.
    in_features, out_features : int
    layer_names : list of str
    matrices : list of EieMatrix
        The EIE encoding of each layer (``sparse`` only).
    """

    variant: str
    info: dict
    writes: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    in_features: int = 0
    out_features: int = 0
    layer_names: list = field(default_factory=list)
    matrices: list = field(default_factory=list)

    @property
    def lanes(self) -> int:
        """Images per run (the array's columns)."""
        return self.info["cols"]

    @property
    def out_space(self) -> proto.Space:
        return proto.Space.ACT1 if len(self.steps) % 2 else proto.Space.ACT0

    def program_bytes(self, batch: int) -> bytes:
        """The descriptors for a run of ``batch`` images."""
        if not 1 <= batch <= self.lanes:
            raise CompileError(f"batch is {batch}; expected 1 to {self.lanes}")
        return b"".join(proto.pack_descriptor(**step, batch=batch) for step in self.steps)

    def input_bytes(self, pixels) -> bytes:
        """Bank-0 image of a batch of int8 inputs, shape (batch, in_features)."""
        x = np.asarray(pixels, dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != self.in_features or not 1 <= len(x) <= self.lanes:
            raise CompileError(f"inputs have shape {x.shape}; expected (1 to {self.lanes}, "
                               f"{self.in_features})")
        if x.min() < -128 or x.max() > 127:
            raise CompileError(f"inputs hold {x.min()}..{x.max()}; expected int8 codes")
        words = np.zeros((self.in_features, self.lanes), dtype=np.int8)
        words[:, :len(x)] = x.T
        return words.tobytes()

    def output_count(self) -> int:
        """Bytes to read for the outputs (every lane of ``out_features`` words)."""
        return self.out_features * self.lanes

    def decode_outputs(self, raw: bytes, batch: int) -> np.ndarray:
        """(batch, out_features) int8 outputs from the bytes of :meth:`output_count`."""
        words = np.frombuffer(bytes(raw), dtype=np.int8).reshape(self.out_features, self.lanes)
        return words[:, :batch].T.astype(np.int64)


def eie_params(info: dict) -> EieParams:
    """The engine sizes in a PING reply."""
    return EieParams(pes=info["eie_pes"], z_bits=info["eie_z_bits"],
                     v_bits=info["eie_v_bits"], weight_width=info["eie_weight_width"],
                     acc_width=info["acc_width"], max_rows=info["eie_max_rows"],
                     entry_depth=info["eie_entry_depth"], ptr_depth=info["eie_ptr_depth"],
                     bias_depth=info["eie_bias_depth"], codebooks=info["eie_codebooks"],
                     act_lanes=1)


def _need(name, what, value, ok, expected):
    if not ok:
        raise CompileError(f"{name}: {what} is {value}; expected {expected}")


def compile_network(model, info: dict, variant: str = "dense") -> Program:
    """Lay ``model`` out for the accelerator described by ``info``.

    Raises
    ------
    CompileError
        The variant is unknown, or a layer does not fit (sizes, widths, memories).
    """
    if variant not in VARIANTS:
        raise CompileError(f"variant is {variant!r}; expected one of {', '.join(VARIANTS)}")
    layers = model.layers
    prog = Program(variant=variant, info=dict(info), in_features=layers[0].shape[1],
                   out_features=layers[-1].shape[0])
    _need("model", "acc_width", model.acc_width, model.acc_width == info["acc_width"],
          f"the accelerator's {info['acc_width']}")
    _need("model", "layers", len(layers), len(layers) <= info["program_depth"],
          f"at most program_depth = {info['program_depth']}")
    for i, q in enumerate(layers):
        rows, cols = q.shape
        name = f"layer {i}"
        prog.layer_names.append(f"{name} ({cols}→{rows})")
        for what, value in (("outputs", rows), ("inputs", cols)):
            _need(name, what, value, value <= info["act_depth"],
                  f"at most act_depth = {info['act_depth']}")
        _need(name, "shift", q.shift, q.shift < 64, "below 64")
    if variant == "dense":
        _dense(prog, model, info)
    else:
        _sparse(prog, model, info)
    return prog


def _dense(prog: Program, model, info):
    n_rows = info["rows"]
    weight_base = bias_base = 0
    for i, q in enumerate(model.layers):
        name = f"layer {i}"
        w = q.weights()
        _need(name, "weights", f"{w.min()}..{w.max()}", w.min() >= -128 and w.max() <= 127,
              "int8 for the PE array (codebook_width 8 at most)")
        rows, cols = w.shape
        tiles = -(-rows // n_rows)
        padded = np.zeros((tiles * n_rows, cols), dtype=np.int64)
        padded[:rows] = w
        words = padded.reshape(tiles, n_rows, cols).transpose(0, 2, 1)       # (tile, k, r)
        _need(name, "weight words", f"{weight_base} + {tiles * cols}",
              weight_base + tiles * cols <= info["weight_depth"],
              f"at most weight_depth = {info['weight_depth']}")
        _need(name, "biases", f"{bias_base} + {rows}", bias_base + rows <= info["bias_depth"],
              f"at most bias_depth = {info['bias_depth']}")
        prog.writes.append((proto.Space.WEIGHTS, weight_base * n_rows,
                            words.astype(np.int8).tobytes()))
        prog.writes.append((proto.Space.BIAS, bias_base * 4, q.bias.astype("<i4").tobytes()))
        prog.steps.append({"kind": proto.LayerKind.DENSE, "relu": int(q.relu), "src": i % 2,
                           "shift": q.shift, "rows": rows, "cols": cols,
                           "weight_base": weight_base, "bias_base": bias_base})
        weight_base += tiles * cols
        bias_base += rows


def _sparse(prog: Program, model, info):
    if not info["eie_pes"]:
        raise CompileError("variant sparse: the accelerator has no EIE engine")
    params = eie_params(info)
    encoded = []
    for i, q in enumerate(model.layers):
        _need(f"layer {i}", "codebook entries", len(q.codebook),
              len(q.codebook) <= 1 << params.v_bits, f"at most {1 << params.v_bits}")
        matrix = eie_encode(q.index, params.pes, z_bits=params.z_bits, v_bits=params.v_bits)
        prog.matrices.append(matrix)
        encoded.append((matrix, q.codebook, q.bias, q.shift, q.relu))
    try:
        placed = plan_layers(encoded, params)
    except EieImageError as exc:
        raise CompileError(str(exc)) from None
    for i, layer in enumerate(placed):
        records = b"".join(proto.pack_eie_record(*w) for w in load_words(layer, params))
        prog.writes.append((proto.Space.EIE, 0, records))
        desc = layer_descriptor(layer)
        prog.steps.append({"kind": proto.LayerKind.SPARSE, "relu": desc["relu"], "src": i % 2,
                           "shift": desc["shift"], "rows": desc["rows"], "cols": desc["cols"],
                           "ptr_base": desc["ptr_base"], "eie_bias_base": desc["bias_base"],
                           "codebook": desc["codebook"]})


def golden_outputs(model, prog: Program, pixels) -> np.ndarray:
    """Expected int8 outputs (batch, out) of ``prog`` from the variant's golden model.

    ``dense`` uses :meth:`CompressedMlp.forward` (the array's integer arithmetic); ``sparse``
    chains :func:`~corolla.sim.models.sparse.eie_spmv` on the EIE encoding of each layer.
    """
    x = np.asarray(pixels, dtype=np.int64)
    if prog.variant == "dense":
        return model.forward(x)[-1]
    out = []
    for image in x:
        a = image
        for q, mat in zip(model.layers, prog.matrices, strict=True):
            a = eie_spmv(mat, q.codebook, a, bias=q.bias, shift=q.shift, relu=q.relu,
                         acc_width=model.acc_width).out
        out.append(a)
    return np.array(out, dtype=np.int64)
