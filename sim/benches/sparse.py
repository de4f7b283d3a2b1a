"""cocotb bench of :class:`corolla.hw.sparse.EieEngine` against the encoded-form SpMV.

Every run loads the engine's memories through its ``load`` stream, pulses ``start``, feeds the
activations (with idle cycles) and takes the outputs (with back-pressure), then compares them
with :func:`corolla.sim.models.sparse.eie_spmv` on the same memory image. A Python shadow of
every memory write keeps the golden model's view identical to the hardware's, so corrupted
memories are judged the same way on both sides: the engine must flag an error exactly when
the golden model rejects the encoding, and must finish (consume N activations, emit M
outputs, pulse ``done``) either way.

Tests
-----
``random_layers``
    Random matrices: shapes not multiples of P, densities 2–60 %, long zero gaps, empty rows
    and columns, zero and all-zero activations, random memory bases. ``COROLLA_CASES`` sets
    the count.
``two_layers``
    Two layers side by side (bases, codebook slots), chained: layer 0's output is layer 1's
    input.
``corrupted``
    Seeded fuzzing: pointers, entries and row counts overwritten at random
    (``COROLLA_FUZZ`` cases), then a clean run to show the engine recovers.
``bad_requests``
    Descriptors that do not fit, writes outside the memories or during a run, ``start``
    while busy.
With Huffman-coded entries (``huffman`` in the engine's parameters) the same tests run on
coded memories: layers are coded as the host codes them, the shadow holds the coded words and
the decoders' tables, the golden model decodes them as the engine does, and the fuzzing also
writes random coded words (invalid codes, codes across a column's end).

``walk_rate``
    Entries walked per cycle by one PE on one long column (``COROLLA_WALK_RATE`` set).
``model``
    A compressed MLP (``COROLLA_EIE_MODEL``, inputs in ``COROLLA_EIE_INPUTS``), every layer
    chained through the engine and also checked against the dense integer model. Records
    cycles per layer (``COROLLA_STATS_FILE``); runs without back-pressure when
    ``COROLLA_FULL_SPEED`` is set.
"""

from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly

from corolla.firmware.compress.csc import eie_encode, eie_huffman
from corolla.firmware.sparse import (
    BIAS,
    CODEBOOK,
    ENTRY,
    LIMITS,
    POINTER,
    SYMBOLS,
    PlacedLayer,
    layer_descriptor,
    load_words,
    plan_layers,
    stored_words,
)
from corolla.hw.sparse.engine import EieParams, error_layout, layer_layout, load_layout
from corolla.params import CODE_WORD
from corolla.sim.benches.common import (
    TB,
    first_mismatch,
    golden,
    pack,
    params,
    record_stats,
    rng,
    to_signed,
)
from corolla.sim.models.sparse import CodedMatrix, EieEncodingError, EieMatrix, eie_spmv

P = EieParams(**params())
#: Entry words per PE: entries, or 16-bit coded words.
DEPTH = P.code_depth if P.huffman else P.entry_depth
ERROR_BITS = {name: field.offset for name, field in error_layout}


def beats(acts, gen=None) -> list[int]:
    """The activations packed ``act_lanes`` per beat; lanes past the end get junk from ``gen``
    (the engine must ignore them) or zeros."""
    acts = [int(a) for a in acts]
    width, lanes = P.act_width, P.act_lanes
    out = []
    for b in range(0, len(acts), lanes):
        chunk = acts[b:b + lanes]
        if gen is not None:
            chunk += [int(x) for x in gen.integers(-(1 << (width - 1)), 1 << (width - 1),
                                                   lanes - len(chunk))]
        out.append(sum((a & ((1 << width) - 1)) << (i * width) for i, a in enumerate(chunk)))
    return out


def _fields(layout):
    """``(name, offset, width)`` of a ``data.StructLayout``, for :func:`pack`."""
    return [(name, field.offset, field.width) for name, field in layout]


