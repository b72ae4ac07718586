"""A fork server for ``tests/system/test_crash.py``: foxnb sweeps in processes killed with -9.

    FOXAPI_API_KEY=... FOXAPI_BASE_URL=http://127.0.0.1:PORT python tests/crash_worker.py

Importing foxnb takes about a second. This server imports it once, starts no thread, and
forks a fresh child per command, so twenty kill-and-recover rounds fit in one test. It reads
one JSON command per line on stdin; for each it forks a child, prints ``PID <pid>``, waits
for the child (reaping it, so its pid is provably gone and any file it left is an orphan)
and prints ``EXIT <pid> <code>``: the exit status, or minus the signal that killed it.

Commands (the service address and key come from the environment, as in a notebook):

- ``{"do": "sweep", "workdir": ..., "clip": ...}`` runs ``fx.sweep(...)`` over ``GRID`` and
  waits for every cell; a recovering process sends the very same call;
- ``{"do": "resume", "workdir": ...}`` runs ``fx.resume()`` and waits for every job;
- ``{"do": "chain", "workdir": ..., "clip": ...}`` runs ``fx.chain(...)`` (``CHAIN``) and
  waits for it; ``{"do": "chain-resume", "workdir": ...}`` runs ``fx.resume()`` and waits
  for the chain it continues.

A child exits 0 once everything it waited for has ended, 3 if that took longer than
``WAIT_S``.

``python tests/crash_worker.py disk-full WORKDIR CLIP (--ballast FILE | --fsize-limit BYTES)``
runs one job whose result does not fit (a ballast file fills the disk, or RLIMIT_FSIZE caps
this process's files), records what the failure looked like, makes room (deletes the
ballast, lifts the limit), calls ``fx.resume()`` and prints a JSON report as its last line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import sys
import threading
import traceback
from typing import Any

import foxnb
from foxnb._files import sha256_file
from foxnb.errors import DownloadError, FoxError, JobTimeoutError

NAME = "crash-grid"
"""The experiment name every sweep of the crash tests uses."""
GRID: dict[str, list[Any]] = {
    "prompt": [
        "The camera keeps panning left",
        "Dusk falls over the valley",
        "A storm rolls in",
        "The drone rises over the ridge",
    ],
    "seed": [1, 2, 3, 4, 5],
}
"""20 cells, 4 prompts x 5 seeds (the tests run the simulator with ``--no-distinct-results``,
so its renderer does not dominate the rounds)."""
RATE_PER_S = 40.0
"""Requests per second to the simulator (the default of 5 would make a round take ~15 s)."""
WAIT_S = 60.0
CHAIN: dict[str, Any] = {
    "prompts": GRID["prompt"][:3],
    "seed": 1,
    "best_of": 2,
    "name": "crash-chain",
}
"""The chain of the crash tests: 3 hops, best of 2 (6 runs)."""


def run_sweep(workdir: str, clip: str) -> int:
    """Start (or re-run) the grid sweep in ``workdir`` and wait for all its cells."""
    fx = foxnb.connect(workdir=workdir, quiet=True, rate_per_s=RATE_PER_S)
    try:
        sweep = fx.sweep(clip, name=NAME, **GRID)
        assert isinstance(sweep, foxnb.Sweep)
        sweep.wait(WAIT_S)
    except JobTimeoutError:
        return 3
    finally:
        fx.close()
    return 0


def run_resume(workdir: str) -> int:
    """``fx.resume()`` in ``workdir`` and wait for every job it picked up."""
    fx = foxnb.connect(workdir=workdir, quiet=True, rate_per_s=RATE_PER_S)
    try:
        for job in fx.resume():
            try:
                job.wait(WAIT_S)
            except JobTimeoutError:
                return 3
            except FoxError:
                pass  # a run that ended without a video: the test reads why from the ledger
    finally:
        fx.close()
    return 0


def run_chain(workdir: str, clip: str | None) -> int:
    """Start the chain (or continue it with ``fx.resume()`` when ``clip`` is None); wait."""
    fx = foxnb.connect(workdir=workdir, quiet=True, rate_per_s=RATE_PER_S)
    try:
        if clip is None:
            fx.resume()
            chain = fx.chains[CHAIN["name"]]
        else:
            chain = fx.chain(clip, **CHAIN)
        chain.wait(WAIT_S)
    except JobTimeoutError:
        return 3
    finally:
        fx.close()
    return 0 if chain.done else 3


def run(command: dict[str, Any]) -> int:
    """Carry out one command in this (child) process; returns the exit status."""
    if command["do"] == "sweep":
        return run_sweep(command["workdir"], command["clip"])
    if command["do"] == "resume":
        return run_resume(command["workdir"])
    if command["do"] == "chain":
        return run_chain(command["workdir"], command["clip"])
    if command["do"] == "chain-resume":
        return run_chain(command["workdir"], None)
    raise ValueError(f"unknown command {command!r}")


def disk_full(workdir: str, clip: str, ballast: str | None, fsize_limit: int | None) -> None:
    """One job saved onto a disk without room for it, then again once there is room."""
    if fsize_limit is not None:
        # Past the limit the kernel sends SIGXFSZ, which kills by default; ignored, the
        # write fails with EFBIG instead, as it does for a program that handles it.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, hard))
    fx = foxnb.connect(workdir=workdir, quiet=True)
    videos = fx.workdir / "videos"
    job = fx.extend(GRID["prompt"][0], clip, seed=GRID["seed"][0])
    with contextlib.suppress(DownloadError):  # expected: the result does not fit
        job.wait(WAIT_S)
    run = fx.ledger.get(job.run_id) or {}
    failed = {
        "status": job.status,
        "code": getattr(job.error, "code", None),
        "message": str(job.error),
        "files": sorted(os.listdir(videos)) if videos.is_dir() else [],
        "ledger": {k: run.get(k) for k in ("status", "error_code", "error_message")},
    }
    if ballast is not None:
        os.remove(ballast)  # what the user does: free some space
    else:
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    resumed = fx.resume()
    for again in resumed:
        again.wait(WAIT_S)
    report = {
        "run_id": job.run_id,
        "failed": failed,
        "resumed": [again.run_id for again in resumed],
        "files": sorted(os.listdir(videos)),
        "sha256": sha256_file(videos / f"{job.run_id}.mp4"),
    }
    fx.close()
    print(json.dumps(report))


def serve() -> None:
    """Fork one child per command line read on stdin, reporting its pid and its end."""
    for line in sys.stdin:
        command = json.loads(line)
        # Forking a process with threads can copy a held lock into the child.
        assert threading.active_count() == 1, "the fork server must not start threads"
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = run(command)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        print(f"PID {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"EXIT {pid} {os.waitstatus_to_exitcode(status)}", flush=True)


def main() -> None:
    """The fork server without arguments; ``disk-full ...`` runs that scenario."""
    if len(sys.argv) == 1:
        serve()
        return
    parser = argparse.ArgumentParser(prog="crash_worker.py")
    parser.add_argument("scenario", choices=["disk-full"])
    parser.add_argument("workdir")
    parser.add_argument("clip")
    room = parser.add_mutually_exclusive_group(required=True)
    room.add_argument("--ballast", help="a file filling the disk, deleted to make room")
    room.add_argument("--fsize-limit", type=int, help="RLIMIT_FSIZE in bytes, lifted later")
    args = parser.parse_args()
    disk_full(args.workdir, args.clip, args.ballast, args.fsize_limit)


if __name__ == "__main__":
    main()
