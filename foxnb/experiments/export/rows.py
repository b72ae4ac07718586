"""What an export sends for each run, worked out once for MLflow and W&B alike.

An export starts from a DataFrame of runs (``fx.runs()``, a sweep's ``df``) and a report folder
written by ``fx.report`` for the same runs. The report did the careful part already: its
``videos/`` hold each completed run's MP4, copied only if it still matches the sha256 the ledger
recorded, with a JPEG poster beside it. From here each run becomes an ``ExportRun``:

- ``tags``: who the run is: ``run_id``, ``task_id``, ``sha256``, ``backend`` (``sim`` or
  ``real``), ``status``, ``experiment``, ``cell``, ``reused_from``, ``error_code``,
  ``error_message``, and the scores' ``scores_version`` and ``score_notes``;
- ``params``: what was asked for: ``prompt``, ``video`` and the other request fields;
- ``metrics``: what it cost and how it scored: ``credits``, ``duration_s`` and whichever of
  the result scores (``SCORE_METRICS``) the DataFrame has, as numbers (booleans as 1.0/0.0).

Only these columns leave the machine, never the ledger's other fields (the service's host,
upload URLs, local file paths). Text is made portable as in the report's ``runs.csv``: a local
input clip is named by its file name, and any mention of the runs folder or the home folder
reads ``<workdir>`` or ``~``. The ledger never holds the API key, so no export can.
"""

from __future__ import annotations

import hashlib
import math
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...errors import ValidationError
from ...models import REQUEST_FIELDS, closest_name
from ...scores import SCORE_COLUMNS
from ..report import varying
from ..report.runs import portable_runs, value_key
from ..runs_like import Experiment, runs_frame

TAG_COLUMNS = (
    "run_id",
    "task_id",
    "sha256",
    "backend",
    "status",
    "experiment",
    "cell",
    "reused_from",
    "error_code",
    "error_message",
    "scores_version",
    "score_notes",
)
PARAM_COLUMNS = ("prompt", "video", *REQUEST_FIELDS)
SCORE_METRICS = tuple(
    name for name, dtype in SCORE_COLUMNS if dtype != "string" and name not in TAG_COLUMNS
)
"""The result scores (``foxnb.scores``) exported as metrics whenever the runs have them."""
METRIC_COLUMNS = ("credits", "duration_s", *SCORE_METRICS)

ReportSource = str | Path | Callable[[Path], Path]
"""A report folder: an existing one, or a function writing one at the path it is given."""


@dataclass(frozen=True)
class ExportRun:
    """One run as exported: its tags, params and metrics, its video and poster (if any)."""

    run_id: str
    label: str
    tags: dict[str, Any]
    params: dict[str, Any]
    metrics: dict[str, float]
    started_at_ms: int | None
    ended_at_ms: int | None
    video: Path | None
    poster: Path | None

    @property
    def status(self) -> str:
        """The run's foxnb status (``completed``, ``failed``, ``processing``, ...)."""
        return str(self.tags.get("status", ""))


def select_runs(
    runs: pd.DataFrame, selection: object, name: str | None = None
) -> tuple[str, pd.DataFrame]:
    """The experiment's name and its runs, from a name, a ``Sweep`` or a DataFrame of runs.

    ``runs`` is every run (``fx.runs()``); a name picks those with ``experiment == name``.
    A DataFrame (or other runs-like object) is taken as it is, named by ``name``, by its
    own ``name`` (a ``Sweep``'s) or by the one experiment its runs belong to.
    """
    if isinstance(selection, Experiment):
        return name or selection.name, selection.df
    if not isinstance(selection, str):
        selection = runs_frame(selection, "experiment")
        if selection.empty:
            raise ValidationError("experiment", "the DataFrame has no runs to export")
        found = sorted(map(str, selection.get("experiment", pd.Series()).dropna().unique()))
        if name is None and len(found) != 1:
            held = f"runs of {len(found)} experiments ({', '.join(found)})" if found else "no"
            raise ValidationError(
                "name",
                f"the DataFrame holds {held} experiment names; pass name= to label the export",
            )
        return name or found[0], selection.reset_index(drop=True)
    if not selection.strip():
        raise ValidationError(
            "experiment", "must be an experiment name, a Sweep or a DataFrame of runs (fx.runs())"
        )
    known = sorted(map(str, runs["experiment"].dropna().unique())) if "experiment" in runs else []
    if selection not in known:
        hint = closest_name(selection, known)
        more = f"; did you mean {hint!r}?" if hint else ""
        listed = ", ".join(map(repr, known)) or "none"
        raise ValidationError(
            "experiment", f"no runs of experiment {selection!r}{more} (recorded: {listed})"
        )
    frame = runs[runs["experiment"] == selection]
    if "cell" in frame:  # grid order, as in the report
        frame = frame.assign(cell=frame["cell"].astype("Int64")).sort_values("cell", kind="stable")
    return name or selection, frame.reset_index(drop=True)