class Shadow:
    """What the engine's memories hold, as the golden model sees them."""

    def __init__(self, p: EieParams):
        self.p = p
        self.entries = np.zeros((p.pes, DEPTH), dtype=np.int64)
        self.ptr = np.zeros((p.pes, p.ptr_depth), dtype=np.int64)
        self.codebook = np.zeros(p.codebooks << p.v_bits, dtype=np.int64)
        self.bias = np.zeros(p.bias_depth, dtype=np.int64)
        self.symbols = np.zeros((p.codebooks, 2, 1 << p.symbol_bits), dtype=np.int64)
        self.limits = np.zeros((p.codebooks, 2, p.code_length), dtype=np.int64)
        self.bases = np.zeros((p.codebooks, 2, p.code_length), dtype=np.int64)

    def write(self, target, pe, addr, value):
        p = self.p
        sb = p.symbol_bits
        if target == SYMBOLS:
            self.symbols[addr >> (sb + 1), (addr >> sb) & 1, addr & ((1 << sb) - 1)] = value
        elif target == LIMITS:
            at = addr >> 4, (addr >> 3) & 1, addr & 7
            self.limits[at] = value & ((1 << (p.code_length + 1)) - 1)
            self.bases[at] = to_signed(value >> (p.code_length + 1), p.code_length + 2)
        elif target == ENTRY:
            self.entries[pe, addr] = value
        elif target == POINTER:
            self.ptr[pe, addr] = value
        elif target == CODEBOOK:
            self.codebook[addr] = to_signed(value, p.weight_width)
        elif target == BIAS:
            self.bias[addr] = to_signed(value, p.acc_width)

    def matrix(self, desc) -> EieMatrix | CodedMatrix:
        """The matrix a run of ``desc`` walks: the whole entry memory, the layer's pointers."""
        p = self.p
        mask = (1 << p.z_bits) - 1
        base, cols = desc["ptr_base"], desc["cols"]
        if p.huffman:
            slot = desc["codebook"]
            return CodedMatrix(
                rows=desc["rows"], cols=cols, pes=p.pes, words=tuple(self.entries),
                ptr=self.ptr[:, base:base + cols + 1].copy(), limits=self.limits[slot],
                bases=self.bases[slot], symbols=self.symbols[slot],
                z_bits=p.z_bits, v_bits=p.v_bits)
        return EieMatrix(rows=desc["rows"], cols=cols, pes=p.pes,
                         z=tuple(self.entries[k] & mask for k in range(p.pes)),
                         v=tuple(self.entries[k] >> p.z_bits for k in range(p.pes)),
                         ptr=self.ptr[:, base:base + cols + 1].copy(),
                         z_bits=p.z_bits, v_bits=p.v_bits)

    def expected(self, desc, acts):
        """``(outputs, result)`` of the golden model, or ``(None, error)`` if it rejects."""
        cb_base = desc["codebook"] << self.p.v_bits
        bias = self.bias[desc["bias_base"]:desc["bias_base"] + desc["rows"]]
        try:
            result = golden(eie_spmv)(
                self.matrix(desc), self.codebook[cb_base:cb_base + (1 << self.p.v_bits)],
                acts, bias=bias, shift=desc["shift"], relu=bool(desc["relu"]),
                acc_width=self.p.acc_width)
        except EieEncodingError as exc:
            return None, exc
        return [int(x) for x in result.out], result


_SHADOW = Shadow(P)


