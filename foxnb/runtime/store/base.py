"""What every runs store offers, and the pure rules they share.

A store keeps three things: **runs** (each the merge of its events, later fields winning, plus
who owns it and until when), the **event log** (every append, in order: the audit trail and
what ``export_jsonl`` writes), and **experiments** (a sweep's budget and why it stopped).

Ownership is what makes "one create request per run" hold for any number of writers: a run is
*claimed* by one :class:`Owner` for a lease of a few seconds, renewed while that owner works on
it, and :meth:`RunStore.begin_send` lets a create request out only for a ``queued`` run whose
caller holds a live lease, flipping it to ``submitting`` in the same transaction. A second
writer then finds the run taken or no longer queued and sends nothing.

Everything here is pure (no database): the SQL backends in ``sqlite.py`` and ``postgres.py``
call these functions inside their transactions, so both apply the same rules.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

import pandas as pd

from .kinds import STOPPED_CODE, Claim, ExperimentState, Held, Owner, SendDecision, SendRule

Event = tuple[str, float, dict[str, Any]]
"""One append: ``(run_id, at, fields)``, ``at`` in seconds since the epoch."""

RESUMABLE = frozenset(
    {"queued", "submitting", "pending", "processing", "downloading", "download_failed"}
)
"""Statuses with work left; ``claim_next`` hands out runs in these (``submitting`` only so the
taker can mark it ``submission_unknown``: a create may be in flight, it is never resent)."""


def run_id_and_at(event: dict[str, Any]) -> tuple[str | None, float | None]:
    """The ``run_id`` and ``at`` of an event object, ``None`` where absent or of a wrong type
    (the old ledger ignored events without a text ``run_id``; the log keeps them all)."""
    run_id, at = event.get("run_id"), event.get("at")
    return (run_id if isinstance(run_id, str) else None, as_number(at))


def as_number(value: Any) -> float | None:
    """``value`` as a float if it is a number (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class Txn(Protocol):
    """The inside of :meth:`RunStore.exclusive`: fresh reads and batched writes, committed
    together when the ``with`` block ends (rolled back if it raises)."""

    def runs(self) -> dict[str, dict[str, Any]]:
        """Every run, as committed by anyone plus what this transaction wrote."""

    def append_many(self, events: Iterable[Event]) -> None:
        """Record events as part of this transaction."""

    def claim_many(
        self, run_ids: Iterable[str], owner: Owner, lease_s: float, now: float
    ) -> dict[str, Claim]:
        """Claim runs as part of this transaction (see :meth:`RunStore.claim_many`)."""


def merge_event(
    run: dict[str, Any] | None, task_ids: list[str], event: dict[str, Any]
) -> dict[str, Any]:
    """The run after ``event`` (a new dict; later fields win, ``None`` overwrites, exactly as
    the JSONL ledger merged). A ``task_id`` joins ``task_ids`` (changed in place); a second
    distinct one sets ``duplicate_tasks: True`` so a double payment is never hidden."""
    merged = dict(run) if run else {}
    merged.update(event)
    task_id = event.get("task_id")
    if isinstance(task_id, str) and task_id and task_id not in task_ids:
        task_ids.append(task_id)
    if len(task_ids) > 1:
        merged["duplicate_tasks"] = True
    return merged


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a reused pid reads as alive: the safe
    side, the lease then decides)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claimable(current: str | None, lease_until: float | None, me: Owner, now: float) -> bool:
    """May ``me`` take a run held by ``current`` until ``lease_until``?

    Yes when it is unowned, already ``me``'s, its lease has expired, or its owner is a process
    of this host that no longer exists (a ``kill -9`` is taken over at once, not after the
    lease).
    """
    if current is None or current == str(me):
        return True
    if lease_until is None or lease_until <= now:
        return True
    owner = Owner.parse(current)
    return owner is not None and owner.host == me.host and not pid_alive(owner.pid)


def mask_dsn(dsn: str) -> str:
    """A connection string fit for messages: any password replaced by ``***``."""
    masked = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn)
    return re.sub(r"(password\s*=\s*)(\S+)", r"\1***", masked, flags=re.IGNORECASE)


