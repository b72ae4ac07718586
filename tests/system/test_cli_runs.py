"""`foxnb runs` only reads: it works while a notebook's simulator holds the folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from foxnb.session import connect
from foxnb.sim import Simulator


def foxnb(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "foxnb", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_runs_while_a_session_holds_the_folder(tmp_path: Path, clips: dict[str, Path]) -> None:
    """A live session on <workdir>/.sim (as a notebook's): `foxnb runs` prints the compact
    view; a command that needs the simulator says why not in one line, no traceback."""
    workdir = tmp_path / "foxnb-runs"
    with Simulator(speed=200, state_dir=workdir / ".sim", upstream_lag_s=0.0) as sim:
        fx = connect(simulator=sim, workdir=workdir, quiet=True)
        job = fx.extend("Dusk falls", clips["landscape"], seed=2).wait(timeout=60)
        listed = foxnb("--workdir", str(workdir), "runs", cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        header = listed.stdout.splitlines()[0].split()
        assert header == ["run_id", "prompt", "seed", "status", "credits", "duration_s", "error"]
        assert job.run_id in listed.stdout and "Traceback" not in listed.stderr
        every = foxnb("--workdir", str(workdir), "runs", "--all", cwd=tmp_path)
        assert every.returncode == 0 and "video_path" in every.stdout.splitlines()[0]
        failed = foxnb("--workdir", str(workdir), "runs", "--status", "failed", cwd=tmp_path)
        assert failed.returncode == 0 and "no runs" in failed.stdout
        blocked = foxnb("--workdir", str(workdir), "resume", cwd=tmp_path)
        assert blocked.returncode == 2 and "Traceback" not in blocked.stderr
        assert "in use" in blocked.stderr and len(blocked.stderr.strip().splitlines()) == 1


def test_runs_in_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    """Nothing recorded there: says so, creates nothing, starts nothing."""
    done = foxnb("runs", cwd=tmp_path)
    assert done.returncode == 0 and "no runs" in done.stdout
    assert not (tmp_path / "foxnb-runs").exists()