class Engine:
    """Drives one :class:`EieEngine` and mirrors its memories."""

    def __init__(self, dut, tb: TB, gen: np.random.Generator):
        self.dut, self.tb, self.gen = dut, tb, gen
        # The engine's memories keep their contents through a reset and from one test to the
        # next, so the tests of one simulation share one shadow: a corrupted pointer can reach
        # entries an earlier test wrote.
        self.shadow = _SHADOW
        self.load_fields = _fields(load_layout(P))
        self.layer_fields = _fields(layer_layout(P))
        dut.load__valid.value = 0
        dut.act__valid.value = 0
        dut.output__ready.value = 0
        dut.start.value = 0

    async def load(self, words, *, idle_prob: float = 0.1, shadow: bool = True):
        """Write ``(target, pe, addr, data)`` words, one per cycle with idle cycles between."""
        dut = self.dut
        for target, pe, addr, value in words:
            while self.gen.random() < idle_prob:
                dut.load__valid.value = 0
                await self.tb.tick()
            dut.load__valid.value = 1
            dut.load__payload.value = pack(self.load_fields, {
                "target": target, "pe": pe, "addr": addr, "data": value})
            await self.tb.tick()
            if shadow:
                self.shadow.write(target, pe, addr, value)
        dut.load__valid.value = 0

    def errors(self) -> dict:
        value = int(self.dut.error.value)
        return {name: (value >> bit) & 1 for name, bit in ERROR_BITS.items()}

    async def run(self, desc: dict, acts, *, valid_prob=0.8, ready_prob=0.7,
                  expect_outputs: int | None = None, after_start=None):
        """One run: returns ``(outputs, errors, figures)``; fails if the engine hangs.

        ``after_start``, a coroutine function, is awaited right after the ``start`` pulse.

        ``figures`` has ``cycles`` (start to ``done``), ``compute_cycles`` (start to the
        first output), ``accepted`` and ``beats`` (activation beats taken and sent).
        """
        dut, tb, gen = self.dut, self.tb, self.gen
        acts = beats(acts, gen)
        n_out = desc["rows"] if expect_outputs is None else expect_outputs
        dut.layer.value = pack(self.layer_fields, desc)
        budget = 40 * (len(acts) + n_out) + 4 * P.pointer_end + 2000
        outputs, index, pending, first_out = [], 0, None, None
        amask = (1 << (P.act_width * P.act_lanes)) - 1
        # Cycle 0 pulses ``start``; the first beat may be offered with it (not when
        # ``after_start`` runs between the pulse and the beats).
        for cycle in range(budget):
            dut.start.value = int(cycle == 0)
            if cycle == 1 and after_start is not None:
                dut.act__valid.value = 0
                await after_start()
            if (pending is None and index < len(acts) and gen.random() < valid_prob
                    and (cycle > 0 or after_start is None)):
                pending = acts[index]
                index += 1
            dut.act__valid.value = int(pending is not None)
            dut.act__payload.value = (pending if pending is not None
                                      else int(gen.integers(0, 1 << 62))) & amask
            dut.output__ready.value = int(gen.random() < ready_prob)
            await ReadOnly()
            if pending is not None and int(dut.act__ready.value):
                pending = None
            if int(dut.output__valid.value):
                first_out = cycle if first_out is None else first_out
                if int(dut.output__ready.value):
                    outputs.append(int(dut.output__payload.value.to_signed()))
            done = int(dut.done.value)
            await tb.tick()
            if done:
                break
        else:
            raise AssertionError(
                f"engine hung: no done after {budget} cycles; took {index} of {len(acts)} "
                f"activations, gave {len(outputs)} of {n_out} outputs, errors {self.errors()}, "
                f"layer {desc}")
        accepted = index - (pending is not None)
        dut.act__valid.value = 0
        figures = {"cycles": cycle, "compute_cycles": first_out or cycle,
                   "accepted": accepted, "beats": len(acts)}
        return outputs, self.errors(), figures

    async def check(self, desc, acts, what: str, **kwargs):
        """Run and compare with the golden model; returns the golden result and figures."""
        want, result = self.shadow.expected(desc, acts)
        assert want is not None, f"{what}: the golden model rejects the encoding: {result}"
        got, errors, figures = await self.run(desc, acts, **kwargs)
        assert not any(errors.values()), f"{what}: unexpected error flags {errors}"
        assert figures["accepted"] == figures["beats"], (
            f"{what}: the engine took {figures['accepted']} of {figures['beats']} beats")
        mismatch = first_mismatch(got, want, lambda k: (
            f"{what}: row {k} (PE {k % P.pes}, local row {k // P.pes}), layer {desc}, "
            f"accumulator {int(result.acc[k])}, activations {list(map(int, acts))}"))
        assert mismatch is None, mismatch
        return result, figures


