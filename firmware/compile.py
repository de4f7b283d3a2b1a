"""Network → accelerator program: layer descriptors, memory images and golden outputs.

:func:`compile_network` takes an integer model (:class:`~corolla.firmware.compress.qmodel.
CompressedMlp`, the form ``corolla compress`` writes), the accelerator's sizes (the PING reply,
:meth:`corolla.params.TopParams.info`) and the layer kind of each layer (names in the registry
:data:`corolla.layers.LAYER_KINDS`: ``dense`` runs a layer on the PE array, ``sparse`` on the
EIE engine, and one network may mix them). Each kind lays out its own layers (memory images,
descriptor fields); the compiler checks what every layer shares and chains the steps.

Layer ``i`` reads activation bank ``i mod 2`` and writes the other one, so a whole network runs
without the host. Inputs go to bank 0 (word = feature, lane = image) and the outputs are read
from bank ``L mod 2``. Every kind computes exactly :meth:`CompressedMlp.forward`;
:func:`golden_outputs` chains each layer's kind's golden model to give the expected int8
outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from corolla import protocol as proto
from corolla.layers import LAYER_KINDS, CompileError, eie_params, layer_kind, need, parse_kinds

__all__ = ["CompileError", "Program", "compile_network", "eie_params", "golden_activations",
           "golden_outputs"]


@dataclass
class Program:
    """A compiled network.

    Attributes
    ----------
    kinds : list of str
        The layer kind of each layer.
    info : dict
        The accelerator's sizes it was compiled for.
    writes : list of (Space, int, bytes)
        The model image: weights, biases, EIE records.
    steps : list of dict
        Descriptor fields per layer, without ``batch``.
    in_features, out_features : int
    layer_names : list of str
    layer_data : dict
        What each layer's kind keeps of its compilation, by layer index (the EIE encoding of
        a ``sparse`` layer, the weight image size of a ``dense`` one).
    """

    kinds: list
    info: dict
    writes: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    in_features: int = 0
    out_features: int = 0
    layer_names: list = field(default_factory=list)
    layer_data: dict = field(default_factory=dict)
    name: str = ""

    @property
    def variant(self) -> str:
        """The network's variant name, else the layer kinds as one name: the kind, or
        ``KIND,KIND,…`` for a mixed network."""
        if self.name:
            return self.name
        return self.kinds[0] if len(set(self.kinds)) == 1 else ",".join(self.kinds)

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
        return b"".join(proto.pack_descriptor(LAYER_KINDS[kind].args, **step, batch=batch)
                        for kind, step in zip(self.kinds, self.steps, strict=True))

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


def _describe(layer) -> str:
    """A layer's shape for messages: ``64→10``, ``conv3×3 8×8×1→8×8×8``, ``pool2×2 …``."""
    rows, cols = layer.shape
    name = type(layer).__name__
    if name == "ConvLayer":
        return (f"conv{layer.kernel}×{layer.kernel} {layer.in_h}×{layer.in_w}×{layer.in_c}"
                f"→{layer.out_h}×{layer.out_w}×{layer.out_c}")
    if name == "MaxPoolLayer":
        return (f"maxpool{layer.size}×{layer.size} {layer.in_h}×{layer.in_w}×{layer.in_c}"
                f"→{layer.out_h}×{layer.out_w}×{layer.in_c}")
    return f"{cols}→{rows}"


def compile_network(model, info: dict, kinds=None) -> Program:
    """Lay ``model`` out for the accelerator described by ``info``.

    Parameters
    ----------
    kinds : str or sequence of str, optional
        One layer kind for every layer (``"dense"``), one per layer (``"dense,sparse"`` or a
        list), from :data:`corolla.layers.LAYER_KINDS`; by default the model's own ``kinds``
        (a :class:`~corolla.firmware.quant.layers.QuantNetwork`), else ``"dense"``.

    Raises
    ------
    CompileError
        A kind is unknown or missing from the accelerator, or a layer does not fit (sizes,
        widths, memories); the message names the layer and the field.
    """
    layers = model.layers
    if kinds is None:
        kinds = getattr(model, "kinds", "dense")
    names = parse_kinds(kinds, len(layers))
    own = getattr(model, "kinds", None)
    prog = Program(kinds=names, info=dict(info), in_features=layers[0].shape[1],
                   out_features=layers[-1].shape[0],
                   name=getattr(model, "name", "") if own and list(own) == names else "")
    need("model", "layers", len(layers), len(layers) <= info["program_depth"],
         f"at most program_depth = {info['program_depth']}")
    for i, q in enumerate(layers):
        rows, cols = q.shape
        name = f"layer {i}"
        prog.layer_names.append(f"{name} ({_describe(q)})")
        for what, value in (("outputs", rows), ("inputs", cols)):
            need(name, what, value, value <= info["act_depth"],
                 f"at most act_depth = {info['act_depth']}")
        need(name, "shift", q.shift, q.shift < 64, "below 64")
    fields = {}
    for kind_name in dict.fromkeys(names):
        kind = layer_kind(kind_name)
        reason = kind.missing(info)
        if reason:
            raise CompileError(f"layer kind {kind_name}: {reason}")
        mine = [(i, q) for i, q in enumerate(layers) if names[i] == kind_name]
        for i, q in mine:
            why = kind.accepts(q)
            if why:
                raise CompileError(f"layer {i}: {why}")
        fields |= kind.compile(prog, mine, info)
    # A model of wider sums runs unchanged where its layers' compilers prove that no sum
    # wraps the accelerator's narrower accumulators (LayerKind.bounds_sums).
    narrower = all(layer_kind(k).bounds_sums for k in names)
    need("model", "acc_width", model.acc_width,
         model.acc_width == info["acc_width"]
         or (model.acc_width > info["acc_width"] and narrower),
         f"the accelerator's {info['acc_width']}"
         + (" or wider (its layer kinds check their sums against it)" if narrower else ""))
    for i, q in enumerate(layers):
        rows, cols = q.shape
        prog.steps.append({"kind": layer_kind(names[i]).code, "src": i % 2, "rows": rows,
                           "cols": cols, **fields[i]})
    return prog


def golden_activations(model, prog: Program, pixels) -> list[np.ndarray]:
    """Every layer's input and the outputs, ``[x, a_0, …, a_{L-1}]``, as the accelerator
    computes them: each layer's kind's golden model (:meth:`corolla.layers.LayerKind.golden`),
    chained (sign bits between binary layers as the bytes the engine writes)."""
    acts = [np.asarray(pixels, dtype=np.int64)]
    for i, (kind, q) in enumerate(zip(prog.kinds, model.layers, strict=True)):
        acts.append(layer_kind(kind).golden(prog, i, q, acts[-1], model.acc_width))
    return acts


def golden_outputs(model, prog: Program, pixels) -> np.ndarray:
    """Expected int8 outputs (batch, out) of ``prog`` (:func:`golden_activations`)."""
    return golden_activations(model, prog, pixels)[-1]
