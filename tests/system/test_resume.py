"""Crash and restart: every unfinished run is picked up, none is paid for twice."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from support import connect

import foxnb
from foxnb.sim import Simulator

CHILD = """
import time, foxnb
fx = foxnb.connect(api_key={key!r}, base_url={url!r}, workdir={runs!r}, quiet=True)
job = fx.extend("pan", {clip!r}, seed=1)
while job.task_id is None:
    time.sleep(0.01)
print("SUBMITTED", flush=True)
time.sleep(120)
"""


def test_resume_after_kill_9_finishes_the_run_once(tmp_path: Path, clips: dict[str, Path]) -> None:
    """A process killed -9 mid-job leaves a run that resume() completes without a new task."""
    runs = str(tmp_path / "runs")
    with Simulator(speed=20, state_dir=tmp_path / "sim") as sim:
        code = CHILD.format(key=sim.api_key, url=sim.url, runs=runs, clip=str(clips["landscape"]))
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None and child.stdout.readline().strip() == "SUBMITTED"
        child.kill()
        child.wait()
        fx = foxnb.connect(api_key=sim.api_key, base_url=sim.url, workdir=runs, quiet=True)
        assert [r["status"] for r in fx.unfinished()] in (["pending"], ["processing"])
        jobs = fx.resume()
        assert len(jobs) == 1 and jobs[0].wait(60).status == "completed"
        assert sim.backend.task_count == 1
        assert fx.unfinished() == [] and fx.resume() == []


def test_resume_sends_queued_runs_and_flags_in_flight_creates(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """queued (never sent) runs are submitted; a create in flight at the crash is not resent."""
    fx = connect(sim, tmp_path)
    base = {
        "backend": "sim",
        "host": fx.config.host,
        "prompt": "pan",
        "model": "veo-3.1-extend",
        "aspect_ratio": "16:9",
        "generate_audio": True,
    }
    sha = foxnb._files.sha256_file(clips["landscape"])
    fx.ledger.append(
        "r-queued",
        time.time(),
        status="queued",
        video=str(clips["landscape"]),
        input_sha256=sha,
        **base,
    )
    fx.ledger.append(
        "r-flight",
        time.time(),
        status="submitting",
        create_sent_at=time.time(),
        video="https://example.com/x.mp4",
        **base,
    )
    jobs = fx.resume()
    assert [j.run_id for j in jobs] == ["r-queued"]
    assert jobs[0].wait(60).status == "completed"
    flight = fx.ledger.get("r-flight")
    assert flight is not None and flight["status"] == "submission_unknown"
    assert "will not resend" in flight["evidence"]
    assert sim.backend.task_count == 1
