"""The evaluation report: accuracy, throughput, latency, energy and cost of a configuration.

:func:`measure` puts one configuration (a board, an accelerator configuration and a model
variant) through the three sources Corolla trusts:

* the cocotb simulation of the accelerator running digits test images
  (:func:`corolla.run.run_sim`): cycles per run and per layer come from the accelerator's own
  cycle counters, read back over the host link, and host-link bytes from the driver;
* the board build (:func:`corolla.build.build_board`): achieved Fmax from nextpnr's timing
  report, LUT/FF/DSP/BRAM from its utilization report;
* the golden model (:mod:`corolla.firmware.compile`): accuracy on the whole digits test split
  (the simulated images are checked bit-exact against it), and the operation and memory-access
  counts behind the energy estimate and the roofline.

:func:`write_report` writes ``report.json``, ``report.md`` and the PNG plots: a roofline per
configuration with each layer placed on it, and a bar chart when several are compared.

The energy figure is an estimate, not a measurement: operation and memory-access counts
weighted with the 45 nm per-operation energies of Horowitz (ISSCC 2014), see
:data:`HOROWITZ_45NM_PJ` and :func:`energy_estimate`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .config import ConfigError

__all__ = ["ENERGY_ASSUMPTIONS", "HOROWITZ_45NM_PJ", "Target", "energy_estimate", "fmt_built",
           "measure", "parse_target", "parse_targets", "sram_access_pj", "work_counts",
           "write_report"]

#: Energy per operation at 45 nm, 0.9 V, in pJ: M. Horowitz, "Computing's energy problem
#: (and what we can do about it)", ISSCC 2014. SRAM figures are per 64-bit access.
HOROWITZ_45NM_PJ = {
    "int8_add": 0.03,
    "int32_add": 0.1,
    "int8_mult": 0.2,
    "int32_mult": 3.1,
    "sram_8kB_64b": 10.0,
    "sram_32kB_64b": 20.0,
    "sram_1MB_64b": 100.0,
}

#: What the energy estimate counts and what it leaves out; printed with every figure.
ENERGY_ASSUMPTIONS = (
    "Estimate, not a measurement: counts of operations and memory accesses from the golden "
    "model and the compiled program, weighted with Horowitz's 45 nm table (ISSCC 2014). An FPGA "
    "spends several times more per operation than this ASIC table; read the figure as a way to "
    "compare configurations and variants, not as the board's power.",
    "A MAC is an 8-bit multiply (0.2 pJ) and a 32-bit add (0.1 pJ); the EIE engine's MACs "
    "include its padding entries, the array's include the padding rows of a part-filled tile "
    "and the idle lanes of a part-filled run.",
    "An SRAM access of w bits costs w/64 of the table's 64-bit access energy for the memory's "
    "size: 10 pJ at 8 kB or less, 20 pJ at 32 kB, 100 pJ at 1 MB, interpolated linearly in "
    "log(size) between them.",
    "Counted accesses: array weights, activations read and written, biases; EIE entries, "
    "column pointers (two per PE per broadcast), codebook lookups, accumulator read-modify-"
    "writes, biases, activations scanned (whole words) and outputs written. A banked memory "
    "(the EIE engine's per-PE memories) costs what one bank of its size does.",
    "Not counted: pipeline and systolic-mesh registers, control, clock tree, static power, "
    "the host link and anything off the chip.",
)


def sram_access_pj(size_bytes: float, bits: float) -> float:
    """Energy of reading or writing ``bits`` bits of an SRAM of ``size_bytes`` (Horowitz)."""
    points = [(8 * 1024, HOROWITZ_45NM_PJ["sram_8kB_64b"]),
              (32 * 1024, HOROWITZ_45NM_PJ["sram_32kB_64b"]),
              (1024 * 1024, HOROWITZ_45NM_PJ["sram_1MB_64b"])]
    size = max(float(size_bytes), 1.0)
    if size <= points[0][0]:
        e64 = points[0][1]
    elif size >= points[-1][0]:
        e64 = points[-1][1]
    else:
        xs = [math.log(s) for s, _ in points]
        e64 = float(np.interp(math.log(size), xs, [e for _, e in points]))
    return e64 * bits / 64


@dataclass(frozen=True)
class Target:
    """One configuration to report: a board, an accelerator configuration and a variant.

    ``own`` is true when the configuration is the board's own (it is then left out of the
    label).
    """

    board: str
    config: str
    variant: str = "dense"
    own: bool = False

    @property
    def build_name(self) -> str:
        """Board and configuration: the variants of one configuration share its build."""
        if self.own:
            return self.board
        name = Path(self.config).stem if self.config.endswith(".toml") else self.config
        return f"{self.board}-{name}"

    @property
    def label(self) -> str:
        return f"{self.build_name}-{self.variant}"


def parse_targets(text: str, *, variant: str | None = None,
                  model: str = "digits") -> list[Target]:
    """:func:`parse_target`, with ``all`` as the variant standing for every variant of the
    built-in ``model`` the configuration can run (:func:`corolla.run.runnable_variants`)."""
    from .config import load_config
    from .generate import top_params
    from .run import default_variant, runnable_variants

    variant = variant or default_variant(model)
    parts = text.split(":")
    chosen = parts[2] if len(parts) > 2 else variant
    if chosen != "all":
        return [parse_target(text, variant=variant, model=model)]
    first = parse_target(":".join(parts[:2]), variant=default_variant(model), model=model)
    params = top_params(load_config(first.config), link="stream")
    return [parse_target(":".join([first.board, first.config, v]), model=model)
            for v in runnable_variants(params, model)]


def parse_target(text: str, *, variant: str | None = None, model: str = "digits") -> Target:
    """``BOARD[:CONFIG[:VARIANT]]``, e.g. ``icebreaker`` or ``ulx3s:default:sparse``.

    Without a configuration the board's own is used; the variant is one of ``model``'s.

    Raises
    ------
    ConfigError
        For an unknown board or variant, or an empty field.
    """
    from .boards import BOARDS, get_board
    from .run import check_variant, default_variant

    parts = text.split(":")
    if len(parts) > 3 or not all(parts):
        raise ConfigError(f"configuration {text!r}: expected BOARD[:CONFIG[:VARIANT]], e.g. "
                          f"icebreaker or ulx3s:default:sparse")
    if parts[0] not in BOARDS:
        raise ConfigError(f"configuration {text!r}: board {parts[0]!r} is not one of "
                          f"{', '.join(BOARDS)}")
    own = get_board(parts[0]).config
    config = parts[1] if len(parts) > 1 else own
    variant = parts[2] if len(parts) > 2 else (variant or default_variant(model))
    try:
        check_variant(variant, "variant", model=model)
    except ConfigError as exc:
        raise ConfigError(f"configuration {text!r}: {exc}") from None
    from .config import builtin_configs, load_config

    if config not in builtin_configs() and not Path(config).is_file():
        raise ConfigError(f"configuration {text!r}: config {config!r} is neither a built-in "
                          f"configuration ({', '.join(sorted(builtin_configs()))}) nor a file")
    try:
        load_config(config)
    except ConfigError as exc:
        raise ConfigError(f"configuration {text!r}: {exc}") from None
    return Target(parts[0], config, variant, own=config == own)


# -- operation and memory-access counts -------------------------------------------------------

def _memories(params) -> dict:
    """Logical on-chip memories of the accelerator: name → (bytes, access width in bits)."""
    return {name: (size, width) for name, (size, width, _) in _all_memories(params).items()}


def _banks(params) -> dict:
    """Memories made of several equal banks (the EIE engine's per-PE memories, its column
    pointers in two banks per PE): name → number of banks."""
    return {name: banks for name, (_, _, banks) in _all_memories(params).items() if banks > 1}


def _all_memories(params) -> dict:
    """The top's own memories and those of every engine: name → (bytes, width, banks)."""
    from . import protocol as proto
    from .layers import LAYER_KINDS

    mem = {
        "activations": (2 * params.act_depth * params.cols, 8 * params.cols, 1),
        "program": (params.program_depth * proto.DESCRIPTOR_BYTES,
                    8 * proto.DESCRIPTOR_BYTES, 1),
        "counters": (params.program_depth * 4, 32, 1),
    }
    for kind in LAYER_KINDS.values():
        if kind.enabled(params):
            mem |= kind.memories(params)
    return mem


