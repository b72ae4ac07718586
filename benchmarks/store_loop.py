"""Store writes and the engine loop (issue 15): does recording a big submission stall it?

    python -m benchmarks.store_loop [--jobs 10000] [--direct-jobs 1000] [--dsn URL]

A submission of ``--jobs`` jobs, as the runner records it: for each job its first event
(the new run, held by the session), ``submitting`` and then its task id — three events,
written from coroutines on one asyncio loop, each at a random moment of a ``--spread-s``
window (creates are answered over the whole submission), while a ticker coroutine
(``sleep(1 ms)`` in a loop) notes every gap. Two ways of writing:

- ``link``: foxnb's way, ``StoreLink`` (a writer thread; appends queued and committed in
  batches, never on the loop);
- ``direct``: each event a store transaction made on the loop itself (what the runner did
  with the JSONL ledger), for ``--direct-jobs`` jobs.

For each: the longest and 99th-percentile loop stall (ms), the seconds until every event
was durable, and the number of commits. SQLite, and PostgreSQL when a server can be started
(or ``--dsn`` is given). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from foxnb.runtime.link import StoreLink
from foxnb.runtime.store import Owner, RunStore, open_store

from .clients import GcPauses, cpu_wait_ns
from .store_benchmark import completed_run, postgres


def _events(index: int, now: float) -> list[dict[str, Any]]:
    """A job's three events at submission: its first event, submitting, its task id."""
    first = {k: v for k, v in completed_run(index).items() if k not in ("status", "task_id")}
    return [
        {**first, "status": "queued"},
        {"status": "submitting", "submitted_at": now, "create_sent_at": now},
        {"status": "pending", "task_id": f"task-{index:08d}", "accepted_at": now},
    ]


def measure(store: RunStore, jobs: int, via_link: bool, spread_s: float) -> dict[str, Any]:
    """One submission of ``jobs`` jobs, written one way (see the module docstring)."""
    commits = 0
    commit, append_many = store.commit, store.append_many

    def counted_commit(*args: Any, **kwargs: Any) -> None:
        nonlocal commits
        commits += 1
        commit(*args, **kwargs)

    def counted_append_many(*args: Any, **kwargs: Any) -> None:
        nonlocal commits
        commits += 1
        append_many(*args, **kwargs)

    store.commit = counted_commit  # type: ignore[method-assign]
    store.append_many = counted_append_many  # type: ignore[method-assign]
    link = StoreLink(store, Owner.here("loop-bench"), lease_s=60) if via_link else None
    prefix = "link" if via_link else "direct"
    gaps: list[float] = []
    own: list[float] = []  # less the time the thread waited for a CPU
    ends: list[float] = []
    pauses = GcPauses()
    gc.callbacks.append(pauses)

    async def ticker(stop: asyncio.Event) -> None:
        last, waited = time.perf_counter(), cpu_wait_ns()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now, now_waited = time.perf_counter(), cpu_wait_ns()
            gaps.append((now - last) * 1000 - 1.0)
            own.append(gaps[-1] - (now_waited - waited) / 1e6)
            ends.append(now)
            last, waited = now, now_waited

    rng = random.Random(7)

    async def job(index: int) -> None:
        run_id = f"{prefix}-{index:08d}"
        moments = sorted(rng.uniform(0, spread_s) for _ in range(3))
        waited = 0.0
        for number, fields in enumerate(_events(index, time.time())):
            await asyncio.sleep(moments[number] - waited)  # the job waits for its next answer
            waited = moments[number]
            if link is None:
                store.append(run_id, time.time(), **fields)
            elif number == 0:
                link.create((run_id, time.time(), fields))
            else:
                link.append(run_id, fields)

    async def submission() -> float:
        stop = asyncio.Event()
        ticking = asyncio.create_task(ticker(stop))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        await asyncio.gather(*(job(i) for i in range(jobs)))
        if link is not None:
            await link.flush(None)
        durable_s = time.perf_counter() - started
        stop.set()
        await ticking
        return durable_s

    durable_s = asyncio.run(submission())
    gc.callbacks.remove(pauses)
    if link is not None:
        link.close()

    def in_gc_ms(gap_ms: float, ended: float) -> float:
        began = ended - gap_ms / 1000
        overlaps = (
            min(ended, p["at"] + p["ms"] / 1000) - max(began, p["at"]) for p in pauses.pauses
        )
        return 1000 * sum(max(0.0, float(overlap)) for overlap in overlaps)

    store_only = sorted(
        mine - (in_gc_ms(gap, end) if gap > 5 else 0.0)
        for gap, mine, end in zip(gaps, own, ends, strict=True)
    )
    ordered, mine = sorted(gaps), sorted(own)
    return {
        "jobs": jobs,
        "spread_s": spread_s,
        "events": 3 * jobs,
        "max_stall_ms": round(ordered[-1], 1),
        "p99_stall_ms": round(ordered[int(len(ordered) * 0.99) - 1], 2),
        "median_tick_gap_ms": round(statistics.median(ordered), 2),
        # What the process itself held the loop up for (the machine is shared: other
        # processes' turns on the CPUs are not foxnb's).
        "max_stall_less_cpu_wait_ms": round(mine[-1], 1),
        "p99_stall_less_cpu_wait_ms": round(mine[int(len(mine) * 0.99) - 1], 2),
        # ... and less garbage-collector pauses (which stop every thread, whichever made the
        # garbage): what is left is the writes themselves, and the GIL.
        "max_stall_less_cpu_wait_and_gc_ms": round(store_only[-1], 1),
        "p99_stall_less_cpu_wait_and_gc_ms": round(store_only[int(len(store_only) * 0.99) - 1], 2),
        "gc_pauses_over_5ms": len(pauses.pauses),
        "longest_gc_pause_ms": round(max((p["ms"] for p in pauses.pauses), default=0.0), 1),
        "durable_s": round(durable_s, 2),
        "commits": commits,
    }


def both(
    spec: str | None, workdir: Path, jobs: int, direct_jobs: int, spread_s: float
) -> dict[str, Any]:
    """The link for ``jobs`` jobs; direct writes for ``direct_jobs`` (over a window shortened
    in proportion: the same rate of events)."""
    with open_store(spec, workdir) as store:
        via_link = measure(store, jobs, True, spread_s)
    with open_store(spec, workdir) as store:
        direct = measure(store, direct_jobs, False, spread_s * direct_jobs / jobs)
    return {"link": via_link, "direct": direct}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--direct-jobs", type=int, default=1000)
    parser.add_argument("--spread-s", type=float, default=10.0, help="answers arrive over this")
    parser.add_argument("--dsn", help="an existing, empty PostgreSQL database to use")
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    args = parser.parse_args()
    results: dict[str, Any] = {"load_average_1min": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="foxnb-loop-bench-") as tmp:
        if args.only != "postgres":
            results["sqlite"] = both(
                None, Path(tmp) / "sqlite", args.jobs, args.direct_jobs, args.spread_s
            )
        if args.only != "sqlite":
            with postgres(args.dsn) as dsn:
                results["postgres"] = both(
                    dsn, Path(tmp) / "pg", args.jobs, args.direct_jobs, args.spread_s
                )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
