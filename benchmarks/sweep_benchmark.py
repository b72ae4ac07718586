"""The sweep benchmark: foxnb against three hand-written loops, on the FoxAPI simulator.

Run it with ``./dev bench`` (or ``python -m benchmarks.sweep_benchmark``). It takes a few
minutes and writes ``docs/benchmark.md`` (the table, the machine, how it was measured) and
``docs/benchmark.json`` (every figure). In order:

1. a sample clip, and a warm-up simulator that encodes the one shared rendering;
2. for foxnb and each baseline, a fresh simulator process and a fresh client process running
   the same sweep (see :mod:`benchmarks.clients`), then the figures from both sides;
3. 1,000 jobs tracked at once by one foxnb process (:mod:`benchmarks.memory`);
4. a 10,000-run ledger loaded into a DataFrame in fresh processes
   (:mod:`benchmarks.ledger_load`);
5. the CPU time to score a 9 s 720p and a 9 s 1080p result, in a fresh process
   (:mod:`benchmarks.scoring`), and ``chain.ipynb``'s chain of 3 hops × best of 3
   (:mod:`benchmarks.chain`);
6. the runs store under a team's load, on SQLite and PostgreSQL: 1,000 cells by one process
   and by four workers, the store's cost per event, 100,000 runs into ``fx.runs()``, and what
   store writes cost the engine loop (:mod:`benchmarks.store_phase`).

``--only store`` runs phase 6 alone and puts its section into the existing report.

``--check`` makes it exit with status 1 when foxnb misses one of the targets. Smaller runs
(``--jobs 6 --memory-jobs 20 ...``) are for trying it out; their figures mean little.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from foxnb.runtime.store import STORE_NAME
from foxnb.sample import make_sample_clip

from . import ledger_load, report, store_report
from .simproc import SimProcess, warm_up
from .workload import foxnb_defaults

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ORDER = ("foxnb", "fixed_interval", "thread_pool", "sequential")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sweep_benchmark",
        description="foxnb vs. hand-written polling loops on the FoxAPI simulator.",
    )
    parser.add_argument("--jobs", type=int, default=100, help="jobs in the sweep (100)")
    parser.add_argument("--speed", type=float, default=10.0, help="simulator speed-up (10)")
    parser.add_argument(
        "--sequential-jobs", type=int, default=10, help="jobs baseline (a) runs (10)"
    )
    parser.add_argument("--pool-workers", type=int, default=16, help="threads of (b) (16)")
    parser.add_argument("--memory-jobs", type=int, default=10000, help="jobs at once (10000)")
    parser.add_argument(
        "--memory-speed", type=float, default=0.25, help="simulator speed-up, memory phase (0.25)"
    )
    parser.add_argument("--ledger-runs", type=int, default=10_000, help="runs (10000)")
    parser.add_argument("--ledger-repeats", type=int, default=3, help="fresh processes (3)")
    parser.add_argument(
        "--scoring-repeats", type=int, default=7, help="timed scorings per size (7)"
    )
    parser.add_argument(
        "--chain-speed", type=float, default=20.0, help="simulator speed-up, chain phase (20)"
    )
    parser.add_argument(
        "--chain-best-of", type=int, default=3, help="candidates per hop, chain phase (3)"
    )
    parser.add_argument("--seed", type=int, default=7, help="simulator seed (7)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "benchmark.md", help="the Markdown report"
    )
    parser.add_argument("--json", type=Path, help="raw figures (default: --out with .json)")
    parser.add_argument("--workdir", type=Path, help="keep the run's files here")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument(
        "--only", choices=("store",), help="run this phase alone; keep the other figures"
    )
    parser.add_argument("--store-jobs", type=int, default=1000, help="cells, store phase (1000)")
    parser.add_argument("--store-runs", type=int, default=100_000, help="runs loaded (100000)")
    args = parser.parse_args(argv)
    if args.jobs < 2 or not 1 <= args.sequential_jobs <= args.jobs:
        parser.error("need --jobs >= 2 and 1 <= --sequential-jobs <= --jobs")
    return args


def run_module(module: str, args: list[str], env: dict[str, str] | None = None) -> str:
    """Run ``python -m module args`` from the repository root; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def client_phase(
    name: str, jobs: int, args: argparse.Namespace, clip: Path, work: Path, renders: Path
) -> dict[str, Any]:
    folder = work / name
    out = folder / "result.json"
    log(f"{name}: {jobs} jobs")
    with SimProcess(folder, speed=args.speed, seed=args.seed, renders_from=renders) as sim:
        run_module(
            "benchmarks.clients",
            [
                name,
                f"--jobs={jobs}",
                f"--speed={args.speed}",
                f"--clip={clip}",
                f"--workdir={folder / 'client'}",
                f"--out={out}",
                f"--pool-workers={args.pool_workers}",
            ],
            env=sim.env(),
        )
    result = json.loads(out.read_text(encoding="utf-8"))
    figures = report.client_figures(result, sim.tasks(), sim.requests(), args.speed, args.jobs)
    return figures


