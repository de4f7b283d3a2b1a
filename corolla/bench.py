"""Benchmarks that print figures: resources and Fmax of the arithmetic units, the PE array and
the EIE engine, LNS error, the array's utilization on GEMM shapes and the engine's cycles on
the digits MLP.

Resources are counted on the unit alone (Yosys, out of context). Fmax comes from placing
the unit inside a pin harness, because a unit's ports outnumber a small package's pins: a
shift register fed from one pin drives every input, and every output is registered and
XOR-reduced onto one pin, so no logic can be optimized away and every path starts and ends
at a flip-flop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np
from amaranth import Cat, Elaboratable, Module, Signal, signed
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .sim.runner import signal_ports, to_verilog
from .toolchain import place_and_route, synthesize

__all__ = [
    "ARRAY_SHAPES",
    "MARLANN",
    "IntMul",
    "PinHarness",
    "UnitFigures",
    "array_cycles",
    "array_resources",
    "bench_units",
    "board_summary",
    "device_platform",
    "digits_engine_params",
    "harness_fmax",
    "lns_catalogue",
    "lns_error_table",
    "sparse_cycles",
    "sparse_resources",
    "sparse_storage",
    "unit_catalogue",
    "walk_rate",
    "winograd_cycles",
]


class PinHarness(Elaboratable):
    """Wrap a component so that it needs two pins (``din``, ``dout``) besides the clock."""

    def __init__(self, unit: wiring.Component):
        self.unit = unit
        self.din = Signal()
        self.dout = Signal()

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = self.unit
        inputs, outputs = [], []
        for _name, flow, value in signal_ports(self.unit):
            (inputs if flow == wiring.In else outputs).append(value)
        width_in = sum(len(v) for v in inputs)
        chain = Signal(max(width_in, 1))
        m.d.sync += chain.eq(Cat(self.din, chain[:-1]))
        offset = 0
        for v in inputs:
            m.d.comb += v.eq(chain[offset:offset + len(v)])
            offset += len(v)
        captured = Signal(sum(len(v) for v in outputs))
        m.d.sync += [captured.eq(Cat(*outputs)), self.dout.eq(captured.xor())]
        return m


@dataclass
class UnitFigures:
    """One row of ``corolla bench units``."""

    unit: str
    parameters: str
    device: str
    luts: int
    ffs: int
    dsps: int
    carries: int
    fmax_mhz: float | None
    macs_per_cycle: int

    @property
    def luts_per_mac(self) -> float | None:
        """Fabric LUTs per MAC (``None`` for units that do no MACs)."""
        return self.luts / self.macs_per_cycle if self.macs_per_cycle else None

    def to_dict(self) -> dict:
        """A JSON-friendly form."""
        return {"unit": self.unit, "parameters": self.parameters, "device": self.device,
                "luts": self.luts, "ffs": self.ffs, "dsps": self.dsps,
                "carries": self.carries, "fmax_mhz": self.fmax_mhz,
                "macs_per_cycle": self.macs_per_cycle,
                "luts_per_mac": (round(self.luts_per_mac, 2)
                                 if self.luts_per_mac is not None else None)}


def unit_catalogue():
    """The units benchmarked: (name, parameter text, factory, MACs per cycle, use DSPs)."""
    from corolla.hw.arith import BinaryDot, Mac, Requant, TernaryMac

    return [
        ("int8 MAC", "DSP", lambda: Mac(width=8, acc_width=32), 1, True),
        ("int8 MAC", "LUT only", lambda: Mac(width=8, acc_width=32), 1, False),
        ("ternary", "16 lanes, int8", lambda: TernaryMac(lanes=16, acc_width=24), 16, True),
        ("binary", "n=64", lambda: BinaryDot(n=64, levels_per_stage=2), 64, True),
        ("binary", "n=256", lambda: BinaryDot(n=256, levels_per_stage=2), 256, True),
        ("requant", "int32 -> int8", lambda: Requant(acc_width=32, out_width=8), 0, True),
    ]


class IntMul(wiring.Component):
    """A registered signed integer multiplier: the reference the LNS multiplier is compared
    with (``width`` bits span about the same dynamic range as an LNS format with
    ``2**(I-1)`` octaves each side of 1)."""

    def __init__(self, width: int):
        self.width = width
        super().__init__({"a": In(signed(width)), "b": In(signed(width)),
                          "p": Out(signed(2 * width))})

    def elaborate(self, platform):
        m = Module()
        a, b = Signal.like(self.a), Signal.like(self.b)
        m.d.sync += [a.eq(self.a), b.eq(self.b), self.p.eq(a * b)]
        return m


def lns_catalogue():
    """LNS units next to integer multipliers of similar dynamic range (same row format as
    :func:`unit_catalogue`)."""
    from corolla.formats import LnsFormat
    from corolla.hw.arith.lns import IntToLns, LnsAdd, LnsMac, LnsMul, LnsToFixed

    f8, f12 = LnsFormat(4, 3), LnsFormat(5, 6)
    return [
        ("LNS mul", "8-bit (I4.F3)", lambda: LnsMul(f8), 1, False),
        ("LNS add", "8-bit (I4.F3)", lambda: LnsAdd(f8), 0, False),
        ("int mul", "17-bit (2^16 range), LUT only", lambda: IntMul(17), 1, False),
        ("int mul", "17-bit (2^16 range), DSP", lambda: IntMul(17), 1, True),
        ("LNS mul", "12-bit (I5.F6)", lambda: LnsMul(f12), 1, False),
        ("LNS add", "12-bit (I5.F6)", lambda: LnsAdd(f12), 0, False),
        ("int mul", "32-bit (2^32 range), DSP", lambda: IntMul(32), 1, True),
        ("int8 -> LNS", "8-bit", lambda: IntToLns(f8), 0, False),
        ("LNS -> fixed", "8-bit -> int32", lambda: LnsToFixed(f8), 0, False),
        ("LNS MAC", "8-bit, linear int32", lambda: LnsMac(f8, mode="linear"), 1, False),
        ("LNS MAC", "8-bit, log", lambda: LnsMac(f8, mode="log"), 1, False),
        ("LNS MAC", "8-bit, Kahan (1 MAC / 4 cycles)", lambda: LnsMac(f8, mode="kahan"), 1,
         False),
    ]


def _relative(got, ref, scale):
    err = np.abs(np.asarray(got, float) - np.asarray(ref, float)) / np.asarray(scale, float)
    return {"mean": float(np.mean(err)), "max": float(np.max(err))}


def lns_error_table(formats=None, *, samples: int = 4000, dots: int = 100,
                    seed: int = 0) -> list[dict]:
    """Error of LNS arithmetic against float64, per format and operation.

    Inputs are drawn as floats (activations uniform in [0, 1), weights normal with σ = 0.5)
    and encoded to LNS; the float64 reference is computed on the *encoded* values, so the
    figures isolate the arithmetic's own error. Multiply and add errors are relative to the
    exact result (products outside the format's range, which flush to zero or saturate, are
    counted apart as ``out_of_range``); dot-product errors are relative to ``Σ|a_i·w_i|``
    (the exact dot can be near zero). Linear mode uses ``F + 4`` fraction bits in its int32
    accumulator.
    """
    from corolla.formats import LnsFormat
    from corolla.sim.models.lns import lns_add, lns_dot, lns_mul

    if formats is None:
        formats = [LnsFormat(4, 3), LnsFormat(5, 6), LnsFormat(6, 10, table_frac_bits=6,
                                                               interpolate=True)]
    gen = np.random.default_rng(seed)
    rows = []
    for fmt in formats:
        name = (f"I{fmt.int_bits}.F{fmt.frac_bits}" + (
            f" T{fmt.table_frac_bits}{' interp' if fmt.interpolate else ''}"
            if fmt.table_frac_bits is not None else ""))
        a = fmt.encode(gen.uniform(0.0, 1.0, samples))
        w = fmt.encode(gen.normal(0.0, 0.5, samples))
        av, wv = fmt.decode(a), fmt.decode(w)
        keep = (av != 0) & (wv != 0)
        prod = fmt.decode(lns_mul(fmt, a, w))
        exact = np.abs(av * wv)
        smallest = 2.0 ** (fmt.log_min / (1 << fmt.frac_bits))
        largest = 2.0 ** (fmt.log_max / (1 << fmt.frac_bits))
        inside = keep & (exact >= smallest) & (exact <= largest)
        rows.append({"format": name, "bits": fmt.width, "operation": "multiply",
                     **_relative(prod[inside], (av * wv)[inside], exact[inside]),
                     "out_of_range": float(np.mean(~inside[keep]))})
        s = fmt.decode(lns_add(fmt, a, w))
        ref = av + wv
        keep = ref != 0
        rows.append({"format": name, "bits": fmt.width, "operation": "add",
                     **_relative(s[keep], ref[keep], np.abs(ref[keep]))})
        for length in (64, 256):
            got = {mode: [] for mode in ("linear", "log", "kahan")}
            refs, scales = [], []
            for _ in range(dots):
                x = fmt.encode(gen.uniform(0.0, 1.0, length))
                y = fmt.encode(gen.normal(0.0, 0.5, length))
                xv, yv = fmt.decode(x), fmt.decode(y)
                refs.append(float(np.dot(xv, yv)))
                scales.append(float(np.sum(np.abs(xv * yv))))
                acc_frac = fmt.frac_bits + 4
                got["linear"].append(lns_dot(fmt, x, y, mode="linear", acc_frac=acc_frac,
                                             antilog_bits=acc_frac) / 2.0 ** acc_frac)
                for mode in ("log", "kahan"):
                    got[mode].append(float(fmt.decode(lns_dot(fmt, x, y, mode=mode))))
            for mode, values in got.items():
                rows.append({"format": name, "bits": fmt.width,
                             "operation": f"dot {length}, {mode}",
                             **_relative(values, refs, scales)})
    return rows


def device_platform(device: str):
    """What a unit is elaborated for when it is synthesized alone for ``device``: iCE40
    devices get :data:`~corolla.hw.arith.dsp.ICE40_PRIMITIVES` (two int8 PEs per
    ``SB_MAC16``, as on the board), others none."""
    from corolla.hw.arith.dsp import ICE40_PRIMITIVES

    return ICE40_PRIMITIVES if device.startswith("ice40") else None


def harness_fmax(unit: wiring.Component, device: str, *, target_mhz: float = 100.0,
                 dsp: bool = True) -> float:
    """Fmax (MHz) of ``unit`` placed and routed inside a :class:`PinHarness`."""
    harness = PinHarness(unit)
    text = verilog.convert(harness, name="harness", ports=[harness.din, harness.dout],
                           emit_src=False, platform=device_platform(device))
    _, routed = place_and_route(text, top="harness", device=device, target_mhz=target_mhz,
                                dsp=dsp)
    return round(routed.fmax_mhz, 1)


def bench_units(device: str, *, pnr: bool = True, target_mhz: float = 100.0,
                progress=None, catalogue=None) -> list[UnitFigures]:
    """Synthesize (and place) every unit of ``catalogue`` (default :func:`unit_catalogue`)."""
    rows = []
    for name, text, factory, macs, dsp in (catalogue or unit_catalogue)():
        if progress:
            progress(f"{name} ({text}) on {device}")
        unit = factory()
        synth = synthesize(to_verilog(unit, name="unit"), top="unit", device=device, dsp=dsp)
        fmax = (harness_fmax(factory(), device, target_mhz=target_mhz, dsp=dsp) if pnr
                else None)
        rows.append(UnitFigures(unit=name, parameters=text, device=device, luts=synth.luts,
                                ffs=synth.ffs, dsps=synth.dsps, carries=synth.carries,
                                fmax_mhz=fmax, macs_per_cycle=macs))
    return rows


def _pow2_above(n: int) -> int:
    return 1 << max(1, (n - 1).bit_length())


def digits_engine_params(compressed, pes: int, *, broadcast: int = 2, huffman: bool = False):
    """EIE engine sizes that hold every layer of ``compressed`` at once, for ``pes`` PEs
    broadcasting ``broadcast`` activations a cycle (in beats of ``4 · broadcast``, at most 16).

    Entry memory: the next power of two above the layers' entries (or, with ``huffman``,
    their coded 16-bit words), placed one after another; pointers, biases, codebooks and the
    row count exactly what the layers need.
    """
    from corolla.firmware.compress.csc import eie_encode, eie_huffman
    from corolla.firmware.sparse import stored_words
    from corolla.params import EieParams

    # Layers are placed one after another at the same entry address on every PE.
    encoded = [eie_encode(q.index, pes) for q in compressed.layers]
    entries = sum(int(m.entries_per_pe.max()) for m in encoded)
    ptrs = sum(q.shape[1] + 1 for q in compressed.layers)
    params = EieParams(pes=pes, entry_depth=_pow2_above(entries), ptr_depth=ptrs + ptrs % 2,
                       bias_depth=sum(q.shape[0] for q in compressed.layers),
                       max_rows=max(q.shape[0] for q in compressed.layers),
                       codebooks=len(compressed.layers), acc_width=compressed.acc_width,
                       act_lanes=min(16, 4 * broadcast), broadcast=broadcast)
    if not huffman:
        return params
    words = sum(int(stored_words(eie_huffman(m, params.code_length)).max()) for m in encoded)
    return replace(params, huffman=True, code_depth=max(2, _pow2_above(words)))


def sparse_storage(compressed, plain, coded) -> list[dict]:
    """On-chip bits of each layer of ``compressed`` on an engine with plain entries
    (``plain``) and one with Huffman-coded entries (``coded``), both :class:`EieParams`.

    Plain: entries (``z_bits + v_bits`` each, padding included) and column pointers (entry
    addresses). Coded: the coded streams, the column pointers (bit addresses, wider) and the
    decoders' tables (every PE's copy of the two symbol tables, the limit registers).
    """
    from corolla.firmware.compress.csc import eie_encode, eie_huffman

    rows = []
    for k, q in enumerate(compressed.layers):
        matrix = eie_encode(q.index, plain.pes, z_bits=plain.z_bits, v_bits=plain.v_bits)
        code = eie_huffman(matrix, coded.code_length)
        pointers = plain.pes * (matrix.cols + 1)
        tables = (coded.pes * ((coded.z_bits << coded.z_bits) + (coded.v_bits << coded.v_bits))
                  + 2 * coded.code_length * (2 * coded.code_length + 3))
        plain_bits = matrix.entries * plain.entry_width + pointers * plain.ptr_width
        stream = int(code.bits_per_pe.sum())
        coded_bits = stream + pointers * coded.ptr_width + tables
        rows.append({"layer": f"fc{k + 1}", "entries": matrix.entries,
                     "plain_entry_bits": matrix.entries * plain.entry_width,
                     "plain_pointer_bits": pointers * plain.ptr_width, "plain_bits": plain_bits,
                     "coded_entry_bits": stream, "coded_pointer_bits": pointers * coded.ptr_width,
                     "table_bits": tables, "coded_bits": coded_bits,
                     "bits_per_entry": stream / max(1, matrix.entries),
                     "entry_ratio": matrix.entries * plain.entry_width / max(1, stream),
                     "ratio": plain_bits / coded_bits})
    return rows


def walk_rate(params, *, simulator: str | None = None) -> float:
    """Entries one PE walks per cycle on a long column (decodes per cycle with Huffman-coded
    entries), from the simulated engine: (entries − 1) / (cycles − cycles of one entry)."""
    from corolla.hw.sparse import EieEngine
    from corolla.sim import runner

    result = runner.run(EieEngine(params), test_module="corolla.sim.benches.sparse",
                        testcase="walk_rate", simulator=simulator, seed=1,
                        env={"COROLLA_WALK_RATE": "1"})
    walk = result.stats["walk"]
    long, short = walk["long"], walk["short"]
    return (long["entries"] - short["entries"]) / (long["compute_cycles"]
                                                   - short["compute_cycles"])


def sparse_cycles(compressed, pixels, params, *, simulator: str | None = None) -> dict:
    """Run ``pixels`` through every layer on the simulated engine, at full speed.

    Returns per-layer figures averaged over the inputs and the whole network's:
    ``compute_cycles`` (start to first output), ``total_cycles`` (to the last output),
    ``ideal_cycles`` (entries walked / P: the perfectly balanced bound),
    ``load_balance_efficiency`` (ideal / compute), ``work_balance`` (mean / max entries per
    PE), ``macs`` (non-zero weight × non-zero activation products), ``macs_per_cycle`` and
    ``dense_cycles`` / ``speedup_vs_dense`` (a dense engine with the same P MACs per cycle).
    """
    import tempfile
    from pathlib import Path

    from corolla.firmware.compress.qmodel import save_compressed
    from corolla.hw.sparse import EieEngine
    from corolla.sim import runner

    with tempfile.TemporaryDirectory(prefix="corolla-sparse-") as tmp:
        model = save_compressed(compressed, Path(tmp) / "model.npz")
        inputs = Path(tmp) / "inputs.npy"
        np.save(inputs, np.asarray(pixels, dtype=np.int64))
        result = runner.run(EieEngine(params), test_module="corolla.sim.benches.sparse",
                            testcase="model", simulator=simulator, seed=1,
                            env={"COROLLA_EIE_MODEL": str(model),
                                 "COROLLA_EIE_INPUTS": str(inputs), "COROLLA_FULL_SPEED": "1"})
    runs = result.stats["runs"]
    acts = compressed.forward(np.asarray(pixels))
    layers = []
    for k, q in enumerate(compressed.layers):
        mine = [r for r in runs if r["layer"] == k]
        work = np.array([r["work"] for r in mine], dtype=np.float64)
        compute = np.array([r["compute_cycles"] for r in mine], dtype=np.float64)
        macs = np.array([np.count_nonzero(q.index[:, acts[k][r["input"]] != 0]) for r in mine])
        rows, cols = q.shape
        layers.append({
            "layer": f"fc{k + 1}", "rows": rows, "cols": cols,
            "broadcasts": float(np.mean([r["broadcasts"] for r in mine])),
            "compute_cycles": float(compute.mean()),
            "total_cycles": float(np.mean([r["cycles"] for r in mine])),
            "ideal_cycles": float(work.sum(axis=1).mean() / params.pes),
            "load_balance_efficiency": float(work.sum() / params.pes / compute.sum()),
            "work_balance": float(np.mean(work.mean(axis=1) / work.max(axis=1))),
            "macs": float(macs.mean()),
            "macs_per_cycle": float(macs.sum() / compute.sum()),
            "dense_cycles": rows * cols / params.pes,
            "speedup_vs_dense": float(rows * cols / params.pes / compute.mean()),
        })
    total = {key: sum(layer[key] for layer in layers)
             for key in ("compute_cycles", "total_cycles", "ideal_cycles", "macs",
                         "dense_cycles")}
    total |= {"layer": "network",
              "load_balance_efficiency": total["ideal_cycles"] / total["compute_cycles"],
              "macs_per_cycle": total["macs"] / total["compute_cycles"],
              "speedup_vs_dense": total["dense_cycles"] / total["compute_cycles"]}
    return {"layers": layers, "network": total, "images": len(pixels),
            "simulator": result.simulator}


def sparse_resources(params, device: str, *, pnr: bool = True,
                     target_mhz: float = 100.0) -> dict:
    """LUTs, FFs, block RAMs, DSPs of an engine on ``device`` and, if it fits, its Fmax."""
    from corolla.hw.sparse import EieEngine
    from corolla.toolchain import DEVICES

    synth = synthesize(to_verilog(EieEngine(params), name="unit"), top="unit", device=device)
    spec = DEVICES[device]
    figures = {"device": device, "luts": synth.luts, "ffs": synth.ffs, "brams": synth.brams,
               "dsps": synth.dsps, "fmax_mhz": None,
               "fits": synth.luts <= spec["luts"] and synth.brams <= spec["brams"]
               and synth.dsps <= spec["dsps"]}
    if pnr and figures["fits"]:
        figures["fmax_mhz"] = harness_fmax(EieEngine(params), device, target_mhz=target_mhz)
    return figures


#: GEMM shapes of ``corolla bench array``: (label, M, N, K).
ARRAY_SHAPES = [
    ("square, K = 64", 64, 64, 64),
    ("square, K = 256", 64, 64, 256),
    ("ragged 50×30, K = 100", 50, 30, 100),
    ("digits fc1, batch 16", 300, 16, 64),
    ("conv 3×3, 16→32 ch, 16×16 px", 32, 256, 144),
    ("short K = 16", 64, 64, 16),
    ("outer product, K = 1", 16, 16, 1),
]


def array_cycles(rows: int, cols: int, kind="int8", shapes=None, *,
                 simulator: str | None = None) -> list[dict]:
    """Cycles and utilization of GEMMs on the simulated array, with no stalls.

    Parameters
    ----------
    shapes : list of (label, M, N, K), optional
        Default :data:`ARRAY_SHAPES`.

    Returns
    -------
    list of dict
        Per shape: ``label``, ``m``, ``n``, ``k``, ``macs``, ``cycles`` (simulated, first
        beat to last result), ``model_cycles`` (:meth:`GemmTiling.cycles`) and
        ``utilization`` = M·N·K / (rows·cols·cycles).
    """
    from corolla.hw.array import SystolicArray
    from corolla.sim import runner

    shapes = shapes or ARRAY_SHAPES
    array = SystolicArray(rows=rows, cols=cols, kind=kind)
    result = runner.run(array, test_module="corolla.sim.benches.array",
                        testcase="throughput", simulator=simulator, seed=1,
                        env={"COROLLA_ARRAY_SHAPES": json.dumps([s[1:] for s in shapes])})
    figures = []
    for (label, m, n, k), row in zip(shapes, result.stats["throughput"], strict=True):
        figures.append({"label": label, "m": m, "n": n, "k": k, "macs": m * n * k,
                        "cycles": row["cycles"], "model_cycles": row["model_cycles"],
                        "utilization": round(row["utilization"], 4)})
    return figures


#: Convolutions of ``corolla bench conv``: (label, H, W, C_in, C_out, kernel, stride, pad).
CONV_SHAPES = [
    ("digits CNN conv1", 8, 8, 1, 8, 3, 1, 1),
    ("digits CNN conv2", 4, 4, 8, 16, 3, 1, 1),
    ("3×3, 16→16 ch, 8×8 px", 8, 8, 16, 16, 3, 1, 1),
    ("3×3, 16→32 ch, 8×8 px", 8, 8, 16, 32, 3, 1, 1),
    ("3×3 stride 2, 16→16 ch", 8, 8, 16, 16, 3, 2, 1),
    ("5×5, 8→12 ch, 8×8 px", 8, 8, 8, 12, 5, 1, 2),
    ("1×1, 64→32 ch, 4×4 px", 4, 4, 64, 32, 1, 1, 0),
    ("7×7, 3→5 ch, 9×9 px", 9, 9, 3, 5, 7, 2, 3),
]


#: 3×3 stride-1 shapes of ``corolla bench winograd``: those of ``bench conv``, then one with
#: no padding and one of odd sides.
WINOGRAD_SHAPES = [s for s in CONV_SHAPES if s[5:7] == (3, 1)] + [
    ("3×3, 32→32 ch, 6×6 px, no pad", 6, 6, 32, 32, 3, 1, 0),
    ("3×3, 8→12 ch, 7×7 px (odd)", 7, 7, 8, 12, 3, 1, 1),
]


def winograd_cycles(rows: int = 4, cols: int = 4, shapes=None, *,
                    simulator: str | None = None) -> list[dict]:
    """The same 3×3 stride-1 convolutions direct on the int8 array and by Winograd on the
    Winograd array, both ``rows × cols``: cycles (counters and model) and multiplies.

    Multiplies per run: direct ``out_h·out_w · 9·C_in · C_out``, Winograd
    ``tiles · 16·C_in · C_out`` (2.25× fewer when the map is whole tiles); ``executed`` counts
    what the PE array does, padded rows included.
    """
    shapes = shapes or WINOGRAD_SHAPES
    direct = conv_cycles(rows, cols, shapes, kind="dense", simulator=simulator)
    fast = conv_cycles(rows, cols, shapes, kind="winograd", simulator=simulator)
    out = []
    for (label, h, w, c_in, c_out, _k, _s, pad), d, f in zip(shapes, direct, fast, strict=True):
        oh, ow = h + 2 * pad - 2, w + 2 * pad - 2
        tiles = -(-oh // 2) * -(-ow // 2)
        out.append({
            "label": label, "layer": d["layer"],
            "direct_cycles": d["cycles"], "direct_model": d["model_cycles"],
            "winograd_cycles": f["cycles"], "winograd_model": f["model_cycles"],
            "speedup": round(d["cycles"] / f["cycles"], 3),
            "direct_multiplies": oh * ow * 9 * c_in * c_out * cols,
            "winograd_multiplies": tiles * 16 * c_in * c_out * cols,
            "direct_executed": oh * ow * 9 * c_in * -(-c_out // rows) * rows * cols,
            "winograd_executed": tiles * 16 * c_in * -(-c_out // rows) * rows * cols,
        })
    return out


def conv_cycles(rows: int = 4, cols: int = 4, shapes=None, *, kind: str = "dense",
                simulator: str | None = None) -> list[dict]:
    """Cycles and PE utilization of convolutions on the simulated accelerator top.

    Each shape runs as a one-layer network on a full run (``cols`` images) of random inputs,
    bit-exact against the direct convolution, on a top with ``rows × cols`` arrays and
    activation banks of 4,095 words.

    Returns
    -------
    list of dict
        Per shape: ``label``, ``layer``, ``macs`` (of the run), ``cycles`` (the step's
        hardware counter), ``model_cycles`` (:meth:`corolla.layers.ArrayKind.cycle_model`)
        and ``utilization`` = MACs / (rows·cols·cycles).
    """
    from corolla.hw.top import Accelerator
    from corolla.params import ArrayParams, TopParams
    from corolla.sim import runner

    shapes = shapes or CONV_SHAPES
    arrays = {name: ArrayParams(rows=rows, weight_depth=4096, bias_depth=256)
              for name in TopParams.ARRAYS if name == kind}
    params = TopParams(rows=rows, cols=cols, act_depth=4095, eie=None, weight_depth=4096,
                       bias_depth=256, **arrays)
    result = runner.run(Accelerator(params), test_module="corolla.sim.benches.top",
                        testcase="conv_throughput", simulator=simulator, seed=1,
                        env={"COROLLA_CONV_SHAPES": json.dumps([s[1:] for s in shapes]),
                             "COROLLA_CONV_KIND": kind})
    figures = []
    for (label, *_), row in zip(shapes, result.stats["conv_throughput"], strict=True):
        figures.append({"label": label, **row,
                        "utilization": round(row["macs"] / (rows * cols * row["cycles"]), 4)})
    return figures


def array_resources(rows: int, cols: int, kind, device: str, *, pnr: bool = True,
                    target_mhz: float = 100.0) -> dict:
    """LUTs, FFs, DSPs, block RAMs of an array on ``device`` and, if it fits, its Fmax.

    A kind that uses DSPs maps its multipliers onto them; the LUT-only kinds are synthesized
    without DSP inference.
    """
    from corolla.hw.array import SystolicArray, pe_kind
    from corolla.toolchain import DEVICES

    kind = pe_kind(kind)
    synth = synthesize(to_verilog(SystolicArray(rows=rows, cols=cols, kind=kind), name="unit",
                                  platform=device_platform(device)),
                       top="unit", device=device, dsp=kind.uses_dsp)
    spec = DEVICES[device]
    over = [name for name, used in (("LUTs", synth.luts), ("DSPs", synth.dsps),
                                    ("BRAMs", synth.brams))
            if used > spec[name.lower()]]
    figures = {"rows": rows, "cols": cols, "kind": kind.name, "device": device,
               "luts": synth.luts, "ffs": synth.ffs, "dsps": synth.dsps, "brams": synth.brams,
               "fits": not over, "over": over, "fmax_mhz": None,
               "macs_per_cycle": rows * cols * getattr(kind, "bits", 1)}
    if pnr and not over:
        figures["fmax_mhz"] = harness_fmax(SystolicArray(rows=rows, cols=cols, kind=kind),
                                           device, target_mhz=target_mhz, dsp=kind.uses_dsp)
    return figures


#: The reference point of ``corolla bench board`` on the iCE40UP5K: MARLANN, the open int8
#: accelerator written for that chip (both 8×8 halves of every ``SB_MAC16``), placed with the
#: same YoWASP Yosys / nextpnr as Corolla (seeds 1–3: 29.38, 29.29, 29.32 MHz). Its code is not
#: part of Corolla; these are measured figures, quoted.
MARLANN = {"name": "MARLANN", "description": "open UP5K int8 accelerator",
           "device": "ice40up5k", "macs_per_cycle": 16, "fmax_mhz": 29.3, "gmacs_peak": 0.47}


def board_summary(board_name: str = "icebreaker", config=None, *, seeds=(1, 2, 3),
                  images: int = 8, out_dir=None, progress=None) -> dict:
    """The accelerator on a board, side by side with the reference design of its chip.

    Builds the full board top once per nextpnr seed (Fmax, resources, build seconds) and runs
    the digits MLP (dense) on the simulated top for the sustained rate: useful MACs over the
    step counters' cycles.

    Returns
    -------
    dict
        ``board``, ``config``, ``device``, ``macs_per_cycle`` (peak), ``builds`` (per seed:
        ``seed``, ``fmax_mhz``, ``build_s``, ``critical_path``), ``fmax_mhz`` (the lowest),
        ``resources`` (LUT/FF/DSP/BRAM/SPRAM of seed ``seeds[0]``), ``gmacs_peak``,
        ``sustained`` (``macs_per_inference``, ``cycles_per_inference``, ``macs_per_cycle``,
        ``fraction``, ``gmacs``, ``bit_exact``) and ``reference`` (:data:`MARLANN` on the
        iCE40UP5K, else ``None``) with ``ratio`` (peak G MAC/s over the reference's).
    """
    import tempfile
    from pathlib import Path

    from corolla.boards import get_board
    from corolla.build import build_board
    from corolla.config import load_config
    from corolla.run import resolve_network, run_sim

    board = get_board(board_name)
    config = config or load_config(board.config)
    say = progress or (lambda text: None)
    out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="corolla-board-"))
    builds, first = [], None
    for seed in seeds:
        def tell(step, seconds, seed=seed):
            say(f"Building for the {board.name}, nextpnr seed {seed}: {step} … {seconds:.0f} s")

        report = build_board(board, config, out_dir / f"seed{seed}", seed=seed, progress=tell)
        first = first or report
        builds.append({"seed": seed, "fmax_mhz": report["clock"]["fmax_mhz"],
                       "build_s": report["build_s"], "times_s": report["times_s"],
                       "critical_path": report["clock"].get("critical_path")})
    say(f"Running {images} digits images on the simulated '{config.name}' top")
    run = run_sim(config, model="digits", variant="dense", images=images)
    net = resolve_network("digits", "dense", config)
    macs = sum(q.shape[0] * q.shape[1] for q in net.layers)
    peak = config.array.rows * config.array.cols
    fmax = min(b["fmax_mhz"] for b in builds)
    sustained = macs / run["cycles_per_inference"]
    util = first["utilization"]
    doc = {
        "board": board.name, "config": config.name, "device": board.device,
        "clock_mhz": config.clock_mhz, "macs_per_cycle": peak, "builds": builds,
        "fmax_mhz": fmax,
        "resources": {k: util[k] for k in ("lut", "ff", "logic_cells", "dsp", "bram", "spram")
                      if k in util},
        "gmacs_peak": round(peak * fmax / 1e3, 3),
        "sustained": {"macs_per_inference": macs,
                      "cycles_per_inference": run["cycles_per_inference"],
                      "macs_per_cycle": round(sustained, 3),
                      "fraction": round(sustained / peak, 4),
                      "gmacs": round(sustained * fmax / 1e3, 3),
                      "bit_exact": run["bit_exact"]},
        "reference": None,
    }
    if board.device == MARLANN["device"]:
        doc["reference"] = {**MARLANN,
                            "ratio": round(doc["gmacs_peak"] / MARLANN["gmacs_peak"], 2)}
    return doc
