"""What :meth:`RunStore.exclusive` yields on the SQL backends: reads and writes inside one
transaction, for planning (a sweep's cells) and migration."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..._json import dumps, loads
from .base import Event
from .kinds import Claim, Owner

if TYPE_CHECKING:
    from .sql import SqlCore


class SqlTxn:
    """What :meth:`SqlCore.exclusive` yields: reads and writes inside its transaction."""

    def __init__(self, store: SqlCore, conn: Any):
        self._store = store
        self._conn = conn

    def runs(self) -> dict[str, dict[str, Any]]:
        """Every run: as committed, plus this transaction's own writes."""
        return self._store._runs_in(self._conn)

    def append_many(self, events: Iterable[Event]) -> None:
        """Record events in this transaction."""
        self._store._apply(self._conn, [{"run_id": r, "at": at, **f} for r, at, f in events])

    def claim_many(
        self, run_ids: Iterable[str], owner: Owner, lease_s: float, now: float
    ) -> dict[str, Claim]:
        """Claim runs as part of this transaction (see :meth:`RunStore.claim_many`)."""
        return self._store._claim_in(self._conn, list(dict.fromkeys(run_ids)), owner, lease_s, now)

    def append_objects(self, events: Sequence[dict[str, Any]]) -> None:
        """Record whole event objects as they were (a migrated JSONL line each)."""
        self._store._apply(self._conn, events)

    def task_ids(self, run_id: str) -> list[str]:
        """Every task id recorded for the run, as this transaction sees them."""
        row = self._store._one(self._conn, "SELECT task_ids FROM runs WHERE run_id = ?", run_id)
        return list(loads(row[0])) if row else []

    def event_count(self) -> int:
        """Events in the log, as this transaction sees them."""
        row = self._store._one(self._conn, "SELECT count(*) FROM events")
        return int(row[0]) if row else 0

    def last_events(self, count: int) -> list[dict[str, Any]]:
        """The newest ``count`` events, oldest first."""
        rows = self._store._all(
            self._conn, "SELECT fields FROM events ORDER BY seq DESC LIMIT ?", count
        )
        return [loads(row[0]) for row in reversed(rows)]

    def meta(self, prefix: str) -> dict[str, Any]:
        """The ``meta`` entries whose key starts with ``prefix``, values parsed."""
        rows = self._store._all(self._conn, "SELECT key, value FROM meta")
        return {key: loads(value) for key, value in rows if key.startswith(prefix)}

    def set_meta(self, key: str, value: dict[str, Any]) -> None:
        """Write one ``meta`` entry."""
        self._store._run(
            self._conn,
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            dumps(value),
        )
