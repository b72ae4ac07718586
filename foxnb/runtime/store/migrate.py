"""Moving an old ``runs.jsonl`` ledger into a store, losslessly and exactly once.

Opening a store for a work folder that still holds ``runs.jsonl``:

1. the file is locked (the old ledger's own ``flock``, so a kernel still running an older
   foxnb cannot append while it is read) and read whole;
2. in one transaction (serialized with every other migrating process): the part of the file
   not imported before (a ``meta`` row records the size and sha256 of each imported content)
   is appended event by event, then checked — the log must hold exactly those events and each
   run must equal what the ledger merged from them — and the content's size and sha256 are
   recorded;
3. the file is renamed to ``runs.jsonl.bak`` (or ``.bak.1``, … if that exists), still locked.

A crash before 2 commits leaves the store untouched; a crash between 2 and 3 leaves the file
in place, and the next opening finds its content recorded and only renames it. A second
process opening at the same time waits, then finds nothing left to import.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import StoreError
from .jsonl import LEDGER_NAME, ledger_merge, parse_events
from .sends import SqlStore
from .txn import SqlTxn

MIGRATION_KEY = "foxnb-migrate-jsonl"
"""``exclusive()`` key every migrating process serializes on."""


@dataclass(frozen=True)
class Migration:
    """What one migration did: the events it imported and where the old file went."""

    source: Path
    events: int
    runs: int
    backup: Path | None


def migrate_folder(store: SqlStore, folder: Path) -> Migration | None:
    """Import ``folder/runs.jsonl`` into ``store`` if it exists (see the module docstring)."""
    source = folder / LEDGER_NAME
    try:
        handle = open(source, "rb")  # noqa: SIM115 - held open for the lock, closed below
    except FileNotFoundError:
        return None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if not _same_file(handle, source):
            return None  # another process renamed it while we waited for the lock
        data = handle.read()
        events, runs = _import(store, source, data)
        backup = _backup_name(source)
        os.rename(source, backup)
        _fsync_dir(folder)
    return Migration(source, events, runs, backup)


def _import(store: SqlStore, source: Path, data: bytes) -> tuple[int, int]:
    """Append the not yet imported part of ``data``; the events and runs imported."""
    with store.exclusive(MIGRATION_KEY) as txn:
        done = 0
        for record in txn.meta("jsonl:").values():
            size = int(record["size"])
            if size <= len(data) and hashlib.sha256(data[:size]).hexdigest() == record["sha256"]:
                done = max(done, size)
        if done == len(data):
            return 0, 0
        events = parse_events(data[done:])
        before = txn.runs()
        count = txn.event_count()
        txn.append_objects(events)
        _verify(txn, before, events, count, store.location)
        digest = hashlib.sha256(data).hexdigest()
        txn.set_meta(
            f"jsonl:{digest}",
            {
                "size": len(data),
                "sha256": digest,
                "source": str(source),
                "events": len(events),
                "imported_at": time.time(),
            },
        )
        return len(events), len(ledger_merge(events))


def _verify(
    txn: SqlTxn,
    before: dict[str, dict[str, Any]],
    events: list[dict[str, Any]],
    count: int,
    location: str,
) -> None:
    """Check the import against the file, independently of the store's merge code: the log
    gained exactly these events, and every run equals the ledger's merge of them (on top of
    what the store held before), flagged where it has two task ids."""
    problem = None
    if txn.event_count() != count + len(events) or txn.last_events(len(events)) != events:
        problem = "the event log does not hold exactly the file's events"
    after = txn.runs()
    merged = ledger_merge([*({**run} for run in before.values()), *events])
    for run_id in ledger_merge(events):
        want = merged[run_id]
        if len(txn.task_ids(run_id)) > 1:
            want = {**want, "duplicate_tasks": True}
        if after.get(run_id) != want:
            problem = problem or f"run {run_id} differs from what the ledger recorded"
    if problem is not None:
        raise StoreError(
            f"migrating {LEDGER_NAME} into {location} failed: {problem}; nothing was changed "
            "and the file is kept"
        )


def _same_file(handle: Any, path: Path) -> bool:
    """Whether the open ``handle`` is still the file at ``path``."""
    try:
        return os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _backup_name(source: Path) -> Path:
    backup = source.with_name(source.name + ".bak")
    number = 0
    while backup.exists():
        number += 1
        backup = source.with_name(f"{source.name}.bak.{number}")
    return backup


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
