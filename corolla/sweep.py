"""Design-space sweeps on Dask: many configurations generated, built, simulated and compared.

A sweep **spec** (TOML) names a base configuration, the axes to vary, how to sample them, the
stages each point runs and the objectives::

    name = "up5k-array"
    base = "icebreaker"              # a built-in configuration or a TOML file
    board = "icebreaker"             # the board of the build stage (an axis may vary it)
    stages = ["build", "sim"]        # compress, generate, build, sim, accuracy
    objectives = ["max:inferences_per_s", "min:lut"]
    sampling = "grid"                # or "random", with samples = N and seed = S
    timeout_s = 1800                 # per stage of a point
    images = 8                       # sim: test images per point
    variant = "dense"                # sim / accuracy: the variant run

    [axes]
    "array.rows" = [1, 2, 4]         # any configuration key: a list ...
    clock_mhz = {start = 12, stop = 24, step = 6}   # ... or a range (stop included)
    shape = [{"array.rows" = 1, "memory.weight_depth" = 65536},   # ... or linked keys,
             {"array.rows" = 4, "memory.weight_depth" = 16384}]   # a table per value
    seed = [1, 2]                    # the nextpnr seed
    board = ["icebreaker"]           # the board
    variant = ["dense", "ternary"]   # the variant
    "compress.sparsity" = ["0.9,0.97,0.6", "0.8,0.9,0.5"]   # `corolla compress` options
                                     # (sparsity, bits, pes, seed; the compress stage)

Each point is one task on a Dask ``distributed`` cluster: a :class:`~distributed.LocalCluster`
of worker processes on this machine, or any scheduler address (``--scheduler``) — started by
hand, by dask-jobqueue on a batch system or by dask-kubernetes. A task runs each stage as a
``corolla`` subprocess with a time limit, so a crashing or hanging tool takes down only its
point. A point whose result is in its folder (``points/<hash>/result.json``, the hash of its
configuration, board, seed, variant and stages) is taken from there, so an interrupted sweep
resumes where it stopped. A failed point (does not fit, timing, tool error, time limit) is a
row with its status and reason.

The ``compress`` stage runs Deep Compression with the point's options and the later stages
use its model; ``sim`` is ``corolla report --no-build`` (the simulation's counters, the golden
model on the test split, the stored model size and the energy estimate).

Results: ``sweep.json`` and ``sweep.csv`` (a row per point: the axes, Fmax, LUT/FF/DSP/BRAM,
cycles and inferences/s from the simulation's counters, accuracy, stored model size, energy
estimate, wall time, status), the Pareto front over the objectives (``pareto`` column) and
``pareto.png``.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .config import ConfigError, load_config, parse_config

__all__ = ["STAGES", "SweepSpec", "load_spec", "pareto_front", "points", "run_point",
           "run_sweep"]

#: What a point can run, in this order.
STAGES = ("compress", "generate", "build", "sim", "accuracy")
#: Axes that are not configuration keys.
SPECIAL_AXES = ("board", "seed", "variant")
#: The compression options an axis may set (``compress.<option>``): `corolla compress`'s.
COMPRESS_OPTIONS = {"sparsity": "--sparsity", "bits": "--bits", "pes": "--pes",
                    "seed": "--seed"}
#: Figures a point's row has, and so what objectives may name.
METRICS = ("fmax_mhz", "lut", "ff", "dsp", "bram", "logic_cells", "cycles_per_inference",
           "inferences_per_s", "inferences_per_s_at_fmax", "accuracy", "stored_bytes",
           "compression_ratio", "energy_nj", "wall_s")
_SPEC_KEYS = ("name", "base", "board", "stages", "objectives", "sampling", "samples", "seed",
              "timeout_s", "images", "variant", "axes")


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec (see the module docstring)."""

    name: str
    base: str
    board: str
    stages: tuple
    objectives: tuple
    axes: dict
    sampling: str = "grid"
    samples: int = 0
    seed: int = 0
    timeout_s: float = 1800.0
    images: int = 8
    variant: str = "dense"
    source: str = ""
    base_config: dict = field(default_factory=dict, repr=False)


def _fail(key, value, expected, source):
    raise ConfigError(f"key '{key}' = {value!r}; expected {expected}", key=key, source=source)


