"""fx.compare(): the pure grid HTML, picking a run per cell, and a sweep end to end."""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any

import pandas as pd
import pytest

import foxnb
from foxnb.compare import CellView, Comparison, compare, grid_html, pick_runs
from foxnb.ledger import to_dataframe
from foxnb.sim import Simulator
from foxnb.sweep import Sweep
from foxnb.widgets import _files
from foxnb.widgets._files import ServerLocation

VIDEO = '<video class="foxnb-video" src="/files/a.mp4"></video>'
DUSK = "Dusk falls over the valley"
STORM = "A storm rolls in"


def run(run_id: str, prompt: str, seed: int | None, status: str = "completed", **kw: Any) -> Any:
    return {"run_id": run_id, "prompt": prompt, "seed": seed, "status": status, **kw}


# ---------------------------------------------------------------------------- grid_html (pure)


def test_grid_labels_axes_and_values_in_order() -> None:
    """Headers name both axes and every value; cells sit where their indices say."""
    cells = {
        (i, j): CellView(f"r{i}{j}", "completed", media_html=VIDEO)
        for i in (0, 1)
        for j in (0, 1, 2)
    }
    table = grid_html("prompt", "seed", [DUSK, STORM], [1, 2, 3], cells)
    assert table.startswith('<table class="foxnb-grid')
    assert table.count("<tr>") == 3 and table.count('class="foxnb-compare-cell"') == 6
    assert table.count(VIDEO) == 6
    assert "prompt ↓ · seed →" in table
    for seed in (1, 2, 3):
        assert (
            f'<span style="color:#57606a;font-size:0.85em;line-height:1.3">seed</span> {seed}</th>'
            in table
        )
    assert table.index(DUSK) < table.index("r00") < table.index("r02") < table.index(STORM)
    assert table.index(STORM) < table.index("r10") < table.index("r12")
    assert "<code>r12</code> · completed" in table


def test_grid_escapes_every_label_and_caption() -> None:
    """A prompt, axis name, run id or status holding markup is shown as text."""
    evil = '<script>alert("x")</script>'
    cells = {(0, 0): CellView(f"r1{evil}", f"failed{evil}", error_code=f"E{evil}")}
    table = grid_html(f"prompt{evil}", "seed&", [evil], [f"1{evil}"], cells)
    assert "<script>" not in table
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in table
    assert "seed&amp;" in table


def test_missing_cell_is_an_empty_box() -> None:
    """A row/column pair with no run shows an empty box of the cell's width."""
    table = grid_html(
        "prompt",
        "seed",
        [DUSK],
        [1, 2],
        {(0, 0): CellView("r1", "completed", media_html=VIDEO)},
        width_px=200,
    )
    assert table.count("foxnb-compare-empty") == 1 and "no run" in table
    assert table.count("width:200px") == 2 and table.count(VIDEO) == 1


def test_unfinished_cell_shows_status_and_error_code_not_a_video() -> None:
    """A failed or running run shows its status word (and error code), no video."""
    cells = {
        (0, 0): CellView("r-failed", "failed", error_code="CONTENT_POLICY"),
        (0, 1): CellView("r-running", "processing"),
    }
    table = grid_html("prompt", "seed", [DUSK], [1, 2], cells)
    assert "foxnb-video" not in table and table.count("foxnb-compare-status") == 2
    assert "<b>failed</b> · <code>CONTENT_POLICY</code>" in table
    assert "<b>processing</b></div>" in table
    assert "<code>r-running</code> · processing" in table


# ---------------------------------------------------------------------------- picking runs


def test_newest_completed_run_wins_a_cell() -> None:
    """Of several runs in one cell the newest completed one is shown, else the last one."""
    frame = to_dataframe(
        [
            run("old", DUSK, 1, completed_at=100.0),
            run("new", DUSK, 1, completed_at=200.0),
            run("later-failed", DUSK, 1, "failed", error_code="X"),
            run("only-failed", DUSK, 2, "failed"),
            run("running", DUSK, 2, "processing"),
        ]
    )
    rows, cols, chosen = pick_runs(frame, "prompt", "seed")
    assert rows == [DUSK] and cols == [1, 2]
    assert chosen[DUSK, 1]["run_id"] == "new"
    assert chosen[DUSK, 2]["run_id"] == "running"


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


def test_bad_axes_and_inputs_are_named() -> None:
    """An unknown column, equal axes, a bad width or input raise ValidationError."""
    frame = to_dataframe([run("a", DUSK, 1)])
    with pytest.raises(foxnb.ValidationError, match="did you mean 'seed'"):
        compare(frame, rows="prompt", cols="sed")
    with pytest.raises(foxnb.ValidationError, match="must differ"):
        compare(frame, rows="seed", cols="seed")
    with pytest.raises(foxnb.ValidationError, match="width_px"):
        compare(frame, width_px=0)
    with pytest.raises(foxnb.ValidationError, match="Sweep, a DataFrame"):
        compare("runs.jsonl")  # type: ignore[arg-type]
    with pytest.raises(foxnb.ValidationError, match="no run_id"):
        compare(pd.DataFrame({"prompt": [DUSK], "seed": [1], "status": ["completed"]}))


# ---------------------------------------------------------------------------- end to end


def test_sweep_compared_end_to_end(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep on the simulator: a Sweep, its jobs and fx.runs() give the same grid."""
    monkeypatch.setattr(_files, "server_location", lambda: ServerLocation(PurePath(tmp_path)))
    fx = foxnb.connect(simulator=sim, workdir=tmp_path / "runs", quiet=True)
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
    assert whole.html.count("width:160px") == 4
