"""From a validated configuration to Verilog and a JSON manifest.

The design a configuration elaborates to is chosen here, at the composition root, so that
``corolla.hw`` never depends on configuration files. While the accelerator top is being
built up, the generated top is the largest unit that exists: the int8 MAC PE with the
configured widths. The manifest records which design that is.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from amaranth.hdl import Shape
from amaranth.lib import wiring

from . import __version__
from .config import Config
from .sim.runner import signal_ports, to_verilog

__all__ = ["TOPLEVEL", "build_design", "generate", "port_list"]

#: Verilog module name of the generated top level.
TOPLEVEL = "corolla_top"


def build_design(config: Config) -> wiring.Component:
    """Elaborate-ready component for ``config``."""
    from corolla.hw.arith.mac import Mac

    width = max(config.widths.activation, config.widths.weight)
    return Mac(width=width, acc_width=config.widths.accumulator)


def port_list(component: wiring.Component) -> list[dict]:
    """Ports of a component as the generated Verilog names them.

    Each entry has ``name``, ``direction`` (``"input"``/``"output"``), ``width`` and
    ``signed``; ``clk`` and ``rst`` of the ``sync`` domain come first.
    """
    ports = [
        {"name": "clk", "direction": "input", "width": 1, "signed": False},
        {"name": "rst", "direction": "input", "width": 1, "signed": False},
    ]
    for name, flow, value in signal_ports(component):
        shape = Shape.cast(value.shape())
        ports.append({
            "name": name,
            "direction": "input" if flow == wiring.In else "output",
            "width": shape.width,
            "signed": shape.signed,
        })
    return ports


def generate(config: Config, out_dir: Path) -> dict:
    """Write ``corolla_top.v`` and ``manifest.json`` for ``config`` into ``out_dir``.

    Returns
    -------
    dict
        The manifest (also written to ``out_dir/manifest.json``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    design = build_design(config)
    verilog_text = to_verilog(design, name=TOPLEVEL)
    elapsed = time.perf_counter() - t0
    verilog_path = out_dir / f"{TOPLEVEL}.v"
    verilog_path.write_text(verilog_text)
    manifest = {
        "corolla_version": __version__,
        "toplevel": TOPLEVEL,
        "verilog": verilog_path.name,
        "verilog_sha256": hashlib.sha256(verilog_text.encode()).hexdigest(),
        "design": {
            "class": f"{type(design).__module__}.{type(design).__qualname__}",
            "parameters": dict(getattr(design, "parameters", {})),
        },
        "ports": port_list(design),
        "config": config.to_dict(),
        "generate_s": round(elapsed, 3),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
