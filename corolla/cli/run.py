"""``corolla run``: a network on the accelerator (simulated or on a board), checked against
the golden model."""

from __future__ import annotations

import json
import time

from rich.table import Table

from ..boards import get_board
from ..config import load_config
from . import checks
from .common import (
    EXIT_FAILURE,
    EXIT_OK,
    CliError,
    add_variant_arg,
    board_and_config,
    console_out,
    escape,
    progress,
)


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
    exact = ("[green]yes[/]" if r["bit_exact"]
             else f"[red]NO[/] — {escape(str(r['first_mismatch']))}")
    console.print(f"{r['variant']}: accuracy {r['accuracy']:.1%} on {r['images']} image(s) "
                  f"(golden model {r['golden_accuracy']:.1%}); bit-exact: {exact}")
    per_layer = ", ".join(f"{c:,.0f}" for c in r["layer_cycles_per_inference"])
    rate = r["clock_mhz"] * 1e6 / r["cycles_per_inference"]
    console.print(f"cycles per inference: {r['cycles_per_inference']:,.0f} (layers: "
                  f"{per_layer}; {r['lanes']} images per run) → {rate:,.0f} inferences/s at "
                  f"{r['clock_mhz']:g} MHz")
    if r.get("end_to_end_inferences_per_s") and r.get("link"):
        link = r["link"]
        console.print(f"end to end, host link included: {r['end_to_end_inferences_per_s']:,.0f} "
                      f"inferences/s ({link['run_sent'] / r['images']:,.0f} bytes sent and "
                      f"{link['run_received'] / r['images']:,.0f} received per inference)")
    model = r.get("layer_model_cycles_per_inference") or []
    if any(c is not None for c in model):
        console.print("cycle model per layer: " + ", ".join(
            "–" if c is None else f"{c:,.0f}" for c in model))
    note = partial_runs_note(r["images"], r["lanes"])
    if note:
        console.print(note)
    if r.get("sim", {}).get("seed") is not None:
        console.print(f"simulator seed {r['sim']['seed']} (repeat with --seed "
                      f"{r['sim']['seed']})")


def partial_runs_note(images: int, lanes: int) -> str | None:
    """A note when the last run did not fill every lane (its cycles count for fewer images,
    so the cycles per inference are higher than in full runs)."""
    if images % lanes == 0:
        return None
    return (f"note: {images} image(s) in runs of {lanes} lanes: the last run held "
            f"{images % lanes}, so cycles per inference are higher than with full runs "
            f"(--images a multiple of {lanes})")


def run(args) -> int:
    from ..run import RunError, run_board, run_sim

    if args.board:
        _, config = board_and_config(args)
    else:
        config = load_config(args.config or "default")
    t0 = time.perf_counter()
    try:
        with progress("Preparing") as status:
            if args.sim:
                result = run_sim(config, model=args.model, variant=args.variant,
                                 images=args.images, first=args.first, link=args.link,
                                 baud=args.baud, simulator=args.simulator, seed=args.seed,
                                 status=status)
            else:
                baud = args.baud or (get_board(args.board).baud if args.board else 115200)
                result = run_board(config, args.port, baud=baud, model=args.model,
                                   variant=args.variant, images=args.images, first=args.first,
                                   status=status)
    except RunError as exc:
        raise CliError(str(exc)) from None
    result["wall_s"] = round(time.perf_counter() - t0, 3)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_run(console_out(), result)
    return EXIT_OK if result["bit_exact"] else EXIT_FAILURE


def register(sub) -> None:
    """Add ``corolla run`` to the verbs."""
    from ..boards import BOARDS

    p = sub.add_parser("run", help="run the digits network on the accelerator (simulated or "
                                   "on a board) and check it against the golden model",
                       description="Compile a network for the accelerator, load it over the "
                                   "host link, run digits test images and compare every "
                                   "output with the golden model. Prints predictions, "
                                   "accuracy, hardware cycles per inference and whether the "
                                   "outputs were bit-exact.")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--sim", action="store_true", help="simulate the accelerator (cocotb)")
    where.add_argument("--port", metavar="DEVICE", type=checks.serial_port,
                       help="a board's serial port, e.g. /dev/ttyUSB1")
    p.add_argument("--board", choices=BOARDS,
                   help="the board behind --port (its configuration is the default one)")
    p.add_argument("--config", metavar="NAME|FILE",
                   help="built-in configuration or a TOML file (default: the board's, else "
                        "'default')")
    p.add_argument("--model", default="digits", metavar="digits|digits-cnn|FILE.npz",
                   type=checks.model_file,
                   help="the built-in digits MLP (Deep Compression), the built-in digits CNN, "
                        "or a model file from `corolla compress` (default: %(default)s)")
    add_variant_arg(p, "where each layer runs")
    p.add_argument("--images", type=checks.IMAGES, default=8,
                   help="test images (default: %(default)s)")
    p.add_argument("--first", type=checks.int_range(0, 449), default=0,
                   help="first test image (default: %(default)s)")
    p.add_argument("--link", choices=("burst", "stream", "uart"), default="burst",
                   help="--sim: the link's byte streams in words of 16 bytes (fastest), one "
                        "byte per cycle, or the UART pins (default: %(default)s)")
    p.add_argument("--baud", type=checks.BAUD,
                   help="--port: the bitstream's baud rate (default: the board's, 3000000 on "
                        "the iCEBreaker and the ULX3S, else 115200); --sim --link uart: the "
                        "simulated UART's (default: an eighth of the clock)")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                   help="--sim: simulator (default: %(default)s)")
    p.add_argument("--seed", type=checks.SEED, help="--sim: cocotb random seed")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=run)
