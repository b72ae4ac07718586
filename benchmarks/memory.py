"""10,000 jobs tracked at once: how much a foxnb process grows, and whether its main thread
stays free. ``python -m benchmarks.memory``.

A fresh process connects to the simulator named in ``FOXAPI_BASE_URL`` / ``FOXAPI_API_KEY``,
notes its resident memory (RSS), then launches one sweep of ``--jobs`` standard-model jobs.
While they run, the main thread does what a notebook's main thread does between cells — it
sleeps 1 ms at a time (``clients.watch_gaps``), so any stall foxnb causes shows as a
gap — and a sampler thread reads the RSS every 50 ms and counts jobs every second. It
reports

- the largest growth of its memory over the starting figure (submission, tracking, downloads
  and recording, all included): its RSS, plus the private pages of foxnb's video process (its
  child, which checks and scores the results; the rest of that child's RSS is the libraries it
  shares with this process, already counted here). Each figure is reported too;
- the most jobs tracked at the same moment (created on the service, not yet done);
- the main thread's largest gap (and less the time it waited for a CPU, and less garbage
  collection), from the sweep call to the last job done;
- the same figures for a process running the same loop beside it (``benchmarks.beside``): what
  the machine itself does to a thread meanwhile, with no GIL shared with foxnb;
- the largest *foxnb share* of a gap (``clients.describe_gaps``): the gap less CPU wait, but no
  more than the CPU time this process's other threads (read from beside) and the main thread
  itself used in it. A gap in which no thread of this process ran or queued for a CPU is the
  machine's, whatever its length: the stall target applies to the share.

This phase is about memory, not timing: foxnb's request-rate limit is lifted (1,000 requests
per second) so that every task is created before the first one ends, which the real service's
limits may not allow.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .beside import Beside
from .clients import GcPauses, describe_gaps, watch_gaps
from .workload import MODELS, PROMPT, foxnb_time_scaling

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_MB = 1024**2
LIFTED_RATE_PER_S = 1000.0


def rss_bytes() -> int:
    """This process's resident memory now."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * _PAGE_BYTES


def video_process_memory(known: list[str]) -> tuple[int, int]:
    """foxnb's video process (this process's child, started with the first result): its RSS,
    and the part of it that is its own (private pages; the rest is shared with this process,
    the same libraries mapped twice). Zeros while there is none. ``known`` holds its pid once
    found, so the children are looked through only until then (or after it ended)."""
    for pid in known or _children():
        with contextlib.suppress(OSError):
            if not known:
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    if b"foxnb._video_serve" not in cmdline.read():  # its loop
                        continue
            sizes = {}
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
                for line in rollup:
                    name, _, value = line.partition(":")
                    sizes[name] = int(value.split()[0]) * 1024 if value.strip() else 0
            known[:] = [pid]
            return sizes["Rss"], sizes["Private_Clean"] + sizes["Private_Dirty"]
    known.clear()
    return 0, 0


def _children() -> list[str]:
    found: list[str] = []
    for children in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += children.read_text().split()
    return found


