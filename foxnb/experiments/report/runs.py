"""The runs of a report as a table that travels: typed columns, and no local paths in it.

``portable_runs`` turns the runs DataFrame into what ``runs.parquet`` and ``runs.csv`` hold.
Each column gets one dtype that round-trips through Parquet: the ledger's own (categories for
model, status and aspect ratio; UTC datetimes for times; ``Int64`` for seed and progress), and
for extra fields one that fits their values (``cell`` is ``Int64``, epoch ``*_at`` fields are
datetimes). Local paths are rewritten: results point into the report, inputs are named by file
name, and any other text mentioning the runs folder or the home folder says ``<workdir>`` or
``~`` instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...models import is_url
from ...runtime.store import COLUMNS


def portable_runs(
    frame: pd.DataFrame, video_paths: Mapping[str, str], workdir: Path
) -> pd.DataFrame:
    """The runs as written to ``runs.csv``/``runs.parquet``: typed, with no local paths.

    ``video_path`` is ``video_paths[run_id]``, the copy's path inside the report (``<NA>``
    when there is none), a
    local input is named by its file name, and other text mentioning the runs folder or
    the home folder says ``<workdir>`` or ``~`` instead.
    """
    table = frame.drop(columns=["at"], errors="ignore").reset_index(drop=True).copy()
    table["video_path"] = pd.array([video_paths.get(r) for r in table["run_id"]], dtype="string")
    inputs = [
        str(v) for v in table.get("video", pd.Series(dtype=object)).dropna() if not is_url(str(v))
    ]
    replacements = {str(Path(v).parent) + os.sep: "" for v in inputs}
    replacements[str(workdir)] = "<workdir>"
    replacements[str(Path.home())] = "~"
    # Never "/" itself (a home folder of "/" in some containers): that would rewrite all text.
    order = sorted((p for p in replacements if len(Path(p).parts) > 1), key=len, reverse=True)
    for column in table.columns:
        typed = _column_dtype(str(column), table[column])
        try:
            table[column] = _as(table[column], typed)
        except (TypeError, ValueError):
            # Values the ledger's dtype cannot hold (a hand-made frame, an old field): keep
            # them in the dtype they fit rather than fail the whole table.
            typed = _inferred_dtype(str(column), table[column])
            table[column] = _as(table[column], typed)
        if typed in ("string", "category"):
            table[column] = _scrub(table[column], order, replacements)
    result: pd.DataFrame = table
    return result


def _column_dtype(column: str, values: pd.Series) -> str:
    """The dtype a column is written with: the ledger's, else one that fits its values."""
    known = COLUMNS.get(column)
    if known is not None:
        return known
    return _inferred_dtype(column, values)


def _inferred_dtype(column: str, values: pd.Series) -> str:
    """The dtype that fits a column's values (not the ledger's)."""
    if column in ("cell", "hop", "candidate"):  # a sweep's cell, a chain's hop and candidate
        return "Int64"
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_integer_dtype(values):
        return "Int64"
    if pd.api.types.is_float_dtype(values) and not column.endswith("_at"):
        return "float64"
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        return "datetime"
    present = [v for v in values if value_key(v) is not None]
    if not present or isinstance(values.dtype, pd.StringDtype):
        return "string"
    if all(isinstance(v, bool) for v in present):
        return "boolean"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        if column.endswith("_at"):
            return "datetime"  # epoch seconds, like the ledger's own times
        return "Int64" if all(float(v).is_integer() for v in present) else "float64"
    if all(isinstance(v, str) for v in present):
        return "string"
    return "json"


def _as(values: pd.Series, dtype: str) -> pd.Series:
    if dtype == "datetime":
        if pd.api.types.is_datetime64_dtype(values):
            values = values.dt.tz_localize("UTC")
        elif not isinstance(values.dtype, pd.DatetimeTZDtype):
            values = pd.to_datetime(values, unit="s", utc=True)
        return values.astype("datetime64[ns, UTC]")  # one unit for all; parquet has no "s"
    if dtype == "category":
        # String categories, so a column with no values yet still reads back as categorical.
        return values.astype("string").astype("category")
    if dtype == "object":  # tags: a list of text per run (a parquet file gives arrays back)
        return values.map(
            lambda v: [] if isinstance(v, str) or value_key(v) is None else [str(t) for t in v]
        )
    if dtype == "json":
        return pd.Series(
            [None if value_key(v) is None else json.dumps(v, default=str) for v in values],
            index=values.index,
            dtype="string",
        )
    try:
        typed: pd.Series = values.astype(pd.api.types.pandas_dtype(dtype))
    except (TypeError, ValueError, OverflowError):
        # e.g. a seed of 2**63 written by an older foxnb: no Int64 holds it, the exact
        # digits do (as text, in both files).
        typed = pd.Series([value_text(v) for v in values], index=values.index, dtype="string")
    return typed


def _scrub(values: pd.Series, order: list[str], replacements: dict[str, str]) -> pd.Series:
    def clean(text: object) -> object:
        if not isinstance(text, str):
            return text
        for old in order:
            text = text.replace(old, replacements[old])
        return text

    cleaned = values.astype("string").map(clean).astype("string")
    return cleaned.astype("category") if isinstance(values.dtype, pd.CategoricalDtype) else cleaned


def write_tables(table: pd.DataFrame, folder: Path) -> None:
    """``runs.parquet`` (dtypes kept) and ``runs.csv`` (tags as JSON lists) in ``folder``."""
    table.to_parquet(folder / "runs.parquet", index=False)
    flat = table.copy()
    if "tags" in flat:
        flat["tags"] = flat["tags"].map(json.dumps)
    flat.to_csv(folder / "runs.csv", index=False)


def value_key(value: Any) -> Hashable:
    """A cell value comparable across rows: missing values (NA, NaN, NaT) are None."""
    if isinstance(value, list | tuple | np.ndarray):
        return tuple(value_key(v) for v in value)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        return repr(value)
    return value if isinstance(value, Hashable) else repr(value)


def value_text(value: Any) -> str | None:
    """A cell value as text, None when missing."""
    key = value_key(value)
    return None if key is None else str(key)
