"""``fx.report()``: an experiment written as a folder you can share, commit or open from disk.

    sweep = fx.sweep("clip.mp4", name="dusk-vs-storm",
                     prompt=["Dusk falls", "A storm rolls in"], seed=[1, 2, 3])
    sweep.wait()
    fx.report("dusk-vs-storm", "reports/dusk-vs-storm")    # or fx.report(sweep, ...)

writes::

    reports/dusk-vs-storm/
      index.html      what was compared, when, on which backend; the grid of videos; every run
      videos/         the completed runs' MP4s as <run_id>.mp4, each with a <run_id>.jpg poster
      runs.csv        one row per run (times in ISO 8601 UTC, tags as JSON lists)
      runs.parquet    the same rows keeping their pandas dtypes: categories (model, status,
                      aspect ratio, ...), UTC datetimes, nullable integers (seed, cell, ...)
      manifest.json   foxnb version, when it was made, and every file with its size and sha256

The first argument is an experiment name (every run recorded with ``experiment == name``), a
``Sweep``, or a DataFrame of runs (``fx.runs()`` filtered with pandas). The grid's axes default
to what varies between the runs: the sweep's axes, or the request fields that differ, the one
that changes least often in rows (``rows=``/``cols=`` choose any two columns). The grid shows
one run per cell (the newest completed); the table under it lists every run, failed ones with
their error codes.

What you can rely on:

- Every file refers to the others by relative path and nothing is loaded from the network, so
  the page works opened straight from disk (``file://``), after the folder is moved or zipped,
  and once committed.
- A video is copied only if its bytes still match the sha256 the ledger recorded when it was
  downloaded. A missing or changed file is left out, and said so in the page and in a warning.
  Runs sharing one video (a re-run sweep reuses its earlier results) share one copy.
- No local absolute path goes into the folder: ``video_path`` becomes ``videos/<run_id>.mp4``
  (empty when not copied), a local input clip is named by its file name, and any other mention
  of the runs folder or your home folder reads ``<workdir>`` or ``~``. The ledger never holds
  the API key, so neither does the report.
- The folder is built beside ``path`` (as a hidden ``.foxnb-report-….<pid>@<host>``) and
  renamed into place when complete. An existing ``path`` is refused unless
  ``overwrite=True``, and even then only a folder that is itself a foxnb report (or empty) is
  replaced. What a killed process left there (a half-built or a replaced report) is removed
  by the next report written beside it. A ``path`` whose name the file system cannot hold
  (over 255 bytes) is refused before anything is written.

This module chooses the runs and the grid and writes the folder; ``videos`` copies and
checks the videos, ``runs`` makes the CSV/Parquet table, ``page`` the HTML.
"""

from __future__ import annotations

import itertools
import json
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..._files import (
    check_folder_path,
    json_format_of,
    remove_leftovers_beside,
    replace_folder,
    sha256_file,
    temp_folder_beside,
)
from ..._html.base import escape
from ..._serve import url_for
from ..._version import __version__
from ...errors import FoxnbWarning, ValidationError
from ...models import AXIS_FIELDS, closest_name
from ...runtime.store import RunStore
from ..compare import check_outcome_columns
from ..runs_like import Experiment, RunsLike, runs_frame
from .page import page_html
from .runs import portable_runs, value_key, write_tables
from .videos import VideoProblem, copy_videos

MANIFEST_FORMAT = "foxnb-report/1"
DEFAULT_SHOW = ("seam_jump", "color_shift", "rating")
"""Values written under each video of the grid, when some run has them."""


@dataclass(frozen=True)
class Report:
    """A written report folder: ``path``, its page ``index``, and what went into it.

    Displayed in a notebook, it is a link to the page with a one-line summary.
    """

    path: Path
    title: str
    runs: int
    videos: int
    problems: tuple[VideoProblem, ...]
    size_bytes: int

    @property
    def index(self) -> Path:
        """The report's page, ``path / "index.html"``."""
        return self.path / "index.html"

    def summary(self) -> str:
        """``6 runs, 6 videos, 2.1 MB`` (and how many videos are missing, if any)."""
        text = f"{self.runs} runs, {self.videos} videos, {self.size_bytes / 1e6:.1f} MB"
        if self.problems:
            text += f"; {len(self.problems)} video(s) missing (see the page)"
        return text

    def _repr_html_(self) -> str:
        href = url_for(self.index) or self.index.absolute().as_uri()
        return (
            f'<div class="foxnb-report-link">Report <b>{escape(self.title)}</b>: '
            f'<a href="{escape(href)}" target="_blank">{escape(self.index)}</a> '
            f"({escape(self.summary())})</div>"
        )

    def __repr__(self) -> str:
        return f"<Report {self.title!r} at {self.path}: {self.summary()}>"


