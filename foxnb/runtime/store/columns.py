"""The columns of the runs DataFrame and how run dicts become one.

A run is a dict of its latest fields; ``to_dataframe`` turns a list of them into a pandas
DataFrame whose first columns are ``COLUMNS`` (in that order, with those dtypes, present even
when no run has the field) followed by any other fields the runs carry, in the dtype pandas
infers for them. A missing value is ``<NA>``/``NaN``/``NaT`` in typed columns and ``None`` in
object columns.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ...models import JUDGEMENT_COLUMNS
from ...scores import SCORE_COLUMNS

# Column order and dtypes of the DataFrame, one line each.
COLUMNS: dict[str, str] = {
    "run_id": "string",
    "task_id": "string",
    "status": "category",
    "progress": "Int64",
    "backend": "category",
    "host": "string",
    "model": "category",
    "prompt": "string",
    "video": "string",
    "video_url": "string",
    "aspect_ratio": "category",
    "generate_audio": "boolean",
    "auto_fix": "boolean",
    "safety_tolerance": "Int64",
    "negative_prompt": "string",
    "seed": "Int64",
    "tags": "object",
    "error_code": "string",
    "error_message": "string",
    "submitted_at": "datetime",
    "accepted_at": "datetime",
    "completed_at": "datetime",
    "duration_s": "float64",
    "estimated_time_s": "float64",
    "credits": "float64",
    "result_url": "string",
    "result_expires_at": "datetime",
    "video_path": "string",
    "sha256": "string",
    "size_bytes": "Int64",
    "input_sha256": "string",
    # How the result turned out: scores (runtime/scoring.py), then your judgement.
    **dict(SCORE_COLUMNS),
    "scored_at": "datetime",
    "score_error": "string",
    **dict(JUDGEMENT_COLUMNS),
}


def to_dataframe(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Build the runs DataFrame from run dicts, with the dtypes in ``COLUMNS``."""
    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    for column in COLUMNS:
        if column not in frame:
            frame[column] = None
    extra = [c for c in frame.columns if c not in COLUMNS and c != "at"]
    frame = frame[list(COLUMNS) + extra]
    for column in frame.columns:
        frame[column] = typed_column(frame[column], COLUMNS.get(column))
    result: pd.DataFrame = frame.reset_index(drop=True)
    return result


def typed_column(values: pd.Series[Any], dtype: str | None) -> pd.Series[Any]:
    """``values`` in the dtype ``COLUMNS`` gives its field (``None``: left as they are)."""
    if dtype is None and values.dtype != object:
        return values
    if dtype is None or dtype == "object":
        # Missing is None in an object column, whether the run lacks the field or holds
        # None (from_records would say NaN for the one and None for the other).
        objects: pd.Series[Any] = values.astype(object).where(values.notna(), None)
        return objects
    if dtype == "datetime":
        return pd.to_datetime(values, unit="s", utc=True)
    try:
        return values.astype(dtype)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError, OverflowError):
        # e.g. a seed of 2**63 in an old ledger: Int64 cannot hold it. Keep the exact values
        # (object dtype) rather than fail to show any run at all.
        return values.astype(object)
