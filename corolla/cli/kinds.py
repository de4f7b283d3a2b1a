"""``corolla kinds``: what this accelerator can run — layer kinds, PE kinds, configurations,
boards — from the registries."""

from __future__ import annotations

import json

from rich.table import Table

from .common import (
    EXIT_OK,
    console_out,
    escape,
)


def catalogue() -> dict:
    """The layer kinds, PE kinds, built-in configurations and boards as plain data."""
    from ..boards import BOARDS, get_board
    from ..config import ConfigError, builtin_configs, load_config
    from ..generate import top_params
    from ..layers import LAYER_KINDS
    from ..pe_kinds import PE_KINDS

    pes = []
    for cls in PE_KINDS.values():
        kind = cls()
        pes.append({"name": kind.name, "summary": kind.summary, "latency": kind.latency,
                    "uses_dsp": kind.uses_dsp,
                    "a": {"bits": kind.a_shape[0], "signed": kind.a_shape[1]},
                    "b": {"bits": kind.b_shape[0], "signed": kind.b_shape[1]},
                    "result_fields": list(kind.result_fields),
                    "parameters": {k: v for k, v in kind.to_dict().items() if k != "kind"},
                    "gateware": kind.gateware})
    configs = []
    for name in sorted(builtin_configs()):
        config = load_config(name)
        entry = {"name": name, "description": config.description,
                 "clock_mhz": config.clock_mhz, "array": f"{config.array.rows}×"
                 f"{config.array.cols} {config.array.pe}",
                 "eie_pes": config.sparse.pes if config.sparse.enabled else 0}
        try:
            params = top_params(config, link="stream")
            entry["layer_kinds"] = [k.name for k in LAYER_KINDS.values() if k.enabled(params)]
        except ConfigError as exc:
            entry["layer_kinds"] = []
            entry["top"] = str(exc)
        configs.append(entry)
    boards = []
    for name in BOARDS:
        board = get_board(name)
        boards.append({"name": name, "description": board.description,
                       "device": board.device, "config": board.config})
    return {"layer_kinds": [k.to_dict() for k in LAYER_KINDS.values()], "pe_kinds": pes,
            "configs": configs, "boards": boards}


def run(args) -> int:
    doc = catalogue()
    if args.json:
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    console = console_out()
    table = Table("layer kind", "code", "runs on", "needs", "descriptor fields",
                  title="Layer kinds (corolla/layers.py)")
    for k in doc["layer_kinds"]:
        fields = ", ".join(f"{f['name']}:{f['bits']}" for f in k["descriptor_fields"])
        table.add_row(k["name"], str(k["code"]), escape(k["summary"]), escape(k["needs"]),
                      fields)
    console.print(table)
    table = Table("PE kind", "a", "b", "result", "latency", "DSP", "what",
                  title="PE kinds of the array (corolla/pe_kinds.py)")
    for k in doc["pe_kinds"]:
        def shape(s):
            return f"{'s' if s['signed'] else 'u'}{s['bits']}"
        table.add_row(k["name"], shape(k["a"]), shape(k["b"]), ", ".join(k["result_fields"]),
                      str(k["latency"]), "yes" if k["uses_dsp"] else "", escape(k["summary"]))
    console.print(table)
    table = Table("configuration", "clock MHz", "array", "EIE PEs", "layer kinds",
                  title="Built-in configurations (--config NAME)")
    for c in doc["configs"]:
        table.add_row(c["name"], f"{c['clock_mhz']:g}", c["array"], str(c["eie_pes"] or "-"),
                      ", ".join(c["layer_kinds"]) or escape(c.get("top", "-")))
    console.print(table)
    table = Table("board", "device", "configuration", "description", title="Boards (--board)")
    for b in doc["boards"]:
        table.add_row(b["name"], b["device"], b["config"], escape(b["description"]))
    console.print(table)
    return EXIT_OK


def register(sub) -> None:
    """Add ``corolla kinds`` to the verbs."""
    p = sub.add_parser("kinds", help="what the accelerator can run: layer kinds, PE kinds, "
                                     "built-in configurations and boards",
                       description="List the layer kinds (what each runs on and needs), the "
                                   "PE kinds of the array, the built-in configurations with "
                                   "the layer kinds each one runs, and the boards.")
    p.add_argument("--json", action="store_true", help="print the lists as JSON")
    p.set_defaults(func=run)
