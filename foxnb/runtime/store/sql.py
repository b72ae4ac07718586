"""The part of a runs store both SQL backends share: connections, transactions, appends, reads.

Tables (see ``sqlite.py`` / ``postgres.py`` for the exact types):

- ``runs``: one row per run — ``seq`` (first-appearance order), ``run_id``, the merged
  ``fields`` as JSON text, ``task_ids`` (JSON list), columns copied out of the fields for the
  send rule (``experiment``, ``status``, ``backend``, ``model``, ``credits``, ``reused``),
  ownership (``owner``, ``lease_until``, ``pricing``) and ``updated_seq`` (the event log's
  position when the run last changed);
- ``events``: every append as its JSONL object, in order;
- ``experiments``: budget and stop per experiment; ``meta``: migration records.

Each thread gets its own connection, so one thread's long critical section does not hold up
another's appends more than the database itself requires. ``runs()`` reads incrementally: only
the runs changed since this object's last read are fetched and parsed.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import re
import threading
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa

from ..._json import dumps, loads
from ...errors import StoreError
from .arrowframe import frame_from_table, join_tables, read_lines
from .base import Event, RunStore, as_number, merge_event, run_id_and_at
from .columns import to_dataframe
from .kinds import Claim, Owner
from .txn import SqlTxn

Row = tuple[Any, ...]

EXCLUSIVE_LOCK = 1
"""Lock namespace of :meth:`SqlCore.exclusive` (PostgreSQL advisory locks)."""
SEND_LOCK = 2
"""Lock namespace of the send rule: one decision per experiment at a time."""

_CHUNK = 500  # run ids per IN (...) list: far below every backend's parameter limit
FETCH_ROWS = 10_000
"""Runs per part when ``dataframe()`` reads them all."""

MAYBE_IN_FLIGHT = "status = 'submitting' OR pricing IS NOT NULL"
"""The runs whose create may be in flight. Each send decision reads these rows of its
experiment, through a partial index holding only them: with an index on the experiment alone,
each create of a 10,000-cell sweep read every row of it (O(n²) over the sweep). A query uses
the index only if its WHERE clause has this exact condition."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    seq {serial},
    run_id TEXT NOT NULL UNIQUE,
    fields TEXT NOT NULL DEFAULT '{{}}',
    task_ids TEXT NOT NULL DEFAULT '[]',
    experiment TEXT,
    status TEXT,
    backend TEXT,
    model TEXT,
    credits {real},
    reused INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    lease_until {real},
    pricing TEXT,
    updated_seq BIGINT NOT NULL DEFAULT 0{extra}
);
CREATE INDEX IF NOT EXISTS runs_experiment ON runs (experiment);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status, seq);
CREATE INDEX IF NOT EXISTS runs_owner ON runs (owner);
CREATE INDEX IF NOT EXISTS runs_updated ON runs ({updated});
CREATE INDEX IF NOT EXISTS runs_maybe_in_flight ON runs (experiment) WHERE {maybe_in_flight};
CREATE TABLE IF NOT EXISTS events (seq {serial}, run_id TEXT, at {real}, fields TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS experiments (
    name TEXT PRIMARY KEY,
    budget_credits {real},
    stopped TEXT,
    stop_code TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)
"""


def schema(serial: str, real: str, extra: str = "", updated: str = "updated_seq") -> list[str]:
    """The statements creating the tables (see the module docstring) in one dialect:
    ``serial`` an auto-numbered primary key, ``real`` a float type, ``extra`` more run
    columns, ``updated`` the column incremental reads select on."""
    text = _SCHEMA.format(
        serial=serial, real=real, extra=extra, updated=updated, maybe_in_flight=MAYBE_IN_FLIGHT
    )
    return [statement for statement in text.split(";") if statement.strip()]


class SqlCore(RunStore):
    """Connections, transactions, the incremental read cache and the merge of appends."""

    #: Appended to a SELECT that locks the rows it reads (PostgreSQL), else empty.
    FOR_UPDATE = ""
    #: Extra assignment marking a run as changed by this transaction (PostgreSQL), else empty.
    TOUCH = ""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._local = threading.local()
        self._conns: list[Any] = []
        self._inherited: list[Any] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        # The incremental read cache: runs in first-appearance order, their seq, and the
        # backend's watermark (what the last read saw).
        self._cache_lock = threading.Lock()
        # Each run's merged fields as the stored JSON text, decoded when read: a 10,000-run
        # sweep's cache takes a third of the memory of the decoded runs.
        self._cache: dict[str, str | bytes] = {}
        self._seqs: dict[str, int] = {}
        self._watermark = 0

    # ---- what a backend provides ------------------------------------------------------
    @abstractmethod
    def _connect(self) -> Any:
        """A new connection in autocommit mode (transactions are begun explicitly)."""

    @abstractmethod
    def _execute(self, conn: Any, sql: str, params: Sequence[Any]) -> Any:
        """Run one statement (``?`` placeholders); its cursor."""

    @abstractmethod
    def _begin_sql(self) -> str:
        """The statement that starts a write transaction."""

    @abstractmethod
    def _lock(self, conn: Any, namespace: int, key: str) -> None:
        """Serialize on ``key`` until the transaction ends (a no-op where writes are serial)."""

    @abstractmethod
    def _changed(self, conn: Any, watermark: int) -> tuple[list[Row], int]:
        """Runs changed since ``watermark`` as ``(seq, run_id, fields)`` rows by seq, and the
        watermark for the next read."""

    @abstractmethod
    def _executemany_rows(self, conn: Any, sql: str, rows: list[Row]) -> None:
        """Run one statement once per row of parameters, the driver's way."""

    @abstractmethod
    def _element(self, index: int, column: str) -> str:
        """The SQL reading value ``index`` of the current row of ``BATCH_SOURCE`` (a JSON
        array), as ``column``'s type."""

    #: A table expression named ``batch`` whose rows, in order of ``batch.key``, are the
    #: elements of one JSON array parameter (``None``: the database cannot run one statement
    #: for many rows, see ``_executemany``).
    BATCH_SOURCE: str | None = None

    def _executemany(self, conn: Any, sql: str, rows: list[Row]) -> None:
        """Run ``sql`` (an ``INSERT … VALUES`` or ``UPDATE … WHERE`` with ``?`` parameters)
        for every row of parameters, in order, as one statement when it can. The rows of an
        UPDATE name distinct target rows (one statement changes each row once).

        Drivers let go of the GIL for every row (SQLite's step, psycopg's pipeline), and while
        another thread of the process runs Python code — the engine at a 10,000-job sweep, the
        user's own cell — taking it back waits up to a switch interval (5 ms) each time: a
        commit of 2,000 events took 3–16 s (SQLite) and 9–13 s (PostgreSQL) beside one busy
        thread, against 0.1 and 0.3 s alone. One statement over one JSON array parameter lets
        go of it once.
        """
        if not rows:
            return
        one = None if len(rows) < 2 or self.BATCH_SOURCE is None else batched(sql, self)
        payload = json_rows(rows) if one is not None else None
        if one is None or payload is None:
            self._executemany_rows(conn, sql, rows)
        else:
            self._run(conn, one, payload)

    def _claim_in(
        self, conn: Any, run_ids: list[str], owner: Owner, lease_s: float, now: float
    ) -> dict[str, Claim]:
        """Claim runs inside the caller's transaction (``leases.SqlLeases`` provides it)."""
        raise NotImplementedError

    def _fields_table(self, conn: Any) -> tuple[pa.Table | None, int]:
        """Every run's fields in ``seq`` order (one consistent read) as an arrow table
        (``None``: arrow cannot type them), and how many runs that is.

        The parts (``_field_parts``) are fetched on a thread while those already here are
        parsed; both let go of the GIL, so on two cores the read costs little more than the
        parse (100,000 runs: 1.4 s one after the other).
        """
        parts: queue.Queue[tuple[bytes, int] | BaseException | None] = queue.Queue(maxsize=4)
        given_up = threading.Event()  # the reader failed: stop fetching, free the connection

        def fetch() -> None:
            try:
                for part in self._field_parts(conn):
                    if given_up.is_set():
                        return
                    parts.put(part)
                parts.put(None)
            except BaseException as exc:  # handed to the reading thread
                parts.put(exc)

        fetching = threading.Thread(target=fetch, name="foxnb-store-read", daemon=True)
        fetching.start()
        tables, count, readable = [], 0, True
        try:
            while (part := parts.get()) is not None:
                if isinstance(part, BaseException):
                    raise part
                data, rows = part
                count += rows
                table = read_lines(data) if readable else None
                readable = table is not None
                if table is not None:
                    tables.append(table)
        finally:
            given_up.set()
            while fetching.is_alive():  # a fetch blocked on the full queue must see given_up
                with contextlib.suppress(queue.Empty):
                    parts.get_nowait()
                fetching.join(0.01)
        if not readable or not tables:
            return None, count
        return join_tables(tables), count

    def _field_parts(self, conn: Any) -> Iterator[tuple[bytes, int]]:
        """Every run's fields in ``seq`` order, one consistent read, as UTF-8 JSON lines
        of up to ``FETCH_ROWS`` runs each, with their count. Read as bytes: no Python string
        per run. Runs on a thread of its own (``_fields_table``)."""
        cursor = conn.execute("SELECT CAST(fields AS BLOB) FROM runs ORDER BY seq")
        while rows := cursor.fetchmany(FETCH_ROWS):
            yield b"\n".join(row[0] for row in rows), len(rows)

    def _broken(self, conn: Any) -> bool:
        """Whether ``conn`` can no longer be used (then it is replaced by a new one)."""
        return False

    def _retryable(self, exc: Exception) -> bool:
        """Whether a failed transaction may simply be run again (a deadlock victim)."""
        return False

    # ---- connections and transactions ---------------------------------------------------
    def _conn(self) -> Any:
        if self._closed:
            raise StoreError(f"the runs store {self.location} is closed")
        if os.getpid() != self._pid:
            # A forked child must not touch its parent's connections, not even to close them
            # (that would end the parent's sessions): keep them referenced, open new ones.
            with self._conns_lock:
                self._inherited.extend(self._conns)
                self._conns = []
                self._local = threading.local()
                self._pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            self._local.depth = 0
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """A write transaction on this thread's connection; nested use joins the outer one."""
        conn = self._conn()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        try:
            self._execute(conn, self._begin_sql(), ())
            self._local.depth = 1
            try:
                yield conn
            except BaseException:
                self._local.depth = 0
                self._execute(conn, "ROLLBACK", ())
                raise
            self._local.depth = 0
            self._execute(conn, "COMMIT", ())
        except BaseException:
            self._local.depth = 0
            if self._broken(conn):  # e.g. the server restarted: the next call reconnects
                self._local.conn = None
            raise

    def _retrying(self, work: Any, attempts: int = 5) -> Any:
        """``work(conn)`` in a transaction, run again if the database chose it as a deadlock
        victim (nothing of a rolled-back attempt remains)."""
        for attempt in range(attempts):
            try:
                with self._tx() as conn:
                    return work(conn)
            except Exception as exc:
                if attempt + 1 == attempts or self._local.depth or not self._retryable(exc):
                    raise
        raise AssertionError("unreachable")

    def _one(self, conn: Any, sql: str, *params: Any) -> Row | None:
        row: Row | None = self._execute(conn, sql, params).fetchone()
        return row

    def _all(self, conn: Any, sql: str, *params: Any) -> list[Row]:
        rows: list[Row] = self._execute(conn, sql, params).fetchall()
        return rows

    @abstractmethod
    def _texts(self, conn: Any, column: str, sql: str, *params: Any) -> list[str]:
        """The text ``column`` of every row of ``sql``, aggregated by the database into one
        value: no row object per value for the garbage collector to walk (a lease renewal
        read 10,000 rows as tuples every 10 s, and the collection that followed paused every
        thread for 17-37 ms)."""

    def _all_exact(self, conn: Any, columns: Sequence[str], sql: str, *params: Any) -> list[Row]:
        """``_all`` for a query of ``columns``, all of them text or integers, that may return
        many rows (SQLite reads them in one step; see ``SqliteStore._all_exact``)."""
        return self._all(conn, sql, *params)

    def _run(self, conn: Any, sql: str, *params: Any) -> None:
        self._execute(conn, sql, params)

    def close(self) -> None:
        with self._conns_lock:
            conns, self._conns = self._conns, []
            self._closed = True
        for conn in conns:
            conn.close()

    # ---- appends ------------------------------------------------------------------------
    def append_many(self, events: Iterable[Event]) -> None:
        batch = [{"run_id": run_id, "at": at, **fields} for run_id, at, fields in events]
        if batch:
            self._retrying(lambda conn: self._apply(conn, batch))

    def _apply(self, conn: Any, events: Sequence[dict[str, Any]]) -> None:
        """Log ``events`` (whole objects) and merge each into its run, inside a transaction.

        New runs are inserted in the order they first appear (their ``seq``), then every run
        touched is locked in run-id order (so two writers never wait on each other in a
        cycle; SQLite's writers already take turns), merged in Python, and written back once.
        """
        if not events:
            return
        keys = [run_id_and_at(event) for event in events]
        order = list(dict.fromkeys(run_id for run_id, _ in keys if run_id is not None))
        known = self._select_runs(conn, order, lock=False)
        self._executemany(
            conn,
            "INSERT INTO runs (run_id) VALUES (?) ON CONFLICT (run_id) DO NOTHING",
            [(run_id,) for run_id in order if run_id not in known],
        )
        if self.FOR_UPDATE:
            state = self._select_runs(conn, sorted(order), lock=True)
        else:  # writes are serial (SQLite): what was read is there, and new runs are empty
            state = {**known, **{run_id: ({}, []) for run_id in order if run_id not in known}}
        self._executemany(
            conn,
            "INSERT INTO events (run_id, at, fields) VALUES (?, ?, ?)",
            [(key, at, dumps(e)) for (key, at), e in zip(keys, events, strict=True)],
        )
        for (key, _), event in zip(keys, events, strict=True):
            if key is not None:
                fields, task_ids = state[key]
                state[key] = (merge_event(fields, task_ids, event), task_ids)
        row = self._one(conn, "SELECT max(seq) FROM events")
        last_seq = int(row[0]) if row and row[0] is not None else 0
        self._executemany(
            conn,
            "UPDATE runs SET fields = ?, task_ids = ?, experiment = ?, status = ?, backend = ?, "
            f"model = ?, credits = ?, reused = ?, updated_seq = ?{self.TOUCH} WHERE run_id = ?",
            [
                (dumps(fields), dumps(ids), *_indexed(fields), last_seq, run_id)
                for run_id, (fields, ids) in state.items()
            ],
        )

    def _select_runs(
        self, conn: Any, run_ids: list[str], lock: bool
    ) -> dict[str, tuple[dict[str, Any], list[str]]]:
        """The merged fields and task ids of these runs (locked for this transaction)."""
        found: dict[str, tuple[dict[str, Any], list[str]]] = {}
        suffix = " ORDER BY run_id" + self.FOR_UPDATE if lock else ""
        for start in range(0, len(run_ids), _CHUNK):
            chunk = run_ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT run_id, fields, task_ids FROM runs WHERE run_id IN ({marks}){suffix}"
            for run_id, fields, task_ids in self._all_exact(
                conn, ("run_id", "fields", "task_ids"), sql, *chunk
            ):
                found[run_id] = (loads(fields), list(loads(task_ids)))
        return found

    # ---- reads --------------------------------------------------------------------------
    def runs(self) -> dict[str, dict[str, Any]]:
        conn = self._conn()
        with self._cache_lock:
            self._refresh(conn)
            return {run_id: loads(run) for run_id, run in self._cache.items()}

    def dataframe(self) -> pd.DataFrame:
        """One row per run, typed as ``COLUMNS``; extra fields follow.

        Built from the stored JSON by pyarrow (one consistent read, about three times faster
        than parsing every run into a dict first); runs it cannot render exactly as the dict
        path would (see ``arrowframe``) take the dict path.
        """
        conn = self._conn()
        table, rows = self._fields_table(conn)
        frame = None if table is None else frame_from_table(table, rows)
        if frame is not None:
            return frame
        with self._cache_lock:
            self._refresh(conn)
            return to_dataframe([loads(run) for run in self._cache.values()])

    def _refresh(self, conn: Any) -> None:
        """Bring the cache up to date (caller holds the cache lock)."""
        rows, self._watermark = self._changed(conn, self._watermark)
        _merge_rows(self._cache, self._seqs, rows)

    def _runs_in(self, conn: Any) -> dict[str, dict[str, Any]]:
        """The runs as a transaction sees them, its uncommitted writes included: they must
        not enter the shared cache (the transaction may still roll back)."""
        with self._cache_lock:
            cache, seqs, watermark = dict(self._cache), dict(self._seqs), self._watermark
        rows, _ = self._changed(conn, watermark)
        _merge_rows(cache, seqs, rows)
        return {run_id: loads(run) for run_id, run in cache.items()}

    def task_ids(self, run_id: str) -> list[str]:
        row = self._one(self._conn(), "SELECT task_ids FROM runs WHERE run_id = ?", run_id)
        return list(loads(row[0])) if row else []

    def events(self) -> Iterator[dict[str, Any]]:
        conn, after = self._conn(), 0
        while True:
            rows = self._all(
                conn, "SELECT seq, fields FROM events WHERE seq > ? ORDER BY seq LIMIT 5000", after
            )
            if not rows:
                return
            for _seq, fields in rows:
                yield loads(fields)
            after = rows[-1][0]

    @contextmanager
    def exclusive(self, key: str) -> Iterator[SqlTxn]:
        with self._tx() as conn:
            self._lock(conn, EXCLUSIVE_LOCK, key)
            yield SqlTxn(self, conn)


def _merge_rows(cache: dict[str, str | bytes], seqs: dict[str, int], rows: list[Row]) -> None:
    """Put changed runs into a cache kept in first-appearance order (re-sorted in the rare case
    that a run first recorded earlier was committed after a later one)."""
    last = max(seqs.values(), default=0) if rows else 0
    resort = False
    for seq, run_id, fields in rows:
        if run_id not in cache and seq < last:
            resort = True
        cache[run_id] = fields
        seqs[run_id] = seq
        last = max(last, seq)
    if resort:
        ordered = sorted(cache, key=seqs.__getitem__)
        items = {run_id: cache[run_id] for run_id in ordered}
        cache.clear()
        cache.update(items)


def _indexed(fields: dict[str, Any]) -> tuple[Any, ...]:
    """The columns the send rule reads, copied out of a run's merged fields."""

    def text(name: str) -> str | None:
        value = fields.get(name)
        return value if isinstance(value, str) else None

    return (
        text("experiment"),
        text("status"),
        text("backend"),
        text("model"),
        as_number(fields.get("credits")),
        1 if fields.get("reused_from") else 0,
    )


_INSERT = re.compile(r"(INSERT INTO \w+ \(([^)]*)\)) VALUES \(([^)]*)\)(.*)", re.S)
_UPDATE = re.compile(r"(UPDATE \w+ SET .*?) (WHERE .*)", re.S)
_COMPARED = re.compile(r"(\w+) = \?")
_LARGEST_INTEGER = 2**63 - 1


def batched(sql: str, store: SqlCore) -> str | None:
    """``sql`` rewritten to run once for every element of ``store.BATCH_SOURCE``'s JSON array
    (parameter ``k`` of a row read by ``store._element``), or ``None`` when it has another
    shape: an ``INSERT … (columns) VALUES (?, …)`` (rows inserted in order) or an ``UPDATE …
    SET … WHERE …`` whose every ``?`` is compared to, or assigned to, a column."""
    if match := _INSERT.fullmatch(sql):
        into, columns, values, rest = match.groups()
        names = [name.strip() for name in columns.split(",")]
        if [value.strip() for value in values.split(",")] != ["?"] * len(names):
            return None
        elements = ", ".join(store._element(k, name) for k, name in enumerate(names))
        # WHERE true: an upsert clause after a SELECT needs one, or it parses as a join's ON.
        source = f"FROM {store.BATCH_SOURCE} WHERE true ORDER BY batch.key"
        return f"{into} SELECT {elements} {source}{rest}"
    match = _UPDATE.fullmatch(sql)
    if match is None or len(_COMPARED.findall(sql)) != sql.count("?"):
        return None
    count = iter(range(sql.count("?")))

    def read(text: str) -> str:
        return _COMPARED.sub(lambda m: f"{m[1]} = {store._element(next(count), m[1])}", text)

    update, where = match.groups()
    return f"{read(update)} FROM {store.BATCH_SOURCE} {read(where)}"


def json_rows(rows: list[Row]) -> str | None:
    """``rows`` as one JSON array, or ``None`` if a value would not come back the same from it
    (a float that is not finite, an integer wider than 64 bits, bytes …)."""
    for row in rows:
        for value in row:
            kind = type(value)
            if kind is float and not math.isfinite(value):
                return None
            if kind is int and not -_LARGEST_INTEGER - 1 <= value <= _LARGEST_INTEGER:
                return None
            if kind not in (str, int, float) and value is not None:
                return None
    return orjson.dumps(rows).decode()