def write_report(
    store: RunStore,
    workdir: Path,
    runs: str | RunsLike | pd.DataFrame,
    path: str | Path,
    *,
    rows: str | None = None,
    cols: str | None = None,
    overwrite: bool = False,
    show: Sequence[str] | None = None,
    sort_by: str | None = None,
    shade: str | None = None,
) -> Report:
    """``Session.report``: select the runs, copy and check their videos, write the folder.

    ``workdir`` is the session's work folder (paths under it are written relative to it).
    ``show`` (default: whichever of ``DEFAULT_SHOW`` any run has), ``sort_by`` and ``shade``
    are as for ``fx.compare``.
    """
    dest = Path(path).expanduser().absolute()
    check_folder_path(dest, shown=str(path))
    _check_destination(dest, overwrite, shown=str(path))
    title, frame, axes = _select(store, runs)
    rows, cols = grid_axes(frame, axes, rows, cols)
    if show is None:
        show = [c for c in DEFAULT_SHOW if c in frame and frame[c].notna().any()]
    show = check_outcome_columns(frame, show, sort_by, shade)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers_beside(dest)
    build = temp_folder_beside(dest, "report")
    build.mkdir()
    try:
        copies, problems = copy_videos(frame, build / "videos")
        table = portable_runs(frame, {r: c.src for r, c in copies.items()}, workdir)
        write_tables(table, build)
        created_at = datetime.now(timezone.utc)
        page = page_html(
            title,
            table,
            rows,
            cols,
            [a for a in axes if a in table.columns],
            copies,
            problems,
            created_at=created_at,
            version=__version__,
            show=show,
            sort_by=sort_by,
            shade=shade,
        )
        (build / "index.html").write_text(page, encoding="utf-8")
        _write_manifest(build, title, table, rows, cols, problems, created_at, __version__)
        size_bytes = sum(f.stat().st_size for f in build.rglob("*") if f.is_file())
        _publish(build, dest, overwrite, shown=str(path))
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    if problems:
        listed = "; ".join(f"{p.run_id}: {p.reason}" for p in problems)
        warnings.warn(
            f"report {title!r}: {len(problems)} completed run(s) without their video: {listed}",
            FoxnbWarning,
            stacklevel=3,
        )
    videos = len({copy.src for copy in copies.values()})
    return Report(dest, title, len(table), videos, tuple(problems), size_bytes)


# ---------------------------------------------------------------------------- what to report


def _select(store: RunStore, runs: object) -> tuple[str, pd.DataFrame, list[str]]:
    """The report's title, its runs, and the axes of variation (in grid order)."""
    if isinstance(runs, Experiment):
        return runs.name, runs.df, list(runs.axes)
    if isinstance(runs, pd.DataFrame | RunsLike):
        frame = runs_frame(runs, field="name")
        names = set(frame["experiment"].dropna()) if "experiment" in frame else set()
        title = str(names.pop()) if len(names) == 1 else "runs"
        return title, frame.reset_index(drop=True), varying(frame)
    if not isinstance(runs, str) or not runs.strip():
        raise ValidationError(
            "name", "must be an experiment name, a Sweep or a DataFrame of runs (fx.runs())"
        )
    everything = store.dataframe()
    known = sorted(everything["experiment"].dropna().unique()) if "experiment" in everything else []
    if runs not in known:
        hint = closest_name(runs, [str(k) for k in known])
        more = f"; did you mean {hint!r}?" if hint else ""
        listed = ", ".join(repr(str(k)) for k in known) or "none"
        raise ValidationError(
            "name",
            f"no runs of experiment {runs!r} in {store.location}{more} "
            f"(experiments recorded there: {listed})",
        )
    frame = everything[everything["experiment"] == runs]
    if "cell" in frame:  # grid order; a re-run's rows follow the first run's, cell by cell
        frame = frame.assign(cell=frame["cell"].astype("Int64")).sort_values("cell", kind="stable")
    return runs, frame.reset_index(drop=True), varying(frame)