def random_index(gen, rows, cols, density, *, style="uniform"):
    """A codebook-index matrix (0 = pruned) with a given density and structure."""
    index = gen.integers(1, 1 << P.v_bits, (rows, cols)) * (gen.random((rows, cols)) < density)
    if style == "gaps":
        index[:] = 0
        for j in range(cols):
            picks = gen.choice(rows, size=min(rows, int(gen.integers(0, 3))), replace=False)
            index[picks, j] = gen.integers(1, 1 << P.v_bits, len(picks))
        if rows > 1:
            index[rows - 1, gen.integers(0, cols)] = 1
    elif style == "empty":
        index[gen.random(rows) < 0.3, :] = 0
        index[:, gen.random(cols) < 0.3] = 0
    return index.astype(np.int64)


def stored(matrix: EieMatrix):
    """The matrix as the engine stores it: Huffman-coded if the engine decodes codes."""
    return eie_huffman(matrix, P.code_length) if P.huffman else matrix


def random_layer(gen, *, max_rows=70, max_cols=60, cols=None, style=None):
    """``(matrix, codebook, bias, shift, relu, index)`` of a random layer that fits the engine
    (``cols`` columns, or a random number up to ``max_cols``)."""
    style = style or gen.choice(["uniform", "uniform", "gaps", "empty"])
    rows = int(gen.integers(1, min(P.max_rows, max_rows) + 1))
    if cols is None:
        cols = int(gen.integers(1, min(P.ptr_depth - 1, max_cols) + 1))
    density = float(gen.uniform(0.02, 0.6))
    while True:
        index = random_index(gen, rows, cols, density, style=style)
        matrix = stored(eie_encode(index, P.pes, z_bits=P.z_bits, v_bits=P.v_bits))
        if stored_words(matrix).max(initial=0) <= DEPTH // 2:
            break
        density /= 2
    lim = 1 << (P.weight_width - 1)
    codebook = np.concatenate([[0], gen.integers(-lim, lim, int(gen.integers(1, 1 << P.v_bits)))])
    bias_lim = 1 << min(P.weight_width + P.act_width + 2, P.acc_width - 3)
    bias = gen.integers(-bias_lim, bias_lim, rows)
    if gen.random() < 0.2:    # sums near the accumulator's wrap-around
        bias = bias + gen.choice([-1, 1]) * ((1 << (P.acc_width - 1)) - 1 - bias_lim)
    shift = int(gen.integers(0, min(P.acc_width, P.weight_width + P.act_width + 4)))
    return matrix, codebook, bias, shift, bool(gen.random() < 0.5), index


def random_acts(gen, cols, *, zeros=None):
    """Activations with a random share of zeros (all zero now and then)."""
    zeros = gen.uniform(0.0, 0.95) if zeros is None else zeros
    lim = 1 << (P.act_width - 1)
    acts = gen.integers(-lim, lim, cols)
    acts[gen.random(cols) < zeros] = 0
    return acts


def placed_at_random(gen, layer):
    matrix, codebook, bias, shift, relu, _ = layer
    need = int(stored_words(matrix).max(initial=0))
    return PlacedLayer(
        matrix=matrix, codebook=codebook, bias=bias, shift=shift, relu=relu,
        entry_base=int(gen.integers(0, DEPTH - need + 1)),
        ptr_base=int(gen.integers(0, P.ptr_depth - matrix.cols - 1 + 1)),
        bias_base=int(gen.integers(0, P.bias_depth - matrix.rows + 1)),
        codebook_slot=int(gen.integers(0, P.codebooks)))


async def _start(dut, salt):
    tb = TB(dut)
    engine = Engine(dut, tb, rng(salt))
    await tb.reset()
    return engine


