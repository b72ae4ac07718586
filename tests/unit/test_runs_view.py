"""fx.runs()'s compact view: a real DataFrame with every column, shown compactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from foxnb.experiments.runs_view import COMPACT_COLUMNS, RunsFrame, thumbnails_within
from foxnb.runtime.store import to_dataframe

LONG = "The camera keeps drifting over the hills at dusk while the light fades slowly"


def runs(count: int, video: Path | None = None, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "run_id": f"r{i:03d}",
            "prompt": LONG,
            "seed": i if i % 3 else None,
            "status": "failed" if i % 4 == 0 else "completed",
            "credits": None if i % 4 == 0 else 100.0,
            "duration_s": 12.34,
            "error_code": "content_policy_violation" if i % 4 == 0 else None,
            "error_message": "blocked" if i % 4 == 0 else None,
            "video_path": None if video is None else str(video),
            "model": "veo-3.1-extend",
            **extra,
        }
        for i in range(count)
    ]


def test_compact_text_with_every_column_underneath() -> None:
    """The repr shows the 7 compact columns; the data keeps all, with the ledger's dtypes."""
    plain = to_dataframe(runs(6))
    frame = RunsFrame(plain)
    text = repr(frame)
    header = text.splitlines()[0].split()
    assert header == list(COMPACT_COLUMNS)
    assert "The camera keeps drifting over the hill…" in text and LONG not in text
    assert "content_policy_violation" in text and "12.3" in text
    assert f"7 of {len(plain.columns)} columns shown" in text.splitlines()[-1]
    assert frame.dtypes.equals(plain.dtypes) and list(frame.columns) == list(plain.columns)
    assert isinstance(frame, pd.DataFrame) and frame.full().__class__ is pd.DataFrame


def test_filters_stay_compact_and_column_picks_show_plainly() -> None:
    """df[df.status == ...] and sort_values keep the view; df[[cols]] shows as pandas does."""
    frame = RunsFrame(to_dataframe(runs(8)))
    failed = frame[frame.status == "failed"]
    assert isinstance(failed, RunsFrame) and len(failed) == 2
    assert repr(failed).splitlines()[0].split() == list(COMPACT_COLUMNS)
    assert isinstance(frame.sort_values("seed"), RunsFrame)
    picked = frame[["run_id", "model"]]
    assert repr(picked) == repr(pd.DataFrame(picked))  # pandas' own repr
    assert frame[frame.model == "veo-3.1-extend"].shape == frame.shape  # any column filters


def test_html_has_thumbnails_and_escapes(clips: dict[str, Path]) -> None:
    """In a notebook: a small poster per completed run, text escaped, one table."""
    rows = runs(4, video=clips["landscape"], prompt="<script>alert(1)</script> dusk")
    page = RunsFrame(to_dataframe(rows))._repr_html_()
    assert page is not None and page.count("<table") == 1
    assert page.count('<img src="data:image/jpeg;base64,') == 3  # the failed run has none
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert len(page) < 4 * 8_000  # thumbnails, not posters


def test_long_frames_show_head_and_tail_only() -> None:
    """Like pandas: a long frame shows its first and last rows and says how many are left."""
    frame = RunsFrame(to_dataframe(runs(200)))
    with pd.option_context("display.max_rows", 60, "display.min_rows", 10):
        lines = repr(frame).splitlines()
    assert len(lines) == 1 + 10 + 1 and "(190 not shown)" in lines[-1]
    assert lines[1].split()[0] == "r000" and lines[-2].split()[0] == "r199"


def test_empty_ledger() -> None:
    """No runs: one line, not an empty table."""
    assert repr(RunsFrame(to_dataframe([]))).startswith("no runs")


def test_thumbnails_stop_at_the_budget(clips: dict[str, Path]) -> None:
    """Past the time budget the rest are left blank (made in the background for next time)."""
    ticks = iter(range(100))
    frame = to_dataframe(runs(5, video=clips["portrait"]))  # runs 0 and 4 failed: none
    images, later = thumbnails_within(frame, 2.5, clock=lambda: float(next(ticks)))
    assert [bool(i) for i in images] == [False, True, True, False, False] and later == 1
