"""The registry of layer kinds: everything Corolla knows about each kind of layer, in one entry.

A **layer kind** is one subclass of :class:`LayerKind` registered in :data:`LAYER_KINDS` (the
way FINN's custom ops each own their execution, cycle model and resource estimate). An entry
owns:

* its name (what ``--variant`` and ``corolla kinds`` call it) and its descriptor ``code``;
* its descriptor fields after the common ones (:data:`corolla.protocol.DESCRIPTOR_COMMON`);
* its engine: the gateware component that runs its steps in the accelerator top, named as
  ``"module:Class"`` so that the host side never imports Amaranth (:mod:`corolla.hw.top`
  builds one engine per kind the configuration enables);
* its compile step (layers → memory images and descriptor fields), its golden model (the
  int8 outputs the engine must produce, bit for bit) and its work counts for the report
  (MACs, memory traffic, peak rate, memories).

A network is a list of layers, each run by the kind named for it, so one network can mix
kinds: :func:`corolla.firmware.compile.compile_network` hands each kind its own layers, the
runtime, the report and the CLI iterate this registry, and the top's sequencer dispatches each
descriptor to the engine its ``code`` names. To add a kind, see "Extending Corolla" in the
README.

This module is numpy-only (like :mod:`corolla.formats`): importing it does not load Amaranth.
"""

from __future__ import annotations

import importlib

import numpy as np

from . import protocol as proto
from .formats import requantize, wrap_signed
from .params import EieParams, SpaceInfo, TopParams

__all__ = ["LAYER_KINDS", "CompileError", "DenseKind", "LayerKind", "SparseKind", "info_fields",
           "layer_kind", "parse_kinds"]


class CompileError(ValueError):
    """The network does not fit the accelerator; the message names the layer and field."""


def need(name, what, value, ok, expected):
    """Raise :class:`CompileError` ``"<name>: <what> is <value>; expected <expected>"``."""
    if not ok:
        raise CompileError(f"{name}: {what} is {value}; expected {expected}")