@cocotb.test()
async def random_layers(dut):
    """Random layers and vectors, idle cycles on the input, back-pressure on the output."""
    engine = await _start(dut, 1)
    gen = engine.gen
    for case in range(int(os.environ.get("COROLLA_CASES", "12"))):
        layer = random_layer(gen)
        placed = placed_at_random(gen, layer)
        await engine.load(load_words(placed, P))
        desc = layer_descriptor(placed)
        for vector in range(3):
            zeros = 1.0 if vector == 2 and case % 3 == 0 else None
            acts = random_acts(gen, placed.matrix.cols, zeros=zeros)
            await engine.check(desc, acts, f"case {case} vector {vector}")


@cocotb.test()
async def two_layers(dut):
    """Two layers held at once, the first one's outputs feeding the second."""
    engine = await _start(dut, 2)
    gen = engine.gen
    for case in range(3):
        first = random_layer(gen, max_rows=60, max_cols=40)
        m0 = first[0]
        second = random_layer(gen, max_rows=40, cols=m0.rows)
        placed = plan_layers([first[:5], second[:5]], P)
        for layer in placed:
            await engine.load(load_words(layer, P))
        for vector in range(2):
            acts = random_acts(gen, m0.cols)
            result, _ = await engine.check(layer_descriptor(placed[0]), acts,
                                           f"case {case} vector {vector} layer 0")
            await engine.check(layer_descriptor(placed[1]), result.out,
                               f"case {case} vector {vector} layer 1")


def _corrupt(gen, engine, placed, desc):
    """Random corruption of a loaded layer: memory writes and/or a changed descriptor."""
    p = P
    kind = gen.choice(["pointer", "pointer", "entry", "rows", "mixed"])
    words = []
    if kind in ("pointer", "mixed"):
        for _ in range(int(gen.integers(1, 4))):
            pe = int(gen.integers(0, p.pes))
            col = int(gen.integers(0, desc["cols"] + 1))
            value = int(gen.integers(0, 1 << p.ptr_width))
            if gen.random() < 0.5:     # near the real pointer: small shifts, end < start
                value = int(np.clip(engine.shadow.ptr[pe, desc["ptr_base"] + col]
                                    + gen.integers(-3, 4), 0, (1 << p.ptr_width) - 1))
            words.append((POINTER, pe, desc["ptr_base"] + col, value))
    if kind in ("entry", "mixed"):
        width = CODE_WORD if p.huffman else p.entry_width
        for _ in range(int(gen.integers(1, 6))):
            pe = int(gen.integers(0, p.pes))
            used = int(stored_words(placed.matrix)[pe])
            addr = placed.entry_base + int(gen.integers(0, max(used, 1)))
            value = int(gen.integers(0, 1 << width))
            if p.huffman and gen.random() < 0.5:      # one bit flipped
                value = int(engine.shadow.entries[pe, addr]) ^ (1 << int(gen.integers(0, width)))
            words.append((ENTRY, pe, addr, value))
    if kind in ("rows", "mixed"):
        desc = dict(desc, rows=int(gen.integers(1, desc["rows"] + 1)))
    return words, desc


@cocotb.test()
async def corrupted(dut):
    """Seeded fuzzing of the memories and descriptors: flag exactly when the model rejects."""
    engine = await _start(dut, 3)
    gen = engine.gen
    flagged = 0
    cases = int(os.environ.get("COROLLA_FUZZ", "40"))
    for case in range(cases):
        layer = random_layer(gen, max_rows=50, max_cols=40)
        placed = placed_at_random(gen, layer)
        await engine.load(load_words(placed, P), idle_prob=0.0)
        words, desc = _corrupt(gen, engine, placed, layer_descriptor(placed))
        await engine.load(words, idle_prob=0.0)
        acts = random_acts(gen, desc["cols"], zeros=gen.uniform(0, 0.5))
        want, result = engine.shadow.expected(desc, acts)
        got, errors, figures = await engine.run(desc, acts)
        what = f"fuzz case {case}: writes {words}, layer {desc}"
        assert figures["accepted"] == figures["beats"], (
            f"{what}: the engine took {figures['accepted']} of {figures['beats']} beats")
        assert len(got) == desc["rows"], f"{what}: {len(got)} of {desc['rows']} outputs"
        assert not errors["config"] and not errors["load"], f"{what}: flags {errors}"
        flag = errors["pointer"] or errors["row"] or errors["code"]
        if want is None:
            flagged += 1
            assert flag, f"{what}: the golden model rejects it ({result}) but no flag is set"
        else:
            assert not flag, f"{what}: flags {errors} but the golden model accepts it"
            mismatch = first_mismatch(got, want, lambda k, what=what: f"{what}: row {k}")
            assert mismatch is None, mismatch
    record_stats(fuzz_cases=cases, fuzz_flagged=flagged)
    # Both outcomes must occur, or the fuzzing does not test what it claims.
    assert flagged > 0 and (cases < 30 or flagged < cases), (
        f"fuzzing flagged {flagged} of {cases} cases")
    layer = random_layer(gen)
    placed = placed_at_random(gen, layer)
    await engine.load(load_words(placed, P))
    await engine.check(layer_descriptor(placed), random_acts(gen, placed.matrix.cols),
                       "clean run after fuzzing")