def work_counts(prog, net, pixels, params, runs: int) -> list[dict]:
    """Operations and memory accesses per inference, per layer, for ``pixels`` run as the
    compiled program ``prog`` does.

    Parameters
    ----------
    prog : corolla.firmware.compile.Program
    net : corolla.firmware.quant.layers.QuantNetwork or CompressedMlp
    pixels : numpy.ndarray
        The images (int8 codes), (images, 64).
    params : corolla.hw.top.TopParams
    runs : int
        Runs (batches) the images took on the accelerator.

    Returns
    -------
    list of dict
        Per layer: ``macs`` (the layer's dense multiply-accumulates), ``macs_useful`` (the
        variant's own work: ``dense`` every weight, pruned ones included; ``sparse`` the
        products of a non-zero weight and a non-zero activation), ``macs_executed``
        (what the hardware did, padding included), ``weight_bytes`` (traffic of the weight
        memory, the roofline's bytes: the array's weight words, or the EIE entries; the EIE
        column pointers sit in memories of their own) and ``accesses``: memory name → bits
        moved.
    """
    from .firmware.compile import golden_activations
    from .layers import layer_kind

    acts = golden_activations(net, prog, pixels)      # acts[i] is layer i's input
    layers = []
    for i, (kind, q) in enumerate(zip(prog.kinds, net.layers, strict=True)):
        rows, cols = q.shape
        entry = {"layer": prog.layer_names[i], "kind": kind, "rows": rows, "cols": cols,
                 "macs": rows * cols}
        entry |= layer_kind(kind).work(prog, i, q, acts[i], params, runs, net.acc_width)
        layers.append(entry)
    return layers