def _axis_values(key, value, source) -> list:
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return [dict(v) for v in value]         # linked keys: one table per value
        if not value:
            _fail(f"axes.{key}", value, "a non-empty list or a range {start, stop, step}",
                  source)
        return list(value)
    if isinstance(value, dict):
        if set(value) != {"start", "stop", "step"}:
            _fail(f"axes.{key}", value, "a range with exactly start, stop and step", source)
        start, stop, step = value["start"], value["stop"], value["step"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool)
                   for v in (start, stop, step)) or step <= 0 or stop < start:
            _fail(f"axes.{key}", value, "numbers with step > 0 and stop ≥ start", source)
        n = math.floor((stop - start) / step + 1e-9) + 1
        values = [start + k * step for k in range(n)]
        return [int(v) if all(isinstance(x, int) for x in (start, step)) else round(v, 9)
                for v in values]
    _fail(f"axes.{key}", value, "a non-empty list or a range {start, stop, step}", source)


def _set_key(data: dict, key: str, value):
    if "." in key:
        section, sub = key.split(".", 1)
        data.setdefault(section, {})[sub] = value
    else:
        data[key] = value


def load_spec(path) -> SweepSpec:
    """Read and check a sweep spec.

    Raises
    ------
    ConfigError
        Naming the key, the value and what was expected: unknown keys, an empty axis, a bad
        range, an unknown stage or objective, an axis value the configuration refuses.
    """
    from .boards import BOARDS
    from .firmware.variants import VARIANTS
    from .run import check_variant

    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ConfigError(f"sweep spec {source!r} is not a file; expected a TOML file",
                          key="spec")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})", key="spec") from None
    for key in data:
        if key not in _SPEC_KEYS:
            raise ConfigError(f"unknown key '{key}'; expected one of: "
                              f"{', '.join(sorted(_SPEC_KEYS))}", key=key, source=source)
    for key in ("base", "stages", "axes"):
        if key not in data:
            raise ConfigError(f"key '{key}' is missing", key=key, source=source)
    base = data["base"]
    config = load_config(base)
    board = data.get("board", "icebreaker")
    if board not in BOARDS:
        _fail("board", board, f"one of {', '.join(BOARDS)}", source)
    stages = data["stages"]
    if not isinstance(stages, list) or not stages:
        _fail("stages", stages, f"a non-empty list of {', '.join(STAGES)}", source)
    for stage in stages:
        if stage not in STAGES:
            _fail("stages", stage, f"one of {', '.join(STAGES)}", source)
    objectives = data.get("objectives", [])
    if not isinstance(objectives, list):
        _fail("objectives", objectives, "a list such as [\"max:inferences_per_s\"]", source)
    for obj in objectives:
        sense, _, metric = str(obj).partition(":")
        if sense not in ("max", "min") or metric not in METRICS:
            _fail("objectives", obj, f"max:METRIC or min:METRIC with METRIC one of "
                                     f"{', '.join(METRICS)}", source)
    sampling = data.get("sampling", "grid")
    if sampling not in ("grid", "random"):
        _fail("sampling", sampling, "'grid' or 'random'", source)
    samples = data.get("samples", 0)
    if sampling == "random" and (not isinstance(samples, int) or samples < 1):
        _fail("samples", samples, "a positive integer (random sampling)", source)
    timeout = data.get("timeout_s", 1800)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        _fail("timeout_s", timeout, "a positive number of seconds", source)
    images = data.get("images", 8)
    if not isinstance(images, int) or not 1 <= images <= 450:
        _fail("images", images, "an integer from 1 to 450", source)
    variant = data.get("variant", "dense")
    check_variant(variant, "variant")
    axes_in = data["axes"]
    if not isinstance(axes_in, dict) or not axes_in:
        _fail("axes", axes_in, "a table of at least one axis", source)
    axes = {}
    base_dict = config.to_dict()
    for key, value in axes_in.items():
        values = _axis_values(key, value, source)
        if key == "board":
            for v in values:
                if v not in BOARDS:
                    _fail("axes.board", v, f"one of {', '.join(BOARDS)}", source)
        elif key == "seed":
            for v in values:
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    _fail("axes.seed", v, "non-negative integers", source)
        elif key == "variant":
            for v in values:
                if v not in VARIANTS:
                    check_variant(v, "axes.variant")
        elif key.startswith("compress."):
            option = key.split(".", 1)[1]
            if option not in COMPRESS_OPTIONS:
                raise ConfigError(f"unknown key 'axes.{key}'; the compression options are "
                                  f"{', '.join('compress.' + k for k in COMPRESS_OPTIONS)}",
                                  key=f"axes.{key}", source=source)
            if "compress" not in stages:
                _fail(f"axes.{key}", values, "the 'compress' stage in stages", source)
        else:
            for v in values:            # each value alone must make a valid configuration
                trial = json.loads(json.dumps(base_dict))
                for k, x in (v.items() if isinstance(v, dict) else [(key, v)]):
                    _set_key(trial, k, x)
                try:
                    parse_config(trial)
                except ConfigError as exc:
                    raise ConfigError(f"axes.{key}: {exc}", key=f"axes.{key}",
                                      source=source) from None
        axes[key] = values
    return SweepSpec(name=str(data.get("name", path.stem)), base=base, board=board,
                     stages=tuple(s for s in STAGES if s in stages),
                     objectives=tuple(objectives), axes=axes, sampling=sampling,
                     samples=samples, seed=int(data.get("seed", 0)), timeout_s=float(timeout),
                     images=images, variant=variant, source=source, base_config=base_dict)


