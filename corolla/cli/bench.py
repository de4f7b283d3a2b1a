"""``corolla bench``: resources, Fmax and cycles of hardware units, the array and the EIE engine."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time

from rich.table import Table

from ..boards import BOARDS
from ..firmware.compress.prune import BALANCE_MODES
from ..toolchain import DEVICES
from . import checks
from .common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    CliError,
    console_out,
    progress,
)

#: What ``corolla bench all`` runs, in order: sub-verb → its handler.
BENCHES = ("units", "lns", "array", "conv", "winograd", "sparse")


def _bench_all(args) -> int:
    """Every bench with its defaults; with ``--json`` one document keyed by bench."""
    handlers = {"units": _bench_units, "lns": _bench_units, "array": _bench_array,
                "conv": _bench_conv, "winograd": _bench_winograd, "sparse": _bench_sparse}
    defaults = {"sizes": None, "kinds": None, "shapes": None, "pes": None, "images": None,
                "no_synth": False, "huffman": False, "broadcast": (1, 2), "balance": ("rows",),
                "kind": None,
                "size": None}
    doc = {}
    for what in BENCHES:
        sub = argparse.Namespace(**{**defaults, **vars(args), "what": what})
        if not args.json:
            handlers[what](sub)
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            handlers[what](sub)
        doc[what] = json.loads(out.getvalue())
    if args.json:
        print(json.dumps(doc, indent=2))
    return EXIT_OK


def _bench_units(args) -> int:
    """``bench units`` and ``bench lns``: arithmetic units synthesized and placed alone."""
    from ..bench import bench_units, lns_catalogue, lns_error_table, unit_catalogue
    from ..toolchain import ToolchainError

    args.device = args.device or "ice40up5k"

    t0 = time.perf_counter()
    errors = None
    try:
        with progress("Synthesizing") as status:
            if args.what == "lns":
                status("LNS error against float64 (golden model)")
                errors = lns_error_table()
            rows = bench_units(args.device, pnr=not args.no_pnr, target_mhz=args.target_mhz,
                               progress=lambda what: status(f"Synthesizing {what}"),
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
    console = console_out()
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
    from ..bench import (
        digits_engine_params,
        sparse_cycles,
        sparse_resources,
        sparse_storage,
        walk_rate,
    )
    from ..firmware.digits import digits_compressed, load_digits_data
    from ..sim import runner
    from ..toolchain import ToolchainError

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
    broadcasts = args.broadcast
    devices = [args.device] if args.device else list(DEVICES)
    data = load_digits_data()
    t0 = time.perf_counter()
    configs = []
    try:
        with progress("Compressing the digits MLP (cached after the first run)") as status:
            pixels = data.pixels_test[:images]
            models = {}                 # (P, balance) -> (compressed model, accuracy)
            for pes, balance, broadcast in ((p, bal, b) for p in pes_list
                                            for bal in args.balance for b in broadcasts):
                # Pruned for this engine's P, as a user deploying on P PEs would compress.
                if (pes, balance) not in models:
                    status(f"Compressing the digits MLP for {pes} PEs, balanced by {balance} "
                           f"(cached after the first run)")
                    model = digits_compressed(pes=pes, balance=balance)
                    models[pes, balance] = (model,
                                            model.accuracy(data.pixels_test, data.y_test))
                compressed, accuracy = models[pes, balance]
                params = digits_engine_params(compressed, pes, broadcast=broadcast)
                status(f"Simulating the digits MLP on {pes} PEs, {broadcast} broadcast a cycle "
                       f"({images} images)")
                entry = {"pes": pes, "broadcast": broadcast, "balance": balance,
                         "accuracy": accuracy,
                         "params": params.to_dict(),
                         **sparse_cycles(compressed, pixels, params), "resources": []}
                if not args.no_synth:
                    for device in devices:
                        status(f"Synthesizing {pes} PEs (B = {broadcast}) for {device}"
                               f"{'' if args.no_pnr else ' and placing'}")
                        entry["resources"].append(sparse_resources(
                            params, device, pnr=not args.no_pnr, target_mhz=args.target_mhz))
                if args.huffman:
                    coded = digits_engine_params(compressed, pes, broadcast=broadcast,
                                                 huffman=True)
                    status(f"Simulating the digits MLP on {pes} PEs with Huffman-coded entries")
                    entry["huffman"] = {
                        "params": coded.to_dict(),
                        **sparse_cycles(compressed, pixels, coded),
                        "storage": sparse_storage(compressed, params, coded),
                        "walk_rate": walk_rate(coded), "plain_walk_rate": walk_rate(params),
                        "resources": []}
                    if not args.no_synth:
                        for device in devices:
                            status(f"Synthesizing {pes} Huffman PEs for {device}"
                                   f"{'' if args.no_pnr else ' and placing'}")
                            entry["huffman"]["resources"].append(sparse_resources(
                                coded, device, pnr=not args.no_pnr,
                                target_mhz=args.target_mhz))
                configs.append(entry)
    except (ToolchainError, runner.SimulatorUnavailable, runner.SimulationFailure) as exc:
        raise CliError(str(exc)) from None
    elapsed = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"model": "digits", "images": images, "configs": configs,
                          "seconds": round(elapsed, 1)}, indent=2))
        return EXIT_OK
    console = console_out()
    table = Table("PEs", "B", "pruning", "layer", "shape", "broadcasts", "cycles", "ideal",
                  "efficiency", "PE balance", "MACs/cycle", "vs dense", "with output",
                  title=f"EIE engine on the digits MLP ({images} test images, mean per image)")
    for c in configs:
        for row in [*c["layers"], c["network"]]:
            shape = f"{row['rows']}×{row['cols']}" if "rows" in row else ""
            pruning = (f"{c['balance']}, {c['accuracy']:.1%}" if row["layer"] == "network"
                       else c["balance"])
            table.add_row(str(c["pes"]), str(c["broadcast"]), pruning, row["layer"], shape,
                          f"{row['broadcasts']:.0f}" if "broadcasts" in row else "",
                          f"{row['compute_cycles']:.0f}", f"{row['ideal_cycles']:.0f}",
                          f"{row['load_balance_efficiency']:.0%}",
                          f"{row['work_balance']:.0%}" if "work_balance" in row else "",
                          f"{row['macs_per_cycle']:.2f}", f"{row['speedup_vs_dense']:.1f}×",
                          f"{row['total_cycles']:.0f}",
                          style="bold" if row["layer"] == "network" else None)
    console.print(table)
    console.print("pruning: load-balance-aware pruning by rows or columns, and the compressed "
                  "model's test accuracy (all 450 images); "
                  "cycles: start to first output; ideal: entries walked / P; efficiency: "
                  "ideal / cycles; B: activations broadcast a cycle; broadcasts: non-zero "
                  "activations; PE balance: mean / max entries per PE; vs dense: M·N/P "
                  "cycles of a dense engine with P MACs per cycle; with output: until the "
                  "last of the M outputs has left.")
    if any(c["resources"] for c in configs):
        rtable = Table("PEs", "B", "device", "LUT4", "FF", "BRAM", "DSP", "Fmax MHz",
                       title="EIE engine sized for the whole digits MLP")
        for c in configs:
            for r in c["resources"]:
                fmax = (f"{r['fmax_mhz']:.1f}" if r["fmax_mhz"] is not None
                        else "does not fit" if not r["fits"] else "-")
                rtable.add_row(str(c["pes"]), str(c["broadcast"]), r["device"], str(r["luts"]),
                               str(r["ffs"]),
                               str(r["brams"]), str(r["dsps"]), fmax)
        console.print(rtable)
    if args.huffman:
        _print_huffman(console, configs)
    console.print(f"{elapsed:.0f} s.")
    return EXIT_OK


def _print_huffman(console, configs):
    """The ``--huffman`` tables: on-chip bits, cycles and the decoder's rate and cost."""
    table = Table("PEs", "B", "layer", "entries", "plain bits", "coded bits", "bits/entry",
                  "entries ×", "pointers plain → coded", "tables", "on chip ×", "cycles plain",
                  "cycles coded", title="Huffman-coded entries on the digits MLP")
    for c in configs:
        h = c["huffman"]
        cycles = {row["layer"]: row["compute_cycles"] for row in c["layers"]}
        coded_cycles = {row["layer"]: row["compute_cycles"] for row in h["layers"]}
        for row in h["storage"]:
            table.add_row(str(c["pes"]), str(c["broadcast"]), row["layer"], str(row["entries"]),
                          f"{row['plain_bits']:,}", f"{row['coded_bits']:,}",
                          f"{row['bits_per_entry']:.2f}", f"{row['entry_ratio']:.2f}×",
                          f"{row['plain_pointer_bits']:,} → {row['coded_pointer_bits']:,}",
                          f"{row['table_bits']:,}", f"{row['ratio']:.2f}×",
                          f"{cycles[row['layer']]:.0f}", f"{coded_cycles[row['layer']]:.0f}")
        table.add_row(str(c["pes"]), str(c["broadcast"]), "network", "", "", "", "", "", "", "",
                      "",
                      f"{c['network']['compute_cycles']:.0f}",
                      f"{h['network']['compute_cycles']:.0f}", style="bold")
    console.print(table)
    console.print("plain bits: entries (z + v bits each) + column pointers; coded bits: the "
                  "Huffman streams + pointers (bit addresses) + the decoders' tables; "
                  "entries ×: plain entry bits / coded stream bits; cycles: start to first "
                  "output, mean per image.")
    for c in configs:
        h = c["huffman"]
        line = (f"{c['pes']} PEs, B = {c['broadcast']}: decoder {h['walk_rate']:.2f} entries "
                f"(two codes) per cycle on a long column (plain walker {h['plain_walk_rate']:.2f})")
        for r in h["resources"]:
            plain = next((p for p in c["resources"] if p["device"] == r["device"]), None)
            line += (f"; {r['device']}: {r['luts']} LUT4, {r['brams']} BRAM"
                     + (f" (plain {plain['luts']} LUT4, {plain['brams']} BRAM)" if plain else "")
                     + (f", {r['fmax_mhz']:.1f} MHz" if r["fmax_mhz"] else ""))
        console.print(line)


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
    from ..bench import array_cycles, array_resources
    from ..pe_kinds import PE_KINDS
    from ..sim import runner
    from ..toolchain import ToolchainError

    sizes = _array_sizes(args.sizes or "2x2,4x4,8x8")
    shapes = _gemm_shapes(args.shapes) if args.shapes else None
    kinds = [k.strip() for k in (args.kinds or ",".join(PE_KINDS)).split(",")]
    for kind in kinds:
        if kind not in PE_KINDS:
            raise CliError(f"--kinds: {kind!r} is not a PE kind; expected "
                           f"{', '.join(PE_KINDS)}", EXIT_BAD_INPUT)
    devices = [args.device] if args.device else list(DEVICES)
    t0 = time.perf_counter()
    utilization, resources = [], []
    try:
        with progress("Simulating") as status:
            for rows, cols in sizes:
                status(f"Simulating GEMMs on a {rows}×{cols} {kinds[0]} array")
                for row in array_cycles(rows, cols, kinds[0], shapes):
                    utilization.append({"rows": rows, "cols": cols, "kind": kinds[0], **row})
            if not args.no_synth:
                for device in devices:
                    for kind in kinds:
                        for rows, cols in sizes:
                            status(f"Synthesizing a {rows}×{cols} {kind} array for "
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
    console = console_out()
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


def _bench_conv(args) -> int:
    """``bench conv``: convolutions on the simulated top, counters next to the cycle
    model."""
    from ..bench import conv_cycles
    from ..sim import runner

    rows, cols = _array_sizes(getattr(args, "size", None) or "4x4")[0]
    kind = getattr(args, "kind", None) or "dense"
    t0 = time.perf_counter()
    try:
        with progress(f"Simulating convolutions on a {rows}×{cols} {kind} array"):
            figures = conv_cycles(rows, cols, kind=kind)
    except (runner.SimulatorUnavailable, runner.SimulationFailure) as exc:
        raise CliError(str(exc)) from None
    elapsed = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"rows": rows, "cols": cols, "kind": kind, "layers": figures,
                          "seconds": round(elapsed, 1)}, indent=2))
        return EXIT_OK
    console = console_out()
    table = Table("convolution", "layer", "cycles", "cycle model", "utilization",
                  title=f"Convolutions on a {rows}×{cols} {kind} array ({cols} images a run)")
    for f in figures:
        table.add_row(f["label"], f["layer"], f"{f['cycles']:,}", f"{f['model_cycles']:,}",
                      f"{f['utilization']:.1%}")
    console.print(table)
    console.print("cycles: the step's hardware counter for one run; utilization: MACs / "
                  f"(rows·cols·cycles); every output bit-exact. {elapsed:.0f} s.")
    return EXIT_OK


