"""Durability (issue 10): a runs store that cannot be written, and what a killed process leaves.

The store becomes unwritable (a real file-size limit on the writing process: its write-ahead
log cannot grow) just as a create answer arrives: the task id is kept in memory with a warning
naming it, the job carries on, and once writes work again everything is written and the job
completes — one task, no loss. The store becoming unwritable before the create request: the
request is not sent, the run stays queued, and ``fx.resume()`` sends it later. (A folder made
read-only under a running session does not stop it: SQLite writes through the files it holds
open, so nothing waits; the old ledger reopened its file for every line.) A process killed with
-9 while writing a report or an export, or saving a form upload, leaves hidden folders and
``.part`` files; the next report or export beside them, or ``connect()``, removes them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import account, connect
from writers import sim_env

from foxnb._files import sha256_file
from foxnb.runtime.store import open_store
from foxnb.sim import Simulator

WORKER = Path(__file__).parent.parent / "durability_worker.py"


@pytest.fixture
def slow_sim(tmp_path: Path) -> Iterator[Simulator]:
    """A simulator whose tasks take ~4 s, so the ledger can be locked while one runs."""
    with Simulator(speed=20, state_dir=tmp_path / "sim-state", upstream_lag_s=0.0) as server:
        yield server


@contextlib.contextmanager
def worker(sim: Simulator, *args: str) -> Iterator[subprocess.Popen[str]]:
    env = sim_env(sim)
    process = subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


@pytest.mark.parametrize("phase", ["after-create", "before-create"])
def test_an_unwritable_store_loses_nothing_and_pays_once(
    slow_sim: Simulator, tmp_path: Path, clips: dict[str, Path], phase: str
) -> None:
    """after-create: the task id waits in memory with a warning naming it (on the job and on
    stderr), tracking goes on, and once the ledger is writable it is written and the job
    completes. before-create: the create is not sent (nothing the ledger does not know of can
    be paid for); the run stays queued and fx.resume() sends it once. Either way one task."""
    workdir = tmp_path / "runs"
    if phase == "after-create":
        slow_sim.inject("create", "latency", latency_s=1.0)  # the answer comes once locked
    else:
        slow_sim.inject("upload", "latency", latency_s=1.0)
    args = ("ledger", str(workdir), str(clips["landscape"]), phase)
    with worker(slow_sim, *args) as process:
        assert process.stdout is not None
        seen = json.loads(process.stdout.readline())
        final = json.loads(process.stdout.readline())
        process.wait(60)
        stderr = process.stderr.read() if process.stderr else ""
    assert "cannot write the runs store" in seen["warning"], seen
    assert "cannot write the runs store" in stderr and "is writable again" in stderr
    if phase == "after-create":
        assert seen["task_id"] and not seen["task_id_in_ledger"] and not seen["done"]
        assert seen["task_id"] in seen["warning"] and seen["task_id"] in stderr
        assert final["task_id"] == seen["task_id"]
    else:
        assert seen["task_id"] is None and seen["status"] == "not_submitted"
        assert seen["error_code"] == "ledger_unwritable"
    assert final["status"] == "completed" and final["warning"] is None
    run = open_store(None, workdir).get(final["run_id"])
    assert run is not None and run["status"] == "completed"
    assert run["task_id"] == final["task_id"] and run["sha256"] == final["sha256"]
    assert sha256_file(run["video_path"]) == run["sha256"]
    assert slow_sim.backend.requests["create"] == 1
    assert account(connect(slow_sim, tmp_path), slow_sim) == (0, 0)


def kill_when_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "READY"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)


@pytest.mark.parametrize("what", ["report", "export"])
def test_leftovers_of_a_killed_report_or_export_are_removed_by_the_next_one(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], what: str
) -> None:
    """kill -9 during fx.report(overwrite=True) or fx.export(overwrite=True), 3 times, each
    leaving a hidden half-built folder: each next one removes what the last left (named by its
    dead writer), the next report/export removes the last one and an older foxnb's
    ``.NAME.building-*`` an hour old; a folder a live process is building stays."""
    fx = connect(sim, tmp_path)
    fx.sweep(clips["landscape"], name="leftovers", prompt="pan", seed=[1, 2]).wait(60)  # type: ignore[union-attr]
    dest = tmp_path / "out" / "leftovers"
    write = fx.report if what == "report" else fx.export
    write("leftovers" if what == "report" else fx.runs(), dest)
    for _ in range(3):
        with worker(sim, what, str(tmp_path / "runs"), str(dest)) as process:
            kill_when_ready(process)
    hidden = sorted(p.name for p in dest.parent.iterdir() if p.name.startswith("."))
    assert len(hidden) == 1 and hidden[0].startswith(f".foxnb-{what}-"), hidden
    legacy = dest.parent / ".leftovers.building-1a2b3c4d"
    legacy.mkdir()
    (legacy / "index.html").write_text("half")
    an_hour_ago = time.time() - 3700
    os.utime(legacy, (an_hour_ago, an_hour_ago))
    live = dest.parent / f".foxnb-{what}-00000000.{os.getpid()}@{os.uname().nodename}"
    live.mkdir()
    write("leftovers" if what == "report" else fx.runs(), dest, overwrite=True)
    left = sorted(p.name for p in dest.parent.iterdir())
    assert left == sorted(["leftovers", live.name]), left


def test_a_form_upload_killed_mid_save_leaves_nothing_after_connect(
    sim: Simulator, tmp_path: Path
) -> None:
    """kill -9 while a form upload is saved leaves ``inputs/<name>.<pid>@<host>.part``; the
    next connect() removes it (a live writer's part file stays)."""
    workdir = tmp_path / "runs"
    with worker(sim, "form-upload", str(workdir)) as process:
        kill_when_ready(process)
    parts = list((workdir / "inputs").glob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == 2 << 20
    mine = workdir / "inputs" / f"other.mp4.{os.getpid()}@{os.uname().nodename}.part"
    mine.write_bytes(b"still being written")
    connect(sim, tmp_path)
    assert [p.name for p in (workdir / "inputs").iterdir()] == [mine.name]
