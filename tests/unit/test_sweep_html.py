"""Pure parts of the sweep view: progress arithmetic and the play-row script."""

from __future__ import annotations

from foxnb._html.grid import PLAY_ROWS_SCRIPT, CellView, grid_html
from foxnb._html.sweep import CellState, counts_text, ended_text, overall_pct
from foxnb.experiments.compare import compare
from foxnb.runtime.store import to_dataframe


def test_overall_progress_counts_an_ended_cell_as_done() -> None:
    """The bar is the mean of the cells, a failed cell at 40 % counting as 100."""
    cells = [
        CellState("a", "processing", 50, False),
        CellState("b", "failed", 40, True),
        CellState("c", "queued", 0, False),
    ]
    assert overall_pct(cells) == 50
    assert counts_text(cells) == "queued 1 · processing 1 · failed 1"
    assert ended_text(cells) == "1 of 3 cells ended"


def test_play_row_control_exists_only_as_script() -> None:
    """compare() adds the one constant script after its table; grid_html alone adds none."""
    cells = {(0, 0): CellView("r1", "completed", media_html='<video src="/files/a.mp4"></video>')}
    plain = grid_html("prompt", "seed", ["dusk"], [1], cells)
    assert "<script" not in plain and "play row" not in plain
    with_rows = grid_html("prompt", "seed", ["dusk"], [1], cells, play_rows=True)
    assert with_rows == plain + PLAY_ROWS_SCRIPT
    assert PLAY_ROWS_SCRIPT.startswith('<script class="foxnb-play-rows">')
    assert PLAY_ROWS_SCRIPT.count("<script") == 1 and "<button" not in PLAY_ROWS_SCRIPT
    assert "\\u23f8" not in PLAY_ROWS_SCRIPT and "⏸" not in PLAY_ROWS_SCRIPT  # a box in Chromium
    frame = to_dataframe([{"run_id": "r1", "status": "failed", "prompt": "p", "seed": 1}])
    table = compare(frame).html
    assert table.endswith("</table></div>" + PLAY_ROWS_SCRIPT) and table.count("<script") == 1
