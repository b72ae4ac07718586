"""foxnb's run ledger as it was before the runs store (issue 11), kept for the tests: it
writes the old ``runs.jsonl`` format that ``open_store`` migrates, and reads it as foxnb did,
so migration and export are checked against the real thing. Not part of the package.

The original docstring follows.

The run ledger: an append-only record of every run, on disk next to your notebook.

Each line of ``<workdir>/runs.jsonl`` is one JSON event ``{"run_id": ..., "at": ..., ...}``
carrying the fields that changed; a run is the merge of its events, later ones winning.
The first event of a run is written *before* its create request leaves the machine, so a
paid task can never go unrecorded, and every status change follows. Each append is
flushed and fsynced under a file lock (several kernels may share one folder). A line torn
by a crash mid-write is skipped on read and fenced off by the next append.

``Ledger.dataframe()`` turns the runs into a pandas DataFrame with analysis-friendly dtypes.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from foxnb.runtime.store.columns import COLUMNS, to_dataframe

LEDGER_NAME = "runs.jsonl"
_WIDE_INTEGER = re.compile(rb"[0-9]{20}")

__all__ = ["COLUMNS", "LEDGER_NAME", "Ledger", "to_dataframe"]


class Ledger:
    """Append-only run records in ``folder/runs.jsonl``; safe across threads and processes."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / LEDGER_NAME
        self.path.touch(exist_ok=True)
        self._lock = threading.Lock()
        self._runs: dict[str, dict[str, Any]] = {}
        self._offset = 0

    def append(self, run_id: str, at: float, **fields: Any) -> None:
        """Durably record ``fields`` for ``run_id`` (one line, flushed and fsynced)."""
        self.append_many([(run_id, at, fields)])

    def append_many(self, events: list[tuple[str, float, dict[str, Any]]]) -> None:
        """Record several ``(run_id, at, fields)`` events with one write and one fsync, so a
        crashed process leaves all of them or none (a sweep's cells are recorded this way)."""
        lines = [
            json.dumps({"run_id": run_id, "at": at, **fields}, separators=(",", ":")) + "\n"
            for run_id, at, fields in events
        ]
        data = "".join(lines).encode()
        with self._lock, open(self.path, "ab+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.seek(0, os.SEEK_END)
                if fh.tell() > 0:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        data = b"\n" + data  # fence off a line torn by an earlier crash
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def runs(self) -> dict[str, dict[str, Any]]:
        """Every run as a dict of its latest fields, in order of first appearance.

        Only the bytes appended since the last call are read.
        """
        with self._lock:
            return {k: dict(v) for k, v in self._read_new().items()}

    def _read_new(self) -> dict[str, dict[str, Any]]:
        """Merge the lines appended since the last read; the merged runs (caller holds the
        lock, and must not change them)."""
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            chunk = fh.read()
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for next time
        runs = self._runs
        for event in _events(chunk[:end]):
            run_id = event.get("run_id")
            if isinstance(run_id, str):
                if run_id in runs:
                    runs[run_id].update(event)
                else:
                    runs[run_id] = event
        self._offset += end
        return runs

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The latest fields of one run, or None."""
        return self.runs().get(run_id)

    def dataframe(self) -> pd.DataFrame:
        """One row per run with typed columns (see ``COLUMNS``); extra fields follow."""
        with self._lock:  # the DataFrame copies the values: no need to copy the runs first
            return to_dataframe(list(self._read_new().values()))


def _events(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects in ``data`` (whole lines), skipping lines torn by a crash.

    orjson, because this is most of what loading a large ledger costs: 10,000 runs (~80,000
    lines) parse in ~0.2 s instead of ~0.5 s with the standard library. orjson reads an
    integer wider than 64 bits as a float, so a line holding one (an older foxnb let
    ``seed=2**64`` through) is read by the standard library, which keeps it exact.
    """
    events = []
    wide = _WIDE_INTEGER.search(data) is not None
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            exact = wide and _WIDE_INTEGER.search(raw) is not None
            event = json.loads(raw) if exact else orjson.loads(raw)
        except (orjson.JSONDecodeError, ValueError):
            continue  # a torn line from a crash mid-write
        if isinstance(event, dict):
            events.append(event)
    return events