def export_runs(frame: pd.DataFrame, report: Path, workdir: Path) -> list[ExportRun]:
    """Each run of ``frame`` as exported, its video and poster taken from ``report``."""
    copies = pd.read_parquet(report / "runs.parquet", columns=["run_id", "video_path"])
    video_paths = {
        str(run_id): str(path)
        for run_id, path in zip(copies["run_id"], copies["video_path"], strict=True)
        if value_key(path) is not None
    }
    table = portable_runs(frame, video_paths, workdir)
    axes = varying(frame)
    metric_columns = [c for c in METRIC_COLUMNS if c in table.columns and _numeric(table[c])]
    exported = []
    for record in table.to_dict(orient="records"):
        row = {str(k): v for k, v in record.items()}
        run_id = str(row["run_id"])
        video = report / video_paths[run_id] if run_id in video_paths else None
        if video is not None and not video.is_file():
            video = None
        poster = video.with_suffix(".jpg") if video is not None else None
        exported.append(
            ExportRun(
                run_id=run_id,
                label=_label(row, axes) or run_id,
                tags=_present(row, TAG_COLUMNS),
                params=_present(row, PARAM_COLUMNS),
                metrics={c: float(row[c]) for c in metric_columns if value_key(row[c]) is not None},
                started_at_ms=_ms(row.get("submitted_at")) or _ms(row.get("recorded_at")),
                ended_at_ms=_ms(row.get("completed_at")),
                video=video,
                poster=poster if poster is not None and poster.is_file() else None,
            )
        )
    return exported


def export_key(name: str, runs: list[ExportRun]) -> str:
    """A stable id for exporting these runs as experiment ``name``: 16 hex digits.

    Made of the name and the first run's id (run ids sort by time and are random), so
    exporting the experiment again, with more runs since, finds the same parent run, while
    two people's experiments that happen to share a name stay apart.
    """
    first = min((run.run_id for run in runs), default="")
    return hashlib.sha256(f"{name}\n{first}".encode()).hexdigest()[:16]


def slug(name: str) -> str:
    """``name`` as lowercase letters, digits and dashes, at most 40 characters."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-") or "experiment"


@contextmanager
def report_folder(source: ReportSource, scratch: Path) -> Iterator[Path]:
    """The report folder to export from: ``source`` itself, or one it writes for the export.

    A callable is given a path in a temporary folder under ``scratch`` (removed afterwards)
    and returns the folder it wrote.
    """
    if callable(source):
        with tempfile.TemporaryDirectory(prefix=".foxnb-export-", dir=scratch) as tmp:
            yield Path(source(Path(tmp) / "report"))
        return
    folder = Path(source)
    if not (folder / "runs.parquet").is_file():
        raise ValidationError("report", f"{folder} is not an fx.report() folder (no runs.parquet)")
    yield folder


def missing(package: str, extra: str, what: str) -> ModuleNotFoundError:
    """The error for an optional dependency that is not installed, naming the pip command."""
    return ModuleNotFoundError(
        f"{what} needs the {package} package, which is not installed here. "
        f"Install it with: pip install 'foxnb[{extra}]'",
        name=package,
    )


def export_html(service: str, summary: str, url: str | None) -> str:
    """How an export shows in a notebook: one line, linked to the service's page if known."""
    from html import escape

    text = escape(summary)
    if url:
        text = f'<a href="{escape(url)}" target="_blank">{text}</a>'
    return f'<div class="foxnb-export">{escape(service)}: {text}</div>'


def _present(row: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    """The row's values in ``columns`` that are set, as plain Python values."""
    return {c: _plain(row[c]) for c in columns if c in row and value_key(row[c]) is not None}


def _plain(value: Any) -> Any:
    """A pandas/numpy scalar as the Python value it stands for."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _numeric(values: pd.Series) -> bool:
    """True when every value present is a number or a boolean (those become metrics)."""
    present = [v for v in values if value_key(v) is not None]
    return all(isinstance(v, bool | int | float | np.bool_ | np.number) for v in present)


def _ms(value: Any) -> int | None:
    """A time (``Timestamp`` or epoch seconds) as epoch milliseconds, None when unset."""
    if value_key(value) is None:
        return None
    if isinstance(value, pd.Timestamp):
        return int(value.timestamp() * 1000)
    if isinstance(value, int | float) and math.isfinite(value):
        return int(value * 1000)
    return None


def _label(row: dict[str, Any], axes: list[str]) -> str:
    """``prompt='A storm rolls…', seed=2``: the run's values on the axes that vary."""
    parts = []
    for axis in axes:
        value = _plain(row.get(axis))
        if isinstance(value, str) and len(value) > 24:
            value = value[:23] + "…"
        parts.append(f"{axis}={value!r}")
    return ", ".join(parts)