def _bench_board(args) -> int:
    """``bench board``: the full accelerator on a board over several nextpnr seeds, peak and
    sustained G MAC/s, resources, and the chip's reference design beside it."""
    from ..bench import board_summary
    from ..build import BuildError
    from ..config import ConfigError
    from ..run import RunError
    from ..sim import runner
    from .common import board_and_config

    _, config = board_and_config(args)
    t0 = time.perf_counter()
    try:
        with progress("Board summary") as status:
            doc = board_summary(args.board, config, seeds=args.seeds, images=args.images or 8,
                                out_dir=args.out, progress=status)
    except (BuildError, RunError, runner.SimulatorUnavailable, runner.SimulationFailure) as exc:
        raise CliError(str(exc)) from None
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None
    doc["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    console = console_out()
    res = doc["resources"]
    table = Table("design", "MACs/cycle", "Fmax", "G MAC/s peak", "G MAC/s sustained (digits)",
                  "LUT", "DSP", "BRAM", "SPRAM",
                  title=f"{doc['board']} ({doc['device']}), configuration '{doc['config']}'")
    seeds = ", ".join(f"{b['fmax_mhz']:.1f}" for b in doc["builds"])
    sus = doc["sustained"]
    table.add_row(f"Corolla '{doc['config']}'", str(doc["macs_per_cycle"]),
                  f"{doc['fmax_mhz']:.1f} MHz (seeds: {seeds})", f"{doc['gmacs_peak']:.2f}",
                  f"{sus['gmacs']:.2f} ({sus['fraction']:.1%} of peak)",
                  *(f"{res[k]['used']:,} / {res[k]['available']:,}" if k in res else "–"
                    for k in ("lut", "dsp", "bram", "spram")))
    ref = doc["reference"]
    if ref:
        table.add_row(f"{ref['name']} ({ref['description']}; reference figure)",
                      str(ref["macs_per_cycle"]), f"{ref['fmax_mhz']} MHz",
                      f"{ref['gmacs_peak']:.2f}", "–", "–", "–", "–", "–")
    console.print(table)
    times = ", ".join(f"seed {b['seed']}: {b['build_s']:.0f} s" for b in doc["builds"])
    console.print(f"Fmax: nextpnr, the lowest of the seeds; builds (Yosys + nextpnr): {times}. "
                  f"Sustained: {sus['macs_per_inference']:,} MACs per inference in "
                  f"{sus['cycles_per_inference']:,.0f} cycles (step counters), bit-exact: "
                  f"{sus['bit_exact']}.")
    if ref:
        console.print(f"{ref['name']} (open UP5K int8 accelerator, 16 MAC/cycle): "
                      f"{ref['fmax_mhz']} MHz, {ref['gmacs_peak']} G MAC/s, measured with the "
                      f"same tools; Corolla's peak is {ref['ratio']}× it.")
    for b in doc["builds"]:
        path = b["critical_path"] or {}
        console.print(f"seed {b['seed']} slowest path: {path.get('from')} → {path.get('to')} "
                      f"({path.get('delay_ns')} ns, {path.get('steps')} steps)")
    return EXIT_OK


def _bench_winograd(args) -> int:
    """``bench winograd``: 3×3 convolutions direct and by Winograd F(2×2, 3×3), same array."""
    from ..bench import winograd_cycles
    from ..sim import runner

    rows, cols = _array_sizes(getattr(args, "size", None) or "4x4")[0]
    t0 = time.perf_counter()
    try:
        with progress(f"Simulating 3×3 convolutions on {rows}×{cols} arrays, direct and "
                      f"Winograd"):
            figures = winograd_cycles(rows, cols)
    except (runner.SimulatorUnavailable, runner.SimulationFailure) as exc:
        raise CliError(str(exc)) from None
    elapsed = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"rows": rows, "cols": cols, "layers": figures,
                          "seconds": round(elapsed, 1)}, indent=2))
        return EXIT_OK
    console = console_out()
    table = Table("convolution", "direct cycles", "Winograd cycles", "speedup",
                  "model (direct / Winograd)", "multiplies (direct → Winograd)",
                  title=f"3×3 stride-1 convolutions on {rows}×{cols} arrays ({cols} images a "
                        f"run)")
    for f in figures:
        table.add_row(f["label"], f"{f['direct_cycles']:,}", f"{f['winograd_cycles']:,}",
                      f"{f['speedup']:.2f}×",
                      f"{f['direct_model']:,} / {f['winograd_model']:,}",
                      f"{f['direct_multiplies']:,} → {f['winograd_multiplies']:,} "
                      f"({f['direct_multiplies'] / f['winograd_multiplies']:.2f}×)")
    console.print(table)
    console.print("cycles: the step's hardware counter for one run, every output bit-exact "
                  "(the Winograd path equals the direct convolution); multiplies: direct "
                  "9·C_in per output, Winograd 16·C_in per 2×2 tile. "
                  f"{elapsed:.0f} s.")
    return EXIT_OK


