"""``corolla generate``: the Verilog and a JSON manifest of a design."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from ..config import load_config
from . import checks
from .common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    CliError,
    add_config_arg,
    add_design_arg,
    console_out,
    escape,
    progress,
)


def _flat(d: dict, prefix: str = ""):
    """``(dotted key, value)`` pairs of nested parameters."""
    for key, value in d.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def model_fit(config, model: str) -> dict:
    """How much of the accelerator of ``config`` the network ``model`` takes: every memory
    space's bytes, the widest layer against the activation banks, the steps against the
    program memory. Raises :class:`CliError` (exit 2) naming the layer that does not fit."""
    from ..firmware.compile import CompileError, compile_network
    from ..generate import top_params
    from ..protocol import Space
    from ..run import load_network

    params = top_params(config, link="stream")
    net = load_network(model)
    try:
        prog = compile_network(net, params.info())
    except CompileError as exc:
        raise CliError(f"--model {model} does not fit configuration {config.name!r}: {exc}",
                       EXIT_BAD_INPUT) from None
    used: dict = {}
    for space, addr, data in prog.writes:
        used[space] = max(used.get(space, 0), addr + len(data))
    spaces = params.spaces()
    rows = [{"memory": Space(sp).name.lower(), "used_bytes": n,
             "capacity_bytes": spaces[sp].size} for sp, n in sorted(used.items())]
    widest = max(max(q.shape) for q in net.layers)
    rows += [{"memory": "activation bank words", "used_bytes": widest,
              "capacity_bytes": params.act_depth},
             {"memory": "program steps", "used_bytes": len(prog.steps),
              "capacity_bytes": params.program_depth}]
    return {"model": model, "kinds": list(prog.kinds), "memories": rows}


def run(args) -> int:
    from ..generate import check_design, generate

    config = load_config(args.config)
    check_design(config, args.design)         # the configuration builds this design: checked first
    fit = model_fit(config, args.model) if args.model else None
    with progress(f"Generating Verilog for configuration '{config.name}'"):
        manifest = generate(config, Path(args.out), args.design)
    if fit is not None:
        manifest["model_fit"] = fit
    if args.json:
        print(json.dumps(manifest, indent=2))
        return EXIT_OK
    out = Path(args.out)
    console = console_out()
    params = ", ".join(f"{k}={v}" for k, v in _flat(manifest["design"]["parameters"]))
    console.print(f"[bold]{escape(config.name)}[/]: {manifest['design']['class']}")
    console.print(escape(params))
    table = Table("port", "direction", "width", "signed", box=None)
    for port in manifest["ports"]:
        table.add_row(port["name"], port["direction"], str(port["width"]),
                      "yes" if port["signed"] else "")
    console.print(table)
    if fit is not None:
        ft = Table("memory", "the model takes", "the accelerator has", "use",
                   title=f"{escape(fit['model'])} ({', '.join(fit['kinds'])})", box=None)
        for r in fit["memories"]:
            ft.add_row(r["memory"], f"{r['used_bytes']:,}", f"{r['capacity_bytes']:,}",
                       f"{r['used_bytes'] / r['capacity_bytes']:.0%}")
        console.print(ft)
    console.print(f"wrote {escape(str(out / manifest['verilog']))} and "
                  f"{escape(str(out / 'manifest.json'))} in {manifest['generate_s']:.2f} s")
    return EXIT_OK


def register(sub) -> None:
    """Add ``corolla generate`` to the verbs."""
    p = sub.add_parser("generate", help="write the Verilog and a JSON manifest of a design",
                       description="Write the Verilog of the configured design and a JSON "
                                   "manifest (ports, parameters, configuration, version).")
    add_config_arg(p)
    p.add_argument("--out", required=True, type=checks.out_dir, metavar="DIR",
                   help="output folder")
    add_design_arg(p)
    p.add_argument("--model", metavar="digits|digits-cnn|FILE.npz|FILE.onnx",
                   type=checks.model_file,
                   help="check that this network fits the accelerator and show how much of "
                        "each memory it takes (exit 2, naming the layer, if it does not fit)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=run)
