"""Owners and leases for both SQL backends: claims, renewals, releases, and reads of who holds
what.

Each operation is one transaction. On PostgreSQL the run's row is locked (``FOR UPDATE``) while
it is decided on, and ``claim_next`` skips rows another worker is deciding on (``SKIP LOCKED``);
on SQLite every write transaction is ``BEGIN IMMEDIATE``, which serializes all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..._json import loads
from .base import RESUMABLE, Event, claimable
from .kinds import Claim, Held, Owner
from .sql import SqlCore

_RESUMABLE = tuple(sorted(RESUMABLE))
_IN_RESUMABLE = "status IN (" + ", ".join("?" * len(_RESUMABLE)) + ")"
_CHUNK = 500  # run ids per IN (...) list


def _with_work_left(experiment: str | None, backend: str | None) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause (and its parameters) of runs with work left, of ``experiment`` and
    ``backend`` when given."""
    where = _IN_RESUMABLE
    params: tuple[Any, ...] = _RESUMABLE
    for column, value in (("experiment", experiment), ("backend", backend)):
        if value is not None:
            where, params = f"{where} AND {column} = ?", (*params, value)
    return where, params


class SqlLeases(SqlCore):
    """Claims, leases and the reads around them (see ``base.RunStore``)."""

    #: Appended to a SELECT handing rows to one of many workers (PostgreSQL), else empty.
    SKIP_LOCKED = ""

    def claim(self, run_id: str, owner: Owner, lease_s: float, now: float) -> Claim:
        return self.claim_many([run_id], owner, lease_s, now)[run_id]

    def claim_many(
        self, run_ids: Iterable[str], owner: Owner, lease_s: float, now: float
    ) -> dict[str, Claim]:
        ids = list(dict.fromkeys(run_ids))
        result: dict[str, Claim] = self._retrying(
            lambda conn: self._claim_in(conn, ids, owner, lease_s, now)
        )
        return result

    def _claim_in(
        self, conn: Any, run_ids: list[str], owner: Owner, lease_s: float, now: float
    ) -> dict[str, Claim]:
        """Claim ``run_ids`` inside the caller's transaction (rows locked in run-id order)."""
        claims = {run_id: Claim(False, None) for run_id in run_ids}
        ordered = sorted(run_ids)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self._all(
                conn,
                f"SELECT run_id, owner, lease_until, fields FROM runs WHERE run_id IN ({marks}) "
                f"ORDER BY run_id{self.FOR_UPDATE}",
                *chunk,
            )
            taken = []
            for run_id, current, lease_until, fields in rows:
                run = loads(fields)
                if not claimable(current, lease_until, owner, now):
                    claims[run_id] = Claim(False, run, current)
                    continue
                taken.append(run_id)
                takeover = current is not None and current != str(owner)
                claims[run_id] = Claim(True, run, current, takeover)
            if taken:
                self._take(conn, taken, owner, now + lease_s)
        return claims

    def _take(self, conn: Any, run_ids: list[str], owner: Owner, lease_until: float) -> None:
        # A takeover also ends the previous owner's price reading (see ``rules.tally``).
        self._executemany(
            conn,
            "UPDATE runs SET owner = ?, lease_until = ?, "
            "pricing = CASE WHEN pricing = ? THEN pricing ELSE NULL END WHERE run_id = ?",
            [(str(owner), lease_until, str(owner), run_id) for run_id in run_ids],
        )

    def renew(self, owner: Owner, lease_s: float, now: float) -> set[str]:
        def work(conn: Any) -> set[str]:
            self._run(
                conn, "UPDATE runs SET lease_until = ? WHERE owner = ?", now + lease_s, str(owner)
            )
            sql = "SELECT run_id FROM runs WHERE owner = ?"
            return set(self._texts(conn, "run_id", sql, str(owner)))

        held: set[str] = self._retrying(work)
        return held

    def release(self, run_id: str, owner: Owner) -> None:
        """Give the run up; this also ends a price reading the owner did not report."""
        self.commit([], owner, [run_id])

    def commit(
        self,
        events: Iterable[Event],
        owner: Owner | None,
        release: Iterable[str] = (),
        *,
        new: Iterable[str] = (),
        lease_s: float = 0.0,
        now: float = 0.0,
    ) -> None:
        """Append ``events`` and give up ``release`` (runs ``owner`` holds) in one transaction:
        a run's last event and the end of its lease are durable together. ``new`` are runs
        these events create, held by ``owner`` for ``lease_s`` from ``now`` as they appear."""
        batch = [{"run_id": run_id, "at": at, **fields} for run_id, at, fields in events]
        freed = [(run_id, str(owner)) for run_id in dict.fromkeys(release)] if owner else []
        taken = list(dict.fromkeys(new)) if owner else []
        if not batch and not freed:
            return

        def work(conn: Any) -> None:
            self._apply(conn, batch)
            if taken and owner is not None:
                self._take(conn, taken, owner, now + lease_s)
            if freed:
                self._executemany(
                    conn,
                    "UPDATE runs SET owner = NULL, lease_until = NULL, pricing = NULL "
                    "WHERE run_id = ? AND owner = ?",
                    freed,
                )

        self._retrying(work)

    def claim_next(
        self,
        owner: Owner,
        lease_s: float,
        now: float,
        experiment: str | None = None,
        *,
        backend: str | None = None,
        exclude: Iterable[str] = (),
    ) -> dict[str, Any] | None:
        found = self.claim_some(
            owner, lease_s, now, 1, experiment, backend=backend, exclude=exclude
        )
        return found[0] if found else None

    def claim_some(
        self,
        owner: Owner,
        lease_s: float,
        now: float,
        count: int,
        experiment: str | None = None,
        *,
        backend: str | None = None,
        exclude: Iterable[str] = (),
    ) -> list[dict[str, Any]]:
        where, params = _with_work_left(experiment, backend)
        skip = list(exclude)
        if skip:  # runs the caller already tried and cannot finish (e.g. an expired link)
            where += " AND run_id NOT IN (" + ", ".join("?" * len(skip)) + ")"
            params = (*params, *skip)

        def work(conn: Any) -> list[dict[str, Any]]:
            rows = self._all(
                conn,
                f"SELECT run_id, fields FROM runs WHERE {where} AND "
                "(owner IS NULL OR lease_until IS NULL OR lease_until <= ?) "
                f"ORDER BY seq LIMIT ?{self.SKIP_LOCKED}",
                *params,
                now,
                count,
            )
            if len(rows) < count:
                # Runs still leased by a process of this host that no longer exists.
                host = owner.host.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                leased = self._all(
                    conn,
                    f"SELECT run_id, fields, owner, lease_until FROM runs WHERE {where} AND "
                    "owner LIKE ? ESCAPE '\\' AND owner <> ? AND lease_until > ? "
                    f"ORDER BY seq{self.SKIP_LOCKED}",
                    *params,
                    host + ":%",
                    str(owner),
                    now,
                )
                dead = [r[:2] for r in leased if claimable(r[2], r[3], owner, now)]
                rows = [*rows, *dead[: count - len(rows)]]
            if rows:
                self._take(conn, [row[0] for row in rows], owner, now + lease_s)
            return [loads(row[1]) for row in rows]

        found: list[dict[str, Any]] = self._retrying(work)
        return found

    def peek(self, run_ids: Iterable[str]) -> dict[str, Held]:
        conn, found = self._conn(), {}
        ids = list(dict.fromkeys(run_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            for run_id, fields, current, lease_until in self._all(
                conn,
                f"SELECT run_id, fields, owner, lease_until FROM runs WHERE run_id IN ({marks})",
                *chunk,
            ):
                found[run_id] = Held(loads(fields), current, lease_until)
        return found

    def get(self, run_id: str) -> dict[str, Any] | None:
        row = self._one(self._conn(), "SELECT fields FROM runs WHERE run_id = ?", run_id)
        return None if row is None else dict(loads(row[0]))

    def unfinished(
        self, backend: str | None = None, experiment: str | None = None
    ) -> dict[str, Held]:
        where, params = _with_work_left(experiment, backend)
        rows = self._all(
            self._conn(),
            f"SELECT run_id, fields, owner, lease_until FROM runs WHERE {where} ORDER BY seq",
            *params,
        )
        return {row[0]: Held(loads(row[1]), row[2], row[3]) for row in rows}
