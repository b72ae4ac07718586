"""``fx.compare()``: runs side by side in a labelled grid, one axis per row and column.

    sweep = fx.sweep("clip.mp4", name="dusk-vs-storm",
                     prompt=["Dusk falls", "A storm rolls in"], seed=[1, 2, 3])
    sweep.wait()
    fx.compare(sweep, rows="prompt", cols="seed")          # prompts down, seeds across

    runs = fx.runs()
    fx.compare(runs[runs.model == "veo-3.1-extend-fast"], rows="seed", cols="aspect_ratio")

What to compare can be a ``Sweep``, a DataFrame of runs (``fx.runs()`` filtered with ordinary
pandas) or a list of ``Job``s; any two columns can be the axes. Each cell shows one run:

- several runs in a cell: the newest completed one (else the newest, showing its status);
- a run that did not complete: its status and error code instead of a video;
- no run at all: an empty box.

The result is plain, static HTML (``.html``, ``to_html()``), so a saved notebook keeps the
grid and GitHub or nbviewer show it with no kernel. Videos are served through Jupyter's
``/files/`` URL with a small poster saved alongside, as ``foxnb.show_video`` does;
``embed_video=True`` puts the videos themselves into the notebook.

Where the notebook is trusted (the one you are running), each row with videos also gets a
"▶ play row" button: it restarts the row's videos at 0 and plays them together, and a
second click pauses them all. Elsewhere (GitHub, nbviewer, a notebook you did not run
yourself) no button appears and each video keeps its own controls.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .errors import ValidationError
from .jobs import Job
from .models import closest_name
from .widgets._html import escape

if TYPE_CHECKING:
    from .sweep import Sweep

_MUTED = "color:#57606a;font-size:0.85em;line-height:1.3"
_HEAD = "text-align:left;vertical-align:top;padding:4px 6px"
# Left-aligned explicitly: JupyterLab's stylesheet right-aligns table cells.
_TD = "text-align:left;vertical-align:top;padding:4px 6px"
_EMPTY = "border:1px dashed #d0d7de;border-radius:6px;color:#8c959f;padding:8px;text-align:center"
_STATUS_BOX = "border:1px solid #d0d7de;border-radius:6px;background:#f6f8fa;padding:8px"
_NEEDED = ["run_id", "status"]

# Synchronized playback of a row needs JavaScript, which JupyterLab runs only in trusted
# outputs (and GitHub or nbviewer never). So the button is created by the script itself:
# where scripts do not run, no dead button appears and every video keeps its own controls.
# The script finds its table as its previous sibling; it holds no data from the runs.
PLAY_ROWS_SCRIPT = """<script class="foxnb-play-rows">
(function (script) {
  var table = script && script.previousElementSibling;
  if (!table || !table.classList.contains("foxnb-grid") || table.dataset.foxnbPlayRows) return;
  table.dataset.foxnbPlayRows = "ready";
  function settle(video) {  // resolves once the video can show its first frame (or after 5 s)
    return new Promise(function (done) {
      var timer = setTimeout(finish, 5000);
      function check() { if (!video.seeking && video.readyState >= 2) finish(); }
      function finish() {
        clearTimeout(timer);
        video.removeEventListener("seeked", check);
        video.removeEventListener("canplay", check);
        done();
      }
      video.addEventListener("seeked", check);
      video.addEventListener("canplay", check);
      check();
    });
  }
  Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
    var videos = Array.prototype.slice.call(row.querySelectorAll("video"));
    var header = row.querySelector("th");
    if (!videos.length || !header) return;
    var button = document.createElement("button");
    var starting = false;
    function playing() { return videos.some(function (v) { return !v.paused; }); }
    function label() {
      button.textContent = starting || playing() ? "\u23f8 pause row" : "\u25b6 play row";
    }
    button.type = "button";
    button.className = "foxnb-play-row";
    button.title = "Play this row's videos together from the start (click again to pause)";
    button.style.cssText = "display:block;margin-top:6px;cursor:pointer";
    button.addEventListener("click", function () {
      if (starting) return;
      if (playing()) {
        videos.forEach(function (v) { v.pause(); });
        label();  // "pause" events come a moment later
        return;
      }
      starting = true;
      label();
      videos.forEach(function (v) { v.pause(); v.preload = "auto"; v.currentTime = 0; });
      Promise.all(videos.map(settle)).then(function () {
        starting = false;
        return Promise.all(videos.map(function (v) { return v.play().catch(function () {}); }));
      }).then(label);
    });
    videos.forEach(function (v) {
      v.addEventListener("play", label);
      v.addEventListener("pause", label);
    });
    label();
    header.appendChild(button);
  });
})(document.currentScript);
</script>"""


@dataclass(frozen=True)
class CellView:
    """What one grid cell shows: a run's id and status, its error code, and its media.

    ``media_html`` is trusted HTML (the video block built by ``show_video``); every other
    field is escaped when rendered. It is empty for a run that did not complete.
    """

    run_id: str
    status: str
    error_code: str | None = None
    media_html: str = ""


def label(value: object) -> str:
    """An axis value as shown in a header: ``None`` for a missing value, else ``str()``."""
    return "None" if value is None else str(value)


def grid_html(
    rows: str,
    cols: str,
    row_values: Sequence[object],
    col_values: Sequence[object],
    cells: Mapping[tuple[int, int], CellView],
    *,
    width_px: int = 280,
    play_rows: bool = False,
) -> str:
    """The comparison table: ``cells[(i, j)]`` is shown at row ``i``, column ``j``.

    Pure: plain values in, one HTML string out (inline styles only, so it renders the same
    in JupyterLab, on GitHub and on nbviewer). A missing ``(i, j)`` is an empty box.
    ``play_rows=True`` appends ``PLAY_ROWS_SCRIPT``, which gives each row with videos a
    "▶ play row" button where scripts run.
    """
    corner = f'<th style="{_HEAD};{_MUTED}">{escape(rows)} ↓ · {escape(cols)} →</th>'
    head = "".join(
        f'<th scope="col" style="{_HEAD}"><span style="{_MUTED}">{escape(cols)}</span> '
        f"{escape(label(value))}</th>"
        for value in col_values
    )
    body = []
    for i, row_value in enumerate(row_values):
        header = (
            f'<th scope="row" style="{_HEAD};min-width:9em;max-width:16em">'
            f'<div style="{_MUTED}">{escape(rows)}</div>{escape(label(row_value))}</th>'
        )
        tds = "".join(
            cell_html(cells.get((i, j)), width_px=width_px) for j in range(len(col_values))
        )
        body.append(f"<tr>{header}{tds}</tr>")
    return (
        '<table class="foxnb-grid foxnb-compare" style="border-collapse:collapse">'
        f"<thead><tr>{corner}{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        + (PLAY_ROWS_SCRIPT if play_rows else "")
    )


def cell_html(cell: CellView | None, *, width_px: int = 280) -> str:
    """One ``<td>``: the media (or the status of a run that did not complete) and a caption."""
    box = f"width:{int(width_px)}px"
    if cell is None:
        return (
            f'<td class="foxnb-compare-cell foxnb-compare-empty" style="{_TD}">'
            f'<div style="{box};{_EMPTY}">no run</div></td>'
        )
    if cell.media_html:
        content = cell.media_html
    else:
        code = f" · <code>{escape(cell.error_code)}</code>" if cell.error_code else ""
        content = (
            f'<div class="foxnb-compare-status" style="{_STATUS_BOX}">'
            f"<b>{escape(cell.status)}</b>{code}</div>"
        )
    caption = (
        f'<div class="foxnb-compare-caption" style="{_MUTED}">'
        f"<code>{escape(cell.run_id)}</code> · {escape(cell.status)}</div>"
    )
    return (
        f'<td class="foxnb-compare-cell" style="{_TD}">'
        f'<div style="{box}">{content}{caption}</div></td>'
    )


class Comparison:
    """A grid of runs made by ``fx.compare()``; displays as a static HTML table.

    ``rows``/``cols`` are the axis names, ``row_values``/``col_values`` their values in
    order, ``runs`` the run shown in each cell keyed by ``(row_value, col_value)``, and
    ``html`` (or ``to_html()``) the table itself.
    """

    def __init__(
        self,
        rows: str,
        cols: str,
        row_values: list[Any],
        col_values: list[Any],
        runs: dict[tuple[Any, Any], dict[str, Any]],
        html: str,
    ):
        self.rows = rows
        self.cols = cols
        self.row_values = row_values
        self.col_values = col_values
        self.runs = runs
        self.html = html

    def to_html(self) -> str:
        """The table as an HTML string (the same as ``.html``)."""
        return self.html

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return (
            f"<Comparison {self.rows} × {self.cols}: {len(self.row_values)} × "
            f"{len(self.col_values)} cells, {len(self.runs)} with a run>"
        )


def compare(
    runs: Sweep | pd.DataFrame | Sequence[Job],
    rows: str = "prompt",
    cols: str = "seed",
    *,
    embed_video: bool = False,
    width_px: int = 280,
) -> Comparison:
    """The runs in a grid: one row per value of ``rows``, one column per value of ``cols``.

    ``runs`` is a ``Sweep``, a DataFrame of runs (``fx.runs()``, filtered as you like) or a
    list of ``Job``s. Values appear in the order they first occur in the runs. Each cell
    shows the newest completed run with those values, its video and a caption (run id,
    status); a run that did not complete shows its status and error code instead.

        fx.compare(sweep, rows="prompt", cols="seed")
        fx.compare(runs[runs.tags.map(lambda t: "v2" in t)], rows="model", cols="seed")
    """
    if isinstance(width_px, bool) or not isinstance(width_px, int) or width_px <= 0:
        raise ValidationError("width_px", f"must be a positive integer, got {width_px!r}")
    frame = _frame(runs)
    for name, axis in (("rows", rows), ("cols", cols)):
        if not isinstance(axis, str) or axis not in frame.columns:
            hint = closest_name(str(axis), [str(c) for c in frame.columns])
            more = f"; did you mean {hint!r}?" if hint else ""
            raise ValidationError(name, f"{axis!r} is not a column of the runs{more}")
    if rows == cols:
        raise ValidationError("cols", f"must differ from rows (both are {rows!r})")
    row_values, col_values, chosen = pick_runs(frame, rows, cols)
    views = {
        (row_values.index(r), col_values.index(c)): _view(run, embed_video)
        for (r, c), run in chosen.items()
    }
    table = grid_html(rows, cols, row_values, col_values, views, width_px=width_px, play_rows=True)
    return Comparison(rows, cols, row_values, col_values, chosen, table)


def pick_runs(
    frame: pd.DataFrame, rows: str, cols: str
) -> tuple[list[Any], list[Any], dict[tuple[Any, Any], dict[str, Any]]]:
    """The axis values in order of first appearance, and the run to show per cell.

    Of several runs in a cell, the newest completed one wins (by ``completed_at``, then
    by position in ``frame``); with none completed, the last one in ``frame``.
    """
    records = [
        {str(k): _plain(v) for k, v in record.items()} for record in frame.to_dict(orient="records")
    ]
    row_values: list[Any] = []
    col_values: list[Any] = []
    best: dict[tuple[Any, Any], tuple[tuple[int, float, int], dict[str, Any]]] = {}
    for position, run in enumerate(records):
        r, c = _hashable(run.get(rows)), _hashable(run.get(cols))
        if r not in row_values:
            row_values.append(r)
        if c not in col_values:
            col_values.append(c)
        rank = (int(run.get("status") == "completed"), _seconds(run.get("completed_at")), position)
        current = best.get((r, c))
        if current is None or rank > current[0]:
            best[(r, c)] = (rank, run)
    return row_values, col_values, {key: run for key, (_, run) in best.items()}


def _frame(runs: object) -> pd.DataFrame:
    """Any accepted input as a DataFrame of runs with at least ``run_id`` and ``status``."""
    from .sweep import Sweep

    if isinstance(runs, Sweep):
        frame = runs.df
    elif isinstance(runs, pd.DataFrame):
        frame = runs
    elif (
        isinstance(runs, Sequence)
        and not isinstance(runs, str | bytes)
        and all(isinstance(job, Job) for job in runs)
    ):
        records = [_job_record(job) for job in runs]
        frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=_NEEDED)
    else:
        raise ValidationError(
            "runs", "must be a Sweep, a DataFrame of runs (fx.runs()) or a list of Jobs"
        )
    missing = [c for c in _NEEDED if c not in frame.columns]
    if missing:
        raise ValidationError("runs", f"the DataFrame has no {', '.join(missing)} column")
    return frame


def _job_record(job: Job) -> dict[str, Any]:
    """A job as a run row: its request's fields, status, error code and video."""
    state = job.snapshot()
    error = state.error
    code = state.error_code or (type(error).__name__ if error is not None else None)
    return {
        "run_id": job.run_id,
        **dataclasses.asdict(job.request),
        "status": state.status,
        "error_code": code,
        "video_path": str(state.video_path) if state.video_path else None,
        "completed_at": state.completed_at,
    }