class LayerKind:
    """One layer kind (see the module docstring). Subclasses set the class attributes and
    implement the methods; :func:`register` enters them in :data:`LAYER_KINDS`.

    Attributes
    ----------
    name : str
        The kind's name on the command line and in reports.
    code : int
        Its descriptor ``kind`` field (1 to 15; 0 is never valid).
    info : tuple of (str, int)
        Its fields of the PING reply (name, bytes): the sizes the compiler needs.
    args : tuple of (str, int)
        Its descriptor fields after the common ones, least significant first.
    engine : str
        ``"module:Class"`` of its gateware engine; the class is built as ``Class(params)``
        from :class:`~corolla.params.TopParams` and has the signature of
        :class:`corolla.hw.engines.Engine`.
    summary : str
        One line for ``corolla kinds``.
    memory : str
        The memory that feeds its PEs (the roofline's bandwidth).
    """

    name: str = ""
    code: int = 0
    info: tuple = ()
    args: tuple = ()
    engine: str = ""
    summary: str = ""
    memory: str = ""

    # -- the accelerator -------------------------------------------------------------------
    def enabled(self, params: TopParams) -> bool:
        """Whether an accelerator with ``params`` has this kind's engine."""
        raise NotImplementedError

    def spaces(self, params: TopParams) -> dict:
        """The host-visible memories of its engine: :class:`~corolla.protocol.Space` (or a
        code of its own) → :class:`~corolla.params.SpaceInfo`."""
        return {}

    def info_values(self, params: TopParams) -> dict:
        """Its PING reply fields for ``params`` (only called when :meth:`enabled`)."""
        return {}

    def missing(self, info: dict) -> str | None:
        """Why the accelerator described by a PING reply cannot run this kind (or ``None``)."""
        return None

    def needs(self) -> str:
        """What the accelerator needs for this kind, for ``corolla kinds``."""
        raise NotImplementedError

    def engine_class(self):
        """The gateware engine class (imports Amaranth)."""
        module, _, attr = self.engine.partition(":")
        return getattr(importlib.import_module(module), attr)

    # -- the compiler ----------------------------------------------------------------------
    def compile(self, prog, layers: list, info: dict) -> dict:
        """Lay out this kind's ``layers`` (``(index, layer)`` pairs of the network) and add
        their memory images to ``prog.writes``. Returns ``{index: descriptor fields}`` (the
        kind's ``args`` plus ``relu`` and ``shift``). Raises :class:`CompileError`."""
        raise NotImplementedError

    def golden(self, prog, index: int, layer, x: np.ndarray, acc_width: int) -> np.ndarray:
        """The int8 outputs (batch, rows) the engine gives for inputs ``x`` (batch, cols)."""
        raise NotImplementedError

    # -- the report ------------------------------------------------------------------------
    def peak(self, params: TopParams) -> dict:
        """``pes`` (MACs per cycle at most), ``description`` and ``bytes_per_cycle`` (of the
        memory that feeds the PEs)."""
        raise NotImplementedError

    def memories(self, params: TopParams) -> dict:
        """The engine's own memories: name → (bytes, access width in bits, banks)."""
        raise NotImplementedError

    def work(self, prog, index: int, layer, x: np.ndarray, params: TopParams, runs: int,
             acc_width: int) -> dict:
        """Work of one layer per inference for inputs ``x`` (images, cols) run in ``runs``
        runs: ``macs_useful``, ``macs_executed``, ``weight_bytes`` (traffic of
        :attr:`memory`) and ``accesses`` (memory name → bits)."""
        raise NotImplementedError

    def storage(self, prog, index: int, layer, params: TopParams) -> tuple[int, int]:
        """Bits the layer occupies on chip: (weights, everything else)."""
        raise NotImplementedError

    def bad_descriptors(self, params: TopParams) -> list[dict]:
        """Descriptor fields (beside ``rows = cols = 4``, ``batch = 1``) that do not fit the
        engine's memories: its engine must refuse each at once with ``DESCRIPTOR``."""
        return []

    def to_dict(self) -> dict:
        return {"name": self.name, "code": self.code, "summary": self.summary,
                "descriptor_fields": [{"name": n, "bits": b} for n, b in self.args],
                "engine": self.engine, "needs": self.needs(), "memory": self.memory}


#: Layer kinds by name, in code order.
LAYER_KINDS: dict[str, LayerKind] = {}


def register(cls):
    """Class decorator: enter an instance of ``cls`` in :data:`LAYER_KINDS`."""
    kind = cls()
    fields = proto.descriptor_fields(kind.args)
    taken = {k.code: k.name for k in LAYER_KINDS.values()}
    if not 1 <= kind.code < 1 << dict(fields)["kind"] or kind.code in taken:
        raise ValueError(f"layer kind {kind.name}: code {kind.code} is taken or out of range")
    LAYER_KINDS[kind.name] = kind
    return cls


def info_fields() -> tuple:
    """The PING reply's fields: the top's, then each layer kind's in registry order."""
    return proto.INFO_COMMON + tuple(f for kind in LAYER_KINDS.values() for f in kind.info)


def layer_kind(name: str) -> LayerKind:
    """The registered kind called ``name``."""
    try:
        return LAYER_KINDS[name]
    except KeyError:
        raise CompileError(f"layer kind is {name!r}; expected one of "
                           f"{', '.join(LAYER_KINDS)}") from None


def parse_kinds(text, layers: int) -> list[str]:
    """Per-layer kind names from ``"KIND"`` (every layer) or ``"KIND,KIND,…"`` (one per layer)
    or a sequence of names. Raises :class:`CompileError` naming what is wrong."""
    names = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    for name in names:
        layer_kind(name)
    if len(names) == 1:
        names = names * layers
    if len(names) != layers:
        raise CompileError(f"layer kinds are {','.join(names)}; expected one kind or "
                           f"{layers} (one per layer)")
    return names


