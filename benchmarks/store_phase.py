"""The runs store under a team's load: one sweep by one process vs. by four workers, per store.

    python -m benchmarks.store_phase [--jobs 1000] [--speed 10] [--only sqlite|postgres]

For each store (SQLite in a folder; PostgreSQL started from ``tests/pg.py`` with durable
settings), two phases on a fresh simulator process each (``benchmarks.simproc``, one shared
rendering made in a warm-up first):

- **one process**: ``fx.sweep`` of ``--jobs`` cells, waited for (``benchmarks.team sweep``);
- **four workers**: the same cells recorded (``fx.sweep(..., launch=False)``), then four
  ``foxnb worker`` processes (``benchmarks.team worker``) carry them out.

Wall time runs from the sweep call to the last video recorded as saved (the store's last
``completed`` event); the ideal is the moment the server completed its last task (the
simulator's records). Then the store's own costs (``benchmarks.store_benchmark``): overhead
per run event and 100,000 runs into ``fx.runs()``; and what store writes cost the engine loop
during a 10,000-job submission (``benchmarks.store_loop``). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from foxnb.runtime.store import open_store
from foxnb.sample import make_sample_clip

from . import store_benchmark, store_loop
from .simproc import SimProcess, warm_up

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4
TARGETS = {"wall_over_ideal": 1.05, "event_ms": 5.0, "load_s": 1.0}


def log(message: str) -> None:
    print(f"[store] {message}", file=sys.stderr, flush=True)


def team(
    mode: str, store: str, workdir: Path, sim: SimProcess, **extra: Any
) -> subprocess.Popen[str]:
    """``python -m benchmarks.team MODE`` against ``sim`` and ``store``."""
    args = [f"--{k}={v}" for k, v in extra.items()]
    command = [sys.executable, "-m", "benchmarks.team", mode, f"--store={store}"]
    command += [f"--workdir={workdir}", f"--speed={sim.speed:g}", *args]
    return subprocess.Popen(
        command, cwd=ROOT, env=sim.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{process.args!r} failed:\n{err[-3000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def figures(sim: SimProcess, store: str, workdir: Path, started: float) -> dict[str, Any]:
    """Wall time, the ideal, their ratio, and the accounting of every cell."""
    tasks = sim.tasks()
    done = [task.completed_at for task in tasks if task.completed_at is not None]
    with open_store(store, workdir) as opened:
        saved = [e["at"] for e in opened.events() if e.get("status") == "completed"]
        runs = opened.runs()
        per_run = [len(opened.task_ids(run_id)) for run_id in runs]
    ideal_s = max(done) - started
    wall_s = max(saved) - started
    return {
        "wall_s": round(wall_s, 2),
        "ideal_s": round(ideal_s, 2),
        "wall_over_ideal": round(wall_s / ideal_s, 4),
        "tasks": len(tasks),
        "completed": sum(run.get("status") == "completed" for run in runs.values()),
        "runs_with_two_tasks": sum(n > 1 for n in per_run),
        "submission_s": round(max(task.created_at for task in tasks) - started, 2),
    }


def phase(
    name: str, spec: str, folder: Path, clip: Path, renders: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """One phase (``one_process`` or ``four_workers``) on a fresh simulator and store."""
    log(f"{name}: {args.jobs} cells")
    with SimProcess(folder, speed=args.speed, seed=args.seed, renders_from=renders) as sim:
        started = time.time()
        cells = {"clip": clip, "jobs": args.jobs}
        if name == "one_process":
            client = finished(team("sweep", spec, folder / "client", sim, **cells))
        else:
            finished(team("record", spec, folder / "client", sim, **cells))
            workers = [team("worker", spec, folder / f"worker{n}", sim) for n in range(WORKERS)]
            client = {"workers": [finished(worker)["runs"] for worker in workers]}
        return {**figures(sim, spec, folder / "client", started), **client}


def one_store(
    work: Path, server: Any, clip: Path, renders: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Every figure of one store: SQLite files in ``work``, or databases on ``server``."""
    started = time.monotonic()

    def fresh(folder: Path) -> str:
        """A new, empty store: a SQLite file in ``folder``, or a new database."""
        if server is None:
            return str(folder / "runs.db")
        return str(server.dsn(server.create_database()))

    entry: dict[str, Any] = {}
    for name in ("one_process", "four_workers"):
        entry[name] = phase(name, fresh(work / name), work / name, clip, renders, args)
    log(f"{work.name}: store costs (per event; {args.runs:,} runs into fx.runs())")
    costs = work / "costs"
    spec = None if server is None else fresh(costs)
    entry["costs"] = store_benchmark.measure(spec, costs, args.runs, args.events)
    log(f"{work.name}: store writes during a {args.loop_jobs:,}-job submission")
    loop = work / "loop"
    spec = None if server is None else fresh(loop)
    entry["loop"] = store_loop.both(
        spec, loop, args.loop_jobs, args.loop_direct_jobs, args.loop_spread_s
    )
    entry["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    entry["phase_s"] = round(time.monotonic() - started, 1)
    return entry


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "config": {"jobs": args.jobs, "speed": args.speed, "workers": WORKERS, "seed": args.seed},
        "targets": TARGETS,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    clip = make_sample_clip(work / "clip.mp4", width=1280, height=720, duration_s=1.0, fps=8)
    log("warm-up: encoding the shared rendering")
    with SimProcess(work / "warm-up", speed=args.speed, seed=args.seed) as warm:
        warm_up(warm, clip)
    renders = work / "warm-up" / "sim-state"
    for kind in ("sqlite", "postgres"):
        if args.only in (None, kind):
            server = None
            if kind == "postgres":
                server = store_benchmark.pg_helpers().start_server(durable=True)
            try:
                results[kind] = one_store(work / kind, server, clip, renders, args)
            finally:
                if server is not None:
                    server.stop()
    return results


def misses(results: dict[str, Any]) -> list[str]:
    """The targets missed, in words (empty: all met)."""
    missed = []
    for kind in ("sqlite", "postgres"):
        entry = results.get(kind)
        if not entry:
            continue
        for phase in ("one_process", "four_workers"):
            ratio = entry[phase]["wall_over_ideal"]
            if ratio > TARGETS["wall_over_ideal"]:
                missed.append(f"{kind} {phase}: wall ÷ ideal {ratio:.3f}")
        event = entry["costs"]["per_event"]["median_ms"]
        if event > TARGETS["event_ms"]:
            missed.append(f"{kind}: {event:.2f} ms per event")
        load = entry["costs"]["load_s_best"]
        if load >= TARGETS["load_s"]:
            missed.append(f"{kind}: {load:.2f} s to load the runs")
    return missed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=100_000, help="runs loaded into fx.runs()")
    parser.add_argument("--events", type=int, default=1000, help="events timed one by one")
    parser.add_argument("--loop-jobs", type=int, default=10_000)
    parser.add_argument("--loop-direct-jobs", type=int, default=1000)
    parser.add_argument("--loop-spread-s", type=float, default=10.0)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="foxnb-store-phase-") as tmp:
        results = run(args, Path(tmp))
    results["missed"] = misses(results)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
