"""``corolla compress``: Deep Compression of a model for the accelerator."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.table import Table

from ..config import load_config
from ..firmware.compress.prune import BALANCE_MODES
from . import checks
from .common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    CliError,
    add_config_arg,
    console_err,
    console_out,
    escape,
    per_layer,
    progress,
)


def blas_threads():
    """One BLAS thread for the training's small matrix products: on a machine of two cores,
    numpy's BLAS threads fight over them (compress took 31–55 s with them, 10 s without)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _split(x, y):
    """A data file's inputs and labels as a stratified 75/25 train/test split (seed 0, as
    the digits'), the test inputs as int8 codes with the radix point that fits the data."""
    from types import SimpleNamespace

    import numpy as np
    from sklearn.model_selection import train_test_split

    from ..firmware.quant.dfp import choose_frac_bits

    counts = np.bincount(y - y.min())
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y if counts[counts > 0].min() >= 2
        else None)
    frac = choose_frac_bits(x_train, width=8)
    pixels = np.clip(np.round(x_test * 2.0 ** frac), -128, 127).astype(np.int64)
    return SimpleNamespace(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                           pixels_test=pixels, input_frac=frac)


def run(args) -> int:
    from ..firmware.compress.pipeline import CompressOptions, compress, write_outputs
    from ..firmware.digits import INPUT_FRAC_BITS, digits_model, load_digits_data
    from ..firmware.model import ModelError, load_model

    config = load_config(args.config)
    defaults = CompressOptions()
    options = CompressOptions(
        sparsity=defaults.sparsity if args.sparsity is None
        else per_layer(args.sparsity, "--sparsity", float),
        bits=defaults.bits if args.bits is None else per_layer(args.bits, "--bits", int),
        pes=config.sparse.pes if args.pes is None else args.pes,
        codebook_width=config.sparse.weight_width, z_bits=config.sparse.z_bits,
        acc_width=config.widths.accumulator, balance=args.balance, seed=args.seed)
    t0 = time.perf_counter()
    # Everything about the input is checked before the work starts.
    model = None
    own_data = None
    if args.data:
        from .importer import _data

        x, y = _data(args.data)
        if y is None:
            raise CliError(f"{args.data}: key 'y' is missing; expected the labels (Deep "
                           f"Compression retrains)", EXIT_BAD_INPUT)
        own_data = (x, y)
    if args.model.endswith(".onnx"):
        from ..firmware.importer import ModelImportError, import_float_mlp

        try:
            model = import_float_mlp(args.model)
        except ModelImportError as exc:
            raise CliError(str(exc), EXIT_BAD_INPUT) from None
    elif args.model != "digits":
        try:
            model = load_model(args.model)
        except ModelError as exc:
            raise CliError(str(exc), EXIT_BAD_INPUT) from None
    if own_data is not None and model is not None:
        if model.n_inputs != own_data[0].shape[1]:
            raise CliError(f"{args.model}: the model has {model.n_inputs} inputs; the data's "
                           f"'x' has {own_data[0].shape[1]} features", EXIT_BAD_INPUT)
    elif model is not None and (model.n_inputs != 64 or model.n_outputs != 10):
        raise CliError(f"{args.model}: the model has {model.n_inputs} inputs and "
                       f"{model.n_outputs} outputs; the digits data set needs 64 and 10",
                       EXIT_BAD_INPUT)
    if model is not None and len(model.layers) != 3:
        # The per-layer defaults are the digits MLP's three layers; one value for all else.
        from dataclasses import replace

        options = replace(options, sparsity=0.9 if args.sparsity is None else options.sparsity,
                          bits=4 if args.bits is None else options.bits)
    try:
        options = options.checked(3 if model is None else len(model.layers))
    except ValueError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None
    with progress("Loading the data set") as status, blas_threads():
        data = load_digits_data() if own_data is None else _split(*own_data)
        input_frac = INPUT_FRAC_BITS if own_data is None else data.input_frac
        if model is None:
            status("Training the built-in digits MLP (cached after the first run)")
            model = digits_model()
        report = compress(model, data.x_train, data.y_train, data.x_test, data.y_test,
                          data.pixels_test, input_frac=input_frac, options=options,
                          progress=status)
        curve = None
        if args.curve:
            from ..firmware.compress.pipeline import plot_tradeoff, tradeoff_curve

            curve = tradeoff_curve(model, data.x_train, data.y_train, data.x_test,
                                   data.y_test, data.pixels_test, input_frac=input_frac,
                                   options=options, progress=status)
        status(f"Writing {args.out}")
        summary = write_outputs(report, args.out, model=args.model,
                                total_s=time.perf_counter() - t0)
        if curve is not None:
            out = Path(args.out)
            (out / "tradeoff.json").write_text(json.dumps(curve, indent=1))
            plot_tradeoff(curve, out / "tradeoff.png", title=f"Deep Compression of "
                                                            f"'{args.model}'")
            summary["tradeoff"] = curve
            summary["files"] += ["tradeoff.json", "tradeoff.png"]
    for warning in summary["warnings"]:
        console_err().print(f"[yellow]warning:[/] {escape(warning)}")
    too_wide = [i for i, b in enumerate(options.bits) if b > config.sparse.v_bits]
    if too_wide:
        console_err().print(
            f"[yellow]warning:[/] layers {too_wide} use more index bits than the configured "
            f"EIE engine's {config.sparse.v_bits} (sparse.v_bits of '{escape(config.name)}')")
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    console = console_out()
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
    if curve is not None:
        ct = Table("kept weights", "sparsity per layer", "ratio", "test accuracy",
                   title="Trade-off (tradeoff.png)", box=None)
        for p in curve:
            ct.add_row(f"×{p['keep_factor']:g}", ", ".join(f"{s:.1%}" for s in p["sparsity"]),
                       f"{p['compression_ratio']:.1f}×", f"{p['accuracy_compressed']:.2%}")
        console.print(ct)
    console.print(f"wrote {', '.join(summary['files'])} to {escape(str(args.out))} in "
                  f"{summary['seconds']['total']:.1f} s")
    return EXIT_OK