@cocotb.test()
async def bad_requests(dut):
    """Descriptors that do not fit, bad writes, start while busy: flagged, nothing lost."""
    engine = await _start(dut, 4)
    gen = engine.gen
    layer = random_layer(gen, max_rows=40, max_cols=30, style="uniform")
    placed = placed_at_random(gen, layer)
    await engine.load(load_words(placed, P))
    desc = layer_descriptor(placed)
    bad = {
        "rows = 0": dict(desc, rows=0),
        "rows > max_rows": dict(desc, rows=(1 << P.max_rows.bit_length()) - 1),
        "cols = 0": dict(desc, cols=0),
        "pointers past the memory": dict(desc, ptr_base=P.ptr_depth - desc["cols"]),
        "biases past the memory": dict(desc, bias_base=P.bias_depth - desc["rows"] + 1),
    }
    if bad["rows > max_rows"]["rows"] <= P.max_rows:      # not encodable: nothing to test
        del bad["rows > max_rows"]
    for what, d in bad.items():
        got, errors, figures = await engine.run(d, [1] * max(d["cols"], 1), expect_outputs=0)
        assert errors["config"], f"{what}: no config error ({errors})"
        assert figures["accepted"] == 0 and not got, (
            f"{what}: a refused run took {figures['accepted']} activations and gave "
            f"{len(got)} outputs")
        assert figures["cycles"] <= 3, f"{what}: refusal took {figures['cycles']} cycles"
    await engine.check(desc, random_acts(gen, desc["cols"]), "run after refused starts")

    limits = {ENTRY: (P.entry_depth, P.entry_width), POINTER: (P.ptr_depth, P.ptr_width),
              CODEBOOK: (P.codebooks << P.v_bits, P.weight_width),
              BIAS: (P.bias_depth, P.acc_width)}
    if P.huffman:
        limits[ENTRY] = (P.code_depth, CODE_WORD)
        limits[SYMBOLS] = (P.codebooks << (P.symbol_bits + 1), P.symbol_bits)
        # Code length n = L + 1 (if L < 8: three bits hold n − 1), and codebook slots.
        limits[LIMITS] = (P.code_length, 2 * P.code_length + 3)
    max_addr = (1 << P.load_addr_width) - 1
    max_data = (1 << P.load_data_width) - 1
    for target, (depth, width) in limits.items():
        cases = []
        if depth <= max_addr and not (target == LIMITS and depth == 8):
            cases.append(("address", (target, 0, depth, 0)))
        if target == LIMITS and P.codebooks << 4 <= max_addr:
            cases.append(("codebook", (target, 0, P.codebooks << 4, 0)))
        if width < P.load_data_width:
            cases.append(("data", (target, 0, 0, max_data)))
        for what, word in cases:
            await engine.load([word], shadow=False)
            assert engine.errors()["load"], f"target {target} bad {what} {word}: no flag"
            await engine.check(desc, random_acts(gen, desc["cols"]),
                               f"run after bad write {word}")

    # Writes and a second start while a run is under way are ignored (the write is flagged).
    acts = random_acts(gen, desc["cols"], zeros=0.0)
    want, _ = engine.shadow.expected(desc, acts)

    async def meddle():
        await engine.load([(BIAS, 0, desc["bias_base"], 12345)], idle_prob=0.0, shadow=False)
        dut.start.value = 1
        await engine.tb.tick()
        dut.start.value = 0
        assert int(dut.busy.value), "the engine is not busy after start"

    outputs, _, _ = await engine.run(desc, acts, valid_prob=1.0, ready_prob=1.0,
                                     after_start=meddle)
    assert engine.errors()["load"], "a write during a run is not flagged"
    mismatch = first_mismatch(outputs, want, lambda k: f"run with a write during it: row {k}")
    assert mismatch is None, mismatch