def energy_estimate(layers: list[dict], params) -> dict:
    """Energy per inference (pJ) from :func:`work_counts`, with Horowitz's 45 nm table.

    Returns
    -------
    dict
        ``total_pj``, ``compute_pj``, ``memory_pj``, ``by_memory`` (pJ per memory),
        ``per_layer_pj``, ``pj_per_mac`` (per useful MAC) and ``assumptions``.
    """
    t = HOROWITZ_45NM_PJ
    mac_pj = t["int8_mult"] + t["int32_add"]
    mem = _memories(params)
    banks = _banks(params)
    by_memory: dict[str, float] = {}
    per_layer = []
    compute = 0.0
    for layer in layers:
        e = layer["macs_executed"] * mac_pj
        compute += e
        for name, bits in layer["accesses"].items():
            size = mem[name][0] / banks.get(name, 1)
            pj = sram_access_pj(size, bits)
            by_memory[name] = by_memory.get(name, 0.0) + pj
            e += pj
        per_layer.append(e)
    memory = sum(by_memory.values())
    useful = sum(layer["macs_useful"] for layer in layers)
    return {"total_pj": compute + memory, "compute_pj": compute, "memory_pj": memory,
            "by_memory": by_memory, "per_layer_pj": per_layer,
            "pj_per_mac": (compute + memory) / max(useful, 1),
            "mac_pj": mac_pj, "table_pj": dict(t), "assumptions": list(ENERGY_ASSUMPTIONS)}


def _storage(prog, net, params) -> dict:
    """Bits the model occupies on the accelerator, against float32 weights and biases."""
    from .layers import layer_kind

    weights = sum(layer_kind(kind).weight_count(q)
                  for kind, q in zip(prog.kinds, net.layers, strict=True))
    biases = sum(len(q.bias) for q in net.layers if hasattr(q, "bias"))
    float_bits = 32 * (weights + biases)
    weight_bits = other_bits = 0
    for i, (kind, q) in enumerate(zip(prog.kinds, net.layers, strict=True)):
        w, o = layer_kind(kind).storage(prog, i, q, params)
        weight_bits, other_bits = weight_bits + w, other_bits + o
    stored = weight_bits + other_bits
    nonzero = sum(layer_kind(kind).nonzero_weights(prog, getattr(q, "inner", q))
                  for kind, q in zip(prog.kinds, net.layers, strict=True))
    return {"weights": weights, "nonzero_weights": int(nonzero),
            "float32_bytes": float_bits / 8, "stored_bytes": stored / 8,
            "weight_bits_stored": weight_bits, "bits_per_weight": weight_bits / weights,
            "compression_ratio": float_bits / stored}


