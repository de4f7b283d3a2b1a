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
from types import SimpleNamespace

import numpy as np

from . import pe_kinds as pk
from . import protocol as proto
from .formats import requantize, wrap_signed
from .params import CODE_WORD, EieParams, SpaceInfo, TopParams

__all__ = ["CONV_ARGS", "LAYER_KINDS", "ArrayKind", "BinaryLayerKind", "CompileError",
           "DenseKind", "LayerKind", "LnsLayerKind", "MaxPoolKind", "SparseKind",
           "TernaryLayerKind", "info_fields", "layer_kind", "parse_kinds"]


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
    layer_types : tuple of str
        Class names of the integer layers it runs
        (:mod:`corolla.firmware.compress.qmodel`, :mod:`corolla.firmware.quant.layers`).
    memory : str
        The memory that feeds its PEs (the roofline's bandwidth).
    has_weights : bool
        Its layers are weight matrices (:meth:`random_layer` makes one); ``False`` for
        max pooling.
    bounds_sums : bool
        Its compiler refuses a layer whose sums could wrap the accelerator's accumulators,
        so a model of a wider ``acc_width`` computes the same on a narrower accelerator.
    """

    name: str = ""
    code: int = 0
    info: tuple = ()
    args: tuple = ()
    engine: str = ""
    summary: str = ""
    memory: str = ""
    layer_types: tuple = ("QuantLayer",)
    has_weights: bool = True
    bounds_sums: bool = False

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
    def accepts(self, layer) -> str | None:
        """Why this kind cannot run ``layer`` (its type), or ``None``."""
        name = type(layer).__name__
        if name in self.layer_types:
            return None
        return f"layer type is {name}; expected {' or '.join(self.layer_types)} for the " \
               f"{self.name} kind"

    def weight_count(self, layer) -> int:
        """Weights of the layer (its dense size)."""
        rows, cols = layer.shape
        return rows * cols

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

    def cycle_model(self, prog, index: int, layer, params: TopParams) -> int | None:
        """Cycles of one run of the layer's step (every lane), as the engine's pipeline
        predicts them with no stalls (``None`` where the work depends on the data)."""
        return None

    def nonzero_weights(self, prog, layer) -> int:
        """The layer's non-zero weights."""
        return int(np.count_nonzero(layer.index))

    def weight_bits(self, params: TopParams) -> int:
        """Bits of a weight as its engine computes with it."""
        return 8

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


#: Descriptor fields of a convolution, after an array kind's own (``in_c = 0``: a fully
#: connected layer). ``rows`` is then ``C_out`` and ``cols`` ``kernel² · in_c``.
CONV_ARGS = (("in_h", 8), ("in_w", 8), ("in_c", 10), ("kernel", 3), ("stride", 2), ("pad", 3))


def _is_conv(layer) -> bool:
    return type(layer).__name__ == "ConvLayer"


def _matrix(layer):
    """The matrix layer of ``layer`` (a convolution's kernel matrix, else itself)."""
    return layer.inner if _is_conv(layer) else layer


def conv_fields(layer) -> dict:
    """The descriptor fields of a :class:`~corolla.firmware.quant.layers.ConvLayer`."""
    return {"rows": layer.out_c, "cols": layer.kernel ** 2 * layer.in_c, "in_h": layer.in_h,
            "in_w": layer.in_w, "in_c": layer.in_c, "kernel": layer.kernel,
            "stride": layer.stride, "pad": layer.pad}


class ArrayKind(LayerKind):
    """A fully connected layer or a convolution on a systolic PE array of the top (the engines
    of :mod:`corolla.hw.engines.array`): the layer's weight operands in tile order in the kind's
    weight memory (word ``weight_base + t·beats + k`` holds beat ``k`` of rows ``t·R`` to
    ``t·R + R − 1``), a bias per output, then requantize (shift, ReLU, saturation). Subclasses
    give the PE kind, the weight operands, the bias words and the golden arithmetic.

    A convolution (:class:`~corolla.firmware.quant.layers.ConvLayer`) is its kernel matrix
    ``(C_out, k·k·C_in)`` run once per output pixel: the engine's feeder gathers each patch
    from the H × W × C feature map in the activation bank (zeros for the padding), and the
    drain writes the pixel's ``C_out`` outputs after the previous pixel's. Its descriptor adds
    :data:`CONV_ARGS`; its golden model is a direct convolution.

    Attributes
    ----------
    prefix : str
        Prefix of its PING fields (``rows``, ``weight_depth``, ``bias_depth``).
    spaces_used : tuple of Space
        Its weight and bias spaces.
    bias_bits : int
        Bits of a bias-memory word (32: the bias; 64: bias and a per-output scale); see
        :meth:`bias_word_bits`.
    """

    prefix = ""
    spaces_used = ()
    bias_bits = 32
    #: The kind's own descriptor fields (:attr:`args` adds :data:`CONV_ARGS`).
    array_args: tuple = ()
    #: Kinds whose golden convolution is a direct convolution with :meth:`conv_weights`.
    direct = False

    @property
    def args(self):
        return self.array_args + CONV_ARGS

    def bias_word_bits(self, scales) -> int:
        """Bits of a bias-memory word on a top with (``scales`` true) or without the
        requantizers' multipliers."""
        return self.bias_bits

    @property
    def memory(self):
        return f"{self.prefix}weights"

    @property
    def info(self):
        return ((f"{self.prefix}rows", 1), (f"{self.prefix}weight_depth", 4),
                (f"{self.prefix}bias_depth", 2))

    # -- sizes and PEs -----------------------------------------------------------------------
    def sizes(self, params: TopParams):
        """The array's ``rows``, ``weight_depth`` and ``bias_depth``."""
        return getattr(params, self.name)

    def info_sizes(self, info: dict) -> SimpleNamespace:
        return SimpleNamespace(**{k: info[f"{self.prefix}{k}"]
                                  for k in ("rows", "weight_depth", "bias_depth")})

    def pe(self, params: TopParams):
        """The :class:`~corolla.pe_kinds.PeKind` of its PEs."""
        return self.pe_from_info(params.info())

    def pe_from_info(self, info: dict):
        raise NotImplementedError

    def beats(self, cols: int) -> int:
        """Beats (weight words) of one tile for a layer of ``cols`` inputs."""
        return cols

    def enabled(self, params):
        return self.sizes(params) is not None

    def spaces(self, params):
        sizes = self.sizes(params)
        width = self.pe(params).a_shape[0] * sizes.rows // 8
        weights, bias = self.spaces_used
        return {weights: SpaceInfo(sizes.weight_depth * width),
                bias: SpaceInfo(sizes.bias_depth * self.bias_word_bits(params.scales) // 8)}

    def info_values(self, params):
        sizes = self.sizes(params)
        return {f"{self.prefix}rows": sizes.rows,
                f"{self.prefix}weight_depth": sizes.weight_depth,
                f"{self.prefix}bias_depth": sizes.bias_depth}

    def missing(self, info):
        return None if info[f"{self.prefix}rows"] else f"the accelerator has no {self.name} array"

    # -- the compiler ----------------------------------------------------------------------
    def operands(self, prog, index, layer) -> np.ndarray:
        """The layer's weight operands, (rows, beats), as the PEs' ``a`` bits (unsigned)."""
        raise NotImplementedError

    def weight_tiles(self, prog, index, layer, n_rows: int) -> np.ndarray:
        """The weight operands in tile order, (tiles, beats, rows of the array): tile ``t``
        holds rows ``t·R …`` of :meth:`operands` (zero rows past the last)."""
        ops = np.asarray(self.operands(prog, index, _matrix(layer)), dtype=np.int64)
        rows, beats = ops.shape
        tiles = _tiles(rows, n_rows)
        padded = np.zeros((tiles * n_rows, beats), dtype=np.int64)
        padded[:rows] = ops
        return padded.reshape(tiles, n_rows, beats).transpose(0, 2, 1)

    def bias_words(self, prog, index, layer) -> bytes:
        """The layer's bias-memory image."""
        return np.asarray(layer.bias).astype("<i4").tobytes()

    def fields(self, prog, index, layer) -> dict:
        """Its descriptor fields beside the memory bases."""
        return {}

    def check(self, prog, index, layer, info):
        """Raise :class:`CompileError` for a layer this kind cannot hold."""

    def check_conv(self, prog, index, conv, info):
        """Raise :class:`CompileError` for a convolution this kind cannot run here."""

    def accepts(self, layer):
        if _is_conv(layer):
            why = super().accepts(layer.inner)
            return why and f"a convolution's weight matrix: {why}"
        return super().accepts(layer)

    def weight_count(self, layer):
        rows, cols = _matrix(layer).shape
        return rows * cols

    def compile(self, prog, layers, info):
        sizes = self.info_sizes(info)
        n_rows = sizes.rows
        a_width = self.pe_from_info(info).a_shape[0]
        weight_base = bias_base = 0
        fields = {}
        for i, conv in layers:
            name = prog.layer_names[i]
            q = _matrix(conv)
            geometry = {}
            if _is_conv(conv):
                need(name, "layer", "a convolution", info.get("conv", 0),
                     "a fully connected layer: the accelerator runs no convolutions ([array] "
                     "conv = false)")
                geometry = conv_fields(conv)
                for what, value in (("in_h", conv.in_h), ("in_w", conv.in_w),
                                    ("in_c", conv.in_c)):
                    bits = dict(CONV_ARGS)[what]
                    need(name, what, value, value < 1 << bits, f"below {1 << bits}")
                need(name, "kernel² · in_c", geometry["cols"],
                     geometry["cols"] <= info["act_depth"],
                     f"at most act_depth = {info['act_depth']}")
            self.check(prog, i, q, info)
            if _is_conv(conv):
                self.check_conv(prog, i, conv, info)
            rows = q.shape[0]
            tiled = self.weight_tiles(prog, i, conv, n_rows)                # (tile, beat, r)
            tiles, beats = tiled.shape[:2]
            words = np.zeros(tiled.shape[:2], dtype=object)
            for r in range(n_rows):
                words = words + (tiled[:, :, r].astype(object) << (a_width * r))
            word_bytes = a_width * n_rows // 8
            image = b"".join(int(w).to_bytes(word_bytes, "little") for w in words.ravel())
            need(name, "weight words", f"{weight_base} + {tiles * beats}",
                 weight_base + tiles * beats <= sizes.weight_depth,
                 f"at most {self.prefix}weight_depth = {sizes.weight_depth}")
            need(name, "biases", f"{bias_base} + {rows}", bias_base + rows <= sizes.bias_depth,
                 f"at most {self.prefix}bias_depth = {sizes.bias_depth}")
            weights, bias = self.spaces_used
            prog.writes.append((weights, weight_base * word_bytes, image))
            prog.writes.append((bias, bias_base * self.bias_word_bits(info.get("scales")) // 8,
                                self.bias_words(prog, i, q)))
            prog.layer_data[i] = {"weight_bytes": len(image),
                                  **prog.layer_data.get(i, {})}
            fields[i] = {"relu": int(q.relu), "shift": q.shift, "weight_base": weight_base,
                         "bias_base": bias_base, **self.fields(prog, i, q), **geometry}
            weight_base += tiles * beats
            bias_base += rows
        return fields

    def bad_descriptors(self, params):
        sizes = self.sizes(params)
        side = int(params.act_depth ** 0.5)
        # 16 inputs: two weight words a tile even on the binary array. Then convolutions
        # (rows = C_out = 4, cols = k²·C_in = 4 unless said) whose patch is not ``cols``,
        # whose input or output map does not fit a bank, or whose stride is 3.
        return [{"weight_base": sizes.weight_depth - 1, "cols": 16},
                {"bias_base": sizes.bias_depth - 2},
                {"in_h": 2, "in_w": 2, "in_c": 1, "kernel": 3, "stride": 1, "pad": 1},
                {"in_h": 255, "in_w": 255, "in_c": 1, "kernel": 2, "stride": 1},
                {"in_h": side, "in_w": side, "in_c": 1, "kernel": 2, "stride": 1, "pad": 1},
                {"in_h": 4, "in_w": 4, "in_c": 1, "kernel": 2, "stride": 3},
                {"in_h": 1, "in_w": 4, "in_c": 1, "kernel": 2, "stride": 1}]

    def golden(self, prog, index, layer, x, acc_width):
        x = np.asarray(x, dtype=np.int64)
        if _is_conv(layer):
            acc = self.conv_accumulate(prog, index, layer, x, acc_width)
        else:
            acc = self.accumulate(prog, index, layer, x, acc_width)
        q = _matrix(layer)
        bias = np.asarray(q.bias, dtype=np.int64)
        mult = getattr(q, "mult", None)
        if _is_conv(layer):
            bias = np.tile(bias, layer.out_h * layer.out_w)
            if mult is not None:
                mult = np.tile(mult, layer.out_h * layer.out_w)
        acc = wrap_signed(acc + bias, acc_width)
        if mult is not None:
            # The requantizer's multiplier: (acc · M + 2**(s−1)) >> s, exact in 48 bits.
            acc = acc * np.asarray(mult, dtype=np.int64)
        return requantize(acc, q.shift, relu=q.relu)

    def accumulate(self, prog, index, layer, x, acc_width) -> np.ndarray:
        """The combined sums (batch, rows) before the bias, wrapped to ``acc_width``."""
        raise NotImplementedError

    def conv_weights(self, prog, index, layer) -> np.ndarray:
        """The integer weights (rows, cols) a kind with :attr:`direct` sums with, exactly."""
        raise NotImplementedError

    def conv_accumulate(self, prog, index, conv, x, acc_width) -> np.ndarray:
        """The sums before the bias of a convolution on flat inputs ``x`` (batch, H·W·C_in),
        as flat outputs (batch, out_h·out_w·C_out): a direct convolution
        (:func:`corolla.sim.models.array.conv2d_reference`) for the kinds whose arithmetic is
        a plain integer sum, else the kind's :meth:`accumulate` on each patch."""
        q = conv.inner
        if self.direct:
            from .sim.models.array import conv2d_reference

            k, c = conv.kernel, conv.in_c
            w = np.asarray(self.conv_weights(prog, index, q), dtype=np.int64)
            w = w.reshape(q.shape[0], k, k, c).transpose(0, 3, 1, 2)   # (C_out, C_in, k, k)
            out = []
            for image in x.reshape(-1, conv.in_h, conv.in_w, c):
                y = conv2d_reference(image.transpose(2, 0, 1), w, stride=conv.stride,
                                     pad=conv.pad)                    # (C_out, oh, ow)
                out.append(y.transpose(1, 2, 0).reshape(-1))
            return wrap_signed(np.array(out, dtype=np.int64), acc_width)
        patches = conv.patches(x)                                     # (batch, P, K)
        batch, pixels, cols = patches.shape
        acc = self.accumulate(prog, index, q, patches.reshape(-1, cols), acc_width)
        return acc.reshape(batch, pixels * q.shape[0])

    # -- the report ------------------------------------------------------------------------
    def peak(self, params):
        sizes = self.sizes(params)
        pe = self.pe(params)
        per_pe = getattr(pe, "bits", 1)
        return {"pes": sizes.rows * params.cols * per_pe,
                "description": f"{sizes.rows}×{params.cols} {self.name} systolic array"
                               + (f" ({per_pe} binary MACs per PE)" if per_pe > 1 else ""),
                "bytes_per_cycle": sizes.rows * pe.a_shape[0] / 8,
                "roof": "weight memory (one weight word per cycle)"}

    def memories(self, params):
        sizes = self.sizes(params)
        if sizes is None:
            return {}
        width = self.pe(params).a_shape[0] * sizes.rows
        return {f"{self.prefix}weights": (sizes.weight_depth * width / 8, width, 1),
                f"{self.prefix}biases": (sizes.bias_depth * self.bias_word_bits(params.scales)
                                         / 8, self.bias_word_bits(params.scales), 1)}

    def work(self, prog, index, layer, x, params, runs, acc_width):
        images = len(x)
        rows, cols = _matrix(layer).shape
        pixels = layer.out_h * layer.out_w if _is_conv(layer) else 1
        sizes = self.sizes(params)
        r, lanes = sizes.rows, params.cols
        pe = self.pe(params)
        per_pe = getattr(pe, "bits", 1)
        beats = runs * pixels * _tiles(rows, r) * self.beats(cols)   # weight words read
        reads = beats * (8 if prog.layer_data[index].get("bits_in") is False else 1)
        rows *= pixels
        return {
            "macs": rows * cols,
            "macs_useful": rows * cols,
            "macs_executed": beats * r * lanes * per_pe / images,
            "weight_bytes": beats * r * pe.a_shape[0] / 8 / images,
            "accesses": {
                f"{self.prefix}weights": beats * r * pe.a_shape[0] / images,
                "activations": (reads + runs * rows) * 8 * lanes / images,
                f"{self.prefix}biases": runs * rows * self.bias_word_bits(params.scales)
                / images,
            },
        }

    def storage(self, prog, index, layer, params):
        return (8 * prog.layer_data[index]["weight_bytes"],
                self.bias_word_bits(params.scales) * _matrix(layer).shape[0])

    #: Setup cycles of a step (the shift-and-add sizes and the checks): fully connected, and
    #: the extra for a convolution's map sizes.
    SETUP_CYCLES = 12
    CONV_SETUP_CYCLES = 36

    def cycle_model(self, prog, index, layer, params):
        """``tiles · max(reads, 2R + C + latency) + 2R + C + latency + setup``: each tile
        (``R`` output rows of one output pixel) takes its reads of the activation bank or,
        when that is shorter, the time its last beat needs to cross the array and drain
        (:meth:`corolla.firmware.array.GemmTiling.tile_period`); a convolution has a tile per
        output pixel and row tile."""
        rows, cols = _matrix(layer).shape
        r = self.sizes(params).rows
        conv = _is_conv(layer)
        tiles = _tiles(rows, r) * (layer.out_h * layer.out_w if conv else 1)
        reads = self.beats(cols) * (8 if prog.layer_data[index].get("bits_in") is False else 1)
        cross = 2 * r + params.cols + self.pe(params).latency
        setup = self.SETUP_CYCLES + (self.CONV_SETUP_CYCLES if conv else 0)
        return tiles * max(reads, cross) + cross + setup

    def random_layer(self, gen, n_in, n_out, *, last, info):
        """A random layer of this kind (for benches): (n_out, n_in), ReLU unless ``last``."""
        raise NotImplementedError


@register
class DenseKind(ArrayKind):
    """A fully connected layer on the int8 PE array: ``Y = W · X`` with the layer's integer
    weights (pruned ones as zeros), a bias per output, then requantize."""

    name = "dense"
    code = 1
    array_args = (("weight_base", 20), ("bias_base", 12))
    direct = True
    engine = "corolla.hw.engines.array:DenseEngine"
    summary = ("fully connected layer or convolution on the int8 systolic PE array "
               "(images in lanes)")
    spaces_used = (proto.Space.WEIGHTS, proto.Space.BIAS)
    bounds_sums = True

    def sizes(self, params):
        return SimpleNamespace(rows=params.rows, weight_depth=params.weight_depth,
                               bias_depth=params.bias_depth)

    def enabled(self, params):
        return True

    def pe_from_info(self, info):
        return pk.Int8Kind(width=8, acc_width=info["acc_width"])

    def missing(self, info):
        return None if info["rows"] else "the accelerator has no PE array"

    def needs(self):
        return "the PE array ([array]); weights ≤ int8 (codebook_width ≤ 8)"

    def bias_word_bits(self, scales):
        # With multipliers a bias word holds the bias and the output's 16-bit multiplier.
        return 64 if scales else 32

    def check(self, prog, index, layer, info):
        name = prog.layer_names[index]
        w = layer.weights()
        need(name, "weights", f"{w.min()}..{w.max()}", w.min() >= -128 and w.max() <= 127,
             "int8 for the PE array (codebook_width 8 at most)")
        # No sum may wrap the accumulator: |Σ w·x + b| ≤ 128·Σ|w| + |b| for int8 inputs.
        top = (1 << (info["acc_width"] - 1)) - 1
        bound = int((128 * np.abs(w).sum(axis=1)
                     + np.abs(np.asarray(layer.bias, dtype=np.int64))).max())
        need(name, "largest possible sum", bound, bound <= top,
             f"at most {top}, so that no dot product wraps the accelerator's "
             f"{info['acc_width']}-bit accumulators")
        if layer.mult is None:
            need(name, "shift", layer.shift, layer.shift < info["acc_width"],
                 f"below the accumulator width, {info['acc_width']}")
        if layer.mult is not None:
            mult = np.asarray(layer.mult)
            need(name, "multipliers", "per output", info.get("scales"),
                 "none: the accelerator's requantizers only shift ([array] scales = false)")
            need(name, "multipliers", f"{mult.min()}..{mult.max()}",
                 mult.shape == (layer.shape[0],) and mult.min() >= 1 and mult.max() < 1 << 16,
                 f"{layer.shape[0]} values from 1 to 65535")
            need(name, "shift", layer.shift, layer.shift < 48, "below 48 with multipliers")

    def bias_words(self, prog, index, layer):
        if not prog.info.get("scales"):
            return super().bias_words(prog, index, layer)
        mult = np.ones(layer.shape[0], dtype=np.int64) if layer.mult is None else \
            np.asarray(layer.mult, dtype=np.int64)
        words = (np.asarray(layer.bias, dtype=np.int64) & 0xFFFFFFFF) | (mult << 32)
        return words.astype("<u8").tobytes()

    def operands(self, prog, index, layer):
        return layer.weights() & 0xFF

    def conv_weights(self, prog, index, layer):
        return layer.weights()

    def accumulate(self, prog, index, layer, x, acc_width):
        return wrap_signed(x @ layer.weights().T, acc_width)

    def random_layer(self, gen, n_in, n_out, *, last, info):
        from .firmware.compress.qmodel import QuantLayer

        cb = np.concatenate([[0], gen.integers(-128, 128, 15)])
        index = gen.integers(1, 16, (n_out, n_in))
        index[gen.random((n_out, n_in)) > 0.4] = 0
        shift = int(gen.integers(5, 9))
        mult = None
        if info.get("scales") and gen.random() < 0.5:
            # Float-scaled requantization: a 16-bit multiplier per output, 16 more bits of shift.
            mult = gen.integers(1, 1 << 16, n_out)
            mult[0] = (1 << 16) - 1
            shift += 16
        return QuantLayer(codebook=cb.astype(np.int64), codebook_frac=6, codebook_width=8,
                          index=index, bias=gen.integers(-4000, 4000, n_out), shift=shift,
                          relu=not last, in_frac=4, out_frac=4, mult=mult)


def eie_params(info: dict) -> EieParams:
    """The EIE engine's sizes in a PING reply."""
    return EieParams(pes=info["eie_pes"], z_bits=info["eie_z_bits"],
                     v_bits=info["eie_v_bits"], weight_width=info["eie_weight_width"],
                     acc_width=info["acc_width"], max_rows=info["eie_max_rows"],
                     entry_depth=info["eie_entry_depth"], ptr_depth=info["eie_ptr_depth"],
                     bias_depth=info["eie_bias_depth"], codebooks=info["eie_codebooks"],
                     act_lanes=1, broadcast=1, huffman=bool(info["eie_huffman"]),
                     code_length=info["eie_code_length"], code_depth=info["eie_code_depth"])


@register
class SparseKind(LayerKind):
    """A fully connected layer on the EIE engine: the codebook-index matrix EIE-encoded
    (interleaved CSC over the PEs, relative row indices, padding entries), its codebook and
    biases in the engine; only non-zero activations are broadcast. Runs once per image."""

    name = "sparse"
    code = 2
    info = (("eie_pes", 1), ("eie_entry_depth", 2), ("eie_ptr_depth", 2), ("eie_bias_depth", 2),
            ("eie_codebooks", 1), ("eie_max_rows", 2), ("eie_z_bits", 1), ("eie_v_bits", 1),
            ("eie_weight_width", 1), ("eie_huffman", 1), ("eie_code_length", 1),
            ("eie_code_depth", 2))
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
        if e.huffman:
            records += (e.code_depth * e.pes + (e.codebooks << (e.symbol_bits + 1))
                        + (e.codebooks << 4))
        return {proto.Space.EIE: SpaceInfo(records * proto.RECORD_BYTES, readable=False,
                                           records=True)}

    def info_values(self, params):
        e = params.eie
        return {"eie_pes": e.pes, "eie_entry_depth": e.entry_depth,
                "eie_ptr_depth": e.ptr_depth, "eie_bias_depth": e.bias_depth,
                "eie_codebooks": e.codebooks, "eie_max_rows": e.max_rows,
                "eie_z_bits": e.z_bits, "eie_v_bits": e.v_bits,
                "eie_weight_width": e.weight_width, "eie_huffman": int(e.huffman),
                "eie_code_length": e.code_length, "eie_code_depth": e.code_depth}

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
            need(prog.layer_names[i], "multipliers", "per output", q.mult is None,
                 "none: the EIE engine requantizes by shift only (run the layer on dense)")
            need(prog.layer_names[i], "codebook entries", len(q.codebook),
                 len(q.codebook) <= 1 << params.v_bits, f"at most {1 << params.v_bits}")
            matrix = eie_encode(q.index, params.pes, z_bits=params.z_bits, v_bits=params.v_bits)
            encoded.append((matrix, q.codebook, q.bias, q.shift, q.relu))
        try:
            placed = plan_layers(encoded, params)
        except EieImageError as exc:
            raise CompileError(str(exc)) from None
        fields = {}
        for (i, _), layer, plain in zip(layers, placed, encoded, strict=True):
            # The matrix as the engine holds it (Huffman-coded on a top that decodes codes).
            prog.layer_data[i] = {"matrix": layer.matrix, "entries": plain[0].entries}
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
        entries = ((e.pes * e.code_depth * CODE_WORD / 8, CODE_WORD, 2 * e.pes) if e.huffman
                   else (e.pes * e.entry_depth * e.entry_width / 8, e.entry_width, e.pes))
        return {
            "eie_entries": entries,
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
        entry_bits = e.entry_width
        read_bits = e.entry_width
        if e.huffman:
            # The mean coded entry; each decode reads two coded words.
            entry_bits = (int(mat.bits_per_pe.sum())
                          / max(1, prog.layer_data[index]["entries"]))
            read_bits = 2 * CODE_WORD
        return {
            "macs_useful": useful / images,
            "macs_executed": work,
            "broadcasts": broadcasts,
            "weight_bytes": work * entry_bits / 8,
            "accesses": {
                "eie_entries": work * read_bits,
                "eie_pointers": ptr_reads * e.ptr_width,
                "eie_codebooks": work * e.weight_width,
                "eie_accumulators": 2 * work * e.acc_width,
                "eie_biases": rows * e.acc_width,
                # Inputs are scanned a word (every lane) at a time; outputs written a lane.
                "activations": (cols * params.cols + rows) * 8,
            },
        }

    def random_layer(self, gen, n_in, n_out, *, last, info):
        # Shift-only requantization: the EIE engine has no multipliers.
        return LAYER_KINDS["dense"].random_layer(gen, n_in, n_out, last=last,
                                                 info={**info, "scales": 0})

    def storage(self, prog, index, layer, params):
        e = params.eie
        m = prog.layer_data[index]["matrix"]
        if e.huffman:
            # The coded streams, the pointers (bit addresses) and the decoders' tables: every
            # PE's copy of the symbol tables and the limit registers.
            tables = (e.pes * ((e.z_bits << e.z_bits) + (e.v_bits << e.v_bits))
                      + 2 * e.code_length * (2 * e.code_length + 3))
            weight_bits = (int(m.bits_per_pe.sum()) + m.pes * (m.cols + 1) * e.ptr_width
                           + tables)
            return weight_bits, len(layer.codebook) * e.weight_width + e.acc_width * layer.shape[0]
        weight_bits = m.entries * e.entry_width + m.pes * (m.cols + 1) * e.ptr_width
        return weight_bits, len(layer.codebook) * e.weight_width + e.acc_width * layer.shape[0]


@register
class TernaryLayerKind(ArrayKind):
    """A fully connected layer on the ternary PE array (TTQ / TWN): 2-bit weight codes, int8
    activations; each PE sums the inputs met by +1 and by −1, the engine combines them with the
    layer's scales ``wp · pos − wn · neg`` (exact fixed point), adds the bias and
    requantizes."""

    layer_types = ("TernaryLayer",)
    name = "ternary"
    code = 3
    prefix = "ternary_"
    array_args = (("weight_base", 20), ("bias_base", 12), ("wp", 8), ("wn", 8))
    direct = True
    engine = "corolla.hw.engines.array:TernaryEngine"
    summary = ("fully connected layer or convolution on the ternary PE array (TTQ/TWN "
               "scales per layer)")
    spaces_used = (proto.Space.TERNARY_WEIGHTS, proto.Space.TERNARY_BIAS)

    def pe_from_info(self, info):
        return pk.TernaryKind(act_width=8, acc_width=24)

    def weight_bits(self, params):
        return 2

    def needs(self):
        return "the ternary array ([ternary] enabled); 2-bit codes, 8-bit scales wp and wn"

    def operands(self, prog, index, layer):
        return np.asarray(layer.codes, dtype=np.int64)

    def nonzero_weights(self, prog, layer):
        return int(np.count_nonzero(layer.codes))

    def fields(self, prog, index, layer):
        return {"wp": int(layer.wp), "wn": int(layer.wn)}

    def conv_weights(self, prog, index, layer):
        # wp · Σ[+1]x − wn · Σ[−1]x is Σ x · w with w = wp, −wn or 0: the sums stay far from
        # the ternary PE's 24 bits (at most k²·C_in ≤ 4095 inputs of 8 bits).
        codes = np.asarray(layer.codes, dtype=np.int64)
        return np.where(codes == 0b01, layer.wp, np.where(codes == 0b11, -layer.wn, 0))

    def accumulate(self, prog, index, layer, x, acc_width):
        sums = self.pe_from_info(prog.info).gemm(np.asarray(layer.codes, dtype=np.int64), x.T)
        return wrap_signed(layer.wp * sums[..., 0] - layer.wn * sums[..., 1], acc_width).T

    def random_layer(self, gen, n_in, n_out, *, last, info):
        from .firmware.quant.layers import TernaryLayer

        codes = gen.choice([0b00, 0b01, 0b11], size=(n_out, n_in), p=[0.4, 0.3, 0.3])
        return TernaryLayer(codes=codes.astype(np.uint8), wp=int(gen.integers(0, 256)),
                            wn=int(gen.integers(0, 256)),
                            bias=gen.integers(-40000, 40000, n_out),
                            shift=int(gen.integers(9, 13)), relu=not last)


@register
class WinogradKind(ArrayKind):
    """A 3×3 stride-1 convolution (padding 0 or 1) with int8 weights by Winograd's minimal
    filtering F(2×2, 3×3) on the Winograd engine (:mod:`corolla.hw.engines.winograd`): the
    filters transformed on the host (``U = (2G) g (2G)ᵀ``, 12-bit integers), each 2×2 output
    tile's 4×4 input window transformed on chip (``Bᵀ d B``, adds only), 16 GEMMs over the
    input channels on the engine's 16-bit PE array, the output transform ``Aᵀ M A`` and an exact
    division by 4, then bias and requantize: bit for bit the direct convolution
    (:mod:`corolla.sim.models.winograd`), with 16 instead of 36 multiplies per output tile and
    input channel. Its weight word ``(rt·16 + ξ)·C_in + c`` holds position ``ξ`` of rows
    ``rt·R …`` for input channel ``c``."""

    name = "winograd"
    code = 7
    prefix = "winograd_"
    array_args = (("weight_base", 20), ("bias_base", 12))
    engine = "corolla.hw.engines.winograd:WinogradEngine"
    summary = ("3×3 stride-1 convolution by Winograd F(2×2, 3×3) on its 16-bit PE array "
               "(int8 weights, transforms on chip)")
    spaces_used = (proto.Space.WINOGRAD_WEIGHTS, proto.Space.WINOGRAD_BIAS)
    #: Input channels the engine's transformed-input memory holds (16 words each).
    max_in_c = 32

    def pe_from_info(self, info):
        # 16-bit operands: transformed filters need 12 bits, transformed inputs 10; a word of
        # R halfwords keeps the weight memory's words a power of two bytes.
        return pk.Int8Kind(width=16, acc_width=info["acc_width"])

    def weight_bits(self, params):
        return 16

    def needs(self):
        return ("the Winograd array ([winograd] enabled, [array] conv); 3×3 stride-1 "
                f"convolutions, padding 0 or 1, at most {self.max_in_c} input channels, int8 "
                "weights, shift-only requantization")

    def accepts(self, layer):
        if not _is_conv(layer):
            return f"layer type is {type(layer).__name__}; expected a 3×3 stride-1 " \
                   "convolution for the winograd kind"
        if (layer.kernel, layer.stride) != (3, 1) or layer.pad > 1:
            return (f"a {layer.kernel}×{layer.kernel} stride-{layer.stride} convolution with "
                    f"padding {layer.pad}; expected 3×3, stride 1, padding 0 or 1 for the "
                    f"winograd kind")
        return super().accepts(layer)

    def check(self, prog, index, layer, info):
        name = prog.layer_names[index]
        w = layer.weights()
        need(name, "weights", f"{w.min()}..{w.max()}", w.min() >= -128 and w.max() <= 127,
             "int8 for the Winograd array")
        need(name, "multipliers", "per output", layer.mult is None,
             "none: the Winograd engine requantizes by shift only")

    def check_conv(self, prog, index, conv, info):
        name = prog.layer_names[index]
        need(name, "in_c", conv.in_c, conv.in_c <= self.max_in_c,
             f"at most {self.max_in_c} (the engine's transformed-input memory)")
        bound = self._bound(conv)
        need(name, "largest Winograd sum", bound, bound < 1 << (info["acc_width"] - 1),
             f"below 2**{info['acc_width'] - 1} (the accumulator would wrap)")

    def _transformed(self, conv):
        from .sim.models.winograd import filter_transform

        w = np.asarray(conv.inner.weights(), dtype=np.int64)
        w = w.reshape(w.shape[0], 3, 3, conv.in_c).transpose(0, 3, 1, 2)  # (C_out, C_in, 3, 3)
        return filter_transform(w)                                         # (16, C_out, C_in)

    def _bound(self, conv):
        from .sim.models.winograd import winograd_bound

        return winograd_bound(self._transformed(conv))

    def weight_tiles(self, prog, index, layer, n_rows):
        u = self._transformed(layer)                                       # (16, C_out, C_in)
        c_out, c_in = u.shape[1:]
        rt = _tiles(c_out, n_rows)
        padded = np.zeros((16, rt * n_rows, c_in), dtype=np.int64)
        padded[:, :c_out] = u
        # (ξ, rt, r, c) → tile rt·16 + ξ, beat c, row r.
        tiles = padded.reshape(16, rt, n_rows, c_in).transpose(1, 0, 3, 2)
        return tiles.reshape(rt * 16, c_in, n_rows) & 0xFFFF

    def conv_accumulate(self, prog, index, conv, x, acc_width):
        from .sim.models.winograd import winograd_conv

        u = self._transformed(conv)
        maps = np.asarray(x, dtype=np.int64).reshape(-1, conv.in_h, conv.in_w, conv.in_c)
        return np.array([winograd_conv(m, u, conv.pad, acc_width=acc_width).reshape(-1)
                         for m in maps], dtype=np.int64)

    def conv_weights(self, prog, index, layer):
        return layer.weights()

    def operands(self, prog, index, layer):
        raise CompileError("the winograd kind runs convolutions only")

    def work(self, prog, index, layer, x, params, runs, acc_width):
        images = len(x)
        c_out, cols = layer.inner.shape
        c_in = layer.in_c
        r, lanes = self.sizes(params).rows, params.cols
        tiles = -(-layer.out_h // 2) * -(-layer.out_w // 2)
        beats = runs * tiles * _tiles(c_out, r) * 16 * c_in                # weight words read
        outputs = layer.out_h * layer.out_w * c_out
        return {
            "macs": outputs * cols,
            "macs_useful": outputs * cols,
            "macs_executed": beats * r * lanes / images,
            "weight_bytes": beats * r * 2 / images,
            "accesses": {
                "winograd_weights": beats * r * 16 / images,
                "activations": runs * (tiles * 16 * c_in + outputs) * 8 * lanes / images,
                "winograd_biases": runs * outputs * 32 / images,
            },
        }

    def cycle_model(self, prog, index, layer, params):
        """The input transform of a 2×2 output tile (``16·C_in`` reads, 18 more to write the
        last channel) runs while the previous tile's ``⌈C_out/R⌉ · 16`` GEMM tiles of
        ``C_in`` beats do, each at least the time its last beat needs to cross the array and
        drain: ``T + tiles · max(T, G)``, then the last results' drain and the writer (five
        cycles a row)."""
        c_out = layer.inner.shape[0]
        c_in = layer.in_c
        r = self.sizes(params).rows
        tiles = -(-layer.out_h // 2) * -(-layer.out_w // 2)
        cross = 2 * r + params.cols + self.pe(params).latency
        transform = 16 * c_in + 18
        gemm = _tiles(c_out, r) * 16 * max(c_in, cross)
        return (transform + tiles * max(transform, gemm) + cross + 5 * r
                + self.SETUP_CYCLES + self.CONV_SETUP_CYCLES)

    def random_layer(self, gen, n_in, n_out, *, last, info):
        return LAYER_KINDS["dense"].random_layer(gen, n_in, n_out, last=last,
                                                 info={**info, "scales": 0})

    def bad_descriptors(self, params):
        sizes = self.sizes(params)
        side = int(params.act_depth ** 0.5)
        ok = {"in_h": 4, "in_w": 4, "in_c": 1, "kernel": 3, "stride": 1, "pad": 1, "cols": 9}
        # Weights (16 words) or biases past their memories; then geometry the engine does not
        # run or maps that do not fit a bank.
        many = self.max_in_c + 1
        return [ok | {"weight_base": sizes.weight_depth - 15},
                ok | {"bias_base": sizes.bias_depth - 2},
                ok | {"kernel": 5, "cols": 25}, ok | {"stride": 2}, ok | {"pad": 2},
                ok | {"cols": 10}, ok | {"in_c": many, "cols": 9 * many},
                ok | {"in_h": side + 1, "in_w": side + 1}, ok | {"in_h": 1, "in_w": 1, "pad": 0}]


def _pack_signs(x: np.ndarray, features: int) -> np.ndarray:
    """Sign bits (x ≥ 0 → 1) of int8 features (batch, features), eight a byte, LSB first."""
    beats = -(-features // 8)
    bits = np.zeros((x.shape[0], 8 * beats), dtype=np.int64)
    bits[:, :features] = x[:, :features] >= 0
    return (bits.reshape(x.shape[0], beats, 8) << np.arange(8)).sum(axis=2)


@register
class BinaryLayerKind(ArrayKind):
    """A fully connected layer or a convolution on the binary PE array (XNOR-Net): ±1 weights
    and ±1 inputs, eight a byte; XNOR and popcount give the ±1 dot product, ``α`` per output
    scales it, then the bias. Inputs are the signs of the int8 outputs of the layer before
    (packed on chip by the feeder) or, after a binary layer, the sign bits it wrote; outputs
    are int8 (requantized) or, before a binary layer, sign bits (``α · dot + bias ≥ 0``). A
    convolution takes the signs of an int8 map's patches and writes an int8 map."""

    layer_types = ("BinaryLayer",)
    name = "binary"
    code = 4
    prefix = "binary_"
    array_args = (("weight_base", 20), ("bias_base", 12), ("bits_in", 1), ("bits_out", 1))
    engine = "corolla.hw.engines.array:BinaryEngine"
    summary = "fully connected layer on the binary PE array (XNOR-popcount, α per output)"
    spaces_used = (proto.Space.BINARY_WEIGHTS, proto.Space.BINARY_BIAS)
    bias_bits = 64

    def pe_from_info(self, info):
        return pk.BinaryKind(bits=8, acc_width=16)

    def beats(self, cols):
        return -(-cols // 8)

    def weight_bits(self, params):
        return 1

    def needs(self):
        return ("the binary array ([binary] enabled); α of 16 bits; the layer before it on an "
                "array")

    def _links(self, prog, index):
        kinds = prog.kinds
        return (index > 0 and kinds[index - 1] == self.name,
                index + 1 < len(kinds) and kinds[index + 1] == self.name)

    def check_conv(self, prog, index, conv, info):
        if any(self._links(prog, index)):
            raise CompileError(f"{prog.layer_names[index]}: a binary convolution next to a "
                               f"binary layer; expected int8 inputs and outputs (sign bits "
                               f"are packed eight features a word, not per pixel)")

    def check(self, prog, index, layer, info):
        bits_in, bits_out = self._links(prog, index)
        prog.layer_data[index] = {"bits_in": bits_in, "bits_out": bits_out}
        if index > 0 and prog.kinds[index - 1] not in ("dense", "ternary", "binary", "lns",
                                                       "maxpool"):
            raise CompileError(f"{prog.layer_names[index]}: the layer before a binary layer "
                               f"is {prog.kinds[index - 1]}; expected an array layer (dense, "
                               f"ternary, binary or lns) or maxpool")

    def nonzero_weights(self, prog, layer):
        return int(layer.bits.size)                      # ±1: none is zero

    def _pad(self, layer) -> int:
        cols = layer.shape[1]
        return 8 * self.beats(cols) - cols

    def operands(self, prog, index, layer):
        rows, cols = layer.shape
        bits = np.zeros((rows, 8 * self.beats(cols)), dtype=np.int64)
        bits[:, :cols] = layer.bits
        return (bits.reshape(rows, -1, 8) << np.arange(8)).sum(axis=2)

    def _bias(self, layer):
        # Unused input bits are 0 (−1) in both operands: each adds +1 to the dot product.
        return np.asarray(layer.bias, dtype=np.int64) - layer.alpha * self._pad(layer)

    def bias_words(self, prog, index, layer):
        words = (self._bias(layer) & 0xFFFFFFFF) | (np.asarray(layer.alpha) << 32)
        return words.astype("<u8").tobytes()

    def fields(self, prog, index, layer):
        bits_in, bits_out = self._links(prog, index)
        return {"bits_in": int(bits_in), "bits_out": int(bits_out)}

    def golden(self, prog, index, layer, x, acc_width):
        x = np.asarray(x, dtype=np.int64)
        if _is_conv(layer):
            # The signs of each patch (padding: 0, so +1, as the feeder reads it), int8 out.
            patches = layer.patches(x)
            batch, pixels, cols = patches.shape
            out = self.golden(prog, index, layer.inner, patches.reshape(-1, cols), acc_width)
            return out.reshape(batch, pixels * layer.out_c)
        rows, cols = layer.shape
        data = prog.layer_data[index]
        words = x & 0xFF if data["bits_in"] else _pack_signs(x, cols)
        pe = self.pe_from_info(prog.info)
        dot = pe.gemm(self.operands(prog, index, layer), words.T)[..., 0]
        acc = wrap_signed(wrap_signed(layer.alpha[:, None] * dot, acc_width)
                          + self._bias(layer)[:, None], acc_width).T
        if not data["bits_out"]:
            return requantize(acc, layer.shift, relu=layer.relu)
        packed = _pack_signs(acc, rows)
        return np.where(packed > 127, packed - 256, packed)

    def random_layer(self, gen, n_in, n_out, *, last, info):
        from .firmware.quant.layers import BinaryLayer

        return BinaryLayer(bits=gen.integers(0, 2, (n_out, n_in)).astype(np.uint8),
                           alpha=gen.integers(1, 1 << 16, n_out),
                           bias=gen.integers(-1 << 20, 1 << 20, n_out),
                           shift=int(gen.integers(14, 18)), relu=not last)


@register
class LnsLayerKind(ArrayKind):
    """A fully connected layer on the LNS PE array: LNS weight words; the int8 inputs become
    LNS words on chip (the log table in the feeder); each product is a log addition turned into
    fixed point by the antilog table and summed linearly (``lns_acc_frac`` fraction bits), then
    bias and requantize give int8."""

    layer_types = ("LnsLayer",)
    name = "lns"
    code = 5
    prefix = "lns_"
    array_args = (("weight_base", 20), ("bias_base", 12))
    engine = "corolla.hw.engines.array:LnsEngine"
    summary = ("fully connected layer or convolution on the LNS PE array (log-domain "
               "multiplies)")
    spaces_used = (proto.Space.LNS_WEIGHTS, proto.Space.LNS_BIAS)

    @property
    def info(self):
        return (*super().info, ("lns_int_bits", 1), ("lns_frac_bits", 1), ("lns_acc_frac", 1))

    def info_values(self, params):
        return {**super().info_values(params), "lns_int_bits": params.lns_int_bits,
                "lns_frac_bits": params.lns_frac_bits, "lns_acc_frac": params.lns_acc_frac}

    def fmt(self, info):
        from .formats import LnsFormat

        return LnsFormat(info["lns_int_bits"], info["lns_frac_bits"])

    def pe_from_info(self, info):
        return pk.LnsKind(fmt=self.fmt(info), acc_width=info["acc_width"],
                          acc_frac=info["lns_acc_frac"])

    def weight_bits(self, params):
        return self.pe(params).fmt.width

    def needs(self):
        return "the LNS array ([lns] enabled); weight words of the array's LNS format"

    def check(self, prog, index, layer, info):
        top = (1 << self.fmt(info).width) - 1
        w = np.asarray(layer.words)
        need(prog.layer_names[index], "LNS words", f"{w.min()}..{w.max()}",
             w.min() >= 0 and w.max() <= top, f"0..{top} (the array's LNS format)")

    def operands(self, prog, index, layer):
        return np.asarray(layer.words, dtype=np.int64)

    def nonzero_weights(self, prog, layer):
        zero = self.fmt(prog.info).unpack(np.asarray(layer.words))[2]
        return int(np.count_nonzero(~zero))

    def accumulate(self, prog, index, layer, x, acc_width):
        from .sim.models.lns import lns_from_int

        pe = self.pe_from_info(prog.info)
        return pe.gemm(self.operands(prog, index, layer), lns_from_int(pe.fmt, x).T)[..., 0].T

    def random_layer(self, gen, n_in, n_out, *, last, info):
        from .firmware.quant.layers import LnsLayer

        width = self.fmt(info).width
        return LnsLayer(words=gen.integers(0, 1 << width, (n_out, n_in)),
                        bias=gen.integers(-1 << 16, 1 << 16, n_out),
                        shift=int(gen.integers(10, 14)), relu=not last)


@register
class MaxPoolKind(LayerKind):
    """Max pooling of an H × W × C feature map (:class:`~corolla.firmware.quant.layers.
    MaxPoolLayer`) on its own small engine (:mod:`corolla.hw.engines.pool`): for each output
    pixel and channel it reads the ``size × size`` window from the activation bank, one word
    (every lane) a cycle, and writes the lanes' maxima. ``rows`` is ``C`` and ``cols`` the
    window's ``size²``; the output map's size follows from the input's (no padding)."""

    layer_types = ("MaxPoolLayer",)
    has_weights = False
    name = "maxpool"
    code = 6
    info = (("pool", 1),)
    args = (("in_h", 8), ("in_w", 8), ("kernel", 3), ("stride", 2))
    engine = "corolla.hw.engines.pool:PoolEngine"
    summary = "max pooling of feature maps (k×k window, stride 1 or 2), on its own engine"
    memory = "activations"

    def enabled(self, params):
        return params.pool

    def info_values(self, params):
        return {"pool": 1}

    def missing(self, info):
        return None if info["pool"] else "the accelerator has no pooling engine"

    def needs(self):
        return "the pooling engine ([pool] enabled)"

    def weight_count(self, layer):
        return 0

    def nonzero_weights(self, prog, layer):
        return 0

    def compile(self, prog, layers, info):
        fields = {}
        for i, q in layers:
            name = prog.layer_names[i]
            for what, value in (("in_h", q.in_h), ("in_w", q.in_w)):
                need(name, what, value, value < 256, "below 256")
            fields[i] = {"relu": 0, "shift": 0, "rows": q.in_c, "cols": q.size ** 2,
                         "in_h": q.in_h, "in_w": q.in_w, "kernel": q.size,
                         "stride": q.stride}
        return fields

    def bad_descriptors(self, params):
        side = 1
        while (2 * side) ** 2 * 4 <= params.act_depth:
            side *= 2
        return [{"in_h": 2 * side, "in_w": 2 * side, "kernel": 2, "stride": 2},
                {"in_h": 1, "in_w": 4, "kernel": 2, "stride": 2},
                {"in_h": 4, "in_w": 4, "kernel": 2, "stride": 3},
                {"in_h": 4, "in_w": 4, "kernel": 0, "stride": 1}]

    def golden(self, prog, index, layer, x, acc_width):
        return layer.forward(np.asarray(x, dtype=np.int64))

    def peak(self, params):
        return {"pes": params.cols, "description": "max-pooling engine",
                "bytes_per_cycle": params.cols,
                "roof": "activation bank (one word per cycle)"}

    def memories(self, params):
        return {}

    def work(self, prog, index, layer, x, params, runs, acc_width):
        images = len(x)
        outputs = layer.shape[0]
        reads = runs * outputs * layer.size ** 2
        return {"macs": 0, "macs_useful": 0, "macs_executed": 0, "weight_bytes": 0,
                "compares": outputs * layer.size ** 2,
                "accesses": {"activations": (reads + runs * outputs) * 8 * params.cols
                             / images}}

    def storage(self, prog, index, layer, params):
        return 0, 0

    def cycle_model(self, prog, index, layer, params):
        """One read a cycle, ``size²`` per output word, after the setup."""
        return layer.shape[0] * layer.size ** 2 + 30

    def random_layer(self, gen, n_in, n_out, *, last, info):
        raise CompileError("maxpool layers come from a network's shapes, not random sizes")
