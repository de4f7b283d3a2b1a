"""The ``corolla`` command.

Exit status: 0 on success, 1 when a step fails (a test, a build, a missing tool), 2 on bad
input (configuration, arguments). Every verb that prints figures also takes ``--json``, which
prints one JSON document on stdout and keeps progress messages on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shlex
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from . import __version__
from .config import ConfigError, builtin_configs, load_config
from .toolchain import DEVICES

__all__ = ["main"]

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

# Design class -> the cocotb bench that verifies it.
_BENCHES = {
    "corolla.hw.arith.mac.Mac": "corolla.sim.benches.mac",
    "corolla.hw.array.systolic.SystolicArray": "corolla.sim.benches.array",
    "corolla.hw.top.Accelerator": "corolla.sim.benches.top",
}


class CliError(Exception):
    """A failure to report in one line with an exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILURE):
        super().__init__(message)
        self.status = status


def _console_err() -> Console:
    return Console(stderr=True, highlight=False)


def _add_config_arg(parser):
    names = ", ".join(sorted(builtin_configs()))
    parser.add_argument("--config", default="default", metavar="NAME|FILE",
                        help=f"built-in configuration ({names}) or a TOML file "
                             "(default: %(default)s)")


def _add_design_arg(parser):
    parser.add_argument("--design", choices=("top", "array"), default="top",
                        help="top: the whole accelerator; array: the PE array alone "
                             "(default: %(default)s)")


def _cmd_generate(args) -> int:
    from .generate import generate

    config = load_config(args.config)
    err = _console_err()
    with err.status(f"Generating Verilog for configuration '{config.name}'"):
        manifest = generate(config, Path(args.out), args.design)
    if args.json:
        print(json.dumps(manifest, indent=2))
        return EXIT_OK
    out = Path(args.out)
    console = Console(highlight=False)
    console.print(f"[bold]{config.name}[/]: {manifest['design']['class']} "
                  f"{manifest['design']['parameters']}")
    table = Table("port", "direction", "width", "signed", box=None)
    for port in manifest["ports"]:
        table.add_row(port["name"], port["direction"], str(port["width"]),
                      "yes" if port["signed"] else "")
    console.print(table)
    console.print(f"wrote {out / manifest['verilog']} and {out / 'manifest.json'} "
                  f"in {manifest['generate_s']:.2f} s")
    return EXIT_OK


