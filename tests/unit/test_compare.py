"""fx.compare(): the pure grid HTML, picking a run per cell, and a sweep end to end."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import foxnb
from foxnb._html import style
from foxnb._html.grid import CellView, grid_html
from foxnb.experiments.compare import compare, pick_runs
from foxnb.runtime.store import to_dataframe

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
    assert table.startswith('<div class="foxnb-grid-wrap"')
    assert '<table class="foxnb-grid foxnb-compare"' in table
    assert table.count("<tr>") == 3 and table.count('class="foxnb-compare-cell"') == 6
    assert table.count(VIDEO) == 6
    assert "prompt ↓ · seed →" in table
    for seed in (1, 2, 3):
        assert f'<span style="{style.MUTED}">seed</span> {seed}</th>' in table
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
    assert "--foxnb-tile:200px" in table and table.count(VIDEO) == 1
    assert table.count("clamp(var(--foxnb-tile-min,160px)") == 2  # both tiles shrink to fit


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