# -- one configuration ------------------------------------------------------------------------

def measure(target: Target, *, model: str = "digits", images: int = 8, out_dir: Path,
            seed: int = 1, build: bool = True, status=None) -> dict:
    """Simulate, build and count one configuration; returns its section of ``report.json``.

    Parameters
    ----------
    out_dir : Path
        The board build goes to ``out_dir/build/<board>[-<config>]``; a build whose inputs
        are unchanged is reused.
    build : bool
        ``False`` leaves out Fmax and resources (marked as not built); rates are then given at
        the configured clock only.
    status : callable, optional
        ``status(message)`` at each step.

    Raises
    ------
    ConfigError
        Bad board, configuration, model or variant.
    corolla.run.RunError, corolla.build.BuildError
        The simulation or the build failed.
    """
    from .boards import get_board
    from .build import build_board
    from .config import load_config
    from .firmware.compile import CompileError, compile_network, golden_outputs
    from .firmware.digits import load_digits_data
    from .generate import top_params
    from .layers import layer_kind
    from .run import missing_engines, resolve_network, run_sim

    say = status or (lambda message: None)
    board = get_board(target.board)
    config = load_config(target.config)
    params = top_params(config, link="stream")
    missing = missing_engines(params, target.variant, model)
    if missing:
        raise ConfigError(f"{target.label}: configuration {config.name!r} has {missing}")
    net = resolve_network(model, target.variant, config)
    try:
        prog = compile_network(net, params.info())
    except CompileError as exc:
        raise ConfigError(f"{target.label}: {exc}") from None

    say(f"{target.label}: simulating {images} test image(s)")
    sim = run_sim(config, model=model, variant=target.variant, images=images)
    data = load_digits_data()
    from .run import test_inputs

    pixels = test_inputs(net, data)[:images]
    runs = len(sim["batch_cycles"])

    build_report = None
    if build:
        def tick(step, seconds):
            say(f"{target.label}: building for the {board.name}: {step} ({seconds:.0f} s)")
        build_report = build_board(board, config, Path(out_dir) / "build" / target.build_name,
                                   seed=seed, progress=tick, reuse=True)

    say(f"{target.label}: golden model on the test split, operation counts")
    golden = golden_outputs(net, prog, test_inputs(net, data))
    accuracy = float(np.mean(np.argmax(golden, axis=1) == data.y_test))
    layers = work_counts(prog, net, pixels, params, runs)
    energy = energy_estimate(layers, params)

    clock_mhz = build_report["clock"]["target_mhz"] if build_report else config.clock_mhz
    fmax = build_report["clock"]["fmax_mhz"] if build_report else None
    cycles = sim["cycles_per_inference"]
    layer_cycles = sim["layer_cycles_per_inference"]
    batch_cycles = float(np.mean(sim["batch_cycles"]))
    # Each layer's peak from its kind; a mixed network's, weighted by the layers' cycles.
    peaks = [layer_kind(kind).peak(params) for kind in prog.kinds]
    weight = np.asarray(layer_cycles, dtype=float) / max(sum(layer_cycles), 1)
    pes = float(sum(w * pk["pes"] for w, pk in zip(weight, peaks, strict=True)))
    peak_bytes = float(sum(w * pk["bytes_per_cycle"] for w, pk in zip(weight, peaks,
                                                                      strict=True)))
    if len({pk["description"] for pk in peaks}) == 1:
        pes = peaks[0]["pes"]
        peak_bytes = peaks[0]["bytes_per_cycle"]
    kind = " + ".join(dict.fromkeys(pk["description"] for pk in peaks))
    roof = " / ".join(dict.fromkeys(pk["roof"] for pk in peaks))
    useful = sum(layer["macs_useful"] for layer in layers)
    dense_macs = sum(layer["macs"] for layer in layers)
    model = sim.get("layer_model_cycles_per_inference") or [None] * len(layers)
    for layer, c, pk, mc in zip(layers, layer_cycles, peaks, model, strict=True):
        layer["cycles"] = c
        layer["model_cycles"] = mc
        layer["utilization"] = layer["macs_useful"] / (pk["pes"] * c)
        layer["ops_per_cycle"] = 2 * layer["macs_useful"] / c
        # A layer without weights (max pooling) has no point on the weight roofline.
        layer["intensity"] = (2 * layer["macs_useful"] / layer["weight_bytes"]
                              if layer["weight_bytes"] else None)
    memories = _memories(params)

    def rates(mhz):
        if not mhz:
            return None
        return {"clock_mhz": mhz, "inferences_per_s": mhz * 1e6 / cycles,
                "latency_us": batch_cycles / mhz, "gops": 2 * useful * mhz * 1e6 / cycles / 1e9,
                "dense_equivalent_gops": 2 * dense_macs * mhz * 1e6 / cycles / 1e9}

    link = sim["link"]
    run_bytes = (link["run_sent"] + link["run_received"]) / images
    util = (build_report or {}).get("utilization", {})
    storage = _storage(prog, net, params)
    return {
        "label": target.label,
        "board": board.name, "device": board.device, "config": config.name,
        "config_description": config.description, "variant": target.variant, "model": model,
        "clock": {"configured_mhz": config.clock_mhz, "board_mhz": clock_mhz, "fmax_mhz": fmax,
                  "timing_met": build_report["clock"]["timing_met"] if build_report else None,
                  "critical_path": build_report["clock"]["critical_path"] if build_report
                  else None},
        "pes": pes, "pe_kind": kind, "roof_memory": roof,
        "on_chip_memory": {"total_kB": sum(b for b, _ in memories.values()) / 1024,
                           "by_memory_kB": {k: b / 1024 for k, (b, _) in memories.items()}},
        "precision": {"weight_bits": "/".join(dict.fromkeys(
                          str(layer_kind(k).weight_bits(params)) for k in prog.kinds)),
                      "activation_bits": 8,
                      "accumulator_bits": params.acc_width,
                      "stored_bits_per_weight": storage["bits_per_weight"]},
        "batch": prog.lanes,
        "cycles": {"per_inference": cycles, "per_run": batch_cycles,
                   "per_layer_per_inference": layer_cycles, "runs": runs, "images": images,
                   "ideal_per_inference": useful / pes},
        "rate_at_clock": rates(clock_mhz),
        "rate_at_fmax": rates(fmax),
        "utilization": useful / (pes * cycles),
        "macs": {"dense": dense_macs, "useful": useful,
                 "executed": sum(layer["macs_executed"] for layer in layers)},
        "host_link": {"run_bytes_per_inference": run_bytes,
                      "inputs_outputs_bytes_per_inference": prog.in_features + prog.out_features,
                      "model_load_bytes": link["load_sent"] + link["load_received"],
                      "uart_115200_inferences_per_s": 115200 / 10 / run_bytes,
                      "uart_3000000_inferences_per_s": 3_000_000 / 10 / run_bytes},
        "resources": {k: util[k] for k in ("lut", "ff", "dsp", "bram", "spram", "logic_cells")
                      if k in util} or None,
        "accuracy": {"test_split": accuracy, "test_images": len(data.y_test),
                     "simulated_images": images, "simulated_bit_exact": sim["bit_exact"],
                     "simulated_accuracy": sim["accuracy"]},
        "compression": storage,
        "energy": energy | {"per_inference_nj": energy["total_pj"] / 1e3},
        "roofline": {"peak_ops_per_cycle": 2 * pes, "weight_bytes_per_cycle": peak_bytes,
                     "ridge_ops_per_byte": 2 * pes / peak_bytes},
        "layers": layers,
        "sources": {
            "cycles": "the accelerator's run and per-step cycle counters, read over the host "
                      f"link in the cocotb simulation of {images} test image(s) "
                      f"({sim['sim']['simulator']})",
            "batch_cycles": sim["batch_cycles"], "step_cycles": sim["step_cycles"],
            "build_report": (str(Path(out_dir) / "build" / target.build_name / "report.json")
                             if build_report else None),
            "build_reused": bool(build_report and build_report.get("reused")),
        },
    }


