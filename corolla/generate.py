"""From a validated configuration to Verilog and a JSON manifest.

The design a configuration elaborates to is chosen here, at the composition root, so that
``corolla.hw`` never depends on configuration files. While the accelerator top is being
built up, the generated top is the largest unit that exists: the dense PE array of the
``[array]`` section, with PEs of the configured kind and widths. The manifest records which
design that is.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from amaranth.hdl import Shape
from amaranth.lib import wiring

from . import __version__
from .config import Config, ConfigError
from .sim.runner import signal_ports, to_verilog

__all__ = ["TOPLEVEL", "build_design", "generate", "port_list"]

#: Verilog module name of the generated top level.
TOPLEVEL = "corolla_top"


def array_kind(config: Config):
    """The PE kind the ``[array]``, ``[widths]`` and ``[lns]`` sections describe.

    Raises
    ------
    ConfigError
        For a combination the array does not build.
    """
    from corolla.hw.array import BinaryKind, Int8Kind, LnsKind, TernaryKind

    w = config.widths
    pe = config.array.pe
    if pe == "int8":
        return Int8Kind(width=max(w.activation, w.weight), acc_width=w.accumulator)
    if pe == "ternary":
        return TernaryKind(act_width=w.activation, acc_width=w.accumulator)
    if pe == "binary":
        return BinaryKind(acc_width=w.accumulator)
    if config.lns.accumulate != "linear":
        raise ConfigError(
            f"key 'lns.accumulate' = {config.lns.accumulate!r} is not built by the array's "
            f"LNS PEs; expected 'linear'", key="lns.accumulate")
    return LnsKind(fmt=config.lns.format(), acc_width=w.accumulator)


def build_design(config: Config) -> wiring.Component:
    """Elaborate-ready component for ``config``.

    Raises
    ------
    ConfigError
        For a configuration the generator does not build yet.
    """
    from corolla.hw.array import SystolicArray

    if config.array.dataflow != "output-stationary":
        raise ConfigError(
            f"key 'array.dataflow' = {config.array.dataflow!r} is not built yet; expected "
            f"'output-stationary'", key="array.dataflow")
    return SystolicArray(rows=config.array.rows, cols=config.array.cols,
                         kind=array_kind(config))


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
    t0 = time.perf_counter()
    design = build_design(config)
    verilog_text = to_verilog(design, name=TOPLEVEL)
    elapsed = time.perf_counter() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
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