def _cmd_sim(args) -> int:
    from .generate import TOPLEVEL, build_design
    from .sim import runner

    config = load_config(args.config)
    # The top is simulated with its link's byte streams (the UART pins are tested by the
    # test suite and by `corolla run --sim --link uart`).
    design = build_design(config, args.design, link="stream")
    cls = f"{type(design).__module__}.{type(design).__qualname__}"
    bench = _BENCHES.get(cls)
    if bench is None:
        raise CliError(f"no cocotb bench is registered for design {cls}")
    env = {}
    if args.cycles is not None:
        if args.cycles < 1:
            raise CliError(f"--cycles must be a positive integer, not {args.cycles}",
                           EXIT_BAD_INPUT)
        env["COROLLA_CYCLES"] = str(args.cycles)
    err = _console_err()
    t0 = time.perf_counter()
    try:
        with err.status(f"Building and simulating {TOPLEVEL} ({cls}) with {args.simulator}"):
            result = runner.run(design, test_module=bench, name=TOPLEVEL,
                                simulator=args.simulator, waves=args.waves or None, env=env,
                                seed=args.seed, check=False)
    except (runner.SimulatorUnavailable, runner.SimulationFailure) as exc:
        raise CliError(str(exc)) from None
    summary = result.summary()
    summary["config"] = config.name
    summary["wall_s"] = round(time.perf_counter() - t0, 3)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        console = Console(highlight=False)
        table = Table("test", "result", "cycles", "seconds", box=None)
        for t in result.tests:
            status = "skipped" if t.skipped else ("[green]pass[/]" if t.passed else "[red]FAIL[/]")
            table.add_row(t.name, status, str(int(t.sim_time_ns // runner.CLOCK_PERIOD_NS)),
                          f"{t.real_time_s:.2f}")
        console.print(table)
        for t in result.tests:
            if not t.passed:
                console.print(f"[red]{t.name}[/]: {t.message}")
        cached = " (cached)" if result.build_cached else ""
        console.print(f"{result.simulator}: {result.cycles} cycles in {result.test_s:.2f} s = "
                      f"{result.cycles_per_second:,.0f} cycles/s; build {result.build_s:.1f} s"
                      f"{cached}")
        if result.wave_file:
            console.print(f"waveforms: {result.wave_file}")
    return EXIT_OK if result.passed else EXIT_FAILURE


#: What ``corolla bench all`` runs, in order.
BENCHES = ("units", "lns", "array", "sparse")


def _bench_all(args) -> int:
    """Every bench with its defaults; with ``--json`` one document keyed by bench."""
    given = [f"--{name.replace('_', '-')}" for name in ("sizes", "kinds", "shapes", "pes",
                                                        "images")
             if getattr(args, name) is not None] + (["--no-synth"] if args.no_synth else [])
    if given:
        raise CliError(f"{', '.join(given)}: 'bench all' runs every bench with its defaults; "
                       "give these options to the bench they belong to", EXIT_BAD_INPUT)
    doc = {}
    for what in BENCHES:
        sub = argparse.Namespace(**{**vars(args), "what": what})
        if not args.json:
            _cmd_bench(sub)
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            _cmd_bench(sub)
        doc[what] = json.loads(out.getvalue())
    if args.json:
        print(json.dumps(doc, indent=2))
    return EXIT_OK


def _cmd_bench(args) -> int:
    from .bench import bench_units, lns_catalogue, lns_error_table, unit_catalogue
    from .toolchain import ToolchainError

    if args.what == "all":
        return _bench_all(args)
    if args.what == "sparse":
        return _bench_sparse(args)
    if args.what == "array":
        return _bench_array(args)
    if args.pes is not None or args.images is not None or args.no_synth:
        raise CliError("--pes, --images and --no-synth apply to 'bench sparse' only",
                       EXIT_BAD_INPUT)
    if args.sizes is not None or args.kinds is not None or args.shapes is not None:
        raise CliError("--sizes, --kinds and --shapes apply to 'bench array' only",
                       EXIT_BAD_INPUT)
    args.device = args.device or "ice40up5k"

    err = _console_err()
    t0 = time.perf_counter()
    errors = None
    try:
        with err.status("Synthesizing") as status:
            if args.what == "lns":
                status.update("LNS error against float64 (golden model)")
                errors = lns_error_table()
            rows = bench_units(args.device, pnr=not args.no_pnr, target_mhz=args.target_mhz,
                               progress=lambda what: status.update(f"Synthesizing {what}"),
                               catalogue=lns_catalogue if args.what == "lns"
                               else unit_catalogue)
    except ToolchainError as exc:
        raise CliError(str(exc)) from None
    elapsed = time.perf_counter() - t0
    if args.json:
        doc = {"device": args.device, "units": [r.to_dict() for r in rows],
               "seconds": round(elapsed, 1)}
        if errors is not None:
            doc["errors"] = errors
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    console = Console(highlight=False)
    if errors is not None:
        etable = Table("format", "operation", "mean rel. error", "max rel. error",
                       title="LNS arithmetic against float64")
        for r in errors:
            extra = (f" ({r['out_of_range']:.1%} out of range)" if "out_of_range" in r
                     else "")
            etable.add_row(f"{r['format']} ({r['bits']} bits)", r["operation"] + extra,
                           f"{r['mean']:.2e}", f"{r['max']:.2e}")
        console.print(etable)
        console.print("Dot products: error relative to Σ|a·w|. Inputs: activations uniform in "
                      "[0, 1), weights normal σ = 0.5, encoded to LNS first.")
    table = Table("unit", "parameters", "LUTs", "FFs", "DSPs", "Fmax MHz", "MACs/cycle",
                  "LUTs/MAC", title=f"{'LNS' if args.what == 'lns' else 'Arithmetic'} units "
                                    f"on {args.device}")
    for r in rows:
        table.add_row(r.unit, r.parameters, str(r.luts), str(r.ffs), str(r.dsps),
                      f"{r.fmax_mhz:.1f}" if r.fmax_mhz is not None else "-",
                      str(r.macs_per_cycle) if r.macs_per_cycle else "-",
                      f"{r.luts_per_mac:.1f}" if r.luts_per_mac is not None else "-")
    console.print(table)
    console.print("LUTs, FFs and DSPs: the unit alone after Yosys synthesis. Fmax: nextpnr, "
                  "the unit inside a pin harness (registered inputs and outputs). "
                  f"{elapsed:.0f} s.")
    return EXIT_OK


def _bench_sparse(args) -> int:
    from .bench import digits_engine_params, sparse_cycles, sparse_resources
    from .firmware.digits import digits_compressed, load_digits_data
    from .sim import runner
    from .toolchain import ToolchainError

    text = args.pes or "2,4,8"
    try:
        pes_list = [int(v) for v in text.split(",")]
    except ValueError:
        raise CliError(f"--pes = {text!r}; expected comma-separated integers",
                       EXIT_BAD_INPUT) from None
    for pes in pes_list:
        if pes not in (1, 2, 4, 8, 16, 32, 64):
            raise CliError(f"--pes: {pes} is not a power of two from 1 to 64", EXIT_BAD_INPUT)
    images = 20 if args.images is None else args.images
    if not 1 <= images <= 450:
        raise CliError(f"--images: {images}; expected 1 to 450 (the digits test split)",
                       EXIT_BAD_INPUT)
    devices = [args.device] if args.device else list(DEVICES)
    err = _console_err()
    t0 = time.perf_counter()
    configs = []
    try:
        with err.status("Compressing the digits MLP (cached after the first run)") as status:
            compressed = digits_compressed()
            pixels = load_digits_data().pixels_test[:images]
            for pes in pes_list:
                params = digits_engine_params(compressed, pes)
                status.update(f"Simulating the digits MLP on {pes} PEs ({images} images)")
                entry = {"pes": pes, "params": params.to_dict(),
                         **sparse_cycles(compressed, pixels, params), "resources": []}
                if not args.no_synth:
                    for device in devices:
                        status.update(f"Synthesizing {pes} PEs for {device}"
                                      f"{'' if args.no_pnr else ' and placing'}")
                        entry["resources"].append(sparse_resources(
                            params, device, pnr=not args.no_pnr, target_mhz=args.target_mhz))
                configs.append(entry)
    except (ToolchainError, runner.SimulatorUnavailable, runner.SimulationFailure) as exc:
        raise CliError(str(exc)) from None
    elapsed = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"model": "digits", "images": images, "configs": configs,
                          "seconds": round(elapsed, 1)}, indent=2))
        return EXIT_OK
    console = Console(highlight=False)
    table = Table("PEs", "layer", "shape", "broadcasts", "cycles", "ideal", "efficiency",
                  "PE balance", "MACs/cycle", "vs dense", "with output",
                  title=f"EIE engine on the digits MLP ({images} test images, mean per image)")
    for c in configs:
        for row in [*c["layers"], c["network"]]:
            shape = f"{row['rows']}×{row['cols']}" if "rows" in row else ""
            table.add_row(str(c["pes"]), row["layer"], shape,
                          f"{row['broadcasts']:.0f}" if "broadcasts" in row else "",
                          f"{row['compute_cycles']:.0f}", f"{row['ideal_cycles']:.0f}",
                          f"{row['load_balance_efficiency']:.0%}",
                          f"{row['work_balance']:.0%}" if "work_balance" in row else "",
                          f"{row['macs_per_cycle']:.2f}", f"{row['speedup_vs_dense']:.1f}×",
                          f"{row['total_cycles']:.0f}",
                          style="bold" if row["layer"] == "network" else None)
    console.print(table)
    console.print("cycles: start to first output; ideal: entries walked / P; efficiency: "
                  "ideal / cycles; PE balance: mean / max entries per PE; vs dense: M·N/P "
                  "cycles of a dense engine with P MACs per cycle; with output: until the "
                  "last of the M outputs has left.")
    if any(c["resources"] for c in configs):
        rtable = Table("PEs", "device", "LUT4", "FF", "BRAM", "DSP", "Fmax MHz",
                       title="EIE engine sized for the whole digits MLP")
        for c in configs:
            for r in c["resources"]:
                fmax = (f"{r['fmax_mhz']:.1f}" if r["fmax_mhz"] is not None
                        else "does not fit" if not r["fits"] else "-")
                rtable.add_row(str(c["pes"]), r["device"], str(r["luts"]), str(r["ffs"]),
                               str(r["brams"]), str(r["dsps"]), fmax)
        console.print(rtable)
    console.print(f"{elapsed:.0f} s.")
    return EXIT_OK