@cocotb.test(skip="COROLLA_EIE_MODEL" not in os.environ)
async def model(dut):
    """Every layer of a compressed MLP through the engine, chained, on real inputs."""
    from corolla.firmware.compress.qmodel import load_compressed

    engine = await _start(dut, 5)
    full_speed = bool(os.environ.get("COROLLA_FULL_SPEED"))
    speed = {"valid_prob": 1.0, "ready_prob": 1.0} if full_speed else {}
    compressed = load_compressed(os.environ["COROLLA_EIE_MODEL"])
    inputs = np.load(os.environ["COROLLA_EIE_INPUTS"])
    layers = [(eie_encode(q.index, P.pes, z_bits=P.z_bits, v_bits=P.v_bits), q.codebook,
               q.bias, q.shift, q.relu) for q in compressed.layers]
    placed = plan_layers(layers, P)
    for layer in placed:
        await engine.load(load_words(layer, P), idle_prob=0.0)
    runs = []
    for n, pixels in enumerate(inputs):
        dense = compressed.forward(pixels[None, :])
        acts = np.asarray(pixels, dtype=np.int64)
        for k, layer in enumerate(placed):
            result, figures = await engine.check(layer_descriptor(layer), acts,
                                                 f"input {n} layer {k}", **speed)
            out = np.asarray(result.out)
            mismatch = first_mismatch(out.tolist(), dense[k + 1][0].tolist(),
                                      lambda i, k=k, n=n: f"input {n} layer {k} row {i} "
                                                     "against the dense integer model")
            assert mismatch is None, mismatch
            runs.append({"input": n, "layer": k, "rows": layer.matrix.rows,
                         "cols": layer.matrix.cols, "broadcasts": result.broadcasts,
                         "work": result.work.tolist(), **figures})
            acts = out
    record_stats(runs=runs, params=P.to_dict())


@cocotb.test(skip="COROLLA_WALK_RATE" not in os.environ)
async def walk_rate(dut):
    """How many entries a PE walks per cycle (decodes, with Huffman-coded entries): a long
    single column against a one-entry column, at full speed. Records both runs' cycles and
    the busiest PE's entries."""
    engine = await _start(dut, 6)
    gen = engine.gen
    rows = min(P.max_rows, P.pes * (DEPTH // 4))
    runs = {}
    for name, density in (("short", 0.0), ("long", 0.6)):
        index = gen.integers(1, 1 << P.v_bits, (rows, 1)) * (gen.random((rows, 1)) < density)
        index[0, 0] = 1 if name == "short" else index[0, 0]
        layer = (stored(eie_encode(index, P.pes, z_bits=P.z_bits, v_bits=P.v_bits)),
                 np.arange(1 << P.v_bits), np.zeros(rows, np.int64), 0, False)
        placed = plan_layers([layer], P)[0]
        await engine.load(load_words(placed, P), idle_prob=0.0)
        result, figures = await engine.check(layer_descriptor(placed), np.array([1]),
                                             f"walk rate ({name})", valid_prob=1.0,
                                             ready_prob=1.0)
        runs[name] = {"compute_cycles": figures["compute_cycles"],
                      "entries": int(result.work.max())}
    record_stats(walk=runs)
