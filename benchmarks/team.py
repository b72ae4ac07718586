"""One process of the runs-store benchmark: ``python -m benchmarks.team MODE``.

- ``sweep``: one process does it all, as a notebook would — ``fx.sweep(...)`` of the
  benchmark's cells, then waits until every job has ended;
- ``record``: ``fx.sweep(..., launch=False)``: the cells recorded in the store, none sent;
- ``worker``: what ``foxnb worker`` does (``foxnb.runtime.worker.work``): claim and carry out
  cells until none is left.

The store comes from ``--store``; the simulator's address and key from the environment. Every
process runs on the simulator's clock (``workload.foxnb_time_scaling``), as in the sweep
benchmark. It prints one JSON object: when it started and ended, and what it did.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import foxnb
from foxnb.runtime.worker import work

from . import workload

NAME = "team-benchmark"


def sweep(fx: foxnb.Session, clip: Path, jobs: int, launch: bool) -> foxnb.Sweep:
    """The benchmark's cells as one sweep (``workload.cells``: seeds 0.., models alternating)."""
    fields = workload.sweep_fields(workload.cells(jobs))
    result = fx.sweep(clip, name=NAME, launch=launch, **fields)
    assert isinstance(result, foxnb.Sweep)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("sweep", "record", "worker"))
    parser.add_argument("--store", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--speed", type=float, required=True)
    parser.add_argument("--clip", type=Path)
    parser.add_argument("--jobs", type=int, default=0)
    args = parser.parse_args()
    fx = foxnb.connect(
        workdir=args.workdir,
        store=args.store,
        quiet=True,
        **workload.foxnb_time_scaling(args.speed),
    )
    started = time.time()
    result: dict[str, Any] = {"started_at": started}
    if args.mode == "worker":
        report = work(fx.tracker, experiment=NAME)
        result["runs"] = report.counts
    else:
        done = sweep(fx, args.clip, args.jobs, launch=args.mode == "sweep")
        result["sweep_call_s"] = time.time() - started
        done.wait(quiet=True)
        result["runs"] = done.counts()
    result["ended_at"] = time.time()
    fx.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