def _array_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        rows, sep, cols = item.strip().lower().partition("x")
        if not (sep and rows.isdigit() and cols.isdigit()
                and 1 <= int(rows) <= 64 and 1 <= int(cols) <= 64):
            raise CliError(f"--sizes: {item!r}; expected ROWSxCOLS with 1 to 64 each, e.g. "
                           f"4x4", EXIT_BAD_INPUT)
        sizes.append((int(rows), int(cols)))
    return sizes


def _gemm_shapes(text: str) -> list[tuple[str, int, int, int]]:
    shapes = []
    for item in text.split(","):
        parts = item.strip().lower().split("x")
        if len(parts) != 3 or not all(p.isdigit() and int(p) >= 1 for p in parts):
            raise CliError(f"--shapes: {item!r}; expected MxNxK with positive integers, e.g. "
                           f"64x64x64", EXIT_BAD_INPUT)
        m, n, k = map(int, parts)
        shapes.append((f"{m}×{n}×{k}", m, n, k))
    return shapes


def _bench_array(args) -> int:
    from .bench import array_cycles, array_resources
    from .hw.array import PE_KINDS
    from .sim import runner
    from .toolchain import ToolchainError

    if args.pes is not None or args.images is not None:
        raise CliError("--pes and --images apply to 'bench sparse' only", EXIT_BAD_INPUT)
    sizes = _array_sizes(args.sizes or "2x2,4x4,8x8")
    shapes = _gemm_shapes(args.shapes) if args.shapes else None
    kinds = [k.strip() for k in (args.kinds or ",".join(PE_KINDS)).split(",")]
    for kind in kinds:
        if kind not in PE_KINDS:
            raise CliError(f"--kinds: {kind!r} is not a PE kind; expected "
                           f"{', '.join(PE_KINDS)}", EXIT_BAD_INPUT)
    devices = [args.device] if args.device else list(DEVICES)
    err = _console_err()
    t0 = time.perf_counter()
    utilization, resources = [], []
    try:
        with err.status("Simulating") as status:
            for rows, cols in sizes:
                status.update(f"Simulating GEMMs on a {rows}×{cols} {kinds[0]} array")
                for row in array_cycles(rows, cols, kinds[0], shapes):
                    utilization.append({"rows": rows, "cols": cols, "kind": kinds[0], **row})
            if not args.no_synth:
                for device in devices:
                    for kind in kinds:
                        for rows, cols in sizes:
                            status.update(f"Synthesizing a {rows}×{cols} {kind} array for "
                                          f"{device}{'' if args.no_pnr else ' and placing'}")
                            resources.append(array_resources(
                                rows, cols, kind, device, pnr=not args.no_pnr,
                                target_mhz=args.target_mhz))
    except (ToolchainError, runner.SimulatorUnavailable, runner.SimulationFailure) as exc:
        raise CliError(str(exc)) from None
    elapsed = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"utilization": utilization, "resources": resources,
                          "seconds": round(elapsed, 1)}, indent=2))
        return EXIT_OK
    console = Console(highlight=False)
    table = Table("array", "GEMM", "M×N×K", "cycles", "utilization",
                  title=f"Systolic array utilization ({kinds[0]} PEs, no stalls)")
    for u in utilization:
        table.add_row(f"{u['rows']}×{u['cols']}", u["label"], f"{u['m']}×{u['n']}×{u['k']}",
                      str(u["cycles"]), f"{u['utilization']:.1%}")
    console.print(table)
    console.print("utilization: M·N·K / (rows·cols·cycles), cycles from the first operand "
                  "beat to the last result row (simulated).")
    if resources:
        rtable = Table("device", "PE kind", "array", "LUT4", "FF", "DSP", "BRAM",
                       "MACs/cycle", "Fmax MHz", title="Systolic array resources")
        for r in resources:
            fmax = (f"{r['fmax_mhz']:.1f}" if r["fmax_mhz"] is not None
                    else f"does not fit ({', '.join(r['over'])})" if not r["fits"] else "-")
            rtable.add_row(r["device"], r["kind"], f"{r['rows']}×{r['cols']}", str(r["luts"]),
                           str(r["ffs"]), str(r["dsps"]), str(r["brams"]),
                           str(r["macs_per_cycle"]), fmax)
        console.print(rtable)
    console.print(f"{elapsed:.0f} s.")
    return EXIT_OK