def register(sub) -> None:
    """Add ``corolla bench`` and its sub-verbs, each with its own options."""
    from ..pe_kinds import PE_KINDS

    p = sub.add_parser("bench", help="measure resources, Fmax and cycles of hardware units",
                       description="Synthesize each arithmetic unit with Yosys, place it with "
                                   "nextpnr, and print LUTs, FFs, DSPs, Fmax and cost per MAC; "
                                   "measure the PE array's utilization on GEMM shapes and its "
                                   "resources; or run the digits MLP on the simulated EIE "
                                   "engine and print its cycles and resources.")
    benches = p.add_subparsers(dest="what", required=True, metavar="BENCH",
                               parser_class=type(p))

    def common(q, *, device_default):
        q.add_argument("--device", choices=tuple(DEVICES),
                       help=f"target device (default: {device_default})")
        q.add_argument("--no-pnr", action="store_true",
                       help="synthesis only: skip place-and-route (no Fmax)")
        q.add_argument("--target-mhz", type=checks.float_range(0, 1000, " MHz"), default=100.0,
                       help="clock constraint given to nextpnr (default: %(default)s)")
        q.add_argument("--json", action="store_true", help="print the figures as JSON")

    q = benches.add_parser("all", help="every bench below with its defaults (the figures the "
                                       "README quotes)")
    common(q, device_default="each bench's own")
    q.set_defaults(func=_bench_all)
    for what, text in (("units", "the arithmetic units"),
                       ("lns", "LNS error against float64 and LNS units next to integer "
                               "multipliers")):
        q = benches.add_parser(what, help=text)
        common(q, device_default="ice40up5k")
        q.set_defaults(func=_bench_units)
    q = benches.add_parser("array", help="the systolic PE array: utilization per GEMM shape, "
                                         "resources")
    common(q, device_default="every device")
    q.add_argument("--sizes", metavar="RxC[,RxC...]",
                   help="array sizes to measure (default: 2x2,4x4,8x8)")
    q.add_argument("--kinds", metavar="KIND[,KIND...]",
                   help=f"PE kinds to synthesize (default: {','.join(PE_KINDS)}); "
                        "utilization is simulated with the first")
    q.add_argument("--shapes", metavar="MxNxK[,MxNxK...]",
                   help="GEMM shapes to simulate (default: a built-in set from K = 1 to "
                        "K = 256, square, ragged, MLP and convolution layers)")
    q.add_argument("--no-synth", action="store_true", help="cycles only, no synthesis")
    q.set_defaults(func=_bench_array)
    q = benches.add_parser("conv", help="convolutions on the accelerator top: cycles from the "
                                        "counters, the cycle model, PE utilization")
    q.add_argument("--size", metavar="RxC", help="array size (default: 4x4)")
    q.add_argument("--kind", choices=("dense", "ternary", "lns"),
                   help="the array kind (default: dense)")
    q.add_argument("--json", action="store_true", help="print the figures as JSON")
    q.set_defaults(func=_bench_conv)
    q = benches.add_parser("winograd", help="3×3 convolutions direct and by Winograd "
                                            "F(2×2, 3×3) on the simulated top: cycles, "
                                            "multiplies")
    q.add_argument("--size", metavar="RxC", help="both arrays' size (default: 4x4)")
    q.add_argument("--json", action="store_true", help="print the figures as JSON")
    q.set_defaults(func=_bench_winograd)
    q = benches.add_parser("board", help="the full accelerator on a board: Fmax over nextpnr "
                                         "seeds, peak and sustained G MAC/s, resources, the "
                                         "chip's reference design (not in 'all': it places "
                                         "and routes the board once per seed)")
    q.add_argument("--board", choices=BOARDS, default="icebreaker",
                   help="the board (default: icebreaker)")
    q.add_argument("--config", metavar="NAME|FILE",
                   help="configuration (default: the board's own)")
    q.add_argument("--seeds", metavar="S[,S...]", type=checks.int_list(0, 2**31 - 1),
                   default=(1, 2, 3), help="nextpnr seeds (default: 1,2,3)")
    q.add_argument("--images", type=checks.IMAGES,
                   help="digits test images for the sustained rate (default: 8)")
    q.add_argument("--out", metavar="DIR", type=checks.out_dir,
                   help="keep the builds here (default: a temporary folder)")
    q.add_argument("--json", action="store_true", help="print the figures as JSON")
    q.set_defaults(func=_bench_board)
    q = benches.add_parser("sparse", help="the EIE engine on the digits MLP: cycles, load "
                                          "balance, resources")
    common(q, device_default="every device")
    q.add_argument("--pes", metavar="P[,P...]", help="engine sizes to measure (default: 2,4,8)")
    q.add_argument("--broadcast", metavar="B[,B...]", type=checks.int_list(1, 8), default=(1, 2),
                   help="activations broadcast a cycle to measure at each size (default: 1,2)")
    q.add_argument("--balance", metavar="MODE[,MODE...]", default=("rows",),
                   type=checks.choice_list(BALANCE_MODES),
                   help="load-balance-aware pruning of the model to run: rows (the default of "
                        "corolla compress), columns (equal work per PE for any input, at some "
                        "accuracy), none")
    q.add_argument("--images", type=checks.IMAGES, help="digits test images to run (default: 20)")
    q.add_argument("--no-synth", action="store_true", help="cycles only, no synthesis")
    q.add_argument("--huffman", action="store_true",
                   help="also run each size with Huffman-coded entries: on-chip bits plain vs "
                        "coded, cycles with and without, the decoder's rate and cost")
    q.set_defaults(func=_bench_sparse)

