"""The runs store's own costs, on SQLite and PostgreSQL: per-event overhead and load time.

    python -m benchmarks.store_benchmark [--runs 100000] [--events 1000] [--dsn URL]

- **per event**: one ``append()`` of a typical progress event (a durable transaction each:
  SQLite ``synchronous=FULL``; PostgreSQL with ``fsync`` and synchronous commits on), timed one
  by one; median and 95th percentile in ms. The old JSONL ledger (flock + fsync) for scale.
- **batch**: one commit of 2,000 progress events on 2,000 runs (what the writer thread does
  when a big sweep answers at once), alone and while another thread of the process runs
  Python code (a notebook cell computing; the engine at a 10,000-job sweep); best of 3, ms.
- **load**: a store holding ``--runs`` completed runs (every DataFrame column filled), read by
  a new store object into a DataFrame, as ``fx.runs()`` does first in a new kernel (wall and
  CPU seconds: on a busy machine the CPU figure is the steadier one); then the incremental
  re-read after 100 more events.

Without ``--dsn`` a PostgreSQL server is started for the run (``tests/pg.py``, durable
settings) and removed after. Prints one JSON object; targets: ≤ 5 ms median per event, < 1 s
for 100,000 runs.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from foxnb.runtime.store import Owner, RunStore, open_store

ROOT = Path(__file__).resolve().parent.parent
TARGET_EVENT_MS = 5.0
TARGET_LOAD_S = 1.0


def completed_run(index: int) -> dict[str, Any]:
    """A run as the runner leaves it when it completed (every column of ``fx.runs()``)."""
    return {
        "status": "completed",
        "task_id": f"task-{index:08d}",
        "progress": 100,
        "backend": "sim",
        "host": "127.0.0.1:8765",
        "model": "veo-3.1-extend" if index % 2 else "veo-3.1-extend-fast",
        "prompt": f"The camera keeps panning across the harbour at dusk, take {index}",
        "video": "/home/user/clips/harbour.mp4",
        "video_url": f"http://127.0.0.1:8765/files/{index:08d}.mp4",
        "aspect_ratio": "16:9",
        "generate_audio": True,
        "auto_fix": None,
        "safety_tolerance": None,
        "negative_prompt": None,
        "seed": index,
        "tags": ["bench", "harbour"],
        "experiment": "bench",
        "error_code": None,
        "error_message": None,
        "submitted_at": 1_700_000_000.0 + index,
        "create_sent_at": 1_700_000_000.0 + index,
        "completed_at": 1_700_000_090.0 + index,
        "duration_s": 90.0,
        "estimated_time_s": 85.0,
        "credits": 2.5,
        "result_url": f"http://127.0.0.1:8765/results/{index:08d}.mp4?expires=1700086400",
        "result_expires_at": 1_700_086_400.0,
        "video_path": f"/home/user/work/videos/run-{index:08d}.mp4",
        "sha256": f"{index:064x}",
        "size_bytes": 1_234_567,
        "input_sha256": "ab" * 32,
    }


def per_event_ms(append: Callable[[str, float, dict[str, Any]], None], count: int) -> list[float]:
    """Milliseconds of each of ``count`` progress appends spread over 100 runs."""
    timings = []
    for index in range(count):
        fields = {"status": "processing", "progress": index % 100, "estimated_time_s": 80.0}
        started = time.perf_counter()
        append(f"ev-{index % 100:03d}", time.time(), fields)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def batch_commit_ms(store: RunStore, size: int = 2000, repeat: int = 3) -> dict[str, float]:
    """Best-of-``repeat`` milliseconds of one commit of ``size`` events on ``size`` runs, alone
    and beside a thread running Python code (which holds the GIL whenever it can)."""
    owner = Owner("bench", os.getpid(), "batch")
    ids = [f"batch-{index:05d}" for index in range(size)]
    store.commit([(run_id, 1.0, {"status": "processing"}) for run_id in ids], owner, new=ids)
    spinning = threading.Event()

    def spin() -> None:
        while spinning.is_set():
            pass

    figures = {}
    for label in ("alone_ms", "beside_busy_thread_ms"):
        if label != "alone_ms":
            spinning.set()
            threading.Thread(target=spin, daemon=True).start()
        timings = []
        for attempt in range(repeat):
            events = [(run_id, 2.0 + attempt, {"progress": attempt}) for run_id in ids]
            started = time.perf_counter()
            store.commit(events, owner)
            timings.append((time.perf_counter() - started) * 1000)
        figures[label] = round(min(timings), 1)
    spinning.clear()
    store.commit([], owner, ids)  # released, as a session's close does
    return figures


def summary(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 3),
    }


def measure(
    spec: str | None, workdir: Path, runs: int, events: int, repeat: int = 3
) -> dict[str, Any]:
    """Both figures for one backend (``spec`` as ``open_store`` takes it)."""
    store = open_store(spec, workdir)
    try:
        event = summary(per_event_ms(lambda r, at, f: store.append(r, at, **f), events))
        batch = 5000
        started = time.perf_counter()
        for start in range(0, runs, batch):
            store.append_many(
                [
                    (f"run-{i:08d}", 1_700_000_000.0 + i, completed_run(i))
                    for i in range(start, min(runs, start + batch))
                ]
            )
        fill_s = time.perf_counter() - started
    finally:
        store.close()
    loads = []
    for _ in range(repeat):  # best of a few: the machine is shared, the minimum is steadiest
        fresh = open_store(spec, workdir)
        try:
            started, cpu = time.perf_counter(), time.process_time()
            frame = fresh.dataframe()
            loads.append((time.perf_counter() - started, time.process_time() - cpu))
        finally:
            fresh.close()
    fresh = open_store(spec, workdir)
    try:
        fresh.dataframe()
        for index in range(100):
            fresh.append(f"run-{index:08d}", time.time(), progress=100, tags=["again"])
        started = time.perf_counter()
        again = fresh.dataframe()
        reload_s = time.perf_counter() - started
        batched = batch_commit_ms(fresh)  # last: its runs are not in the loads above
    finally:
        fresh.close()
    assert len(frame) == len(again) == runs + 100  # the 100 per-event runs are rows too
    return {
        "per_event": event,
        "batch_commit": batched,
        "fill_runs_per_s": round(runs / fill_s),
        "load_s_best": round(min(wall for wall, _ in loads), 3),
        "load_s_median": round(statistics.median(wall for wall, _ in loads), 3),
        "load_cpu_s_best": round(min(cpu for _, cpu in loads), 3),
        "reload_after_100_events_s": round(reload_s, 3),
        "rows": len(frame),
    }


def jsonl_append(folder: Path) -> Callable[[str, float, dict[str, Any]], None]:
    """An append as the old JSONL ledger made it (one line, flock, fsync), for scale."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "runs.jsonl"

    def append(run_id: str, at: float, fields: dict[str, Any]) -> None:
        line = (json.dumps({"run_id": run_id, "at": at, **fields}) + "\n").encode()
        with open(path, "ab") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    return append