def points(spec: SweepSpec) -> list[dict]:
    """The sweep's points: ``{axis: value}`` for each, in a fixed order."""
    keys = list(spec.axes)
    grid = [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(spec.axes[k] for k in keys))]
    if spec.sampling == "random":
        import numpy as np

        gen = np.random.default_rng(spec.seed)
        take = gen.choice(len(grid), size=min(spec.samples, len(grid)), replace=False)
        grid = [grid[i] for i in sorted(take)]
    return grid


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    raise TypeError(f"cannot write {v!r} to TOML")


def config_toml(data: dict) -> str:
    """A configuration (top-level keys and one level of sections) as TOML."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, values in data.items():
        if isinstance(values, dict):
            lines += ["", f"[{section}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def point_job(spec: SweepSpec, point: dict) -> dict:
    """Everything a task needs to run ``point`` (plain data, sent to the worker)."""
    config = json.loads(json.dumps(spec.base_config))
    for key, value in point.items():
        if key not in SPECIAL_AXES and not key.startswith("compress."):
            for k, x in (value.items() if isinstance(value, dict) else [(key, value)]):
                _set_key(config, k, x)
    config["name"] = f"{spec.name}-point"
    compress = {k.split(".", 1)[1]: v for k, v in point.items() if k.startswith("compress.")}
    job = {"point": point, "config": config, "board": point.get("board", spec.board),
           "compress": compress,
           "seed": point.get("seed", 1), "variant": point.get("variant", spec.variant),
           "stages": list(spec.stages), "timeout_s": spec.timeout_s, "images": spec.images}
    blob = json.dumps({k: job[k] for k in ("config", "board", "seed", "variant", "stages",
                                           "images", "compress")}, sort_keys=True)
    job["hash"] = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return job


def _corolla(args, timeout):
    """Run ``corolla ARGS --json``; returns (status, document or message)."""
    try:
        proc = subprocess.run([sys.executable, "-m", "corolla.cli", *args, "--json"],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", f"{args[0]} ran past the time limit of {timeout:g} s"
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if "error" in ln.lower()]
        message = (lines or proc.stderr.strip().splitlines() or ["no message"])[-1]
        return "failed", f"{args[0]}: {message.removeprefix('corolla: error: ')}"[:400]
    try:
        return "ok", json.loads(proc.stdout)
    except json.JSONDecodeError:
        return "failed", f"{args[0]}: no JSON on its output"


def run_point(job: dict, out_dir: str) -> dict:
    """Run one point's stages (on a Dask worker); returns its row. Reuses a finished result
    in ``out_dir/points/<hash>``."""
    folder = Path(out_dir) / "points" / job["hash"]
    result_file = folder / "result.json"
    if result_file.is_file():
        row = json.loads(result_file.read_text())
        if row.get("status") == "ok" or row.get("status") == "failed":
            return row | {"reused": True}
    folder.mkdir(parents=True, exist_ok=True)
    config_file = folder / "config.toml"
    config_file.write_text(config_toml(job["config"]))
    row = {key: (", ".join(f"{k}={x}" for k, x in value.items()) if isinstance(value, dict)
                 else value) for key, value in job["point"].items()}
    row |= {"hash": job["hash"], "status": "ok", "reason": "", "reused": False}
    t0 = time.perf_counter()
    timeout = job["timeout_s"]
    model = "digits"
    for stage in job["stages"]:
        if stage == "compress":
            args = ["compress", "--out", str(folder / "compressed")]
            for option, value in job["compress"].items():
                args += [COMPRESS_OPTIONS[option], str(value)]
            status, doc = _corolla(args, timeout)
            if status == "ok":
                model = str(folder / "compressed" / "model_compressed.npz")
                row["accuracy"] = doc["accuracy_compressed"]
                row["stored_bytes"] = doc["stored_bytes"]
                row["compression_ratio"] = doc["compression_ratio"]
        elif stage == "generate":
            status, doc = _corolla(["generate", "--config", str(config_file), "--out",
                                    str(folder / "verilog")], timeout)
        elif stage == "build":
            status, doc = _corolla(["build", "--board", job["board"], "--config",
                                    str(config_file), "--out", str(folder / "build"), "--seed",
                                    str(job["seed"])], timeout)
            if status == "ok":
                clock, util = doc["clock"], doc["utilization"]
                row["fmax_mhz"] = clock["fmax_mhz"]
                row["clock_mhz"] = clock["target_mhz"]
                row["timing_met"] = clock["timing_met"]
                for k, u in util.items():
                    row[k] = u["used"]
                if not clock["timing_met"]:
                    status, doc = "failed", (f"timing: Fmax {clock['fmax_mhz']:.2f} MHz is "
                                             f"below the {clock['target_mhz']:.2f} MHz clock")
        elif stage == "sim":
            # The report without a build: the simulation's counters, the golden model on the
            # test split, the stored size and the energy estimate.
            status, doc = _corolla(["report", "--board", job["board"], "--config",
                                    str(config_file), "--variant", job["variant"], "--model",
                                    model, "--images", str(job["images"]), "--no-build",
                                    "--out", str(folder / "report")], timeout)
            if status == "ok":
                c = doc["configurations"][0]
                cycles = c["cycles"]["per_inference"]
                row["cycles_per_inference"] = cycles
                row["inferences_per_s"] = c["clock"]["configured_mhz"] * 1e6 / cycles
                row["accuracy"] = c["accuracy"]["test_split"]
                row["bit_exact"] = c["accuracy"]["simulated_bit_exact"]
                row["stored_bytes"] = c["compression"]["stored_bytes"]
                row["energy_nj"] = c["energy"]["per_inference_nj"]
                if not row["bit_exact"]:
                    status, doc = "failed", "sim: the accelerator's outputs are not bit-exact"
        else:                           # accuracy: the golden model on the test split
            status, doc = _accuracy(job, config_file, model)
            if status == "ok":
                row["accuracy"] = doc
        if status != "ok":
            row["status"], row["reason"] = status, doc
            break
    if row.get("fmax_mhz") and row.get("cycles_per_inference"):
        row["inferences_per_s_at_fmax"] = row["fmax_mhz"] * 1e6 / row["cycles_per_inference"]
    row["wall_s"] = round(time.perf_counter() - t0, 2)
    if row["status"] != "timeout":          # a time limit may be raised: run it again
        result_file.write_text(json.dumps(row, indent=1))
    return row


def _accuracy(job, config_file, model):
    from .firmware.compile import CompileError, compile_network
    from .generate import top_params
    from .run import resolve_network, test_accuracy

    try:
        config = load_config(config_file)
        net = resolve_network(model, job["variant"], config)
        prog = compile_network(net, top_params(config, link="stream").info())
        return "ok", test_accuracy(net, prog)
    except (ConfigError, CompileError) as exc:
        return "failed", f"accuracy: {exc}"



def pareto_front(rows: list[dict], objectives) -> list[int]:
    """Indices of the rows no other row beats in every objective (``max:``/``min:``
    metrics); rows that failed or lack a metric are not on it."""
    keys = [(o.split(":", 1)[1], 1 if o.startswith("max:") else -1) for o in objectives]
    ok = [i for i, r in enumerate(rows)
          if r.get("status") == "ok" and all(r.get(k) is not None for k, _ in keys)]
    front = []
    for i in ok:
        vi = [s * rows[i][k] for k, s in keys]
        dominated = False
        for j in ok:
            vj = [s * rows[j][k] for k, s in keys]
            if j != i and all(b >= a for a, b in zip(vi, vj, strict=True)) and vj != vi:
                dominated = True
                break
        if not dominated:
            front.append(i)
    return front


def run_sweep(spec: SweepSpec, out_dir, *, scheduler: str | None = None, workers: int = 2,
              status=None) -> dict:
    """Run every point of ``spec`` on a Dask cluster; write and return the results.

    Parameters
    ----------
    scheduler : str, optional
        A Dask scheduler address (``tcp://host:8786``); by default a ``LocalCluster`` of
        ``workers`` single-threaded worker processes.
    status : callable, optional
        ``status(message)`` as points finish (with the dashboard address).
    """
    from distributed import Client, LocalCluster, as_completed

    say = status or (lambda message: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [point_job(spec, p) for p in points(spec)]
    t0 = time.perf_counter()
    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="20s")
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        client = Client(cluster)
    try:
        dashboard = client.dashboard_link
        n_workers = len(client.scheduler_info()["workers"])
        say(f"{len(jobs)} point(s) on {n_workers} Dask worker(s); dashboard {dashboard}")
        futures = {client.submit(run_point, job, str(out.resolve()), key=f"point-{job['hash']}",
                                 pure=False): k for k, job in enumerate(jobs)}
        rows = [None] * len(jobs)
        for done, future in enumerate(as_completed(futures), start=1):
            k = futures[future]
            try:
                rows[k] = future.result()
            except Exception as exc:        # the task itself died (worker lost, …)
                rows[k] = {**jobs[k]["point"], "hash": jobs[k]["hash"], "status": "failed",
                           "reason": f"task: {type(exc).__name__}: {exc}"[:400],
                           "reused": False}
            say(f"{done}/{len(jobs)} point(s) done ({rows[k]['status']}); dashboard "
                f"{dashboard}")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    wall = time.perf_counter() - t0
    front = set(pareto_front(rows, spec.objectives)) if spec.objectives else set()
    for k, row in enumerate(rows):
        row["pareto"] = k in front
    serial = sum(r.get("wall_s", 0.0) for r in rows if not r.get("reused"))
    doc = {"name": spec.name, "spec": spec.source, "base": spec.base, "board": spec.board,
           "stages": list(spec.stages), "objectives": list(spec.objectives),
           "axes": spec.axes, "points": len(rows), "workers": n_workers,
           "scheduler": scheduler or "LocalCluster", "wall_s": round(wall, 2),
           "points_s": round(serial, 2),
           "speedup": round(serial / wall, 2) if wall > 0 and serial else None,
           "ok": sum(r["status"] == "ok" for r in rows),
           "reused": sum(bool(r.get("reused")) for r in rows),
           "rows": rows, "pareto": sorted(front)}
    (out / "sweep.json").write_text(json.dumps(doc, indent=1))
    _write_csv(rows, out / "sweep.csv")
    if spec.objectives and len(spec.objectives) >= 2 and front:
        _plot(rows, spec.objectives, out / "pareto.png")
        doc["plot"] = "pareto.png"
    return doc


def _write_csv(rows, path):
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r.get(k, "") for k in columns})


def _plot(rows, objectives, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (sx, x), (sy, y) = (o.split(":", 1) for o in objectives[:2])
    ok = [r for r in rows if r["status"] == "ok" and r.get(x) is not None
          and r.get(y) is not None]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter([r[x] for r in ok], [r[y] for r in ok], c="0.6", label="points")
    front = sorted((r for r in ok if r["pareto"]), key=lambda r: r[x])
    ax.plot([r[x] for r in front], [r[y] for r in front], "o-", c="C3", label="Pareto front")
    ax.set_xlabel(f"{x} ({sx})")
    ax.set_ylabel(f"{y} ({sy})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
