"""What ``fx.compare`` and ``fx.report`` accept as runs: a DataFrame, anything with ``.df``,
or a list of jobs.

``RunsLike`` is the protocol: a ``Sweep`` (and any other experiment foxnb or you build) is
runs-like because it has a ``df`` property holding its runs as ``fx.runs()`` rows. An
``Experiment`` also says its ``name`` and the ``axes`` it varies, which reports use for the
title and the grid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from ..errors import ValidationError
from ..runtime.jobs import Job

REQUIRED_COLUMNS = ("run_id", "status")


@runtime_checkable
class RunsLike(Protocol):
    """Anything holding runs as a DataFrame of ``fx.runs()`` rows."""

    @property
    def df(self) -> pd.DataFrame: ...


@runtime_checkable
class Experiment(RunsLike, Protocol):
    """Runs with a name and the request fields they vary (a ``Sweep``)."""

    name: str
    axes: list[str]


def runs_frame(runs: object, field: str = "runs") -> pd.DataFrame:
    """``runs`` (a DataFrame, a runs-like object, or a list of jobs) as a DataFrame of runs.

    Raises a ``ValidationError`` naming ``field`` when it is none of these, or lacks the
    ``run_id`` / ``status`` columns.
    """
    if isinstance(runs, pd.DataFrame):
        frame = runs
    elif isinstance(runs, RunsLike):
        frame = runs.df
    elif (
        isinstance(runs, Sequence)
        and not isinstance(runs, str | bytes)
        and all(isinstance(job, Job) for job in runs)
    ):
        records = [job_record(job) for job in runs]
        frame = (
            pd.DataFrame.from_records(records)
            if records
            else pd.DataFrame(columns=list(REQUIRED_COLUMNS))
        )
    else:
        raise ValidationError(
            field, "must be a Sweep, a DataFrame of runs (fx.runs()) or a list of Jobs"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValidationError(field, f"the DataFrame has no {', '.join(missing)} column")
    return frame


def job_record(job: Job) -> dict[str, Any]:
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