class RunStore(ABC):
    """Runs, their events, owners and experiments, shared by every writer (see module doc).

    All operations are atomic and safe across threads and processes (and, for PostgreSQL,
    machines). Times (``at``, ``now``) are seconds since the epoch, passed in by the caller.
    """

    #: Where the runs are kept, for messages (never holds a password).
    location: str

    # ---- the ledger API ---------------------------------------------------------------
    def append(self, run_id: str, at: float, **fields: Any) -> None:
        """Durably record ``fields`` for ``run_id``."""
        self.append_many([(run_id, at, fields)])

    @abstractmethod
    def append_many(self, events: Iterable[Event]) -> None:
        """Record several events in one transaction: all of them, or none after a crash."""

    @abstractmethod
    def runs(self) -> dict[str, dict[str, Any]]:
        """Every run as a dict of its latest fields, in order of first appearance (a copy)."""

    @abstractmethod
    def get(self, run_id: str) -> dict[str, Any] | None:
        """The latest fields of one run, or ``None``."""

    @abstractmethod
    def peek(self, run_ids: Iterable[str]) -> dict[str, Held]:
        """These runs (those that exist) with who holds them; nothing is claimed."""

    @abstractmethod
    def unfinished(
        self, backend: str | None = None, experiment: str | None = None
    ) -> dict[str, Held]:
        """Every run with work left (:data:`RESUMABLE`), in first-appearance order, with who
        holds it; only those of ``backend`` / ``experiment`` when given."""

    @abstractmethod
    def dataframe(self) -> pd.DataFrame:
        """One row per run, typed as ``COLUMNS``; extra fields follow."""

    @abstractmethod
    def task_ids(self, run_id: str) -> list[str]:
        """Every task id ever recorded for the run, oldest first."""

    @abstractmethod
    def events(self) -> Iterator[dict[str, Any]]:
        """The event log, oldest first, each as its JSONL line's object."""

    # ---- writers' critical sections, owners and leases ------------------------------
    @abstractmethod
    def exclusive(self, key: str) -> AbstractContextManager[Txn]:
        """A critical section per ``key`` (an experiment name) across every writer."""

    @abstractmethod
    def claim(self, run_id: str, owner: Owner, lease_s: float, now: float) -> Claim:
        """Take the run for ``lease_s`` seconds if :func:`claimable`; see :class:`Claim`."""

    @abstractmethod
    def claim_many(
        self, run_ids: Iterable[str], owner: Owner, lease_s: float, now: float
    ) -> dict[str, Claim]:
        """:meth:`claim` for several runs in one transaction; a :class:`Claim` per run id."""

    @abstractmethod
    def renew(self, owner: Owner, lease_s: float, now: float) -> set[str]:
        """Extend every lease ``owner`` holds; the run ids it still holds."""

    @abstractmethod
    def release(self, run_id: str, owner: Owner) -> None:
        """Give the run up (only if ``owner`` holds it)."""

    @abstractmethod
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
        """Append ``events`` and release the runs ``release`` (held by ``owner``) in one
        transaction; ``new`` are runs the events create, held by ``owner`` from the start
        (for ``lease_s`` seconds from ``now``)."""

    @abstractmethod
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
        """:meth:`claim_next` for up to ``count`` runs in one transaction, oldest first."""

    @abstractmethod
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
        """Claim the oldest claimable run with work left (:data:`RESUMABLE`); its fields.
        Only runs of ``experiment`` / ``backend`` when given, never one in ``exclude``."""

    # ---- the one gate to money, and experiments ------------------------------------
    @abstractmethod
    def begin_send(
        self,
        run_id: str,
        owner: Owner,
        now: float,
        fields: dict[str, Any],
        rule: SendRule | None = None,
    ) -> SendDecision:
        """May the run's create request go out now? See :class:`SendDecision`."""

    @abstractmethod
    def priced(self, run_id: str, credits: float | None) -> None:
        """The price the service reported for the task of a run sent while the price was
        unknown (``None``: it reported none, which stops the experiment)."""

    @abstractmethod
    def stop_experiment(self, name: str, reason: str, code: str = STOPPED_CODE) -> None:
        """Send no further run of ``name``, from any writer (the first reason is kept)."""

    @abstractmethod
    def clear_stop(self, name: str) -> None:
        """Let ``name`` send again (e.g. after topping up the balance)."""

    @abstractmethod
    def set_budget(self, name: str, budget_credits: float | None) -> None:
        """Store the credit budget of ``name`` (``None``: no budget)."""

    @abstractmethod
    def experiment(
        self,
        name: str,
        now: float,
        backend: str | None = None,
        models: frozenset[str] = frozenset(),
    ) -> ExperimentState:
        """What ``name`` has reserved so far, and its guard; the price is that of ``models``
        (the experiment's own when empty), as in :class:`SendRule`."""

    @abstractmethod
    def close(self) -> None:
        """Close every connection this object opened."""

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
