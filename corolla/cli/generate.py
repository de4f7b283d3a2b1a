"""``corolla generate``: the Verilog and a JSON manifest of a design."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..config import load_config
from .common import (
    EXIT_OK,
    add_config_arg,
    add_design_arg,
    console_err,
)


def run(args) -> int:
    from ..generate import generate

    config = load_config(args.config)
    err = console_err()
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


def register(sub) -> None:
    """Add ``corolla generate`` to the verbs."""
    p = sub.add_parser("generate", help="write the Verilog and a JSON manifest of a design",
                       description="Write the Verilog of the configured design and a JSON "
                                   "manifest (ports, parameters, configuration, version).")
    add_config_arg(p)
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    add_design_arg(p)
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=run)
