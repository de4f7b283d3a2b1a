"""``corolla sim``: the cocotb bench of a design against its golden model."""

from __future__ import annotations

import json
import time

from rich.table import Table

from ..config import load_config
from . import checks
from .common import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    CliError,
    add_config_arg,
    add_design_arg,
    console_out,
    escape,
    progress,
)

# Design class -> the cocotb bench that verifies it.
_BENCHES = {
    "corolla.hw.arith.mac.Mac": "corolla.sim.benches.mac",
    "corolla.hw.array.systolic.SystolicArray": "corolla.sim.benches.array",
    "corolla.hw.top.Accelerator": "corolla.sim.benches.top",
}


def run(args) -> int:
    from ..generate import TOPLEVEL, build_design
    from ..sim import runner

    config = load_config(args.config)
    # The top is simulated with its link's byte streams (the UART pins are tested by the
    # test suite and by `corolla run --sim --link uart`).
    design = build_design(config, args.design, link="stream")
    cls = f"{type(design).__module__}.{type(design).__qualname__}"
    bench = _BENCHES.get(cls)
    if bench is None:
        raise CliError(f"no cocotb bench is registered for design {cls}")
    env = {}
    if args.cycles is not None:
        if args.cycles < 1:
            raise CliError(f"--cycles must be a positive integer, not {args.cycles}",
                           EXIT_BAD_INPUT)
        env["COROLLA_CYCLES"] = str(args.cycles)
    t0 = time.perf_counter()
    try:
        with progress(f"Building and simulating {TOPLEVEL} ({cls}) with {args.simulator}"):
            result = runner.run(design, test_module=bench, name=TOPLEVEL,
                                simulator=args.simulator, waves=args.waves or None, env=env,
                                seed=args.seed, check=False)
    except (runner.SimulatorUnavailable, runner.SimulationFailure) as exc:
        raise CliError(str(exc)) from None
    summary = result.summary()
    summary["config"] = config.name
    summary["wall_s"] = round(time.perf_counter() - t0, 3)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        console = console_out()
        table = Table("test", "result", "cycles", "seconds", box=None)
        for t in result.tests:
            status = "skipped" if t.skipped else ("[green]pass[/]" if t.passed else "[red]FAIL[/]")
            table.add_row(t.name, status, str(int(t.sim_time_ns // runner.CLOCK_PERIOD_NS)),
                          f"{t.real_time_s:.2f}")
        console.print(table)
        for t in result.tests:
            if not t.passed:
                console.print(f"[red]{escape(t.name)}[/]: {escape(t.message)}")
        cached = " (cached)" if result.build_cached else ""
        console.print(f"seed {result.seed} (repeat the run with --seed {result.seed})")
        console.print(f"{result.simulator}: {result.cycles} cycles in {result.test_s:.2f} s = "
                      f"{result.cycles_per_second:,.0f} cycles/s; build {result.build_s:.1f} s"
                      f"{cached}")
        if result.wave_file:
            console.print(f"waveforms: {escape(str(result.wave_file))}")
    return EXIT_OK if result.passed else EXIT_FAILURE


def register(sub) -> None:
    """Add ``corolla sim`` to the verbs."""
    p = sub.add_parser("sim", help="run the cocotb bench of a design against its golden model",
                       description="Build the configured design for a simulator and run its "
                                   "cocotb bench against the numpy golden model.")
    add_config_arg(p)
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                   help="simulator (default: %(default)s)")
    p.add_argument("--waves", action="store_true",
                   help="dump waveforms (VCD with Verilator, FST with Icarus)")
    p.add_argument("--seed", type=checks.SEED,
                   help="random seed (default: chosen by cocotb, printed)")
    p.add_argument("--cycles", type=checks.int_range(1, 10**9),
                   help="cycles of random traffic (at least; rounded up to whole cases)")
    add_design_arg(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=run)

