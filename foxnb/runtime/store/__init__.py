"""The runs store: every run, its owner and its experiment's guard, shared by every writer.

``open_store(None, workdir)`` gives the zero-setup store, a SQLite file in the work folder that
the kernels and workers of one machine share. ``open_store("postgresql://…", workdir)`` gives
a PostgreSQL store that machines share (``pip install 'foxnb[postgres]'``). Either way an old
``runs.jsonl`` in ``workdir`` is imported first (and kept as ``runs.jsonl.bak``).

See :class:`RunStore` for what a store does, and ``base.py`` for how claims and leases make
"one create request per run" hold however many writers there are. Modules: ``base`` (the API
and its pure rules), ``kinds`` (owners, claims, send rules and decisions), ``rules`` (the send
rule's arithmetic), ``sql`` / ``txn`` / ``leases`` / ``sends`` (both SQL backends),
``sqlite``, ``postgres``, ``arrowframe`` and ``columns`` (the DataFrame), ``jsonl`` and
``migrate`` (the old ledger format).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import StoreError
from .base import RESUMABLE, Event, RunStore, Txn, claimable, mask_dsn
from .columns import COLUMNS, to_dataframe
from .jsonl import LEDGER_NAME, export_jsonl
from .kinds import STOPPED_CODE, Claim, ExperimentState, Held, Owner, SendDecision, SendRule
from .migrate import Migration, migrate_folder
from .sqlite import STORE_NAME, SqliteStore

if TYPE_CHECKING:
    from .sends import SqlStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(spec: str | Path | None, workdir: Path) -> RunStore:
    """The store ``spec`` names, its tables created if new, ``workdir/runs.jsonl`` imported.

    ``spec``: ``None`` → ``workdir/runs.db``; a file path or ``sqlite:///path`` → that SQLite
    file (a folder: ``runs.db`` in it);
    ``postgresql://…`` or ``postgres://…`` → that PostgreSQL database.
    """
    workdir = Path(workdir)
    store: SqlStore
    text = str(spec) if spec is not None else None
    if text is None:
        store = SqliteStore(workdir / STORE_NAME)
    elif text.startswith(POSTGRES_SCHEMES):
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            raise StoreError(
                f"the runs store {mask_dsn(text)} is PostgreSQL, which needs psycopg: "
                "pip install 'foxnb[postgres]'"
            ) from exc
        store = PostgresStore(text)
    elif text.startswith("sqlite:///"):
        # As SQLAlchemy spells it: sqlite:///relative/file, sqlite:////absolute/file.
        store = SqliteStore(_sqlite_file(Path(text[len("sqlite:///") :])))
    elif "://" in text:
        raise StoreError(
            f"unknown runs store {mask_dsn(text)!r}: give a file path, sqlite:///path, or "
            "postgresql://user@host/database"
        )
    else:
        store = SqliteStore(_sqlite_file(Path(text).expanduser()))
    try:
        migrate_folder(store, workdir)
    except BaseException:
        store.close()
        raise
    return store


def _sqlite_file(path: Path) -> Path:
    """A folder means the store file inside it."""
    return path / STORE_NAME if path.is_dir() else path


__all__ = [
    "COLUMNS",
    "LEDGER_NAME",
    "RESUMABLE",
    "STOPPED_CODE",
    "STORE_NAME",
    "Claim",
    "Event",
    "ExperimentState",
    "Held",
    "Migration",
    "Owner",
    "RunStore",
    "SendDecision",
    "SendRule",
    "Txn",
    "claimable",
    "export_jsonl",
    "open_store",
    "to_dataframe",
]