def _per_layer(text: str, option: str, kind: type):
    """One value for every layer, or comma-separated values, one per layer."""
    try:
        values = tuple(kind(v) for v in text.split(","))
    except ValueError:
        noun = "number" if kind is float else "integer"
        raise CliError(f"{option} = {text!r}; expected a {noun} or comma-separated {noun}s "
                       f"(one per layer)", EXIT_BAD_INPUT) from None
    return values[0] if len(values) == 1 else values


def _cmd_compress(args) -> int:
    from .firmware.compress.pipeline import CompressOptions, compress, write_outputs
    from .firmware.digits import INPUT_FRAC_BITS, digits_model, load_digits_data
    from .firmware.model import ModelError, load_model

    config = load_config(args.config)
    defaults = CompressOptions()
    options = CompressOptions(
        sparsity=defaults.sparsity if args.sparsity is None
        else _per_layer(args.sparsity, "--sparsity", float),
        bits=defaults.bits if args.bits is None else _per_layer(args.bits, "--bits", int),
        pes=config.sparse.pes if args.pes is None else args.pes,
        codebook_width=config.sparse.codebook_width, z_bits=config.sparse.index_bits,
        acc_width=config.widths.accumulator, balance=not args.no_balance, seed=args.seed)
    err = _console_err()
    t0 = time.perf_counter()
    with err.status("Loading the digits data set") as status:
        data = load_digits_data()
        if args.model == "digits":
            status.update("Training the built-in digits MLP (cached after the first run)")
            model = digits_model()
        else:
            try:
                model = load_model(args.model)
            except ModelError as exc:
                raise CliError(str(exc), EXIT_BAD_INPUT) from None
            if model.n_inputs != data.x_train.shape[1] or model.n_outputs != 10:
                raise CliError(f"{args.model}: the model has {model.n_inputs} inputs and "
                               f"{model.n_outputs} outputs; the digits data set needs 64 "
                               f"and 10", EXIT_BAD_INPUT)
        try:
            options = options.checked(len(model.layers))
        except ValueError as exc:
            raise CliError(str(exc), EXIT_BAD_INPUT) from None
        report = compress(model, data.x_train, data.y_train, data.x_test, data.y_test,
                          data.pixels_test, input_frac=INPUT_FRAC_BITS, options=options,
                          progress=status.update)
        status.update(f"Writing {args.out}")
        summary = write_outputs(report, args.out, model=args.model,
                                total_s=time.perf_counter() - t0)
    too_wide = [i for i, b in enumerate(options.bits) if b > config.sparse.codebook_bits]
    if too_wide:
        err.print(f"[yellow]warning:[/] layers {too_wide} use more index bits than the "
                  f"configured EIE engine's {config.sparse.codebook_bits} "
                  f"(sparse.codebook_bits of '{config.name}')")
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    console = Console(highlight=False)
    table = Table("layer", "shape", "kept", "bits", "float32", "compressed", "+ Huffman",
                  "ratio", title=f"Deep Compression of '{args.model}' for {options.pes} EIE PEs")
    for r in report.layers:
        table.add_row(r.name, f"{r.shape[0]}×{r.shape[1]}", f"{r.density:.1%}", str(r.bits),
                      f"{r.original_bits / 8192:.1f} kB", f"{r.compressed_bits / 8192:.2f} kB",
                      f"{r.huffman_bits / 8192:.2f} kB",
                      f"{r.original_bits / r.huffman_bits:.1f}×")
    kept = sum(r.nonzero for r in report.layers) / sum(r.weights for r in report.layers)
    table.add_row("total", "", f"{kept:.1%}", "", f"{report.original_bits / 8192:.1f} kB",
                  f"{report.compressed_bits / 8192:.2f} kB", f"{report.huffman_bits / 8192:.2f} kB",
                  f"{report.compression_ratio:.1f}×", style="bold")
    console.print(table)
    acc = Table("model", "test accuracy", box=None)
    for label, value in (("float", report.accuracy_float), ("pruned", report.accuracy_pruned),
                         ("pruned + shared", report.accuracy_shared),
                         ("integer golden (compressed)", report.accuracy_compressed)):
        acc.add_row(label, f"{value:.2%}")
    console.print(acc)
    console.print(f"wrote {args.out}/summary.json, summary.md, model_compressed.npz and "
                  f"eie_p{options.pes}.npz in {summary['seconds']['total']:.1f} s")
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _print_run(console, r: dict):
    """Human-readable figures of a network run."""
    table = Table("image", "label", "predicted", "golden", box=None)
    for k, (label, pred, gold) in enumerate(zip(r["labels"], r["predictions"],
                                                r["golden_predictions"], strict=True)):
        if k == 20:
            table.add_row("…", "", "", "")
            break
        mark = "" if pred == label else " [red]✗[/]"
        table.add_row(str(r["first_image"] + k), str(label), f"{pred}{mark}", str(gold))
    console.print(table)
    exact = "[green]yes[/]" if r["bit_exact"] else f"[red]NO[/] — {r['first_mismatch']}"
    console.print(f"{r['variant']}: accuracy {r['accuracy']:.1%} on {r['images']} image(s) "
                  f"(golden model {r['golden_accuracy']:.1%}); bit-exact: {exact}")
    per_layer = ", ".join(f"{c:,.0f}" for c in r["layer_cycles_per_inference"])
    rate = r["clock_mhz"] * 1e6 / r["cycles_per_inference"]
    console.print(f"cycles per inference: {r['cycles_per_inference']:,.0f} (layers: "
                  f"{per_layer}; {r['lanes']} images per run) → {rate:,.0f} inferences/s at "
                  f"{r['clock_mhz']:g} MHz")