# -- writing ----------------------------------------------------------------------------------

def fmt_built(value, digits: int = 0, unit: str = "") -> str:
    """A figure that comes from the board build, or "not built" without one."""
    if value is None:
        return "not built"
    return f"{value:,.{digits}f}{unit}"


def _roofline(entry: dict, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    roof = entry["roofline"]
    rate = entry["rate_at_clock"]
    ghz = rate["clock_mhz"] / 1e3
    peak = roof["peak_ops_per_cycle"] * ghz
    bw = roof["weight_bytes_per_cycle"] * rate["clock_mhz"] / 1e3    # GB/s
    layers = [layer for layer in entry["layers"] if layer["intensity"]]
    xs = [layer["intensity"] for layer in layers]
    ridge = roof["ridge_ops_per_byte"]
    lo = min([*xs, ridge]) / 8
    hi = max([*xs, ridge]) * 8
    grid = np.geomspace(lo, hi, 200)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    ax.loglog(grid, np.minimum(peak, bw * grid), color="black", lw=2)
    ax.set_xlim(lo, hi)
    ax.set_ylim(peak / 40, peak * 2)
    ax.axvline(ridge, color="grey", ls=":", lw=1)
    ax.text(hi, peak * 1.08, f"peak {peak:.3g} GOP/s ({roof['peak_ops_per_cycle']} ops/cycle)",
            ha="right", va="bottom", fontsize=8)
    ax.text(ridge * 1.05, peak * 1.35, f"ridge {ridge:g} ops/B", fontsize=8, color="grey")
    memory = entry["roof_memory"].split(" (")[0]
    ax.set_xlabel(f"operational intensity (ops per byte of {memory})")
    ax.set_ylabel("GOP/s (2 ops per useful MAC)")
    ax.set_title(f"{entry['label']} at {rate['clock_mhz']:.1f} MHz", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    # Along the memory roof: its angle on screen, from two of its points.
    x0 = max(lo * 1.5, peak / 40 / bw * 1.5)
    (ax0, ay0), (ax1, ay1) = ax.transData.transform([(x0, bw * x0), (x0 * 2, bw * x0 * 2)])
    ax.text(x0, bw * x0 * 1.15, f"{memory} {bw:.3g} GB/s", ha="left", va="bottom", fontsize=8,
            rotation=math.degrees(math.atan2(ay1 - ay0, ax1 - ax0)), rotation_mode="anchor")
    markers = "os^Dv<>p"
    for i, (layer, x) in enumerate(zip(layers, xs, strict=True)):
        y = layer["ops_per_cycle"] * ghz
        ax.plot(x, y, markers[i % len(markers)], ms=11 - 2 * (i % 4), alpha=0.85,
                label=f"{layer['layer']}: {layer['utilization']:.0%} of peak")
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path)
    plt.close(fig)


def _compare_chart(entries: list[dict], path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [
        ("inferences/s", lambda e: e["rate_at_clock"]["inferences_per_s"]),
        ("latency per run (µs)", lambda e: e["rate_at_clock"]["latency_us"]),
        ("PE utilization (%)", lambda e: 100 * e["utilization"]),
        ("energy estimate (nJ/inference)", lambda e: e["energy"]["per_inference_nj"]),
        ("LUTs", lambda e: (e["resources"] or {}).get("lut", {}).get("used", 0)),
        ("test accuracy (%)", lambda e: 100 * e["accuracy"]["test_split"]),
    ]
    labels = [e["label"] for e in entries]
    colors = [f"C{i}" for i in range(len(entries))]
    fig, axes = plt.subplots(2, 3, figsize=(10, 5.6), dpi=110)
    for ax, (title, get) in zip(axes.flat, metrics, strict=True):
        values = [get(e) for e in entries]
        bars = ax.bar(range(len(values)), values, color=colors)
        ax.bar_label(bars, labels=[f"{v:,.0f}" if v >= 100 else f"{v:.3g}" for v in values],
                     fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.margins(y=0.15)
    fig.legend([plt.Rectangle((0, 0), 1, 1, color=c) for c in colors], labels,
               loc="lower center", ncol=min(len(labels), 4), fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def _roof_memory(entry: dict) -> str:
    return entry["roof_memory"]


def _markdown(doc: dict, plots: dict) -> str:
    out = [f"# Corolla evaluation report ({doc['model']} model)", "",
           f"Corolla {doc['corolla_version']}. Cycles come from the accelerator's cycle counters "
           "in simulation, Fmax and resources from nextpnr, accuracy from the golden model on "
           "the whole test split (the simulated images are bit-exact against it). Rates are "
           "at the board's clock; the row *at Fmax* is what the placed design could reach.", ""]
    entries = doc["configurations"]
    head = "| | " + " | ".join(e["label"] for e in entries) + " |"
    out += [head, "|---" * (len(entries) + 1) + "|"]

    def row(name, get):
        out.append(f"| {name} | " + " | ".join(get(e) for e in entries) + " |")

    def res(key):
        def get(e):
            r = (e["resources"] or {}).get(key)
            return f"{r['used']:,} / {r['available']:,} ({r['percent']:.0f} %)" if r \
                else ("-" if e["resources"] else "not built")
        return get

    row("FPGA part", lambda e: f"{e['device']} ({e['board']})")
    row("clock (board)", lambda e: f"{e['clock']['board_mhz']:.2f} MHz")
    row("Fmax (nextpnr)", lambda e: fmt_built(e["clock"]["fmax_mhz"], 1, " MHz"))
    row("PEs", lambda e: f"{e['pes']} ({e['pe_kind']})")
    row("on-chip memory", lambda e: f"{e['on_chip_memory']['total_kB']:.1f} kB")
    row("bits per weight / activation",
        lambda e: f"{e['precision']['weight_bits']} / {e['precision']['activation_bits']} "
                  f"(stored: {e['precision']['stored_bits_per_weight']:.2f} per weight)")
    row("batch (images per run)", lambda e: str(e["batch"]))
    row("cycles per inference", lambda e: f"{e['cycles']['per_inference']:,.1f}")
    row("cycles per layer", lambda e: " / ".join(
        f"{c:,.1f}" for c in e["cycles"]["per_layer_per_inference"]))
    row("inferences/s", lambda e: f"{e['rate_at_clock']['inferences_per_s']:,.0f}")
    row("latency (one run)", lambda e: f"{e['rate_at_clock']['latency_us']:,.1f} µs")
    row("inferences/s at Fmax", lambda e: fmt_built((e["rate_at_fmax"] or {}).get(
        "inferences_per_s")))
    row("PE utilization (useful MACs / peak)", lambda e: f"{e['utilization']:.1%}")
    row("host link per inference", lambda e: f"{e['host_link']['run_bytes_per_inference']:,.0f}"
        f" B ({e['host_link']['inputs_outputs_bytes_per_inference']} B of pixels and scores)")
    row("model load over the link", lambda e: f"{e['host_link']['model_load_bytes']:,} B")
    row("LUT", res("lut"))
    row("FF", res("ff"))
    row("DSP", res("dsp"))
    row("BRAM", res("bram"))
    row("SPRAM", res("spram"))
    row("accuracy (test split)", lambda e: f"{e['accuracy']['test_split']:.2%} of "
        f"{e['accuracy']['test_images']}")
    row("compression (float32 / stored)", lambda e: f"{e['compression']['compression_ratio']:.2f}×"
        f" ({e['compression']['stored_bytes'] / 1024:.1f} kB)")
    row("energy per inference (estimate)",
        lambda e: f"{e['energy']['per_inference_nj']:,.1f} nJ "
                  f"({e['energy']['pj_per_mac']:.2f} pJ per useful MAC)")
    out.append("")
    if "compare" in plots:
        out += [f"![comparison]({plots['compare']})", ""]

    for e in entries:
        rate = e["rate_at_clock"]
        out += [f"## {e['label']}", "", f"{e['config_description']}; {e['variant']} variant on "
                f"the {e['board']} ({e['device']}) at {rate['clock_mhz']:.2f} MHz.", ""]
        cp = e["clock"]["critical_path"]
        if cp:
            out += [f"Slowest path (nextpnr): `{cp['from']}` → `{cp['to']}`, "
                    f"{cp['delay_ns']} ns ({cp['logic_ns']} ns logic, {cp['routing_ns']} ns "
                    "routing).", ""]
        out += [f"![roofline of {e['label']}]({plots[e['label']]})", "",
                f"Roofline against the {_roof_memory(e)}: peak "
                f"{e['roofline']['peak_ops_per_cycle']} ops/cycle (2 per PE), "
                f"{e['roofline']['weight_bytes_per_cycle']:g} bytes/cycle from it, ridge at "
                f"{e['roofline']['ridge_ops_per_byte']:g} ops/byte. A layer's ops are 2 per "
                "useful MAC, its bytes what it reads from that memory; batching raises the "
                "array's intensity (each weight serves every lane of a run), pruning and zero "
                "activations lower the EIE engine's ops per entry.", "",
                "| layer | dense MACs | useful MACs | executed MACs | cycles | cycle model | "
                "utilization | ops/byte | energy (nJ, est.) |",
                "|---|---|---|---|---|---|---|---|---|"]
        for layer, pj in zip(e["layers"], e["energy"]["per_layer_pj"], strict=True):
            mc, ib = layer.get("model_cycles"), layer["intensity"]
            out.append(f"| {layer['layer']} | {layer['macs']:,} | {layer['macs_useful']:,.0f} | "
                       f"{layer['macs_executed']:,.0f} | {layer['cycles']:,.1f} | "
                       f"{'–' if mc is None else f'{mc:,.1f}'} | "
                       f"{layer['utilization']:.1%} | {'–' if ib is None else f'{ib:.2f}'} | "
                       f"{pj / 1e3:,.2f} |")
        en = e["energy"]
        parts = ", ".join(f"{k} {v / 1e3:,.2f}" for k, v in sorted(
            en["by_memory"].items(), key=lambda kv: -kv[1]))
        out += ["", f"Energy estimate per inference: {en['per_inference_nj']:,.1f} nJ = MACs "
                f"{en['compute_pj'] / 1e3:,.2f} nJ + memories {en['memory_pj'] / 1e3:,.2f} nJ "
                f"({parts}).", "",
                f"Host link: {e['host_link']['run_bytes_per_inference']:,.0f} bytes per inference"
                f" while running; a 115200-baud UART carries that "
                f"{e['host_link']['uart_115200_inferences_per_s']:,.0f} times per second, the "
                f"3-Mbaud link of the iCEBreaker and ULX3S bitstreams "
                f"{e['host_link']['uart_3000000_inferences_per_s']:,.0f} times.", "",
                f"Sources: {e['sources']['cycles']}; counters per run "
                f"{e['sources']['batch_cycles']}, per step {e['sources']['step_cycles']}."]
        if e["sources"]["build_report"]:
            out.append(f"Build: `{e['sources']['build_report']}`.")
        out.append("")
    out += ["## About the energy estimate", ""]
    out += [f"- {a}" for a in ENERGY_ASSUMPTIONS]
    out += ["", "| operation | pJ |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in HOROWITZ_45NM_PJ.items()]
    out.append("")
    return "\n".join(out)


def write_report(entries: list[dict], out_dir: Path, *, model: str = "digits") -> dict:
    """Write ``report.json``, ``report.md``, a roofline PNG per configuration and, for two or
    more, ``compare.png``; returns the report document (with the written paths)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {}
    for e in entries:
        name = f"roofline-{e['label']}.png"
        _roofline(e, out_dir / name)
        plots[e["label"]] = name
    if len(entries) > 1:
        _compare_chart(entries, out_dir / "compare.png")
        plots["compare"] = "compare.png"
    doc = {"corolla_version": __version__, "model": model, "configurations": entries,
           "plots": plots}
    (out_dir / "report.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out_dir / "report.md").write_text(_markdown(doc, plots))
    return doc
