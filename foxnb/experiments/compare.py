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

Axis values are sorted naturally: numbers (seeds) by value, ``False`` before ``True``, a
missing value last; text keeps the order in which it first occurs (a sweep's order). The
grid fits the output's width: tiles shrink from ``width_px`` down to a minimum, then the grid
scrolls sideways with its row labels in view.

The result is plain, static HTML (``.html``, ``to_html()``), so a saved notebook keeps the
grid and GitHub or nbviewer show it with no kernel. Videos are served through Jupyter's
``/files/`` URL with a small poster saved alongside, as ``foxnb.show_video`` does, or embedded
where there is no such route (VS Code, Colab; see ``foxnb._serve``); ``embed_video=True``
puts the videos themselves into the notebook. A line under the grid says which.

How results turned out can be read off the grid too:

- ``show=["seam_jump", "color_shift"]`` writes those values under each video (your rating,
  star or reject and note always show, so a saved grid keeps them);
- ``sort_by="seam_jump"`` orders rows and columns by their mean value, best first (lowest
  ``seam_jump`` or ``color_shift``, highest ``rating``, ``seam_ssim`` or ``flicker``; any
  other number ascending);
- ``shade="color_shift"`` colours each cell from green (the grid's best) to red (its worst).

Where the notebook is trusted (the one you are running), each row with videos also gets a
"▶ play row" button and a scrub bar, and the grid one "▶ play all", a scrub bar and a
tile-size slider: playing starts at the extension point (the input clip is the same in every
cell), the videos run together, and only one is heard. Elsewhere (GitHub, nbviewer, a
notebook you did not run yourself) no control appears and each video keeps its own controls.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .._html.grid import CellView, grid_html
from .._html.outcomes import shade_colour, values_html
from .._html.video import transport_html, transports_text
from .._serve import video_media
from ..errors import ValidationError
from ..models import closest_name
from ..runtime.jobs import Job
from .choose import BETTER
from .runs_like import RunsLike, runs_frame


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
    runs: RunsLike | pd.DataFrame | Sequence[Job],
    rows: str = "prompt",
    cols: str = "seed",
    *,
    embed_video: bool | None = None,
    width_px: int = 280,
    show: Sequence[str] = (),
    sort_by: str | None = None,
    shade: str | None = None,
) -> Comparison:
    """The runs in a grid: one row per value of ``rows``, one column per value of ``cols``.

    ``runs`` is a ``Sweep``, a DataFrame of runs (``fx.runs()``, filtered as you like) or a
    list of ``Job``s. Numbers are sorted by value, text keeps the order it first occurs in.
    Each cell shows the newest completed run with those values, its video and a caption (run
    id, status); a run that did not complete shows its status and error code instead.
    ``width_px`` is the preferred tile width (tiles shrink to fit the output);
    ``embed_video`` True/False forces or forbids embedding the videos (default: only where
    the browser cannot fetch them from a Jupyter server).

        fx.compare(sweep, rows="prompt", cols="seed")
        fx.compare(runs[runs.tags.map(lambda t: "v2" in t)], rows="model", cols="seed")
        fx.compare(sweep, show=["seam_jump", "rating"], sort_by="seam_jump", shade="seam_jump")
    """
    if isinstance(width_px, bool) or not isinstance(width_px, int) or width_px <= 0:
        raise ValidationError("width_px", f"must be a positive integer, got {width_px!r}")
    frame = runs_frame(runs)
    for name, axis in (("rows", rows), ("cols", cols)):
        if not isinstance(axis, str) or axis not in frame.columns:
            hint = closest_name(str(axis), [str(c) for c in frame.columns])
            more = f"; did you mean {hint!r}?" if hint else ""
            raise ValidationError(name, f"{axis!r} is not a column of the runs{more}")
    if rows == cols:
        raise ValidationError("cols", f"must differ from rows (both are {rows!r})")
    show = check_outcome_columns(frame, show, sort_by, shade)
    row_values, col_values, chosen = pick_runs(frame, rows, cols)
    if sort_by is not None:
        row_values, col_values = sort_axes(row_values, col_values, chosen, sort_by)
    shades = shade_cells(chosen, shade)
    views = {
        (row_values.index(r), col_values.index(c)): _view(
            run, embed_video, show, shades.get((r, c))
        )
        for (r, c), run in chosen.items()
    }
    table = grid_html(rows, cols, row_values, col_values, views, width_px=width_px, play_rows=True)
    return Comparison(rows, cols, row_values, col_values, chosen, table + _transports(views))


def _transports(views: dict[tuple[int, int], CellView]) -> str:
    """One line under the grid naming how its videos reach the browser (none: nothing)."""
    transports = [view.transport for view in views.values() if view.transport is not None]
    if not transports:
        return ""
    return transport_html(f"Videos: {transports_text(transports)}")


def pick_runs(
    frame: pd.DataFrame, rows: str, cols: str
) -> tuple[list[Any], list[Any], dict[tuple[Any, Any], dict[str, Any]]]:
    """The axis values in order of first appearance, and the run to show per cell.

    Of several runs in a cell, the newest completed one wins (by ``completed_at``, then
    by position in ``frame``); with none completed, the last one in ``frame``.
    """
    records = [
        {str(k): plain_value(v) for k, v in record.items()}
        for record in frame.to_dict(orient="records")
    ]
    # Keys of the first occurrence are kept, the order is decided at the end (natural_order).
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
    chosen = {key: run for key, (_, run) in best.items()}
    return natural_order(row_values), natural_order(col_values), chosen


def natural_order(values: list[Any]) -> list[Any]:
    """Numbers by value (seeds: 3, 5, 7, 42), booleans False first, missing last; text (and
    mixed values) keep their order of first appearance.

        >>> natural_order([7, 42, None, 5, 3])
        [3, 5, 7, 42, None]
    """
    present = [v for v in values if v is not None]
    missing = [None] * (len(values) - len(present))
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
    flags = all(isinstance(v, bool) for v in present)
    if present and (numbers or flags):
        return sorted(present) + missing
    return present + missing


def check_outcome_columns(
    frame: pd.DataFrame, show: Sequence[str], sort_by: str | None, shade: str | None
) -> list[str]:
    """``show`` as a list, after checking it and ``sort_by``/``shade`` name columns of
    ``frame`` (the last two numeric or yes/no); each error names its argument."""
    if isinstance(show, str):
        show = [show]
    if not isinstance(show, Sequence) or not all(isinstance(n, str) for n in show):
        raise ValidationError("show", "must be a list of column names, e.g. ['seam_jump']")
    named = [("show", n) for n in show] + [
        (a, n) for a, n in (("sort_by", sort_by), ("shade", shade)) if n is not None
    ]
    for argument, name in named:
        if not isinstance(name, str) or name not in frame.columns:
            hint = closest_name(str(name), [str(c) for c in frame.columns])
            more = f"; did you mean {hint!r}?" if hint else ""
            raise ValidationError(argument, f"{name!r} is not a column of the runs{more}")
        if argument != "show" and not (
            pd.api.types.is_numeric_dtype(frame[name]) or pd.api.types.is_bool_dtype(frame[name])
        ):
            raise ValidationError(argument, f"{name!r} holds no numbers to order or shade by")
    return list(show)


def _number(run: dict[str, Any], name: str) -> float | None:
    value = run.get(name)
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and not math.isnan(value):
        return float(value)
    return None


def sort_axes(
    row_values: list[Any],
    col_values: list[Any],
    chosen: dict[tuple[Any, Any], dict[str, Any]],
    sort_by: str,
) -> tuple[list[Any], list[Any]]:
    """Rows and columns ordered by the mean ``sort_by`` of their cells, best first (see
    ``BETTER``; unknown directions ascending); cells without a value do not count, and
    rows or columns with none come last, in their first order."""
    sign = -1.0 if BETTER.get(sort_by) == "max" else 1.0

    def order(values: list[Any], axis: int) -> list[Any]:
        def key(value: Any) -> tuple[int, float, int]:
            numbers = [
                n
                for k, run in chosen.items()
                if k[axis] == value
                if (n := _number(run, sort_by)) is not None
            ]
            if not numbers:
                return (1, 0.0, values.index(value))
            return (0, sign * sum(numbers) / len(numbers), values.index(value))

        return sorted(values, key=key)

    return order(row_values, 0), order(col_values, 1)


def shade_cells(
    chosen: dict[tuple[Any, Any], dict[str, Any]], shade: str | None
) -> dict[tuple[Any, Any], str]:
    """A background colour per cell from its ``shade`` value (see ``shade_colour``)."""
    if shade is None:
        return {}
    numbers = {k: n for k, run in chosen.items() if (n := _number(run, shade)) is not None}
    if not numbers:
        return {}
    low, high = min(numbers.values()), max(numbers.values())
    better = BETTER.get(shade, "min")
    colours = {k: shade_colour(n, low, high, better) for k, n in numbers.items()}
    return {k: c for k, c in colours.items() if c is not None}


def _view(
    run: dict[str, Any],
    embed_video: bool | None,
    show: Sequence[str] = (),
    background: str | None = None,
) -> CellView:
    status = str(run.get("status") or "unknown")
    code = run.get("error_code")
    media, transport = "", None
    path = run.get("video_path")
    if status == "completed" and path:
        media, transport = video_media(Path(str(path)), embed=embed_video, fill=True)
    return CellView(
        run_id=str(run.get("run_id")),
        status=status,
        error_code=None if code is None else str(code),
        media_html=media,
        transport=transport,
        details_html=values_html(run, show),
        background=background,
    )


def plain_value(value: Any) -> Any:
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
