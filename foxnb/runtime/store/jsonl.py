"""The old ``runs.jsonl`` format: read it losslessly, and write a store's events back to it.

Each line is one event object ``{"run_id": ..., "at": ..., <fields>}``. Reading follows the
ledger that wrote these files: blank lines, lines torn by a crash mid-write (not valid JSON)
and lines that are not objects are skipped; every other line is kept whole, unknown fields
included, and integers of any size stay exact (the ledger wrote them with Python's ``json``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..._json import dumps, loads_foreign

if TYPE_CHECKING:
    from .base import RunStore

LEDGER_NAME = "runs.jsonl"


def parse_events(data: bytes) -> list[dict[str, Any]]:
    """The event objects of a JSONL ledger's bytes, in order, torn lines skipped.

    A last line without its newline is kept if it is a whole JSON object: the ledger writes a
    line and its newline in one call, so only a crash can leave one, and the ledger itself
    reads such a line once its next append fences it off. A line cut short is not valid JSON
    and is skipped, as the ledger skips it.
    """
    events = []
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            event = loads_foreign(raw)
        except ValueError:  # orjson's and json's decode errors are both ValueErrors
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def ledger_merge(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Runs exactly as the JSONL ledger merged them: by first appearance, later fields win."""
    runs: dict[str, dict[str, Any]] = {}
    for event in events:
        run_id = event.get("run_id")
        if isinstance(run_id, str):
            if run_id in runs:
                runs[run_id].update(event)
            else:
                runs[run_id] = dict(event)
    return runs


def export_jsonl(store: RunStore, path: str | Path) -> int:
    """Write ``store``'s event log to ``path`` in the old ``runs.jsonl`` format (one object a
    line, oldest first), for diffing and sharing; returns the number of events.

    The file appears whole or not at all (written beside it, fsynced, then renamed).
    """
    target = Path(path)
    partial = target.with_name(target.name + ".part")
    count = 0
    with open(partial, "w", encoding="utf-8") as out:
        for event in store.events():
            out.write(dumps(event).lstrip() + "\n")  # without dumps' exactness mark
            count += 1
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, target)
    return count
