"""Helpers shared by the tests (the fixtures themselves are in ``conftest.py``).

    from support import connect, wait_for

``connect(sim, tmp_path)`` opens a quiet session on a simulator with its runs in
``tmp_path / "runs"``; ``wait_for(condition)`` polls until ``condition()`` is truthy;
``finish(job)`` waits for a job whatever its outcome; ``account(fx, sim)`` counts runs lost
and duplicates of a ledger against the simulator's tasks; ``install_into(python, ...)`` installs
packages into another virtualenv.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from uv import find_uv_bin

import foxnb
from foxnb.sim import Simulator

T = TypeVar("T")


def connect(sim: Simulator, tmp_path: Path, **options: Any) -> foxnb.Session:
    """A quiet session on ``sim`` whose runs are kept in ``tmp_path / "runs"``."""
    return foxnb.connect(simulator=sim, workdir=tmp_path / "runs", quiet=True, **options)


def wait_for(
    condition: Callable[[], T],
    timeout_s: float = 30.0,
    *,
    what: str = "the condition",
    every_s: float = 0.01,
) -> T:
    """Call ``condition`` until it returns something truthy, and return that; fail with
    ``what`` named after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what} ({value!r})")
        time.sleep(every_s)


def install_into(
    python: Path, *args: str, env: Mapping[str, str] | None = None, timeout_s: float = 900
) -> subprocess.CompletedProcess[str]:
    """``pip install ARGS`` into the virtualenv of ``python``, done by uv (a dev dependency):
    the same packages as pip would choose, in a fifth of pip's CPU time and without its
    network round trips per package (measured: foxnb's export extras 15 s of CPU against
    60 s). Returns the finished process; the caller checks ``returncode``."""
    return subprocess.run(
        [find_uv_bin(), "pip", "install", "--quiet", "--python", str(python), *args],
        env=dict(os.environ if env is None else env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


RequestKey = tuple[Any, ...]


def request_key(fields: Any) -> RequestKey:
    """What makes two create requests the same request (a ledger run or a simulator task)."""
    get = fields.get if isinstance(fields, dict) else lambda name: getattr(fields, name)
    return tuple(get(name) for name in ("model", "prompt", "negative_prompt", "seed"))


def account(fx: foxnb.Session, *sims: Simulator) -> tuple[int, int]:
    """``(runs lost, duplicates)`` of ``fx``'s ledger against the simulators' tasks.

    Simulators restarted on one state folder share their tasks, so tasks count once by id.
    A task whose id no run recorded is accounted for by a ``submission_unknown`` run of the
    same request (the create answer was lost), and only by that.
    """
    runs = [r for r in fx.ledger.runs().values() if not r.get("reused_from")]
    tasks = {task.id: task for sim in sims for task in sim.backend.tasks()}
    recorded = {r.get("task_id") for r in runs}
    unknown = Counter(request_key(r) for r in runs if r["status"] == "submission_unknown")
    orphans = Counter(request_key(t.params) for t in tasks.values() if t.id not in recorded)
    lost = sum(max(0, n - unknown[key]) for key, n in orphans.items())
    runs_per_request = Counter(request_key(r) for r in runs)
    per_request = Counter(request_key(t.params) for t in tasks.values())
    duplicates = sum(max(0, n - runs_per_request[key]) for key, n in per_request.items())
    return lost, duplicates


def finish(job: foxnb.Job, timeout_s: float = 60.0) -> foxnb.Job:
    """Wait for a job to end, whatever the outcome (its status and error say which)."""
    try:
        job.wait(timeout_s)
    except foxnb.JobTimeoutError:
        raise
    except foxnb.FoxError:
        pass
    return job


def creates(sim: Simulator) -> int:
    """How many create requests ``sim`` has answered."""
    return sim.backend.requests["create"]
