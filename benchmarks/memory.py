"""1,000 jobs tracked at once: how much a foxnb process grows. ``python -m benchmarks.memory``.

A fresh process connects to the simulator named in ``FOXAPI_BASE_URL`` / ``FOXAPI_API_KEY``,
notes its resident memory (RSS), then launches one sweep of ``--jobs`` standard-model jobs and
samples its RSS every 50 ms until every job has its video. It reports

- the largest RSS growth over the starting figure (submission and tracking, all included);
- the most jobs tracked at the same moment (created on the service, not yet done);
- the peak of Python allocations that ``tracemalloc`` saw from the moment every task had
  been created to the end: what tracking them allocates, on top of the jobs themselves.
  It starts only then because it slows allocation-heavy code several-fold, and switched on
  from the start it would stretch the submission past the first jobs' end.

This phase is about memory, not timing: foxnb's request-rate limit is lifted (1,000 requests
per second) so that every task is created before the first one ends, which the real service's
limits may not allow.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

from .workload import MODELS, PROMPT, foxnb_time_scaling

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_MB = 1024**2
LIFTED_RATE_PER_S = 1000.0


def rss_bytes() -> int:
    """This process's resident memory now."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * _PAGE_BYTES


def track(jobs: int, speed: float, clip: Path, workdir: Path) -> dict[str, Any]:
    """Launch ``jobs`` jobs and watch memory until all are done."""
    import foxnb
    from foxnb.experiments.sweep import Sweep

    options = {**foxnb_time_scaling(speed), "rate_per_s": LIFTED_RATE_PER_S}
    fx = foxnb.connect(workdir=workdir, quiet=True, **options)
    gc.collect()
    start_rss = peak_rss = rss_bytes()
    started = time.time()
    sweep = fx.sweep(
        clip,
        name="memory",
        mode="zip",
        prompt=PROMPT,
        model=[MODELS[0]] * jobs,
        seed=list(range(jobs)),
        aspect_ratio="16:9",
    )
    assert isinstance(sweep, Sweep)
    most_tracked = 0
    all_created_s = None
    while not all(job.done for job in sweep.jobs):
        time.sleep(0.05)
        peak_rss = max(peak_rss, rss_bytes())
        tracked = sum(job.task_id is not None and not job.done for job in sweep.jobs)
        most_tracked = max(most_tracked, tracked)
        if all_created_s is None and all(job.task_id is not None for job in sweep.jobs):
            all_created_s = time.time() - started
            tracemalloc.start()
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    fx.close()
    return {
        "jobs": jobs,
        "wall_s": time.time() - started,
        "all_created_s": all_created_s,
        "start_rss_mb": start_rss / _MB,
        "peak_rss_mb": peak_rss / _MB,
        "rss_growth_mb": (peak_rss - start_rss) / _MB,
        "tracking_tracemalloc_peak_mb": traced_peak / _MB,
        "most_tracked_at_once": most_tracked,
        "statuses": dict(Counter(job.status for job in sweep.jobs)),
    }


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
