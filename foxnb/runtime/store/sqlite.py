"""The zero-setup runs store: one SQLite file in the work folder (standard library ``sqlite3``).

WAL mode lets any number of readers work while one writer writes, across the kernels and
workers of one machine. Every write transaction starts with ``BEGIN IMMEDIATE``, which takes
the write lock up front (waiting up to ``BUSY_TIMEOUT_S`` for it), so a read-check-write
sequence such as a claim cannot interleave with another. ``synchronous=FULL``: each commit is
fsynced before it returns, as the JSONL ledger fsynced each append — a run recorded before its
create request left the machine is on disk even if the machine loses power right after.

SQLite's locking is not reliable on network filesystems, so a file on one is refused: a team
sharing runs across machines uses PostgreSQL.

Reads of many rows come back in one step, as one JSON array (``json_group_array``): Python's
``sqlite3`` lets go of the GIL for every row it steps through, and taking it back waits while
another thread runs Python code (see ``sql.SqlCore._executemany``, which does the same for
writes).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from ...errors import StoreError
from .sends import SqlStore
from .sql import Row, schema

STORE_NAME = "runs.db"
BUSY_TIMEOUT_S = 60.0
"""How long a writer waits for another's transaction before giving up with an error."""

NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb", "smb2", "smbfs", "afs", "ceph", "glusterfs", "lustre",
     "fuse.sshfs", "fuse.glusterfs", "fuse.cephfs", "9p", "davfs", "fuse.rclone"}
)  # fmt: skip

SCHEMA = schema(serial="INTEGER PRIMARY KEY", real="REAL")


def filesystem_type(path: Path, mounts: str | None = None) -> str | None:
    """The type of the filesystem holding ``path``, from ``mounts`` (the text of Linux's
    ``/proc/mounts``, read when not given); ``None`` when unknown."""
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text(encoding="utf-8")
        except OSError:
            return None
    best, kind = "", None
    target = str(path.resolve())
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, parts[2]
    return kind


class SqliteStore(SqlStore):
    """Runs in a SQLite file (``runs.db`` in the work folder unless given a path)."""

    # UPDATE … FROM (one statement for many rows) is SQLite 3.33 or later.
    BATCH_SOURCE = "json_each(?) AS batch" if sqlite3.sqlite_version_info >= (3, 33, 0) else None

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        self.location = str(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kind = filesystem_type(self.path.parent)
        if kind in NETWORK_FILESYSTEMS:
            raise StoreError(
                f"the runs store {self.path} is on a network filesystem ({kind}), where "
                "SQLite's locks do not hold between machines; keep the work folder on a local "
                "disk, or share runs through PostgreSQL: foxnb.connect(store='postgresql://…')"
            )
        with self._tx() as conn:
            _create(conn)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            mode = _wal(conn)
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the runs store {self.path}: {exc}") from exc
        if str(mode).lower() != "wal":
            conn.close()
            raise StoreError(f"the runs store {self.path} cannot use WAL mode (got {mode!r})")
        return conn

    def _execute(self, conn: Any, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        cursor: sqlite3.Cursor = conn.execute(sql, params)
        return cursor

    def _executemany_rows(self, conn: Any, sql: str, rows: list[Row]) -> None:
        conn.executemany(sql, rows)

    def _element(self, index: int, column: str) -> str:
        return f"json_extract(batch.value, '$[{index}]')"

    def _all_exact(self, conn: Any, columns: Sequence[str], sql: str, *params: Any) -> list[Row]:
        """The rows of ``sql`` as one JSON value built by SQLite: exact for text and integers
        (SQLite writes a float to JSON with 15 digits, so no float column may be read so)."""
        listed = ", ".join(columns)
        row = self._one(
            conn, f"SELECT json_group_array(json_array({listed})) FROM ({sql})", *params
        )
        return [tuple(values) for values in orjson.loads(row[0])] if row else []

    def _texts(self, conn: Any, column: str, sql: str, *params: Any) -> list[str]:
        row = self._one(conn, f"SELECT json_group_array({column}) FROM ({sql})", *params)
        texts: list[str] = orjson.loads(row[0]) if row else []
        return texts

    def _begin_sql(self) -> str:
        return "BEGIN IMMEDIATE"

    def _lock(self, conn: Any, namespace: int, key: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already serializes every write transaction."""

    def _changed(self, conn: Any, watermark: int) -> tuple[list[Row], int]:
        rows = self._all_exact(
            conn,
            ("seq", "run_id", "fields", "updated_seq"),
            "SELECT seq, run_id, fields, updated_seq FROM runs WHERE updated_seq > ? ORDER BY seq",
            watermark,
        )
        rows.sort()  # by seq (SQLite keeps the order in practice; its documentation does not say)
        # Writers commit one at a time, in the order of the log: nothing below the highest
        # position seen can still appear.
        newest = max((row[3] for row in rows), default=watermark)
        return [row[:3] for row in rows], int(newest)


def _wal(conn: sqlite3.Connection) -> str:
    """Switch ``conn``'s file to WAL mode; the journal mode it has.

    The first switch of a new file needs it to itself, and SQLite answers "locked" at once,
    without waiting out the busy timeout, when another process opens it at that moment (four
    workers starting on a new store): tried again, a little later, for as long as the timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause_s = 0.005
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause_s)
        pause_s = min(0.25, pause_s * 2)


def _create(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)


def default_path(workdir: Path) -> Path:
    """Where the zero-setup store of ``workdir`` lives."""
    return Path(os.fspath(workdir)) / STORE_NAME
