"""The runs DataFrame straight from the stored JSON text, parsed by pyarrow.

Loading 100,000 runs is mostly parsing: turning each run's JSON into a Python dict and then
the dicts into columns costs about three times what pyarrow's JSON reader (C++, both cores)
takes to build the columns directly. ``frame_from_json`` gives the same DataFrame as
``to_dataframe`` (same columns, order, dtypes and values) or ``None`` when the runs hold
something it would not render the same way — a nested object, a field whose values change
type from run to run — and the caller then takes the dict path.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from .columns import COLUMNS, typed_column

# Exact pandas counterparts of arrow's nullable integers and booleans (not float/object).
_PANDAS_TYPES: dict[Any, Any] = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
# A text column of ``COLUMNS`` straight into pandas' string dtype (not through Python strings).
_STRINGS: dict[Any, Any] = {**_PANDAS_TYPES, pa.string(): pd.StringDtype()}


def frame_from_json(texts: list[str]) -> pd.DataFrame | None:
    """The runs DataFrame of runs given as JSON objects (one text each), or ``None``."""
    table = read_lines("\n".join(texts).encode()) if texts else None
    return None if table is None else frame_from_table(table, len(texts))


def read_lines(data: bytes) -> pa.Table | None:
    """Runs given as UTF-8 JSON lines as an arrow table (``None``: arrow cannot type them)."""
    try:
        return pa_json.read_json(io.BytesIO(data))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # e.g. a field that is a number in one run and a text in another


def join_tables(tables: list[pa.Table]) -> pa.Table | None:
    """Tables of runs read in parts as one (a field null in one part and typed in another is
    fine; a field of two types is not: ``None``)."""
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def frame_from_table(table: pa.Table, rows: int) -> pd.DataFrame | None:
    """The runs DataFrame of ``rows`` runs read into an arrow table, or ``None``."""
    if table.num_rows != rows:
        return None
    columns: dict[str, pd.Series[Any]] = {}
    for name in dict.fromkeys([*COLUMNS, *table.column_names]):
        if name == "at":
            continue
        dtype = COLUMNS.get(name)
        if name not in table.column_names or pa.types.is_null(table.column(name).type):
            columns[name] = _missing(rows, dtype)
            continue
        chunked = table.column(name)
        kind = chunked.type
        if _nested(kind):
            return None  # arrow would give every object the union of all their keys
        if pa.types.is_list(kind) and dtype not in (None, "object"):
            return None  # a list where COLUMNS wants a scalar: the dict path says what to do
        if pa.types.is_list(kind) or dtype in (None, "object"):
            # Plain Python values, as the dict path has them (pandas infers extras' dtype).
            objects = dtype == "object" or pa.types.is_list(kind)
            series = pd.Series(chunked.to_pylist(), dtype=object if objects else None)
            columns[name] = typed_column(series, dtype)
            continue
        if pa.types.is_floating(kind) and _beyond_exact_floats(chunked):
            return None  # perhaps an integer wider than a float holds (a seed of 2**63)
        numeric = pa.types.is_floating(kind) or pa.types.is_integer(kind)
        if dtype == "datetime" and not numeric:
            return None  # a time that is not seconds since the epoch: the dict path decides
        if dtype == "category" and pa.types.is_string(kind):
            # Encoded by arrow, not through a Python string per run; categories sorted, as
            # pandas makes them from the values.
            encoded = chunked.dictionary_encode().to_pandas()
            columns[name] = encoded.cat.set_categories(sorted(encoded.cat.categories))
            continue
        mapper = _STRINGS if dtype == "string" else _PANDAS_TYPES
        columns[name] = typed_column(chunked.to_pandas(types_mapper=mapper.get), dtype)
    frame: pd.DataFrame = pd.DataFrame(columns)
    return frame


def _missing(rows: int, dtype: str | None) -> pd.Series[Any]:
    """A column no run has a value in, typed as ``COLUMNS`` says (numbers and flags built
    as all-masked arrays: no Python object per run)."""
    masked = np.ones(rows, bool)
    values: Any
    if dtype == "Int64":
        values = pd.arrays.IntegerArray(np.zeros(rows, "int64"), masked)
    elif dtype == "boolean":
        values = pd.arrays.BooleanArray(np.zeros(rows, bool), masked)
    elif dtype == "float64":
        values = np.full(rows, np.nan)
    else:
        return typed_column(pd.Series([None] * rows, dtype=object), dtype)
    column: pd.Series[Any] = pd.Series(values)
    return column


def _beyond_exact_floats(values: pa.ChunkedArray) -> bool:
    """Whether a float column holds a magnitude of 2**53 or more: arrow reads any integer
    too wide for int64 as a float, and from 2**53 on a float no longer holds every integer."""
    largest = pc.max(pc.abs(values)).as_py()
    return largest is not None and largest >= 2.0**53


def _nested(kind: pa.DataType) -> bool:
    """Whether ``kind`` holds objects (structs or maps) at any depth."""
    if pa.types.is_struct(kind) or pa.types.is_map(kind):
        return True
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _nested(kind.value_type)
    return False