def varying(frame: pd.DataFrame) -> list[str]:
    """The request fields whose value differs between runs, slowest-changing first.

    In a sweep's grid order the first axis changes least often, so this recovers the
    sweep's own axis order from its rows; ties keep the order of ``AXIS_FIELDS``.
    """
    changes: dict[str, int] = {}
    for column in AXIS_FIELDS:
        if column not in frame.columns:
            continue
        values = [value_key(v) for v in frame[column]]
        if len(set(values)) > 1:
            changes[column] = sum(a != b for a, b in itertools.pairwise(values))
    return sorted(changes, key=lambda c: (changes[c], AXIS_FIELDS.index(c)))


def grid_axes(
    frame: pd.DataFrame, axes: Sequence[str], rows: str | None, cols: str | None
) -> tuple[str, str]:
    """The grid's two axes: those asked for, else the varying ones, else constant fields."""
    for name, axis in (("rows", rows), ("cols", cols)):
        if axis is not None and (not isinstance(axis, str) or axis not in frame.columns):
            hint = closest_name(str(axis), [str(c) for c in frame.columns])
            more = f"; did you mean {hint!r}?" if hint else ""
            raise ValidationError(name, f"{axis!r} is not a column of the runs{more}")
    fillers = ("model", "prompt", "seed", "aspect_ratio", "run_id")
    pool = list(
        dict.fromkeys(a for a in (*axes, *fillers) if a in frame.columns and a not in (rows, cols))
    )
    if rows is None and cols is None and len(axes) == 1:
        cols = pool.pop(0)  # one axis reads best across the page, under one labelled row
    if rows is None and pool:
        rows = pool.pop(0)
    if cols is None and pool:
        cols = pool.pop(0)
    if rows is None or cols is None:
        raise ValidationError("cols", "the runs have no second column for a grid; pass rows=")
    if rows == cols:
        raise ValidationError("cols", f"must differ from rows (both are {rows!r})")
    return rows, cols


# ---------------------------------------------------------------------------- the folder


def _write_manifest(
    folder: Path,
    title: str,
    table: pd.DataFrame,
    rows: str,
    cols: str,
    problems: Sequence[VideoProblem],
    created_at: datetime,
    version: str,
) -> None:
    files = [
        {
            "path": file.relative_to(folder).as_posix(),
            "size_bytes": file.stat().st_size,
            "sha256": sha256_file(file),
        }
        for file in sorted(folder.rglob("*"))
        if file.is_file()
    ]
    manifest = {
        "format": MANIFEST_FORMAT,
        "foxnb_version": version,
        "created_at": created_at.isoformat(timespec="seconds"),
        "title": title,
        "backends": sorted(set(table["backend"].dropna().astype(str)))
        if "backend" in table
        else [],
        "runs": len(table),
        "grid": {"rows": rows, "cols": cols},
        "missing_videos": [{"run_id": p.run_id, "reason": p.reason} for p in problems],
        "files": files,
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False)
    (folder / "manifest.json").write_text(text + "\n", encoding="utf-8")


def _check_destination(dest: Path, overwrite: bool, shown: str) -> None:
    """Refuse an existing ``dest`` unless ``overwrite``, and even then anything but a report."""
    if not dest.exists() and not dest.is_symlink():
        return
    if not overwrite:
        raise ValidationError("path", f"{shown} already exists; pass overwrite=True to replace it")
    if dest.is_symlink() or not dest.is_dir():
        raise ValidationError("path", f"{shown} is not a folder; foxnb only replaces its reports")
    if any(dest.iterdir()) and not _is_report(dest):
        raise ValidationError(
            "path",
            f"{shown} is not a foxnb report folder (no foxnb manifest.json in it); "
            "foxnb only replaces its own reports, so choose another path",
        )


def _is_report(folder: Path) -> bool:
    return json_format_of(folder / "manifest.json") == MANIFEST_FORMAT


def _publish(build: Path, dest: Path, overwrite: bool, shown: str) -> None:
    """Rename the finished ``build`` folder to ``dest``, moving an old report aside first."""
    _check_destination(dest, overwrite, shown)  # again: it may have appeared meanwhile
    replace_folder(build, dest)
