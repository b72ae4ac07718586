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
longest the notebook's own thread was held up while foxnb worked in the background (waiting
for the GIL, for the garbage collector, or for a CPU).
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import struct
import tempfile
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any, NamedTuple

from . import baselines, workload

BASELINES = ("sequential", "thread_pool", "fixed_interval")


def cpu_times_ns() -> tuple[int, int]:
    """How long this thread has run on a CPU, and waited for one, so far (Linux schedstat;
    zeros elsewhere)."""
    try:
        with open("/proc/thread-self/schedstat", encoding="ascii") as stat:
            ran, waited = stat.read().split()[:2]
            return int(ran), int(waited)
    except OSError:
        return 0, 0


def cpu_wait_ns() -> int:
    """How long this thread has waited for a CPU so far (see ``cpu_times_ns``)."""
    return cpu_times_ns()[1]


class GcPauses:
    """A ``gc.callbacks`` hook noting every collection longer than 5 ms, in any thread."""

    def __init__(self) -> None:
        self.pauses: list[dict[str, Any]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        # Collections never overlap: the collecting thread holds the GIL throughout.
        if phase == "start":
            self._started = time.perf_counter()
            return
        took_ms = (time.perf_counter() - self._started) * 1000
        if took_ms > 5:
            self.pauses.append(
                {
                    "at": self._started,
                    "ms": took_ms,
                    "generation": info["generation"],
                    "thread": threading.current_thread().name,
                }
            )


class Gap(NamedTuple):
    """One gap between two iterations of the 1 ms sleep loop, and what the thread did in it."""

    ms: float
    cpu_wait_ms: float  # waiting for a CPU (schedstat)
    ran_ms: float  # running on one: the loop itself, a garbage collection, the kernel for it
    ended: float  # time.perf_counter()


class Gaps:
    """Gaps, 32 bytes each: written to a temporary file while the loop runs (``add``), read
    back into four arrays of doubles when it ends (``close``). The memory phase's loop runs for
    ten minutes, some 400,000 gaps: kept in memory, the record grew the process it measures by
    14 MB (as tuples of floats, by 40-50 MB)."""

    _RECORD = struct.Struct("=4d")

    def __init__(self) -> None:
        self._spool: IO[bytes] | None = tempfile.TemporaryFile()  # noqa: SIM115 (close())
        self.ms, self.cpu_wait_ms, self.ran_ms, self.ended = (array("d") for _ in range(4))

    def add(self, ms: float, cpu_wait_ms: float, ran_ms: float, ended: float) -> None:
        assert self._spool is not None, "closed"
        self._spool.write(self._RECORD.pack(ms, cpu_wait_ms, ran_ms, ended))

    def close(self) -> Gaps:
        """Read the gaps written so far into the arrays; no more can be added."""
        assert self._spool is not None, "closed"
        self._spool.seek(0)
        values = array("d")
        values.frombytes(self._spool.read())
        self._spool.close()
        self._spool = None
        self.ms, self.cpu_wait_ms, self.ran_ms, self.ended = (values[i::4] for i in range(4))
        return self

    def __len__(self) -> int:
        return len(self.ms)

    def __getitem__(self, index: int) -> Gap:
        return Gap(self.ms[index], self.cpu_wait_ms[index], self.ran_ms[index], self.ended[index])

    def __iter__(self) -> Iterator[Gap]:
        return map(Gap, self.ms, self.cpu_wait_ms, self.ran_ms, self.ended)


def watch_gaps(until: Callable[[], bool]) -> Gaps:
    """Run ``sleep(1 ms)`` in a loop until ``until()``; every gap between iterations."""
    gaps = Gaps()
    last = time.perf_counter()
    ran, waited = cpu_times_ns()
    while not until():
        time.sleep(0.001)
        now, (now_ran, now_waited) = time.perf_counter(), cpu_times_ns()
        gaps.add((now - last) * 1000, (now_waited - waited) / 1e6, (now_ran - ran) / 1e6, now)
        last, ran, waited = now, now_ran, now_waited
    if not gaps.close():
        gaps = Gaps()
        gaps.add(0.0, 0.0, 0.0, last)
        gaps.close()
    return gaps


def watch_main_thread(until: Callable[[], bool], gc_pauses: GcPauses) -> dict[str, Any]:
    """``watch_gaps`` described (``describe_gaps``)."""
    return describe_gaps(watch_gaps(until), gc_pauses)


def foxnb_share_ms(gap: Gap, others_ms: Callable[[float, float], float]) -> float:
    """The gap less CPU wait, but no more than this thread's own running plus ``others_ms``
    over the gap (``describe_gaps`` says why)."""
    others = others_ms(gap.ended - gap.ms / 1000, gap.ended)
    return min(gap.ms - gap.cpu_wait_ms, gap.ran_ms + others)


def describe_gaps(
    gaps: Gaps,
    gc_pauses: GcPauses,
    others_ms: Callable[[float, float], float] | None = None,
) -> dict[str, Any]:
    """The gaps' statistics, each large gap taken apart.

    The time the kernel kept the thread waiting for a CPU (other processes, the simulator,
    foxnb's own threads on a busy machine) is read from schedstat, and garbage-collector pauses
    that fell inside a gap are noted; the rest is time spent sleeping, running, or waiting for
    the GIL. With ``others_ms(began, ended)`` — the CPU time (run and wait) of the process's
    other threads between two ``perf_counter`` moments — each gap's *foxnb share* is worked out
    too: the gap less CPU wait, but no more than what the process's threads did meanwhile (the
    others' CPU time plus this thread's own running). A thread waiting for the GIL waits for a
    thread that runs or waits for a CPU while it holds it, so no GIL wait is left out (unless a
    thread blocks in the kernel while holding the GIL); what the share leaves out is time in
    which no thread of the process ran or queued at all.
    """
    ordered = sorted(gaps.ms)

    def in_gc_ms(gap: Gap) -> float:
        began = gap.ended - gap.ms / 1000
        overlaps = (
            min(gap.ended, p["at"] + p["ms"] / 1000) - max(began, p["at"]) for p in gc_pauses.pauses
        )
        return 1000 * sum(max(0.0, float(overlap)) for overlap in overlaps)

    def described(picked: list[Gap]) -> list[dict[str, float]]:
        return [
            {
                "gap_ms": g.ms,
                "cpu_wait_ms": g.cpu_wait_ms,
                "ran_ms": g.ran_ms,
                "in_gc_ms": in_gc_ms(g),
            }
            for g in picked
        ]

    rest = [
        ms - waited for ms, waited in zip(gaps.ms, gaps.cpu_wait_ms, strict=True)
    ]  # less CPU wait
    by_rest = sorted(range(len(gaps)), key=rest.__getitem__, reverse=True)
    longest = sorted(range(len(gaps)), key=gaps.ms.__getitem__, reverse=True)[:5]
    seen = {
        "iterations": len(gaps),
        "max_gap_ms": ordered[-1],
        "p99_gap_ms": ordered[int(0.99 * (len(ordered) - 1))],
        "gaps_over_10ms": sum(g > 10 for g in ordered),
        "max_gap_without_cpu_wait_ms": rest[by_rest[0]],
        "max_gap_without_cpu_wait_or_gc_ms": max(
            g.ms - g.cpu_wait_ms - (in_gc_ms(g) if g.ms > 5 else 0.0) for g in gaps
        ),
        "cpu_wait_ms_total": sum(gaps.cpu_wait_ms),
        "worst_gaps": described([gaps[i] for i in longest]),
        "worst_gaps_without_cpu_wait": described([gaps[i] for i in by_rest[:5]]),
    }
    if others_ms is not None:
        top: list[tuple[float, int, Gap]] = []  # min-heap: the five largest shares
        for index in by_rest:
            if len(top) == 5 and rest[index] <= top[0][0]:
                break  # by_rest is sorted: no later gap's share can be larger
            gap = gaps[index]
            heapq.heappush(top, (foxnb_share_ms(gap, others_ms), index, gap))
            if len(top) > 5:
                heapq.heappop(top)
        largest = sorted(top, reverse=True)
        seen["max_gap_foxnb_share_ms"] = largest[0][0]
        seen["worst_gaps_foxnb_share"] = [
            {
                **described([gap])[0],
                "others_ms": others_ms(gap.ended - gap.ms / 1000, gap.ended),
                "share_ms": share,
            }
            for share, _, gap in largest
        ]
    return seen


def run_foxnb(
    cells: list[workload.Cell], clip: Path, workdir: Path, speed: float
) -> dict[str, Any]:
    """The sweep through ``fx.sweep``, watched from the main thread."""
    import foxnb  # here, so the baselines' processes never load it
    from foxnb.experiments.sweep import Sweep

    gc_pauses = GcPauses()
    gc.callbacks.append(gc_pauses)
    quiet_until = time.monotonic() + 1.0
    control = watch_main_thread(lambda: time.monotonic() >= quiet_until, gc_pauses)
    fx = foxnb.connect(workdir=workdir, quiet=True, **workload.foxnb_time_scaling(speed))
    started = time.time()
    tracking_from = time.perf_counter()
    sweep = fx.sweep(clip, name="benchmark", **workload.sweep_fields(cells))
    launched = time.time()
    assert isinstance(sweep, Sweep)
    jobs = sweep.jobs
    seen_done: list[float] = []  # when the loop first saw every job done

    def all_done() -> bool:
        if all(job.done for job in jobs):
            seen_done.append(time.time())
            return True
        return False

    # The sweep ends when the notebook's thread sees it over, not after the gap statistics
    # below are worked out (sorting 10,000 gaps took 15 ms: 0.15 service s at 10x).
    main_thread = watch_main_thread(all_done, gc_pauses)
    ended = seen_done[0]
    main_thread["control_max_gap_ms"] = control["max_gap_ms"]
    main_thread["gc_pauses"] = [
        {**p, "at": p["at"] - tracking_from} for p in gc_pauses.pauses if p["at"] >= tracking_from
    ]
    # What one full collection of this process costs (measured after the run, so that it
    # does not reset the collector's counters while foxnb works).
    full_started = time.perf_counter()
    gc.collect()
    main_thread["full_gc_ms"] = (time.perf_counter() - full_started) * 1000
    main_thread["gc_tracked_objects"] = len(gc.get_objects())
    runs = fx.store.runs()
    seen = [
        {
            "task_id": runs[job.run_id].get("task_id"),
            "status": job.status,
            "seen_completed_at": runs[job.run_id].get("completed_at"),
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
