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

import json
import os
import re
import socket
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson
import pandas as pd

Event = tuple[str, float, dict[str, Any]]
"""One append: ``(run_id, at, fields)``, ``at`` in seconds since the epoch."""

RESUMABLE = frozenset(
    {"queued", "submitting", "pending", "processing", "downloading", "download_failed"}
)
"""Statuses with work left; ``claim_next`` hands out runs in these (``submitting`` only so the
taker can mark it ``submission_unknown``: a create may be in flight, it is never resent)."""

# A JSON number of 20 digits or more may exceed 64 bits, which orjson would read as a float.
# (Digits inside a text value can match too; such a line is merely parsed more slowly.)
_LONG_NUMBER = re.compile(rb"[:,\[]\s*-?\d{20}")


def dumps(value: Any) -> str:
    """``value`` as compact JSON text; integers beyond 64 bits are kept exactly.

    orjson cannot write those: the standard library does, and its text starts with a space
    (still valid JSON) so that :func:`loads` knows to read it back exactly, at no cost to the
    other rows.
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer orjson cannot hold, or a non-text key
        return " " + json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(raw: str | bytes) -> Any:
    """Read what :func:`dumps` wrote (fast, orjson, unless marked as needing exactness)."""
    if raw[:1] in (" ", b" "):
        return json.loads(raw)
    return orjson.loads(raw)


def loads_foreign(raw: bytes) -> Any:
    """Read JSON written elsewhere (an old ledger line): exactly, if it may hold an integer
    wider than 64 bits."""
    if _LONG_NUMBER.search(raw):
        return json.loads(raw)
    return orjson.loads(raw)


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


@dataclass(frozen=True)
class Owner:
    """Who works on a run: a session of a process on a host. ``str()`` is ``host:pid:session``."""

    host: str
    pid: int
    session: str

    @classmethod
    def here(cls, session: str) -> Owner:
        """This process, as ``session``."""
        return cls(socket.gethostname(), os.getpid(), session)

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        """The owner ``str(owner)`` wrote, or ``None`` if ``text`` is not one."""
        host, _, rest = text.partition(":")
        pid, _, session = rest.partition(":")
        return cls(host, int(pid), session) if pid.isdigit() else None

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.session}"


@dataclass(frozen=True)
class Claim:
    """The answer to :meth:`RunStore.claim`.

    ``ok``: the caller now holds the run's lease. ``run``: its current fields (``None`` if no
    such run). ``previous``: the owner before (``None`` if unowned). ``takeover``: the run was
    taken from another owner whose lease had expired or whose process is gone — if it was
    ``submitting`` its create may have been sent, so it must become ``submission_unknown``.
    """

    ok: bool
    run: dict[str, Any] | None
    previous: str | None = None
    takeover: bool = False


@dataclass(frozen=True)
class SendRule:
    """An experiment's guard for :meth:`RunStore.begin_send` (see ``rules.py``).

    ``budget_credits``: the most the experiment may reserve in all (``None``: the budget
    stored with :meth:`RunStore.set_budget`, if any). ``backend`` / ``models``: which recorded
    tasks tell the price of a job (``models`` empty: the experiment's own models).
    """

    experiment: str
    budget_credits: float | None = None
    max_in_flight: int = 4
    backend: str | None = None
    models: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class SendDecision:
    """What :meth:`RunStore.begin_send` decided.

    - ``send``: the run is now ``submitting``; send its create request.
    - ``wait``: not now (too many creates in flight, or the price is being learnt); ask again.
    - ``refuse``: never (``code``/``reason`` say why); nothing was recorded, the caller
      records ``not_submitted`` — provably nothing was created or billed.
    - ``lost``: the run is not queued any more or the caller's lease is gone; leave it alone.
    """

    action: Literal["send", "wait", "refuse", "lost"]
    code: str | None = None
    reason: str | None = None
    run: dict[str, Any] | None = None


@dataclass(frozen=True)
class ExperimentState:
    """An experiment as every writer sees it: its guard and what its runs reserved so far."""

    name: str
    budget_credits: float | None
    stopped: str | None
    stop_code: str | None
    spent_credits: float
    price_credits: float | None
    in_flight: int


class Txn(Protocol):
    """The inside of :meth:`RunStore.exclusive`: fresh reads and batched writes, committed
    together when the ``with`` block ends (rolled back if it raises)."""

    def runs(self) -> dict[str, dict[str, Any]]:
        """Every run, as committed by anyone plus what this transaction wrote."""

    def append_many(self, events: Iterable[Event]) -> None:
        """Record events as part of this transaction."""


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

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The latest fields of one run, or ``None``."""
        return self.runs().get(run_id)

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
    def renew(self, owner: Owner, lease_s: float, now: float) -> set[str]:
        """Extend every lease ``owner`` holds; the run ids it still holds."""

    @abstractmethod
    def release(self, run_id: str, owner: Owner) -> None:
        """Give the run up (only if ``owner`` holds it)."""

    @abstractmethod
    def claim_next(
        self, owner: Owner, lease_s: float, now: float, experiment: str | None = None
    ) -> dict[str, Any] | None:
        """Claim the oldest claimable run with work left (:data:`RESUMABLE`); its fields."""

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
    def stop_experiment(self, name: str, reason: str, code: str = "sweep_stopped") -> None:
        """Send no further run of ``name``, from any writer (the first reason is kept)."""

    @abstractmethod
    def clear_stop(self, name: str) -> None:
        """Let ``name`` send again (e.g. after topping up the balance)."""

    @abstractmethod
    def set_budget(self, name: str, budget_credits: float | None) -> None:
        """Store the credit budget of ``name`` (``None``: no budget)."""

    @abstractmethod
    def experiment(self, name: str, now: float, backend: str | None = None) -> ExperimentState:
        """What ``name`` has reserved so far, and its guard."""

    @abstractmethod
    def close(self) -> None:
        """Close every connection this object opened."""

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
