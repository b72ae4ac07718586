"""fx.compare on real runs: a sweep on the simulator and a filtered fx.runs() frame."""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any

import pytest
from support import connect

from foxnb import Sweep
from foxnb import _serve as _files
from foxnb._serve import ServerLocation
from foxnb.experiments.compare import Comparison, compare
from foxnb.runtime.store import to_dataframe
from foxnb.sim import Simulator

DUSK = "Dusk falls over the valley"
STORM = "A storm rolls in"


def run(run_id: str, prompt: str, seed: int | None, status: str = "completed", **kw: Any) -> Any:
    return {"run_id": run_id, "prompt": prompt, "seed": seed, "status": status, **kw}


def test_filtered_runs_dataframe_with_any_two_columns(tmp_path: Path) -> None:
    """fx.runs()-shaped frames filtered with pandas work; any columns can be the axes."""
    frame = to_dataframe(
        [
            run("a", DUSK, 1, model="veo-3.1-extend", video_path=str(tmp_path / "gone.mp4")),
            run("b", STORM, 1, "failed", model="veo-3.1-extend", error_code="CONTENT_POLICY"),
            run("c", DUSK, 2, model="veo-3.1-extend-fast"),
            run("d", STORM, None, "submission_unknown", model="veo-3.1-extend"),
        ]
    )
    picked = frame[frame["model"] == "veo-3.1-extend"]
    grid = compare(picked, rows="seed", cols="prompt")
    assert isinstance(grid, Comparison) and grid.to_html() == grid.html == grid._repr_html_()
    assert grid.row_values == [1, None] and grid.col_values == [DUSK, STORM]
    assert set(grid.runs) == {(1, DUSK), (1, STORM), (None, STORM)}
    assert "<code>c</code>" not in grid.html
    assert "<b>failed</b> · <code>CONTENT_POLICY</code>" in grid.html
    assert "<b>submission_unknown</b>" in grid.html and "foxnb-compare-empty" in grid.html
    assert "the file no longer exists" in grid.html  # completed, but its video was deleted
    assert "seed</div>None</th>" in grid.html


def test_sweep_compared_end_to_end(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep on the simulator: a Sweep, its jobs and fx.runs() give the same grid."""
    monkeypatch.setattr(_files, "server_location", lambda: ServerLocation(PurePath(tmp_path)))
    fx = connect(sim, tmp_path)
    prompts = [DUSK, "<script>alert(1)</script> rises"]
    sweep = fx.sweep(clips["landscape"], name="cmp", prompt=prompts, seed=[1, 2])
    assert isinstance(sweep, Sweep)
    sweep.wait(timeout=120)

    grid = fx.compare(sweep, rows="prompt", cols="seed")
    html = grid.html
    assert grid.row_values == prompts and grid.col_values == [1, 2]
    assert html.count('<video class="foxnb-video"') == 4 and html.count("/files/runs/videos/") == 4
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; rises" in html
    for job in sweep.jobs:
        assert f"<code>{job.run_id}</code> · completed" in html

    from_jobs = fx.compare(sweep.jobs)
    assert [r["run_id"] for r in from_jobs.runs.values()] == [j.run_id for j in sweep.jobs]
    assert from_jobs.html.count('<video class="foxnb-video"') == 4

    # Re-running reuses every cell; the grid of all runs shows the newest (the reused) ones.
    again = fx.sweep(clips["landscape"], name="cmp", prompt=prompts, seed=[1, 2])
    assert isinstance(again, Sweep)
    again.wait(timeout=60)
    runs = fx.runs()
    whole = fx.compare(runs[runs.experiment == "cmp"], embed_video=True, width_px=160)
    assert [r["run_id"] for r in whole.runs.values()] == [j.run_id for j in again.jobs]
    assert whole.html.count('src="data:video/mp4;base64,') == 4
    assert "--foxnb-tile:160px" in whole.html and "4 × embedded in the notebook" in whole.html