def ledger_per_event(folder: Path, events: int) -> dict[str, float]:
    """The old JSONL ledger's append, for scale."""
    return summary(per_event_ms(jsonl_append(folder), events))


def pg_helpers() -> ModuleType:
    """``tests/pg.py`` (not an installed package): how the tests start a server."""
    spec = importlib.util.spec_from_file_location("foxnb_tests_pg", ROOT / "tests" / "pg.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def postgres(dsn: str | None) -> Iterator[str]:
    """``dsn`` itself, or (``None``) a fresh database on a durable server started for the
    ``with`` block and removed after it."""
    if dsn is not None:
        yield dsn
        return
    server = pg_helpers().start_server(durable=True)
    try:
        yield str(server.dsn(server.create_database()))
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--dsn", help="an existing, empty PostgreSQL database to use")
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--repeat", type=int, default=3, help="cold loads timed (best is kept)")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "targets": {"event_ms": TARGET_EVENT_MS, "load_s": TARGET_LOAD_S},
        "load_average_1min": round(os.getloadavg()[0], 2),  # the machine is shared
    }
    with tempfile.TemporaryDirectory(prefix="foxnb-store-bench-") as tmp:
        base = Path(tmp)
        results["jsonl_ledger"] = {"per_event": ledger_per_event(base / "ledger", args.events)}
        if args.only != "postgres":
            results["sqlite"] = measure(None, base / "sqlite", args.runs, args.events, args.repeat)
        if args.only != "sqlite":
            with postgres(args.dsn) as dsn:
                results["postgres"] = measure(dsn, base / "pg", args.runs, args.events, args.repeat)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()


__all__ = ["RunStore", "completed_run", "measure"]
