"""``corolla sweep``: a design-space sweep on a Dask cluster (:mod:`corolla.sweep`)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from rich.table import Table

from . import checks
from .common import EXIT_FAILURE, EXIT_OK, CliError, console_out, escape, progress


def builtin_specs() -> dict[str, Path]:
    """Names and paths of the sweep specs shipped with Corolla."""
    folder = resources.files("corolla") / "sweeps"
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir()
            if p.name.endswith(".toml")}


def _spec_path(text: str) -> Path:
    builtins = builtin_specs()
    if text in builtins:
        return builtins[text]
    path = Path(text)
    if not path.is_file():
        raise CliError(f"SPEC {text!r} is neither a built-in sweep ({', '.join(builtins)}) "
                       f"nor a TOML file", 2)
    return path


def _print(console, doc):
    metrics = ("fmax_mhz", "logic_cells", "lut", "dsp", "cycles_per_inference",
               "inferences_per_s", "accuracy", "stored_bytes", "compression_ratio",
               "energy_nj", "wall_s")
    axes = list(doc["axes"])
    shown = [m for m in metrics if any(r.get(m) is not None for r in doc["rows"])]
    table = Table(*axes, *shown, "status", "Pareto", box=None)
    for r in doc["rows"]:
        cells = [str(r.get(a)) for a in axes]
        for m in shown:
            v = r.get(m)
            cells.append("" if v is None else f"{v:,.3g}" if isinstance(v, float)
                         else f"{v:,}")
        state = r["status"] + (" (reused)" if r.get("reused") else "")
        if r["reason"]:
            state += f": {r['reason']}"
        cells += [escape(state), "★" if r["pareto"] else ""]
        table.add_row(*cells)
    console.print(table)
    speed = f", {doc['speedup']}× the points one after another" if doc["speedup"] else ""
    console.print(f"{doc['points']} point(s), {doc['ok']} ok, {doc['reused']} reused, on "
                  f"{doc['workers']} worker(s) ({escape(doc['scheduler'])}): "
                  f"{doc['wall_s']:.0f} s{speed}")


def run(args) -> int:
    from ..sweep import load_spec, run_sweep

    spec = load_spec(_spec_path(args.spec))
    out = Path(args.out)
    with progress(f"Sweep {spec.name}") as status:
        doc = run_sweep(spec, out, scheduler=args.scheduler, workers=args.workers,
                        status=status)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        _print(console_out(), doc)
        console_out().print(f"wrote {escape(str(out / 'sweep.csv'))} and sweep.json"
                            + (" and pareto.png" if doc.get("plot") else ""))
    return EXIT_OK if doc["ok"] else EXIT_FAILURE


def register(sub) -> None:
    """Add ``corolla sweep`` to the verbs."""
    p = sub.add_parser("sweep", help="sweep configurations on a Dask cluster",
                       description="Generate, build and simulate the points of a sweep spec "
                                   "(TOML: base configuration, axes, stages, objectives) as "
                                   "Dask tasks, on a LocalCluster or a scheduler's workers; "
                                   "writes sweep.csv, sweep.json and the Pareto plot. "
                                   f"Built-in specs: {', '.join(builtin_specs())}.")
    p.add_argument("spec", metavar="SPEC", help="a built-in sweep name or a TOML spec file")
    p.add_argument("--out", required=True, type=checks.out_dir, metavar="DIR",
                   help="output folder (finished points in it are reused)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a Dask scheduler address, e.g. tcp://127.0.0.1:8786 (default: a "
                        "LocalCluster on this machine)")
    p.add_argument("--workers", type=checks.int_range(1, 64), default=2,
                   help="LocalCluster worker processes (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=run)
