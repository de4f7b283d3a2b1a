"""``corolla demo``: the main job on built-in defaults."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.table import Table

from ..config import load_config
from . import checks
from .common import (
    EXIT_FAILURE,
    EXIT_OK,
    CliError,
    add_config_arg,
    console_out,
    escape,
    progress,
)


def run(args) -> int:
    from ..firmware.compress.pipeline import CompressOptions, compress, write_outputs
    from ..firmware.digits import INPUT_FRAC_BITS, digits_model, load_digits_data
    from ..generate import generate, top_params
    from ..run import RunError, run_sim, runnable_variants
    from .compress import blas_threads
    from .run import partial_runs_note

    config = load_config(args.config)
    if args.model:
        from .generate import model_fit

        model_fit(config, args.model)          # it fits, checked before any work
    t0 = time.perf_counter()
    out = Path(args.out)
    runs = {}
    try:
        with progress(f"Generating the '{config.name}' accelerator") as status, \
                blas_threads():
            manifest = generate(config, out / "verilog")
            status("Training (first time only) and compressing the digits MLP")
            data = load_digits_data()
            options = CompressOptions(pes=config.sparse.pes,
                                      codebook_width=config.sparse.weight_width,
                                      z_bits=config.sparse.z_bits,
                                      acc_width=config.widths.accumulator)
            report = compress(digits_model(), data.x_train, data.y_train, data.x_test,
                              data.y_test, data.pixels_test, input_frac=INPUT_FRAC_BITS,
                              options=options, progress=status)
            summary = write_outputs(report, out / "compressed", model="digits")
            model_path = str(out / "compressed" / "model_compressed.npz")
            params = top_params(config, link="stream")
            if args.model:
                # Your own model beside the built-in ones: its own layer kinds.
                status(f"Running {args.model}")
                runs[f"model: {Path(args.model).name}"] = run_sim(
                    config, model=args.model, images=args.images, status=status)
            for variant in runnable_variants(params):
                # dense and sparse run the model just compressed for this configuration; the
                # other variants are the digits MLP retrained for their arithmetic.
                model = model_path if variant in ("dense", "sparse") else "digits"
                runs[variant] = run_sim(config, model=model, variant=variant,
                                        images=args.images, status=status)
            # The digits CNN (convolutions and max pooling on chip) in each of its variants.
            for variant in runnable_variants(params, "digits-cnn"):
                runs[f"cnn-{variant}"] = run_sim(config, model="digits-cnn", variant=variant,
                                                 images=args.images, status=status)
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
                "test_accuracy": r["test_accuracy"],
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
    console = console_out()
    n = len(data.y_test)
    console.print(f"[bold]Corolla demo[/]: '{escape(config.name)}' accelerator at "
                  f"{config.clock_mhz:g} MHz, Verilog in {escape(result['verilog'])}")
    console.print("digits MLP 64-300-100-10, Deep Compression: "
                  f"{result['compression_ratio']:.1f}× smaller "
                  f"({result['compression_ratio_no_huffman']:.1f}× before Huffman coding); "
                  f"accuracy {result['accuracy_float']:.1%} float → "
                  f"{result['accuracy_compressed']:.1%} compressed integer ({n} test images)")
    table = Table("variant", "accuracy", "golden", f"test split ({n})", "bit-exact",
                  "cycles/inference", "inferences/s", box=None)
    for v, r in result["variants"].items():
        table.add_row(v, f"{r['accuracy']:.1%}", f"{r['golden_accuracy']:.1%}",
                      f"{r['test_accuracy']:.1%}",
                      "[green]yes[/]" if r["bit_exact"] else "[red]NO[/]",
                      f"{r['cycles_per_inference']:,.0f}", f"{r['inferences_per_s']:,.0f}")
    console.print(table)
    if any(v.startswith("cnn-") for v in runs):
        console.print("cnn-*: the digits CNN (conv 3×3 → maxpool → conv 3×3 → maxpool → "
                      "fully connected), convolutions and pooling on chip")
    for v, r in result["variants"].items():
        if not r["bit_exact"]:
            console.print(f"[red]{v}[/]: {escape(str(r['first_mismatch']))}")
    lanes = runs[next(iter(runs))]["lanes"]
    note = partial_runs_note(args.images, lanes)
    if note:
        console.print(note)
    console.print(f"{args.images} test image(s) per variant on the simulated accelerator; "
                  f"demo took {result['demo_s']:.0f} s")
    return EXIT_OK if result["bit_exact"] else EXIT_FAILURE


def register(sub) -> None:
    """Add ``corolla demo`` to the verbs."""
    p = sub.add_parser("demo", help="the main job on built-in defaults: generate, compress, "
                                    "run in simulation, summarize",
                       description="Generate the default accelerator, compress the built-in "
                                   "digits model, run test images on the simulated "
                                   "accelerator with each layer kind the configuration has "
                                   "(the digits MLP in each variant, the digits CNN in each "
                                   "of its variants) and print accuracy, compression, cycles "
                                   "per inference and projected inferences per second.")
    add_config_arg(p)
    p.add_argument("--images", type=checks.IMAGES, default=8,
                   help="test images (default: %(default)s)")
    p.add_argument("--out", type=checks.out_dir, default=Path("build/demo"), metavar="DIR",
                   help="output folder (default: %(default)s)")
    p.add_argument("--model", metavar="FILE.npz|FILE.onnx", type=checks.model_file,
                   help="also run this network (a network file or an ONNX / QONNX model) "
                        "with its own layer kinds, first")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)

