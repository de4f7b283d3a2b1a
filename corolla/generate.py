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
from amaranth.lib import data, wiring

from . import __version__
from .config import Config, ConfigError
from .sim.runner import signal_ports, to_verilog

__all__ = ["DESIGNS", "TOPLEVEL", "build_design", "generate", "port_list", "top_params"]

#: Verilog module name of the generated top level.
TOPLEVEL = "corolla_top"


def array_kind(config: Config):
    """The PE kind the ``[array]``, ``[widths]`` and ``[lns]`` sections describe.

    Raises
    ------
    ConfigError
        For a combination the array does not build.
    """
    from .pe_kinds import PE_KINDS

    return PE_KINDS[config.array.pe].from_config(config)


DESIGNS = ("top", "array")


def check_design(config: Config, design: str = "top") -> None:
    """Raise :class:`ConfigError` if ``config`` does not build ``design`` (without building
    it: what :func:`build_design` checks first)."""
    if design not in DESIGNS:
        raise ConfigError(f"design {design!r} is unknown; expected one of {', '.join(DESIGNS)}")
    if design == "top":
        top_params(config)
    else:
        array_kind(config)


def build_design(config: Config, design: str = "top", *, link: str = "uart") -> wiring.Component:
    """Elaborate-ready component for ``config``.

    Parameters
    ----------
    design : str
        ``"top"``: the whole accelerator (:class:`corolla.hw.top.Accelerator`) with its host
        link on ``link`` (``"uart"`` pins, or ``"stream"`` byte streams for fast simulation);
        ``"array"``: the PE array alone (:class:`corolla.hw.array.SystolicArray`).

    Raises
    ------
    ConfigError
        For a configuration the generator does not build yet.
    """
    from corolla.hw.array import SystolicArray

    if design not in DESIGNS:
        raise ConfigError(f"design {design!r} is unknown; expected one of {', '.join(DESIGNS)}")
    if design == "top":
        from corolla.hw.top import Accelerator

        return Accelerator(top_params(config, link=link))
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
    layouts = {"__".join(map(str, path)): member.shape
               for path, member, _ in component.signature.flatten(component)
               if member.is_port and isinstance(member.shape, data.Layout)}
    for name, flow, value in signal_ports(component):
        shape = Shape.cast(value.shape())
        ports.append({
            "name": name,
            "direction": "input" if flow == wiring.In else "output",
            "width": shape.width,
            "signed": shape.signed,
        })
        if name in layouts:
            ports[-1]["fields"] = list(_layout_fields(layouts[name]))
    return ports


def _layout_fields(layout, prefix: str = "", base: int = 0):
    """The leaf fields of a payload layout: ``name`` (dotted), ``offset``, ``width``,
    ``signed``, so a user can take the bits of a port apart."""
    for key, fld in layout:
        name = f"{prefix}{key}"
        if isinstance(fld.shape, data.Layout):
            yield from _layout_fields(fld.shape, f"{name}.", base + fld.offset)
        else:
            shape = Shape.cast(fld.shape)
            yield {"name": name, "offset": base + fld.offset, "width": shape.width,
                   "signed": shape.signed}


def generate(config: Config, out_dir: Path, design: str = "top") -> dict:
    """Write the Verilog (``corolla_top.v``, or ``corolla_<design>.v`` for another design)
    and ``manifest.json`` for ``config`` into ``out_dir``.

    Returns
    -------
    dict
        The manifest (also written to ``out_dir/manifest.json``).
    """
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    toplevel = TOPLEVEL if design == "top" else f"corolla_{design}"
    design = build_design(config, design)
    verilog_text = to_verilog(design, name=toplevel)
    elapsed = time.perf_counter() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
    verilog_path = out_dir / f"{toplevel}.v"
    verilog_path.write_text(verilog_text)
    manifest = {
        "corolla_version": __version__,
        "toplevel": toplevel,
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


def top_params(config: Config, *, link: str = "uart", **overrides):
    """:class:`corolla.hw.top.TopParams` for ``config``.

    The top runs int8 dense layers on the array, so it needs ``array.pe = "int8"`` with 8-bit
    activations and weights, an accumulator of at most 32 bits and power-of-two array sides of
    at most 16.

    Raises
    ------
    ConfigError
        Naming the key the top does not build.
    """
    from corolla.params import TopParams

    a, w, s = config.array, config.widths, config.sparse
    checks = [
        ("array.pe", a.pe, a.pe == "int8", "'int8' (the top's dense layers are int8)"),
        ("widths.activation", w.activation, w.activation == 8, "8"),
        ("widths.weight", w.weight, w.weight == 8, "8"),
        ("widths.accumulator", w.accumulator, w.accumulator <= 32, "at most 32"),
        ("array.rows", a.rows, a.rows in (1, 2, 4, 8, 16), "a power of two up to 16"),
        ("array.cols", a.cols, a.cols in (1, 2, 4, 8, 16), "a power of two up to 16"),
    ]
    for key, value, ok, expected in checks:
        if not ok:
            raise ConfigError(f"key '{key}' = {value!r} is not built by the accelerator top; "
                              f"expected {expected}", key=key)
    eie = s.params(w.accumulator)
    lns = config.lns
    arrays = {"ternary": config.ternary.params("ternary"),
              "binary": config.binary.params("binary"), "lns": lns.params(),
              "winograd": config.winograd.params("winograd")}
    if lns.enabled and lns.int_bits + lns.frac_bits > 7:
        raise ConfigError(f"key 'lns.frac_bits' = {lns.frac_bits} is too wide for the LNS "
                          f"array; expected lns.int_bits + lns.frac_bits at most 7 (8-bit "
                          f"words)", key="lns.frac_bits")
    if arrays["ternary"] is not None and arrays["ternary"].rows < 4:
        raise ConfigError(f"key 'ternary.rows' = {config.ternary.rows} is too small; expected "
                          f"4 to 16 (a weight word of whole bytes)", key="ternary.rows")
    try:
        return TopParams(rows=a.rows, cols=a.cols, acc_width=w.accumulator, eie=eie,
                         clock_hz=config.clock_mhz * 1e6, link=link, **arrays,
                         lns_int_bits=lns.int_bits, lns_frac_bits=lns.frac_bits,
                         lns_acc_frac=lns.acc_frac, pool=config.pool.enabled, conv=a.conv,
                         scales=a.scales,
                         **(config.memory.sizes() | overrides))
    except ValueError as exc:
        # TopParams names its fields as the configuration's [array], [widths] and [memory]
        # sections do.
        keys = {"rows": "array.rows", "cols": "array.cols", "acc_width": "widths.accumulator",
                **{k: f"memory.{k}" for k in config.memory.sizes()}}
        key = next((v for k, v in keys.items() if f" {k} " in str(exc)), None)
        raise ConfigError(f"key '{key}': {exc}" if key else
                          f"configuration {config.name!r}: {exc}", key=key) from None
