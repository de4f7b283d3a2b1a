"""``corolla report``: the evaluation report of one or more configurations."""

from __future__ import annotations

import json
import time

from rich.table import Table

from . import checks
from .common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    CliError,
    add_variant_arg,
    console_out,
    escape,
    progress,
)


def run(args) -> int:
    from ..build import BuildError
    from ..report import fmt_built, measure, parse_targets, write_report
    from ..run import RunError

    specs = ([f"{args.board}:{args.config}" if args.config else args.board] if args.board
             else [])
    specs += args.compare or []
    if not specs:
        raise CliError("name a configuration: --board NAME [--config NAME|FILE] and/or "
                       "--compare BOARD[:CONFIG[:VARIANT]] ...", EXIT_BAD_INPUT)
    targets = [t for spec in specs for t in parse_targets(spec, variant=args.variant,
                                                              model=args.model)]
    labels = [t.label for t in targets]
    if len(set(labels)) != len(labels):
        raise CliError(f"configurations named twice: {', '.join(labels)}", EXIT_BAD_INPUT)
    if not 1 <= args.images <= 450:
        raise CliError(f"--images is {args.images}; expected 1 to 450", EXIT_BAD_INPUT)
    t0 = time.perf_counter()
    entries = []
    try:
        with progress("Preparing") as status:
            def say(message):
                status(f"{message} … {time.perf_counter() - t0:.0f} s")

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
    console = console_out()
    table = Table("configuration", "clock MHz", "Fmax MHz", "cycles/inf", "inf/s", "util.",
                  "LUT", "DSP", "BRAM", "accuracy", "nJ/inf (est.)",
                  title=f"Corolla report ({args.model})")
    for e in entries:
        res = e["resources"] or {}

        def used(key, res=res):
            return f"{res[key]['used']:,}" if key in res else "-"
        table.add_row(escape(e["label"]), f"{e['clock']['board_mhz']:.1f}",
                      fmt_built(e["clock"]["fmax_mhz"], 1), f"{e['cycles']['per_inference']:,.0f}",
                      f"{e['rate_at_clock']['inferences_per_s']:,.0f}",
                      f"{e['utilization']:.0%}", used("lut"), used("dsp"), used("bram"),
                      f"{e['accuracy']['test_split']:.1%}",
                      f"{e['energy']['per_inference_nj']:,.0f}")
    console.print(table)
    console.print(f"Wrote {escape(str(args.out))}/report.md, report.json and "
                  f"{', '.join(doc['plots'].values())} in {doc['seconds']:.0f} s.")
    return EXIT_OK


def register(sub) -> None:
    """Add ``corolla report`` to the verbs."""
    from ..boards import BOARDS

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
    p.add_argument("--model", default="digits", metavar="digits|digits-cnn|FILE.npz",
                   type=checks.model_file,
                   help="the built-in digits MLP or CNN, or a model file (default: "
                        "%(default)s)")
    add_variant_arg(p, "where a configuration names no variant ('all': every variant the "
                       "configuration can run)")
    p.add_argument("--images", type=checks.IMAGES, default=8,
                   help="test images to simulate (default: %(default)s)")
    p.add_argument("--out", required=True, type=checks.out_dir, metavar="DIR",
                   help="output folder")
    p.add_argument("--seed", type=checks.int_range(0, 2**31 - 1), default=1,
                   help="nextpnr seed (default: %(default)s)")
    p.add_argument("--no-build", action="store_true",
                   help="skip the board builds (no Fmax or resources in the report)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)