def _view(run: dict[str, Any], embed_video: bool) -> CellView:
    status = str(run.get("status") or "unknown")
    code = run.get("error_code")
    media = ""
    path = run.get("video_path")
    if status == "completed" and path:
        from .widgets.video import show_video

        media = show_video(Path(str(path)), embed=embed_video, return_html=True)
    return CellView(
        run_id=str(run.get("run_id")),
        status=status,
        error_code=None if code is None else str(code),
        media_html=media,
    )


def _plain(value: Any) -> Any:
    """pandas' missing values (NA, NaN, NaT) as None; everything else unchanged."""
    if isinstance(value, list | tuple | dict | set):
        return value
    try:
        missing = bool(pd.isna(value))
    except (TypeError, ValueError):
        return value
    return None if missing else value


def _hashable(value: Any) -> Hashable:
    """A value usable as a dict key (lists, e.g. ``tags``, become tuples)."""
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, Hashable):
        return value
    return repr(value)


def _seconds(value: Any) -> float:
    """A time (epoch seconds or a Timestamp) as epoch seconds; -inf when unknown."""
    if value is None:
        return -math.inf
    if isinstance(value, pd.Timestamp):
        return float(value.timestamp())
    try:
        return float(value)
    except (TypeError, ValueError):
        return -math.inf