def _tiles(rows: int, n_rows: int) -> int:
    return -(-rows // n_rows)


@register
class DenseKind(LayerKind):
    """A fully connected layer on the int8 PE array: ``Y = W · X`` with the layer's integer
    weights (pruned ones as zeros) in tile order in the weight memory, a bias per output, then
    requantize (shift, ReLU, saturation)."""

    name = "dense"
    code = 1
    info = (("rows", 1), ("weight_depth", 4), ("bias_depth", 2))
    args = (("weight_base", 20), ("bias_base", 12))
    engine = "corolla.hw.engines.dense:DenseEngine"
    summary = "fully connected layer on the int8 systolic PE array (images in lanes)"
    memory = "weights"

    def enabled(self, params):
        return True

    def spaces(self, params):
        return {proto.Space.WEIGHTS: SpaceInfo(params.weight_depth * params.rows),
                proto.Space.BIAS: SpaceInfo(params.bias_depth * 4)}

    def info_values(self, params):
        return {"rows": params.rows, "weight_depth": params.weight_depth,
                "bias_depth": params.bias_depth}

    def missing(self, info):
        return None if info["rows"] else "the accelerator has no PE array"

    def needs(self):
        return "the PE array ([array]); weights ≤ int8 (codebook_width ≤ 8)"

    def compile(self, prog, layers, info):
        n_rows = info["rows"]
        weight_base = bias_base = 0
        fields = {}
        for i, q in layers:
            name = prog.layer_names[i]
            w = q.weights()
            need(name, "weights", f"{w.min()}..{w.max()}", w.min() >= -128 and w.max() <= 127,
                 "int8 for the PE array (codebook_width 8 at most)")
            rows, cols = w.shape
            tiles = _tiles(rows, n_rows)
            padded = np.zeros((tiles * n_rows, cols), dtype=np.int64)
            padded[:rows] = w
            words = padded.reshape(tiles, n_rows, cols).transpose(0, 2, 1)     # (tile, k, r)
            need(name, "weight words", f"{weight_base} + {tiles * cols}",
                 weight_base + tiles * cols <= info["weight_depth"],
                 f"at most weight_depth = {info['weight_depth']}")
            need(name, "biases", f"{bias_base} + {rows}", bias_base + rows <= info["bias_depth"],
                 f"at most bias_depth = {info['bias_depth']}")
            image = words.astype(np.int8).tobytes()
            prog.writes.append((proto.Space.WEIGHTS, weight_base * n_rows, image))
            prog.writes.append((proto.Space.BIAS, bias_base * 4, q.bias.astype("<i4").tobytes()))
            prog.layer_data[i] = {"weight_bytes": len(image)}
            fields[i] = {"relu": int(q.relu), "shift": q.shift, "weight_base": weight_base,
                         "bias_base": bias_base}
            weight_base += tiles * cols
            bias_base += rows
        return fields

    def bad_descriptors(self, params):
        return [{"weight_base": params.weight_depth - 1}, {"bias_base": params.bias_depth - 2}]

    def golden(self, prog, index, layer, x, acc_width):
        acc = wrap_signed(np.asarray(x, dtype=np.int64) @ layer.weights().T + layer.bias,
                          acc_width)
        return requantize(acc, layer.shift, relu=layer.relu)

    def peak(self, params):
        return {"pes": params.rows * params.cols,
                "description": f"{params.rows}×{params.cols} int8 systolic array",
                "bytes_per_cycle": params.rows,
                "roof": "weight memory (one word of a weight per array row per cycle)"}

    def memories(self, params):
        return {"weights": (params.weight_depth * params.rows, 8 * params.rows, 1),
                "biases": (params.bias_depth * 4, 32, 1)}

    def work(self, prog, index, layer, x, params, runs, acc_width):
        images = len(x)
        rows, cols = layer.shape
        r, lanes = params.rows, params.cols
        beats = runs * _tiles(rows, r) * cols            # weight and activation words read
        return {
            "macs_useful": rows * cols,
            "macs_executed": beats * r * lanes / images,
            "weight_bytes": beats * r / images,
            "accesses": {
                "weights": beats * 8 * r / images,
                "activations": (beats + runs * rows) * 8 * lanes / images,
                "biases": runs * rows * 32 / images,
            },
        }

    def storage(self, prog, index, layer, params):
        # The weight image as compiled: int8, tiles padded to the array's rows.
        return 8 * prog.layer_data[index]["weight_bytes"], 32 * layer.shape[0]


def eie_params(info: dict) -> EieParams:
    """The EIE engine's sizes in a PING reply."""
    return EieParams(pes=info["eie_pes"], z_bits=info["eie_z_bits"],
                     v_bits=info["eie_v_bits"], weight_width=info["eie_weight_width"],
                     acc_width=info["acc_width"], max_rows=info["eie_max_rows"],
                     entry_depth=info["eie_entry_depth"], ptr_depth=info["eie_ptr_depth"],
                     bias_depth=info["eie_bias_depth"], codebooks=info["eie_codebooks"],
                     act_lanes=1)


@register
class SparseKind(LayerKind):
    """A fully connected layer on the EIE engine: the codebook-index matrix EIE-encoded
    (interleaved CSC over the PEs, relative row indices, padding entries), its codebook and
    biases in the engine; only non-zero activations are broadcast. Runs once per image."""

    name = "sparse"
    code = 2
    info = (("eie_pes", 1), ("eie_entry_depth", 2), ("eie_ptr_depth", 2), ("eie_bias_depth", 2),
            ("eie_codebooks", 1), ("eie_max_rows", 2), ("eie_z_bits", 1), ("eie_v_bits", 1),
            ("eie_weight_width", 1))
    args = (("ptr_base", 12), ("eie_bias_base", 12), ("codebook", 4))
    engine = "corolla.hw.engines.sparse:SparseEngine"
    summary = "compressed fully connected layer on the EIE engine (pruned, weight-shared)"
    memory = "eie_entries"

    def enabled(self, params):
        return params.eie is not None

    def spaces(self, params):
        e = params.eie
        records = ((e.entry_depth + e.ptr_depth) * e.pes + (e.codebooks << e.v_bits)
                   + e.bias_depth)
        return {proto.Space.EIE: SpaceInfo(records * proto.RECORD_BYTES, readable=False,
                                           records=True)}

    def info_values(self, params):
        e = params.eie
        return {"eie_pes": e.pes, "eie_entry_depth": e.entry_depth,
                "eie_ptr_depth": e.ptr_depth, "eie_bias_depth": e.bias_depth,
                "eie_codebooks": e.codebooks, "eie_max_rows": e.max_rows,
                "eie_z_bits": e.z_bits, "eie_v_bits": e.v_bits,
                "eie_weight_width": e.weight_width}

    def missing(self, info):
        return None if info["eie_pes"] else "the accelerator has no EIE engine"

    def needs(self):
        return "the EIE engine ([sparse] pes > 0); codebook of at most 2**index_bits entries"

    def compile(self, prog, layers, info):
        from .firmware.compress.csc import eie_encode
        from .firmware.sparse import EieImageError, layer_descriptor, load_words, plan_layers

        params = eie_params(info)
        encoded = []
        for i, q in layers:
            need(prog.layer_names[i], "codebook entries", len(q.codebook),
                 len(q.codebook) <= 1 << params.v_bits, f"at most {1 << params.v_bits}")
            matrix = eie_encode(q.index, params.pes, z_bits=params.z_bits, v_bits=params.v_bits)
            prog.layer_data[i] = {"matrix": matrix}
            encoded.append((matrix, q.codebook, q.bias, q.shift, q.relu))
        try:
            placed = plan_layers(encoded, params)
        except EieImageError as exc:
            raise CompileError(str(exc)) from None
        fields = {}
        for (i, _), layer in zip(layers, placed, strict=True):
            records = b"".join(proto.pack_eie_record(*w) for w in load_words(layer, params))
            prog.writes.append((proto.Space.EIE, 0, records))
            desc = layer_descriptor(layer)
            fields[i] = {"relu": desc["relu"], "shift": desc["shift"],
                         "ptr_base": desc["ptr_base"], "eie_bias_base": desc["bias_base"],
                         "codebook": desc["codebook"]}
        return fields

    def bad_descriptors(self, params):
        e = params.eie
        return [{"rows": e.max_rows + 1}, {"ptr_base": e.ptr_depth},
                {"eie_bias_base": e.bias_depth}, {"codebook": e.codebooks}]

    def golden(self, prog, index, layer, x, acc_width):
        from .sim.models.sparse import eie_spmv

        mat = prog.layer_data[index]["matrix"]
        return np.array([eie_spmv(mat, layer.codebook, image, bias=layer.bias,
                                  shift=layer.shift, relu=layer.relu, acc_width=acc_width).out
                         for image in np.asarray(x, dtype=np.int64)], dtype=np.int64)

    def peak(self, params):
        e = params.eie
        return {"pes": e.pes, "description": f"{e.pes}-PE EIE sparse engine",
                "bytes_per_cycle": e.pes * e.entry_width / 8,
                "roof": "EIE entry memories (one 8-bit entry per PE per cycle)"}

    def memories(self, params):
        e = params.eie
        if e is None:
            return {}
        return {
            "eie_entries": (e.pes * e.entry_depth * e.entry_width / 8, e.entry_width, e.pes),
            "eie_pointers": (e.pes * e.ptr_depth * e.ptr_width / 8, e.ptr_width, 2 * e.pes),
            "eie_codebooks": (e.pes * (e.codebooks << e.v_bits) * e.weight_width / 8,
                              e.weight_width, e.pes),
            "eie_accumulators": (e.pes * e.local_depth * e.acc_width / 8, e.acc_width, e.pes),
            "eie_biases": (e.bias_depth * e.acc_width / 8, e.acc_width, 1),
        }

    def work(self, prog, index, layer, x, params, runs, acc_width):
        from .sim.models.sparse import eie_spmv

        images = len(x)
        rows, cols = layer.shape
        mat = prog.layer_data[index]["matrix"]
        e = params.eie
        work = broadcasts = useful = 0
        col_nnz = np.count_nonzero(layer.index, axis=0)
        for image in np.asarray(x, dtype=np.int64):
            res = eie_spmv(mat, layer.codebook, image, bias=layer.bias, shift=layer.shift,
                           relu=layer.relu, acc_width=acc_width)
            work += int(res.work.sum())
            broadcasts += res.broadcasts
            useful += int(col_nnz[image != 0].sum())
        work, broadcasts = work / images, broadcasts / images
        ptr_reads = 2 * e.pes * broadcasts
        return {
            "macs_useful": useful / images,
            "macs_executed": work,
            "broadcasts": broadcasts,
            "weight_bytes": work * e.entry_width / 8,
            "accesses": {
                "eie_entries": work * e.entry_width,
                "eie_pointers": ptr_reads * e.ptr_width,
                "eie_codebooks": work * e.weight_width,
                "eie_accumulators": 2 * work * e.acc_width,
                "eie_biases": rows * e.acc_width,
                # Inputs are scanned a word (every lane) at a time; outputs written a lane.
                "activations": (cols * params.cols + rows) * 8,
            },
        }

    def storage(self, prog, index, layer, params):
        e = params.eie
        m = prog.layer_data[index]["matrix"]
        weight_bits = m.entries * e.entry_width + m.pes * (m.cols + 1) * e.ptr_width
        return weight_bits, len(layer.codebook) * e.weight_width + e.acc_width * layer.shape[0]