def memory_phase(args: argparse.Namespace, clip: Path, work: Path) -> dict[str, Any]:
    folder = work / "memory"
    out = folder / "result.json"
    log(f"memory: {args.memory_jobs} jobs at once")
    # No warm-up: the one shared rendering is encoded while the first tasks run, long before
    # they end; this phase measures memory, not time.
    with SimProcess(folder, speed=args.memory_speed, seed=args.seed, keep_state=False) as sim:
        run_module(
            "benchmarks.memory",
            [
                f"--jobs={args.memory_jobs}",
                f"--speed={args.memory_speed}",
                f"--clip={clip}",
                f"--workdir={folder / 'client'}",
                f"--out={out}",
            ],
            env=sim.env(),
        )
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def ledger_phase(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    folder = work / "ledger"
    log(f"ledger: {args.ledger_runs} runs")
    events = ledger_load.build(work / "foxnb" / "client", folder, args.ledger_runs)
    timings = [
        json.loads(run_module("benchmarks.ledger_load", [str(folder)]))
        for _ in range(args.ledger_repeats)
    ]
    return {
        "runs": args.ledger_runs,
        "events": events,
        "file_mb": (folder / STORE_NAME).stat().st_size / 1024**2,
        "rows": [t["rows"] for t in timings],
        "seconds": [t["seconds"] for t in timings],
        "cpu_seconds": [t["cpu_seconds"] for t in timings],
        "seconds_median": statistics.median(t["seconds"] for t in timings),
        "cpu_seconds_median": statistics.median(t["cpu_seconds"] for t in timings),
    }


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    machine = report.machine()
    clip = make_sample_clip(work / "clip.mp4", width=1280, height=720, duration_s=1.0, fps=8)
    log(f"warm-up: encoding the shared rendering (simulator at {args.speed:g}x)")
    with SimProcess(work / "warm-up", speed=args.speed, seed=args.seed) as warm:
        warm_up(warm, clip)
    renders = work / "warm-up" / "sim-state"
    sizes = {"sequential": args.sequential_jobs}
    clients = {}
    for name in CLIENT_ORDER:
        phase_started = time.monotonic()
        clients[name] = client_phase(name, sizes.get(name, args.jobs), args, clip, work, renders)
        clients[name]["phase_s"] = time.monotonic() - phase_started
    report.add_ratios(clients)
    rate_per_s, min_poll_interval_s = foxnb_defaults()
    config: dict[str, Any] = {
        key: getattr(args, key)
        for key in (
            "jobs",
            "speed",
            "sequential_jobs",
            "pool_workers",
            "memory_jobs",
            "memory_speed",
            "ledger_runs",
            "ledger_repeats",
            "scoring_repeats",
            "chain_speed",
            "chain_best_of",
            "seed",
        )
    }
    config["foxnb_rate_per_s"] = rate_per_s
    config["foxnb_min_poll_interval_s"] = min_poll_interval_s
    phase_started = time.monotonic()
    memory = memory_phase(args, clip, work)
    memory["phase_s"] = time.monotonic() - phase_started
    phase_started = time.monotonic()
    ledger = ledger_phase(args, work)
    ledger["phase_s"] = time.monotonic() - phase_started
    log("scoring: a 9 s 720p and a 9 s 1080p result")
    phase_started = time.monotonic()
    scored = json.loads(
        run_module("benchmarks.scoring", ["--json", f"--repeats={args.scoring_repeats}"])
    )
    scored["phase_s"] = time.monotonic() - phase_started
    log(f"chain: 3 hops × best of {args.chain_best_of}, as chain.ipynb runs it")
    phase_started = time.monotonic()
    # The last line: connecting to the built-in simulator prints a line of its own first.
    printed = run_module(
        "benchmarks.chain",
        ["--json", f"--speed={args.chain_speed}", f"--best-of={args.chain_best_of}"],
    )
    chained = json.loads(printed.strip().splitlines()[-1])
    chained["phase_s"] = time.monotonic() - phase_started
    store = store_phase(args)
    return {
        "config": config,
        "machine": machine,
        "clients": clients,
        "memory": memory,
        "ledger": ledger,
        "scoring": scored,
        "chain": chained,
        "store": store,
    }


def store_phase(args: argparse.Namespace) -> dict[str, Any]:
    """The runs store's figures (``benchmarks.store_phase``, in a process of its own)."""
    log(f"runs store: {args.store_jobs} cells by one process and by four workers, per store")
    jobs = args.store_jobs
    options = [f"--jobs={jobs}", f"--runs={args.store_runs}", f"--speed={args.speed}"]
    # The engine-loop figure: a submission ten times the sweep (10,000 jobs for 1,000), its
    # answers arriving at the same rate whatever the size (over 10 s for 10,000 jobs).
    options += [f"--loop-jobs={10 * jobs}", f"--loop-direct-jobs={jobs}"]
    options += [f"--loop-spread-s={jobs / 100:g}"]
    options += [f"--events={max(100, min(1000, 10 * jobs))}"]
    result: dict[str, Any] = json.loads(run_module("benchmarks.store_phase", options))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.only == "store":
        return store_only(args)
    started = time.monotonic()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        results = run(args, args.workdir.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="foxnb-bench-") as work:
            results = run(args, Path(work))
    results["benchmark_wall_s"] = time.monotonic() - started
    text = report.markdown(results)
    json_path = args.json or args.out.with_suffix(".json")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    json_path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(text)
    missed = report.misses(results)
    log(f"wrote {args.out} and {json_path} in {results['benchmark_wall_s']:.0f} s")
    log("targets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if missed and args.check else 0


def store_only(args: argparse.Namespace) -> int:
    """``--only store``: the store phase, its figures spliced into the existing report."""
    json_path = args.json or args.out.with_suffix(".json")
    results = json.loads(json_path.read_text(encoding="utf-8")) if json_path.exists() else {}
    results["store"] = store = store_phase(args)
    text = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
    args.out.write_text(store_report.splice(text, store_report.section(store)), encoding="utf-8")
    json_path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(store_report.section(store))
    missed = store["missed"]
    log("targets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
