"""cocotb bench of :class:`corolla.hw.array.SystolicArray` against :func:`array_gemm`.

Every case tiles a GEMM with :func:`corolla.firmware.array.gemm_beats`, streams the beats in
(with idle cycles), takes the result rows out (with back-pressure), reassembles ``Y`` and
compares it with the golden GEMM of the PE kind, reporting the first mismatching element
with the operands that produced it.

Tests
-----
``random_gemms``
    Shapes not multiples of the array (K = 1, large K, single rows and columns) and
    ``COROLLA_CASES`` random ones (more until ``COROLLA_CYCLES`` cycles have run, if set),
    operands over the kind's whole range, at several input duty cycles and output
    back-pressure levels.
``exhaustive_products``
    Every pair of operand values (for operands of at most 8 bits): the outer product of all
    ``a`` values with all ``b`` values.
``extremes``
    The largest-magnitude operands, with K long enough to wrap the accumulators (when that
    takes at most a few thousand beats).
``conv_layer``
    int8 only: small convolutions lowered by im2col, checked against a direct convolution.
``throughput``
    No stalls: cycles for the shapes in ``COROLLA_ARRAY_SHAPES`` (JSON list of
    ``[M, N, K]``; default one shape), recorded in ``COROLLA_STATS_FILE`` together with the
    utilization ``M·N·K / (rows·cols·cycles)``.
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np

from corolla.firmware.array import GemmTiling, assemble, conv_as_gemm, gemm_beats
from corolla.formats import wrap_signed
from corolla.pe_kinds import pe_kind
from corolla.sim.benches.common import (
    golden,
    pack,
    params,
    record_stats,
    run_streams,
    start,
    to_signed,
)
from corolla.sim.models.array import array_gemm, conv2d_reference


class Array:
    """The array under test: packs beats, unpacks result rows, runs and checks GEMMs."""

    def __init__(self, dut, tb, gen):
        p = params()
        self.dut, self.tb, self.gen = dut, tb, gen
        self.rows, self.cols = p["rows"], p["cols"]
        self.kind_dict = p["kind"]
        self.kind = pe_kind(p["kind"])
        self.a_width = self.kind.a_shape[0]
        self.b_width = self.kind.b_shape[0]
        self.fields = list(self.kind.result_fields.items())
        self.result_width = sum(w for _, w in self.fields)
        fields, offset = [], 0
        for r in range(self.rows):
            fields.append((f"a{r}", offset, self.a_width))
            offset += self.a_width
        for c in range(self.cols):
            fields.append((f"b{c}", offset, self.b_width))
            offset += self.b_width
        fields.append(("last", offset, 1))
        self.beat_fields = fields
        self.beat_width = offset + 1
        self.pad = self.kind.pad

    # Operands from the kind's own ranges (corolla.pe_kinds).
    def values_a(self):
        return self.kind.values_a()

    def values_b(self):
        return self.kind.values_b()

    def random_a(self, shape):
        return self.kind.random_a(self.gen, shape)

    def random_b(self, shape):
        return self.kind.random_b(self.gen, shape)

    def unpack_row(self, word):
        out = []
        for c in range(self.cols):
            cell = word >> (c * self.result_width)
            vals, offset = [], 0
            for _, width in self.fields:
                vals.append(to_signed(cell >> offset, width))
                offset += width
            out.append(vals)
        return out

    async def gemm(self, a, b, *, what, valid_prob=1.0, ready_prob=1.0):
        """Run ``Y = A · B`` and compare with the golden GEMM.

        Returns the cycles from the first beat to the last result row, and ``Y`` as the
        array computed it (M × N × F).
        """
        tiling, beat_a, beat_b, last = gemm_beats(a, b, self.rows, self.cols,
                                                  pad_a=self.pad, pad_b=self.pad)
        items = []
        for i in range(tiling.beats):
            values = {f"a{r}": beat_a[i, r] for r in range(self.rows)}
            values.update({f"b{c}": beat_b[i, c] for c in range(self.cols)})
            values["last"] = last[i]
            items.append(pack(self.beat_fields, values))
        before = self.tb.cycle
        words = await run_streams(
            self.dut, self.tb, source="operands", items=items, sink="results",
            expected_count=tiling.result_beats, gen=self.gen, valid_prob=valid_prob,
            ready_prob=ready_prob, payload_width=self.beat_width,
            max_cycles=int(tiling.beats / valid_prob + tiling.result_beats / ready_prob
                           + tiling.tiles * (4 * self.rows + 2 * self.cols + 10) + 200))
        cycles = self.tb.cycle - before
        got = assemble(tiling, np.array([self.unpack_row(w) for w in words], dtype=np.int64))
        want = np.asarray(golden(array_gemm)(self.kind_dict, a, b))
        bad = np.argwhere(got != want)
        if len(bad):
            i, j, f = bad[0]
            tile = (i // self.rows) * tiling.tile_cols + j // self.cols
            raise AssertionError(
                f"{what}: first mismatch at Y[{i}, {j}].{self.fields[f][0]} (tile {tile}, PE "
                f"({i % self.rows}, {j % self.cols})) of a {tiling.m}×{tiling.n}×{tiling.k} "
                f"GEMM on {self.kind.name} PEs: expected {int(want[i, j, f])}, got "
                f"{int(got[i, j, f])}; inputs A[{i}, :8] = {np.asarray(a)[i, :8].tolist()}, "
                f"B[:8, {j}] = {np.asarray(b)[:8, j].tolist()} (valid_prob={valid_prob}, "
                f"ready_prob={ready_prob})")
        return cycles, got


async def _array(dut, salt):
    tb, gen = await start(dut, salt, sinks=("results",))
    dut.operands__valid.value = 0
    return Array(dut, tb, gen)


@cocotb.test()
async def random_gemms(dut):
    """Shapes around the array size, K = 1 to large K, with stalls on both streams."""
    arr = await _array(dut, 1)
    rows, cols, gen = arr.rows, arr.cols, arr.gen
    shapes = [(1, 1, 1), (rows, cols, 1), (rows + 1, cols + 1, 1), (2 * rows + 1, 1, 3),
              (1, 2 * cols + 1, 5), (max(rows - 1, 1), cols + 2, 64), (5, 3, 300),
              (2 * rows, 2 * cols, 17)]
    cases = int(os.environ.get("COROLLA_CASES", "12"))
    budget = int(os.environ.get("COROLLA_CYCLES", "0"))
    duties = [(1.0, 1.0), (0.6, 1.0), (1.0, 0.4), (0.5, 0.5), (0.9, 0.8)]
    n = cycles = 0
    while n < len(shapes) + cases or cycles < budget:
        if n < len(shapes):
            m, nn, k = shapes[n]
        else:
            m, nn, k = (int(gen.integers(1, 3 * rows + 2)), int(gen.integers(1, 3 * cols + 2)),
                        int(gen.integers(1, 80)))
        valid_prob, ready_prob = duties[n % len(duties)]
        took, _ = await arr.gemm(arr.random_a((m, k)), arr.random_b((k, nn)),
                                 what=f"GEMM {n} ({m}×{nn}×{k})", valid_prob=valid_prob,
                                 ready_prob=ready_prob)
        cycles += took
        n += 1
    record_stats(random_gemms=n, random_cycles=cycles)


@cocotb.test(skip=max(pe_kind(params().get("kind", "int8")).a_shape[0],
                      pe_kind(params().get("kind", "int8")).b_shape[0]) > 8)
async def exhaustive_products(dut):
    """Every (a, b) operand pair, as one outer-product GEMM with K = 1, under stalls."""
    arr = await _array(dut, 2)
    a = arr.values_a()[:, None]
    b = arr.values_b()[None, :]
    await arr.gemm(a, b, what="exhaustive products", valid_prob=0.8, ready_prob=0.8)
    record_stats(exhaustive_pairs=int(a.size * b.size))


@cocotb.test()
async def extremes(dut):
    """Largest-magnitude operands, long enough to wrap the accumulators."""
    arr = await _array(dut, 3)
    kind = arr.kind
    va, vb = arr.values_a(), arr.values_b()
    big_a, big_b, big = kind.extremes()
    wrap_k = 2 * ((1 << (kind.acc_width - 1)) // big) + 2
    k = int(min(wrap_k, 4000) + 3)
    pick_a = np.array([va[0], va[-1], va[len(va) // 2], va[1]])
    pick_b = np.array([vb[0], vb[-1], vb[len(vb) // 2], vb[1]])
    # Same-sign extremes in the first rows/columns (they add up and wrap), mixed elsewhere.
    a = arr.gen.choice(pick_a, size=(arr.rows + 1, k))
    b = arr.gen.choice(pick_b, size=(k, arr.cols + 1))
    a[0], b[:, 0] = big_a, big_b
    await arr.gemm(a, b, what=f"extremes (K={k})", valid_prob=0.9, ready_prob=0.7)
    record_stats(extremes_k=k, extremes_wrap=bool(wrap_k <= 4000))


@cocotb.test(skip=params().get("kind", {}).get("kind") != "int8")
async def conv_layer(dut):
    """3×3 convolutions lowered by im2col, against a direct convolution."""
    arr = await _array(dut, 4)
    acc = arr.kind.acc_width
    for stride, pad in ((1, 1), (2, 0)):
        x = arr.random_b((3, 7, 6))
        w = arr.random_a((5, 3, 3, 3))
        a, b, shape = conv_as_gemm(x, w, stride=stride, pad=pad)
        _, got = await arr.gemm(a, b, what=f"conv stride {stride} pad {pad}",
                                valid_prob=0.8, ready_prob=0.8)
        direct = wrap_signed(conv2d_reference(x, w, stride=stride, pad=pad), acc)
        bad = np.argwhere(got[..., 0].reshape(shape) != direct)
        if len(bad):
            o, i, j = bad[0]
            raise AssertionError(
                f"conv stride {stride} pad {pad}: first mismatch at output ({o}, {i}, {j}): "
                f"direct convolution {int(direct[o, i, j])}, array "
                f"{int(got[..., 0].reshape(shape)[o, i, j])}")


@cocotb.test()
async def throughput(dut):
    """Cycles per GEMM with no stalls, and the utilization they give."""
    arr = await _array(dut, 5)
    rows, cols = arr.rows, arr.cols
    shapes = json.loads(os.environ.get("COROLLA_ARRAY_SHAPES", "null")) or \
        [[4 * rows, 4 * cols, 64]]
    figures = []
    for m, n, k in shapes:
        cycles, _ = await arr.gemm(arr.random_a((m, k)), arr.random_b((k, n)),
                                what=f"throughput {m}×{n}×{k}")
        tiling = GemmTiling(m, n, k, rows, cols)
        figures.append({"m": m, "n": n, "k": k, "cycles": cycles,
                        "model_cycles": tiling.cycles(arr.kind.latency),
                        "utilization": m * n * k / (rows * cols * cycles)})
    record_stats(throughput=figures)