def _cmd_run(args) -> int:
    from .run import RunError, run_board, run_sim

    if args.board:
        _, config = _board_and_config(args)
    else:
        config = load_config(args.config or "default")
    err = _console_err()
    t0 = time.perf_counter()
    try:
        with err.status("Preparing") as status:
            if args.sim:
                result = run_sim(config, model=args.model, variant=args.variant,
                                 images=args.images, first=args.first, link=args.link,
                                 simulator=args.simulator, seed=args.seed,
                                 status=status.update)
            else:
                result = run_board(config, args.port, baud=args.baud, model=args.model,
                                   variant=args.variant, images=args.images, first=args.first,
                                   status=status.update)
    except RunError as exc:
        raise CliError(str(exc)) from None
    result["wall_s"] = round(time.perf_counter() - t0, 3)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_run(Console(highlight=False), result)
    return EXIT_OK if result["bit_exact"] else EXIT_FAILURE


def _cmd_demo(args) -> int:
    from .firmware.compress.pipeline import CompressOptions, compress, write_outputs
    from .firmware.digits import INPUT_FRAC_BITS, digits_model, load_digits_data
    from .generate import generate
    from .run import RunError, run_sim

    config = load_config(args.config)
    err = _console_err()
    t0 = time.perf_counter()
    out = Path(args.out)
    runs = {}
    try:
        with err.status(f"Generating the '{config.name}' accelerator") as status:
            manifest = generate(config, out / "verilog")
            status.update("Training (first time only) and compressing the digits MLP")
            data = load_digits_data()
            options = CompressOptions(pes=config.sparse.pes,
                                      codebook_width=config.sparse.codebook_width,
                                      z_bits=config.sparse.index_bits,
                                      acc_width=config.widths.accumulator)
            report = compress(digits_model(), data.x_train, data.y_train, data.x_test,
                              data.y_test, data.pixels_test, input_frac=INPUT_FRAC_BITS,
                              options=options, progress=status.update)
            summary = write_outputs(report, out / "compressed", model="digits")
            model_path = str(out / "compressed" / "model_compressed.npz")
            for variant in ("dense", "sparse"):
                runs[variant] = run_sim(config, model=model_path, variant=variant,
                                        images=args.images, status=status.update)
    except RunError as exc:
        raise CliError(str(exc)) from None
    clock = config.clock_mhz * 1e6
    result = {
        "config": config.name, "clock_mhz": config.clock_mhz, "images": args.images,
        "verilog": str(out / "verilog" / manifest["verilog"]),
        "accuracy_float": summary["accuracy_float"],
        "accuracy_compressed": summary["accuracy_compressed"],
        "compression_ratio": summary["compression_ratio"],
        "compression_ratio_no_huffman": summary["compression_ratio_no_huffman"],
        "variants": {
            v: {"accuracy": r["accuracy"], "golden_accuracy": r["golden_accuracy"],
                "bit_exact": r["bit_exact"], "first_mismatch": r["first_mismatch"],
                "cycles_per_inference": r["cycles_per_inference"],
                "layer_cycles_per_inference": r["layer_cycles_per_inference"],
                "inferences_per_s": clock / r["cycles_per_inference"]}
            for v, r in runs.items()},
        "bit_exact": all(r["bit_exact"] for r in runs.values()),
        "demo_s": round(time.perf_counter() - t0, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK if result["bit_exact"] else EXIT_FAILURE
    console = Console(highlight=False)
    n = len(data.y_test)
    console.print(f"[bold]Corolla demo[/]: '{config.name}' accelerator at {config.clock_mhz:g} "
                  f"MHz, Verilog in {result['verilog']}")
    console.print("digits MLP 64-300-100-10, Deep Compression: "
                  f"{result['compression_ratio']:.1f}× smaller "
                  f"({result['compression_ratio_no_huffman']:.1f}× before Huffman coding); "
                  f"accuracy {result['accuracy_float']:.1%} float → "
                  f"{result['accuracy_compressed']:.1%} compressed integer ({n} test images)")
    table = Table("variant", "accuracy", "golden", "bit-exact", "cycles/inference",
                  "inferences/s", box=None)
    for v, r in result["variants"].items():
        table.add_row(v, f"{r['accuracy']:.1%}", f"{r['golden_accuracy']:.1%}",
                      "[green]yes[/]" if r["bit_exact"] else "[red]NO[/]",
                      f"{r['cycles_per_inference']:,.0f}", f"{r['inferences_per_s']:,.0f}")
    console.print(table)
    for v, r in result["variants"].items():
        if not r["bit_exact"]:
            console.print(f"[red]{v}[/]: {r['first_mismatch']}")
    console.print(f"{args.images} test image(s) per variant on the simulated accelerator; "
                  f"demo took {result['demo_s']:.0f} s")
    return EXIT_OK if result["bit_exact"] else EXIT_FAILURE


def _board(args):
    from .boards import BoardError, get_board

    try:
        return get_board(args.board)
    except BoardError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None


def _board_and_config(args):
    board = _board(args)
    return board, load_config(args.config or board.config)


def _print_build(console, r: dict):
    clock, util = r["clock"], r["utilization"]
    table = Table(title=f"{r['board']} ({r['device']}): {r['design']}, "
                        f"config '{r['config']['name']}'")
    table.add_column("resource")
    table.add_column("used", justify="right")
    table.add_column("available", justify="right")
    table.add_column("%", justify="right")
    for name, u in util.items():
        table.add_row(name.upper(), f"{u['used']:,}", f"{u['available']:,}", f"{u['percent']}")
    console.print(table)
    console.print(f"clock: target {clock['target_mhz']:.2f} MHz (PLL), Fmax "
                  f"{clock['fmax_mhz']:.2f} MHz")
    path = clock.get("critical_path")
    if path:
        console.print(f"slowest path: {path['from']} → {path['to']}, {path['delay_ns']} ns "
                      f"({path['logic_ns']} ns logic, {path['routing_ns']} ns routing)")
    t = r["times_s"]
    console.print(f"build {r['build_s']:.0f} s (yosys {t['yosys_s']:.0f} s, nextpnr "
                  f"{t['nextpnr_s']:.0f} s, pack {t['pack_s']:.0f} s); bitstream "
                  f"{r['out']}/{r['bitstream']['file']} ({r['bitstream']['bytes']:,} bytes)")


def _cmd_build(args) -> int:
    from .build import BuildError, build_board

    board, config = _board_and_config(args)
    out = Path(args.out)
    err = _console_err()
    names = {"rtlil": "Elaborating", "yosys": "Synthesizing (Yosys)",
             "nextpnr": "Placing and routing (nextpnr)", "pack": "Packing the bitstream"}
    try:
        with err.status("Elaborating") as status:
            def progress(step, seconds):
                status.update(f"{names[step]} … {seconds:.0f} s")

            report = build_board(board, config, out, design=args.design,
                                 clock_mhz=args.clock_mhz, baud=args.baud, seed=args.seed,
                                 progress=progress)
    except BuildError as exc:
        raise CliError(str(exc)) from None
    report["out"] = str(out)
    clock = report["clock"]
    if not clock["timing_met"]:
        err.print(f"[bold red]WARNING: timing not met[/]: the design reaches "
                  f"{clock['fmax_mhz']:.2f} MHz but its clock is {clock['target_mhz']:.2f} "
                  f"MHz; it may not work on the board. Lower clock_mhz (--clock-mhz) to at "
                  f"most {clock['fmax_mhz']:.1f}. The slowest path starts in "
                  f"{(clock['critical_path'] or {}).get('module', '?')} (report.json, "
                  f"clock.critical_path).")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_build(Console(highlight=False), report)
    return EXIT_OK


def _cmd_report(args) -> int:
    from .build import BuildError
    from .report import fmt_built, measure, parse_target, write_report
    from .run import RunError

    specs = ([f"{args.board}:{args.config}" if args.config else args.board] if args.board
             else [])
    specs += args.compare or []
    if not specs:
        raise CliError("name a configuration: --board NAME [--config NAME|FILE] and/or "
                       "--compare BOARD[:CONFIG[:VARIANT]] ...", EXIT_BAD_INPUT)
    targets = [parse_target(spec, variant=args.variant) for spec in specs]
    labels = [t.label for t in targets]
    if len(set(labels)) != len(labels):
        raise CliError(f"configurations named twice: {', '.join(labels)}", EXIT_BAD_INPUT)
    if not 1 <= args.images <= 450:
        raise CliError(f"--images is {args.images}; expected 1 to 450", EXIT_BAD_INPUT)
    err = _console_err()
    t0 = time.perf_counter()
    entries = []
    try:
        with err.status("Preparing") as status:
            def say(message):
                status.update(f"{message} … {time.perf_counter() - t0:.0f} s")

            for target in targets:
                entries.append(measure(target, model=args.model, images=args.images,
                                       out_dir=args.out, seed=args.seed,
                                       build=not args.no_build, status=say))
            say("writing the report and plots")
            doc = write_report(entries, args.out, model=args.model)
    except (BuildError, RunError) as exc:
        raise CliError(str(exc)) from None
    doc["out"] = str(args.out)
    doc["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(doc, indent=1))
        return EXIT_OK
    console = Console(highlight=False)
    table = Table("configuration", "clock MHz", "Fmax MHz", "cycles/inf", "inf/s", "util.",
                  "LUT", "DSP", "BRAM", "accuracy", "nJ/inf (est.)",
                  title=f"Corolla report ({args.model})")
    for e in entries:
        res = e["resources"] or {}

        def used(key, res=res):
            return f"{res[key]['used']:,}" if key in res else "-"
        table.add_row(e["label"], f"{e['clock']['board_mhz']:.1f}",
                      fmt_built(e["clock"]["fmax_mhz"], 1), f"{e['cycles']['per_inference']:,.0f}",
                      f"{e['rate_at_clock']['inferences_per_s']:,.0f}",
                      f"{e['utilization']:.0%}", used("lut"), used("dsp"), used("bram"),
                      f"{e['accuracy']['test_split']:.1%}",
                      f"{e['energy']['per_inference_nj']:,.0f}")
    console.print(table)
    console.print(f"Wrote {args.out}/report.md, report.json and "
                  f"{', '.join(doc['plots'].values())} in {doc['seconds']:.0f} s.")
    return EXIT_OK


def _cmd_flash(args) -> int:
    from .build import BuildError, flash, flash_command

    board = _board(args)
    bitstream = Path(args.bitstream or f"build/{board.name}/corolla_top.{board.bitstream}")
    if not bitstream.is_file():
        raise CliError(f"bitstream {bitstream} does not exist; build it with `corolla build "
                       f"--board {board.name} --out {bitstream.parent}`", EXIT_BAD_INPUT)
    if bitstream.suffix != f".{board.bitstream}":
        raise CliError(f"bitstream {bitstream} is not a .{board.bitstream} file, which the "
                       f"{board.name} takes", EXIT_BAD_INPUT)
    try:
        if args.dry_run:
            cmd = flash_command(board, bitstream, installed=False)
            if not Path(cmd[0]).is_absolute():
                _console_err().print(f"note: {cmd[0]} is not installed; install "
                                     f"{board.packages}")
            print(shlex.join(cmd))
            return EXIT_OK
        with _console_err().status(f"Programming the {board.name}"):
            cmd = flash(board, bitstream)
    except BuildError as exc:
        raise CliError(str(exc)) from None
    print(f"programmed {board.name} with {bitstream} ({Path(cmd[0]).name})")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``corolla`` command."""
    parser = _Parser(
        prog="corolla",
        description="Generate, simulate and build FPGA inference accelerators for compressed "
                    "and low-precision neural networks.")
    parser.add_argument("--version", action="version", version=f"corolla {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=_Parser)

    p = sub.add_parser("generate", help="write the Verilog and a JSON manifest of a design",
                       description="Write the Verilog of the configured design and a JSON "
                                   "manifest (ports, parameters, configuration, version).")
    _add_config_arg(p)
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    _add_design_arg(p)
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("sim", help="run the cocotb bench of a design against its golden model",
                       description="Build the configured design for a simulator and run its "
                                   "cocotb bench against the numpy golden model.")
    _add_config_arg(p)
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                   help="simulator (default: %(default)s)")
    p.add_argument("--waves", action="store_true",
                   help="dump waveforms (VCD with Verilator, FST with Icarus)")
    p.add_argument("--seed", type=int, help="random seed (default: chosen by cocotb, printed)")
    p.add_argument("--cycles", type=int,
                   help="cycles of random traffic (at least; rounded up to whole cases)")
    _add_design_arg(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=_cmd_sim)

    from .boards import BOARDS
    from .build import BUILD_DESIGNS

    p = sub.add_parser("build", help="build a bitstream for a board (Yosys, nextpnr)",
                       description="Put the accelerator (or a UART loopback) on a board: "
                                   "Yosys, nextpnr and the bitstream packer from the YoWASP "
                                   "wheels. Writes the bitstream and report.json (Fmax "
                                   "against the clock, LUT/FF/DSP/BRAM utilization, build "
                                   "times).")
    p.add_argument("--board", required=True, choices=BOARDS, help="the board")
    p.add_argument("--config", metavar="NAME|FILE",
                   help="built-in configuration or a TOML file (default: the board's own)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--design", choices=BUILD_DESIGNS, default="top",
                   help="top: the accelerator; echo: a UART loopback for bringing up the "
                        "board's serial link (default: %(default)s)")
    p.add_argument("--clock-mhz", type=float,
                   help="clock to ask the PLL for (default: clock_mhz of the configuration)")
    p.add_argument("--baud", type=int, default=115200,
                   help="host link baud rate (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr seed (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("report", help="the evaluation report of one or more configurations: "
                                      "accuracy, cycles, rates, utilization, resources, energy "
                                      "estimate, roofline",
                       description="Simulate the digits network on each configuration (cycle "
                                   "counters), build it for its board (nextpnr Fmax and "
                                   "resources; an unchanged build is reused) and write "
                                   "report.md, report.json and PNG plots to --out.")
    p.add_argument("--board", choices=BOARDS, help="the board of the configuration to report")
    p.add_argument("--config", metavar="NAME|FILE",
                   help="accelerator configuration for --board (default: the board's own)")
    p.add_argument("--compare", nargs="+", metavar="BOARD[:CONFIG[:VARIANT]]",
                   help="(further) configurations to report side by side, e.g. "
                        "icebreaker ulx3s:default:sparse")
    p.add_argument("--model", default="digits", metavar="digits|FILE.npz",
                   help="compressed model (default: %(default)s)")
    p.add_argument("--variant", default="dense", choices=("dense", "sparse"),
                   help="variant where a configuration names none (default: %(default)s)")
    p.add_argument("--images", type=int, default=8,
                   help="test images to simulate (default: %(default)s)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--seed", type=int, default=1, help="nextpnr seed (default: %(default)s)")
    p.add_argument("--no-build", action="store_true",
                   help="skip the board builds (no Fmax or resources in the report)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("flash", help="program a board with a bitstream",
                       description="Program a board with openFPGALoader, iceprog, fujprog or "
                                   "dfu-util (whichever the board takes and is installed).")
    p.add_argument("--board", required=True, choices=BOARDS, help="the board")
    p.add_argument("--bitstream", type=Path, metavar="FILE",
                   help="the bitstream (default: build/BOARD/corolla_top.bin|bit)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the command instead of running it")
    p.set_defaults(func=_cmd_flash)

    p = sub.add_parser("run", help="run the digits network on the accelerator (simulated or "
                                   "on a board) and check it against the golden model",
                       description="Compile a network for the accelerator, load it over the "
                                   "host link, run digits test images and compare every "
                                   "output with the golden model. Prints predictions, "
                                   "accuracy, hardware cycles per inference and whether the "
                                   "outputs were bit-exact.")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--sim", action="store_true", help="simulate the accelerator (cocotb)")
    where.add_argument("--port", metavar="DEVICE",
                       help="a board's serial port, e.g. /dev/ttyUSB1")
    p.add_argument("--board", choices=BOARDS,
                   help="the board behind --port (its configuration is the default one)")
    p.add_argument("--config", metavar="NAME|FILE",
                   help="built-in configuration or a TOML file (default: the board's, else "
                        "'default')")
    p.add_argument("--model", default="digits", metavar="digits|FILE.npz",
                   help="the built-in compressed digits model or a compressed-model file "
                        "from `corolla compress` (default: %(default)s)")
    p.add_argument("--variant", default="dense", choices=("dense", "sparse"),
                   help="dense: every layer on the PE array; sparse: every layer on the EIE "
                        "engine (default: %(default)s)")
    p.add_argument("--images", type=int, default=8, help="test images (default: %(default)s)")
    p.add_argument("--first", type=int, default=0,
                   help="first test image (default: %(default)s)")
    p.add_argument("--link", choices=("stream", "uart"), default="stream",
                   help="--sim: the link's byte streams or the UART pins (default: "
                        "%(default)s)")
    p.add_argument("--baud", type=int, default=115200,
                   help="--port: baud rate (default: %(default)s)")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                   help="--sim: simulator (default: %(default)s)")
    p.add_argument("--seed", type=int, help="--sim: cocotb random seed")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("demo", help="the main job on built-in defaults: generate, compress, "
                                    "run in simulation, summarize",
                       description="Generate the default accelerator, compress the built-in "
                                   "digits model, run test images on the simulated "
                                   "accelerator in the dense and sparse variants and print "
                                   "accuracy, compression, cycles per inference and projected "
                                   "inferences per second.")
    _add_config_arg(p)
    p.add_argument("--images", type=int, default=8, help="test images (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("build/demo"), metavar="DIR",
                   help="output folder (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_cmd_demo)

    from .firmware.compress.pipeline import CompressOptions as CompressOptionsDefaults

    p = sub.add_parser("compress", help="prune, share, Huffman-code and EIE-encode a model",
                       description="Deep Compression of a float model (the built-in digits "
                                   "MLP by default): pruning with retraining, k-means weight "
                                   "sharing, centroid fine-tuning, fixed-point export, EIE "
                                   "encoding and Huffman coding, with the storage table and "
                                   "the accuracy on the digits test split.")
    p.add_argument("--model", default="digits", metavar="digits|FILE.npz",
                   help="the built-in model or a float model file (default: %(default)s)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--sparsity", metavar="S[,S...]",
                   help="fraction of weights pruned, for all layers or one per layer "
                        f"(default: {','.join(map(str, CompressOptionsDefaults.sparsity))})")
    p.add_argument("--bits", metavar="K[,K...]",
                   help="codebook index bits, 1 to 8, for all layers or one per layer "
                        f"(default: {CompressOptionsDefaults.bits})")
    p.add_argument("--pes", type=int, help="EIE processing elements to encode for "
                                           "(default: sparse.pes of the configuration)")
    p.add_argument("--no-balance", action="store_true",
                   help="prune each layer as a whole instead of each PE's rows to the same "
                        "sparsity (load-balance-aware pruning is the default)")
    _add_config_arg(p)
    p.add_argument("--seed", type=int, default=0, help="training seed (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_cmd_compress)

    p = sub.add_parser("bench", help="measure resources, Fmax and cycles of hardware units",
                       description="Synthesize each arithmetic unit with Yosys, place it with "
                                   "nextpnr, and print LUTs, FFs, DSPs, Fmax and cost per MAC; "
                                   "measure the PE array's utilization on GEMM shapes and its "
                                   "resources; or run the digits MLP on the simulated EIE "
                                   "engine and print its cycles and resources.")
    p.add_argument("what", choices=(*BENCHES, "all"),
                   help="all: every bench below with its defaults (the figures the README "
                        "quotes); units: the arithmetic units; lns: LNS error against float64 "
                        "and LNS units next to integer multipliers; array: the systolic PE array "
                        "(utilization per GEMM shape, resources); sparse: the EIE engine on "
                        "the digits MLP (cycles, load balance, resources)")
    p.add_argument("--device", choices=tuple(DEVICES),
                   help="target device (default: ice40up5k; for array and sparse: every "
                        "device)")
    p.add_argument("--sizes", metavar="RxC[,RxC...]",
                   help="array: array sizes to measure (default: 2x2,4x4,8x8)")
    p.add_argument("--kinds", metavar="KIND[,KIND...]",
                   help="array: PE kinds to synthesize (default: int8,ternary,binary,lns); "
                        "utilization is simulated with the first")
    p.add_argument("--shapes", metavar="MxNxK[,MxNxK...]",
                   help="array: GEMM shapes to simulate (default: a built-in set from "
                        "K = 1 to K = 256, square, ragged, MLP and convolution layers)")
    p.add_argument("--pes", metavar="P[,P...]",
                   help="sparse: engine sizes to measure (default: 2,4,8)")
    p.add_argument("--images", type=int,
                   help="sparse: digits test images to run (default: 20)")
    p.add_argument("--no-synth", action="store_true",
                   help="array, sparse: cycles only, no synthesis")
    p.add_argument("--no-pnr", action="store_true",
                   help="synthesis only: skip place-and-route (no Fmax)")
    p.add_argument("--target-mhz", type=float, default=100.0,
                   help="clock constraint given to nextpnr (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``corolla`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"corolla: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except CliError as exc:
        print(f"corolla: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("corolla: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`); not an error of ours.
        sys.stdout = None
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
