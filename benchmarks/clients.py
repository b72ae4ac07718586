"""One client run of the benchmark, in a fresh process: ``python -m benchmarks.clients NAME``.

``NAME`` is ``foxnb`` or one of the baselines (``sequential``, ``thread_pool``,
``fixed_interval``; see :mod:`benchmarks.baselines`). The simulator's address and key come
from ``FOXAPI_BASE_URL`` / ``FOXAPI_API_KEY``, as for any script. The result — when the run
started and ended, and for each task when the client first saw it completed — is written as
JSON to ``--out``; the server-side half of every figure comes from the simulator
(:mod:`benchmarks.simproc`).

The foxnb run does what a notebook user does: ``fx.sweep(...)`` returns at once, and while
the jobs run in the background the main thread carries on. Here it runs a tight
``sleep(1 ms)`` loop and records every gap between iterations: the largest gap is the
longest the notebook's own thread was held up by foxnb's background work (the GIL, locks).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import baselines, workload

BASELINES = ("sequential", "thread_pool", "fixed_interval")


def _cpu_wait_ns() -> int:
    """How long this thread has waited for a CPU so far (Linux schedstat; 0 elsewhere)."""
    try:
        with open("/proc/thread-self/schedstat", encoding="ascii") as stat:
            return int(stat.read().split()[1])
    except OSError:
        return 0


def watch_main_thread(until: Callable[[], bool]) -> dict[str, Any]:
    """Run ``sleep(1 ms)`` in a loop until ``until()``; the gaps between iterations.

    Each gap is also taken apart: the time the kernel kept this thread waiting for a CPU
    (other processes, the simulator, foxnb's own thread on a busy machine) is read from
    schedstat, and what remains is time spent sleeping, running, or waiting for the GIL.
    """
    gaps: list[tuple[float, float, float]] = []  # (gap ms, of which CPU wait ms, at s)
    started = last = time.perf_counter()
    waited = _cpu_wait_ns()
    while not until():
        time.sleep(0.001)
        now, now_waited = time.perf_counter(), _cpu_wait_ns()
        gaps.append(((now - last) * 1000, (now_waited - waited) / 1e6, now - started))
        last, waited = now, now_waited
    if not gaps:
        gaps.append((0.0, 0.0, 0.0))
    ordered = sorted(g for g, _, _ in gaps)
    return {
        "iterations": len(gaps),
        "max_gap_ms": ordered[-1],
        "p99_gap_ms": ordered[int(0.99 * (len(ordered) - 1))],
        "gaps_over_10ms": sum(g > 10 for g in ordered),
        "max_gap_without_cpu_wait_ms": max(g - w for g, w, _ in gaps),
        "cpu_wait_ms_total": sum(w for _, w, _ in gaps),
        "worst_gaps": [
            {"gap_ms": g, "cpu_wait_ms": w, "at_s": at} for g, w, at in sorted(gaps)[-5:][::-1]
        ],
    }


def run_foxnb(
    cells: list[workload.Cell], clip: Path, workdir: Path, speed: float
) -> dict[str, Any]:
    """The sweep through ``fx.sweep``, watched from the main thread."""
    import foxnb  # here, so the baselines' processes never load it

    quiet_until = time.monotonic() + 1.0
    control = watch_main_thread(lambda: time.monotonic() >= quiet_until)
    fx = foxnb.connect(workdir=workdir, quiet=True, **workload.foxnb_time_scaling(speed))
    started = time.time()
    sweep = fx.sweep(
        clip,
        name="benchmark",
        mode="zip",
        prompt=workload.PROMPT,
        model=[cell.model for cell in cells],
        seed=[cell.seed for cell in cells],
        aspect_ratio="16:9",
        generate_audio=True,
    )
    launched = time.time()
    jobs = sweep.jobs
    main_thread = watch_main_thread(lambda: all(job.done for job in jobs))
    ended = time.time()
    main_thread["control_max_gap_ms"] = control["max_gap_ms"]
    runs = fx.ledger.runs()
    saved_at = _saved_at(fx.ledger.path)
    seen = [
        {
            "task_id": runs[job.run_id].get("task_id"),
            "status": job.status,
            "seen_completed_at": runs[job.run_id].get("completed_at"),
            "done_at": saved_at.get(job.run_id),
        }
        for job in jobs
    ]
    fx.close()
    return {
        "started_at": started,
        "ended_at": ended,
        "jobs": seen,
        "sweep_call_s": launched - started,
        "main_thread": main_thread,
    }


def _saved_at(ledger: Path) -> dict[str, float]:
    """When the ledger recorded each run ``completed`` (its video saved)."""
    saved = {}
    for line in ledger.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event.get("status") == "completed":
            saved[event["run_id"]] = event["at"]
    return saved


def run_baseline(
    name: str,
    cells: list[workload.Cell],
    clip: Path,
    workdir: Path,
    speed: float,
    pool_workers: int,
) -> dict[str, Any]:
    """One of the hand-written loops, its poll interval scaled to the simulator's speed."""
    out = workdir / "videos"
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    if name == "sequential":
        seen = baselines.sequential(cells, clip, workload.SEQUENTIAL_POLL_S / speed, out)
    elif name == "thread_pool":
        poll_s = workload.SEQUENTIAL_POLL_S / speed
        seen = baselines.thread_pool(cells, clip, poll_s, out, pool_workers)
    elif name == "fixed_interval":
        seen = baselines.fixed_interval(cells, clip, workload.FIXED_POLL_S / speed, out)
    else:
        raise ValueError(f"unknown client {name!r}")
    return {"started_at": started, "ended_at": time.time(), "jobs": [asdict(s) for s in seen]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("client", choices=("foxnb", *BASELINES))
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--speed", type=float, required=True)
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pool-workers", type=int, default=16)
    args = parser.parse_args()
    cells = workload.cells(args.jobs)
    if args.client == "foxnb":
        result = run_foxnb(cells, args.clip, args.workdir, args.speed)
    else:
        result = run_baseline(
            args.client, cells, args.clip, args.workdir, args.speed, args.pool_workers
        )
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