def track(jobs: int, speed: float, clip: Path, workdir: Path) -> dict[str, Any]:
    """Launch ``jobs`` jobs and watch memory and the main thread until all are done."""
    import foxnb
    from foxnb.experiments.sweep import Sweep

    options = {**foxnb_time_scaling(speed), "rate_per_s": LIFTED_RATE_PER_S}
    fx = foxnb.connect(workdir=workdir, quiet=True, **options)
    gc.collect()
    start_rss = rss_bytes()
    gc_pauses = GcPauses()
    gc.callbacks.append(gc_pauses)
    beside = Beside(workdir.parent)
    started = time.time()
    started_clock = time.perf_counter()
    sweep = fx.sweep(
        clip,
        name="memory",
        mode="zip",
        prompt=PROMPT,
        model=[MODELS[0]] * jobs,
        seed=list(range(jobs)),
        aspect_ratio="16:9",
    )
    sweep_call_s = time.time() - started
    assert isinstance(sweep, Sweep)
    seen = Sampler(sweep.jobs, started)
    gaps = watch_gaps(seen.finished.is_set)
    beside_seen, other_threads = beside.result()
    main_thread = describe_gaps(gaps, gc_pauses, other_threads.ms_between)
    # Which collections paused every thread, by generation, and the longest of them.
    pauses = gc_pauses.pauses
    main_thread["gc_pauses_over_5ms"] = dict(Counter(f"gen{p['generation']}" for p in pauses))
    longest = sorted(pauses, key=lambda p: p["ms"])[-5:][::-1]
    main_thread["longest_gc_pauses"] = [
        {"ms": p["ms"], "generation": p["generation"], "at_s": p["at"] - started_clock}
        for p in longest
    ]
    fx.close()
    return {
        "jobs": jobs,
        "wall_s": time.time() - started,
        "sweep_call_s": sweep_call_s,
        "all_created_s": seen.all_created_s,
        "start_rss_mb": start_rss / _MB,
        "peak_rss_mb": seen.peak_rss / _MB,
        "rss_growth_mb": (seen.peak_rss - start_rss) / _MB,
        "rss_when_all_created_mb": (seen.rss_all_created - start_rss) / _MB,
        "video_process_peak_rss_mb": seen.peak_video_rss / _MB,
        "video_process_peak_private_mb": seen.peak_video_private / _MB,
        "memory_growth_mb": (seen.peak_memory - start_rss) / _MB,
        "most_tracked_at_once": seen.most_tracked,
        "statuses": dict(Counter(job.status for job in sweep.jobs)),
        "main_thread": main_thread,
        "beside": beside_seen,
    }


#: The sampler counts this many jobs, then sleeps 0.5 ms, handing the GIL over: counting 1,000
#: at a time it still ran 9 ms inside one of the main thread's longest gaps; 250, under 1 ms.
JOBS_COUNTED_AT_A_TIME = 250


class Sampler:
    """A thread reading the memory every 50 ms (this process's RSS, the video process's RSS
    and private pages; ``peak_memory``: the largest sum of this process's RSS and the video
    process's private pages) and counting the jobs as often as that stays cheap (every 50 ms
    for 500 jobs, every second for 10,000)."""

    def __init__(self, jobs: list[Any], started: float) -> None:
        self.jobs, self.started = jobs, started
        self.peak_rss = self.rss_all_created = self.peak_memory = rss_bytes()
        self.peak_video_rss = self.peak_video_private = 0
        self.video_pid: list[str] = []  # foxnb's video process, once found
        self.most_tracked = 0
        self.all_created_s: float | None = None
        self.finished = threading.Event()
        threading.Thread(target=self._run, name="rss-sampler", daemon=True).start()

    def _run(self) -> None:
        counted_at = 0.0
        count_every_s = max(0.05, len(self.jobs) * 1e-4)
        while True:
            time.sleep(0.05)
            rss, (video_rss, video_private) = rss_bytes(), video_process_memory(self.video_pid)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_video_rss = max(self.peak_video_rss, video_rss)
            self.peak_video_private = max(self.peak_video_private, video_private)
            self.peak_memory = max(self.peak_memory, rss + video_private)
            if time.monotonic() - counted_at < count_every_s:
                continue
            counted_at = time.monotonic()
            created = done = tracked = 0
            for first in range(0, len(self.jobs), JOBS_COUNTED_AT_A_TIME):
                for job in self.jobs[first : first + JOBS_COUNTED_AT_A_TIME]:
                    has_task, is_done = job.task_id is not None, job.done
                    created += has_task
                    done += is_done
                    tracked += has_task and not is_done
                time.sleep(0.0005)  # hands the GIL over: the main thread is being watched
            self.most_tracked = max(self.most_tracked, tracked)
            if self.all_created_s is None and created == len(self.jobs):
                self.all_created_s = time.time() - self.started
                self.rss_all_created = rss_bytes()
            if done == len(self.jobs):
                self.finished.set()
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--speed", type=float, required=True)
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = track(args.jobs, args.speed, args.clip, args.workdir)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