def register(sub) -> None:
    """Add ``corolla compress`` to the verbs."""
    from ..firmware.compress.pipeline import CompressOptions as CompressOptionsDefaults

    p = sub.add_parser("compress", help="prune, share, Huffman-code and EIE-encode a model",
                       description="Deep Compression of a float model (the built-in digits "
                                   "MLP by default): pruning with retraining, k-means weight "
                                   "sharing, centroid fine-tuning, fixed-point export, EIE "
                                   "encoding and Huffman coding, with the storage table and "
                                   "the accuracy on the digits test split.")
    p.add_argument("--model", default="digits", metavar="digits|FILE.npz|FILE.onnx",
                   type=checks.model_file,
                   help="the built-in model, a float model file, or an ONNX model (its "
                        "float fully connected layers; default: %(default)s)")
    p.add_argument("--data", type=checks.data_file, metavar="DATA.npz",
                   help="inputs 'x' and labels 'y' to retrain and measure on (split 75/25); "
                        "default: the digits data set")
    p.add_argument("--out", required=True, type=checks.out_dir, metavar="DIR",
                   help="output folder")
    p.add_argument("--sparsity", metavar="S[,S...]",
                   help="fraction of weights pruned, for all layers or one per layer "
                        f"(default: {','.join(map(str, CompressOptionsDefaults.sparsity))})")
    p.add_argument("--bits", metavar="K[,K...]",
                   help="codebook index bits, 1 to 8, for all layers or one per layer "
                        f"(default: {','.join(map(str, CompressOptionsDefaults.bits))})")
    p.add_argument("--pes", type=checks.int_range(1, 64),
                   help="EIE processing elements to encode for "
                                           "(default: sparse.pes of the configuration)")
    p.add_argument("--balance", choices=BALANCE_MODES, default="rows",
                   help="load-balance-aware pruning for the PEs: rows (every PE's rows keep "
                        "the same number of weights), columns (every column the same number "
                        "in each PE's rows: equal work for any input, at some accuracy) or "
                        "none (each layer as a whole) (default: %(default)s)")
    add_config_arg(p)
    p.add_argument("--seed", type=checks.SEED, default=0,
                   help="training seed (default: %(default)s)")
    p.add_argument("--curve", action="store_true",
                   help="also the trade-off curve: the pipeline at sparsities around these "
                        "(each layer keeping 4× to 0.5× as many weights), tradeoff.png and "
                        "tradeoff.json")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)
