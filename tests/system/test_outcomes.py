"""Scores and judgement on the simulator: every completed run is scored after it completes,
ratings, picks and notes outlive the process and reach fx.runs(), the report and an export."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from support import connect, wait_for
from writers import sim_env

import foxnb
from foxnb._files import sha256_file
from foxnb.runtime.store import LEDGER_NAME
from foxnb.sim import Simulator

PROMPT = "the camera drifts slowly to the left"


def scored(fx: foxnb.Session, run_id: str) -> pd.Series:
    """The run's row once its scores are recorded."""

    def is_scored() -> bool:
        return bool(pd.notna(fx.runs().set_index("run_id").loc[run_id, "scored_at"]))

    wait_for(is_scored, 60, what=f"{run_id} to be scored")
    row: pd.Series = fx.runs().set_index("run_id").loc[run_id]
    return row


def test_a_completed_run_is_scored_after_it_completes(
    fx: foxnb.Session, clips: dict[str, Path]
) -> None:
    """`completed` is recorded first, the scores follow as one more ledger event."""
    job = fx.extend(PROMPT, clips["landscape"], seed=3).wait(60)
    run = scored(fx, job.run_id)
    assert run["status"] == "completed" and run["score_error"] is pd.NA
    assert run["seam_jump"] < 2 and run["duration_ok"] and run["audio_ok"]
    mine = [e for e in fx.store.events() if e["run_id"] == job.run_id]
    completed_at = next(i for i, e in enumerate(mine) if e.get("status") == "completed")
    scores_at = [i for i, e in enumerate(mine) if "seam_jump" in e]
    assert scores_at == [completed_at + 1] and "status" not in mine[scores_at[0]]


def test_a_run_that_cannot_be_scored_still_completes(
    fx: foxnb.Session, clips: dict[str, Path], tmp_path: Path
) -> None:
    """The input is deleted while the task runs: the run completes; its scores stay empty
    and say why."""
    clip = tmp_path / "doomed.mp4"
    shutil.copy(clips["landscape"], clip)
    job = fx.extend(PROMPT, clip, seed=4)
    wait_for(lambda: job.task_id, 30, what="the task to be created")
    clip.unlink()
    job.wait(60)
    run = scored(fx, job.run_id)
    assert job.status == "completed" and run["score_error"] == "input_missing"
    assert pd.isna(run["seam_jump"]) and run["score_notes"].startswith("not scored: its input")


def test_fx_score_scores_older_runs_and_rescores_on_request(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """Runs recorded without scores (an older foxnb) get them from fx.score(); force=True
    records them again."""
    fx = connect(sim, tmp_path)
    jobs = [fx.extend(PROMPT, clips["landscape"], seed=s) for s in (1, 2)]
    ids = [job.wait(60).run_id for job in jobs]
    for run_id in ids:
        scored(fx, run_id)
    old = tmp_path / "old"
    old.mkdir()
    # An old ledger (runs.jsonl) without the scoring events: the store imports it.
    events = [e for e in fx.store.events() if "scored_at" not in e]
    (old / LEDGER_NAME).write_text("".join(json.dumps(e) + "\n" for e in events))
    later = foxnb.connect(simulator=sim, workdir=old, quiet=True)
    assert later.runs().scored_at.isna().all()
    frame = later.score()
    assert list(frame.run_id) == ids and frame.seam_jump.notna().all()
    assert later.runs().scored_at.notna().all()
    first = later.runs().set_index("run_id").scored_at
    again = later.score(ids[:1], force=True).set_index("run_id").scored_at
    assert again[ids[0]] > first[ids[0]]


def test_url_input_is_fetched_once_for_scoring(
    fx: foxnb.Session, sim: Simulator, clips: dict[str, Path]
) -> None:
    """An input given as a URL is downloaded once (without the key) and shared by its runs."""
    with foxnb.Client(api_key=sim.api_key, base_url=sim.url) as client:
        url = client.upload(clips["landscape"]).url
    ids = [fx.extend(PROMPT, url, seed=s).wait(60).run_id for s in (1, 2)]
    rows = [scored(fx, run_id) for run_id in ids]
    assert all(row["score_error"] is pd.NA and row["seam_jump"] < 2 for row in rows)
    assert len(list((fx.workdir / "inputs").iterdir())) == 1
    assert sim.backend.key_sent_to_files == 0


JUDGE = """
import foxnb, sys
fx = foxnb.connect(workdir=sys.argv[1], quiet=True)
sweep = fx.sweep(sys.argv[2], name="judged", prompt=["dusk", "storm"], seed=[1, 2])
sweep.wait(60)
ids = list(sweep.df.run_id)
fx.rate(ids[0], 5); fx.star(ids[0]); fx.note(ids[0], "keep: <clean> seam")
fx.rate(ids[1], 2); fx.reject(sweep.jobs[1])
fx.score(sweep)
print(" ".join(ids))
"""


@pytest.mark.slow
def test_judgement_survives_a_restart_and_reaches_runs_report_and_export(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """Judged in one process; a new process (a restarted kernel) sees the judgement in
    fx.runs(), the report's page, CSV and Parquet, and exports the starred run."""
    workdir = tmp_path / "runs"
    env = sim_env(sim)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(JUDGE), str(workdir), str(clips["landscape"])],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ids = done.stdout.split()
    fx = connect(sim, tmp_path)
    runs = fx.runs().set_index("run_id")
    assert (
        runs.loc[ids, "rating"].tolist()[:2] == [5, 2] and runs.loc[ids[2:], "rating"].isna().all()
    )
    assert runs.loc[ids[0], "pick"] == "star" and runs.loc[ids[1], "pick"] == "reject"
    assert runs.loc[ids[0], "note"] == "keep: <clean> seam" and runs.seam_jump.notna().all()

    report = fx.report("judged", tmp_path / "report", sort_by="seam_jump", shade="seam_jump")
    page = (report.path / "index.html").read_text()
    assert "keep: &lt;clean&gt; seam" in page and "★★★★★" in page and "★ starred" in page
    assert "sorted by seam_jump" in page and "foxnb-sort-runs" in page
    csv = pd.read_csv(report.path / "runs.csv").set_index("run_id")
    assert csv.loc[ids[0], "rating"] == 5 and csv.loc[ids[0], "note"] == "keep: <clean> seam"
    parquet = pd.read_parquet(report.path / "runs.parquet").set_index("run_id")
    assert str(parquet["rating"].dtype) == "Int64" and parquet.loc[ids[1], "pick"] == "reject"
    assert parquet["seam_jump"].notna().all()

    export = fx.export(fx.runs().query("pick == 'star'"), tmp_path / "keep")
    (video,) = export.videos
    document = json.loads((tmp_path / "keep" / "runs.json").read_text())
    (entry,) = document["runs"]
    assert entry["run_id"] == ids[0] and entry["judgement"]["rating"] == 5
    assert entry["params"]["prompt"] == "dusk" and entry["params"]["seed"] == 1
    assert entry["scores"]["seam_jump"] is not None and entry["file"] == f"videos/{video.name}"
    assert sha256_file(video) == entry["sha256"] == runs.loc[ids[0], "sha256"]
    assert str(tmp_path) not in json.dumps(document)
