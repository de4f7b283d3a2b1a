"""``corolla generate``: the Verilog and a JSON manifest of a design."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from ..config import load_config
from . import checks
from .common import (
    EXIT_OK,
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


def run(args) -> int:
    from ..generate import check_design, generate

    config = load_config(args.config)
    check_design(config, args.design)         # the configuration builds this design: checked first
    with progress(f"Generating Verilog for configuration '{config.name}'"):
        manifest = generate(config, Path(args.out), args.design)
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
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=run)
