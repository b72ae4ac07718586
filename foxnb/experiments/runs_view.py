"""``fx.runs()``: every run as a DataFrame that shows itself compactly.

    df = fx.runs()               # shows run id, prompt (shortened), seed, status, credits,
                                 # duration, error — and in a notebook a thumbnail of the video
    df[df.status == "failed"]    # filter on any column: the result shows compactly too
    df.video_path                # every column is there, with the ledger's dtypes
    fx.runs(all=True)            # a plain DataFrame, shown with all its columns

``RunsFrame`` is a ``pandas.DataFrame`` holding every column of the ledger; only the way it
shows is compact. Why not return the compact columns alone: filters and analyses reach for
columns the view leaves out (``df[df.model == "veo-3.1-extend-fast"]``, ``df.sha256``,
``df.video_path``), and ``fx.compare``, ``fx.report`` and ``to_parquet`` need the full
record; a cut-down frame would break them or send users to ``all=True`` for everyday work.
A frame of columns you picked yourself (``df[["run_id", "sha256"]]``) shows the way pandas
shows any frame. The footer of the compact view says how many columns are left out.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from ..media import thumbnail_data_uri

COMPACT_COLUMNS = ("run_id", "prompt", "seed", "status", "credits", "duration_s", "error")
"""What the compact view shows, in order (``error`` is the error code, else the message)."""
SOURCE_COLUMNS = frozenset(
    ("run_id", "prompt", "seed", "status", "credits", "duration_s", "error_code", "error_message")
)
"""The columns the compact view is made from: a frame lacking one shows as pandas shows it."""
PROMPT_CHARS = 40
ERROR_CHARS = 40
THUMBNAIL_HEIGHT_PX = 36
THUMBNAIL_BUDGET_S = 1.0
"""The most one display spends making thumbnails (a video's last frame can take ~1 s to
decode when its keyframes are far apart); the rest are made in the background, for the next
display."""


class RunsFrame(pd.DataFrame):
    """A DataFrame of runs (``fx.runs()``) that shows compactly; see the module docstring."""

    @property
    def _constructor(self) -> Callable[..., RunsFrame]:
        # Filtering, sorting and slicing keep the compact view.
        return RunsFrame

    def full(self) -> pd.DataFrame:
        """The same runs as a plain DataFrame, shown with every column."""
        plain: pd.DataFrame = pd.DataFrame(self)
        return plain

    def compact(self) -> pd.DataFrame:
        """The compact view's columns as text, one row per run (what is shown)."""
        return compact_rows(self)

    def __repr__(self) -> str:
        if not _whole(self):
            return super().__repr__()
        shown, more = _rows_to_show(self)
        if shown.empty:
            return f"no runs ({len(self.columns)} columns; fx.runs(all=True) shows them)"
        text = compact_rows(shown).to_string(index=False)
        return f"{text}\n{footer(len(self), len(self.columns), more)}"

    def _repr_html_(self) -> str | None:
        if not _whole(self):
            html_repr: str | None = pd.DataFrame._repr_html_(self)  # type: ignore[attr-defined]
            return html_repr
        shown, more = _rows_to_show(self)
        rows = compact_rows(shown)
        cells = rows.map(html.escape)
        thumbnails, pending = thumbnails_within(shown, THUMBNAIL_BUDGET_S)
        cells.insert(0, "video", thumbnails)
        table = cells.to_html(index=False, escape=False, na_rep="", border=0)
        note = footer(len(self), len(self.columns), more)
        if pending:
            note += f"; {pending} thumbnail(s) still being made, shown next time"
        return f'<div class="foxnb-runs">{table}<p><small>{html.escape(note)}</small></p></div>'


def footer(runs: int, columns: int, left_out_rows: int) -> str:
    """``12 runs · 7 of 34 columns shown (all are in the frame; fx.runs(all=True) shows
    them)``."""
    rows = f" ({left_out_rows} not shown)" if left_out_rows else ""
    return (
        f"{runs} run{'s' if runs != 1 else ''}{rows} · {len(COMPACT_COLUMNS)} of {columns} "
        "columns shown (all are in the frame; fx.runs(all=True) shows them)"
    )


def compact_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The compact columns as display text: prompt and error shortened, empty for missing."""
    error = (
        frame["error_code"]
        .astype(object)
        .where(frame["error_code"].notna(), frame["error_message"].astype(object))
    )
    out: pd.DataFrame = pd.DataFrame(
        {
            "run_id": frame["run_id"].map(_text),
            "prompt": frame["prompt"].map(lambda v: _short(v, PROMPT_CHARS)),
            "seed": frame["seed"].map(lambda v: "" if pd.isna(v) else str(int(v))),
            "status": frame["status"].map(_text),
            "credits": frame["credits"].map(lambda v: "" if pd.isna(v) else f"{v:g}"),
            "duration_s": frame["duration_s"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}"),
            "error": error.map(lambda v: _short(v, ERROR_CHARS)),
        },
        index=frame.index,
    )
    return out


def _whole(frame: pd.DataFrame) -> bool:
    """True for a frame of whole runs (every column the compact view is made from)."""
    return set(frame.columns) >= SOURCE_COLUMNS


def _rows_to_show(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows pandas' display options would show (head and tail of a long frame)."""
    max_rows = pd.get_option("display.max_rows")
    if max_rows is None or len(frame) <= max_rows:
        return frame, 0
    half = max(1, (pd.get_option("display.min_rows") or max_rows) // 2)
    shown = pd.concat([frame.iloc[:half], frame.iloc[-half:]])
    return shown, len(frame) - len(shown)


def _text(value: Any) -> str:
    return "" if value is None or (not isinstance(value, list) and pd.isna(value)) else str(value)


def _short(value: Any, limit: int) -> str:
    text = " ".join(_text(value).split())  # newlines and runs of spaces: one space
    return text if len(text) <= limit else text[: limit - 1] + "…"


def thumbnails_within(
    runs: pd.DataFrame, budget_s: float, clock: Callable[[], float] = time.monotonic
) -> tuple[list[str], int]:
    """An ``<img>`` (or "") per run, made within ``budget_s``; how many were left for later.

    Those left out are made on a background thread (cached by ``media``), so the next
    display shows them.
    """
    deadline = clock() + budget_s
    images: list[str] = []
    later: list[str] = []
    for _, run in runs.iterrows():
        path = run.get("video_path")
        if run.get("status") != "completed" or not isinstance(path, str) or not path:
            images.append("")
        elif clock() > deadline:
            images.append("")
            later.append(path)
        else:
            uri = thumbnail_data_uri(path)
            style = f"height:{THUMBNAIL_HEIGHT_PX}px;max-width:none"
            images.append("" if uri is None else f'<img src="{uri}" alt="" style="{style}">')
    if later:
        threading.Thread(target=_make_thumbnails, args=(later,), daemon=True).start()
    return images, len(later)


def _make_thumbnails(paths: list[str]) -> None:
    with _WARMING:  # one at a time: a second display waits instead of decoding the same
        for path in paths:
            thumbnail_data_uri(path)


_WARMING = threading.Lock()
