"""The values a runs store hands out: owners, claims, held runs, send rules and decisions, and
an experiment's state (see ``base.py`` for what a store does with them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

from ...config import owner_host

STOPPED_CODE = "sweep_stopped"
"""The ``error_code`` of a run a stopped experiment kept from being sent (``not_submitted``),
unless the stop named another code."""


@dataclass(frozen=True)
class Owner:
    """Who works on a run: a session of a process on a host. ``str()`` is ``host:pid:session``."""

    host: str
    pid: int
    session: str

    @classmethod
    def here(cls, session: str) -> Owner:
        """This process, as ``session``, on this machine as the store names it
        (``config.owner_host``: ``FOXNB_HOST`` or the host name)."""
        return cls(owner_host(), os.getpid(), session)

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
class Held:
    """A run and who holds it: its fields, its owner (``host:pid:session`` or ``None``) and
    when the owner's lease ends (seconds since the epoch)."""

    run: dict[str, Any]
    owner: str | None
    lease_until: float | None


@dataclass(frozen=True)
class SendRule:
    """An experiment's guard for :meth:`RunStore.begin_send` (see ``rules.py``).

    ``budget_credits``: the most the experiment may reserve in all (``None``: the budget
    stored with :meth:`RunStore.set_budget`, if any). ``max_in_flight``: creates that may be
    in flight for the experiment at once — of all writers, or with ``per_writer`` of the
    writer asking (the budget always counts every writer's).
    ``backend`` / ``models``: which recorded tasks tell the price of a job (``models`` empty:
    the experiment's own models).
    """

    experiment: str
    budget_credits: float | None = None
    max_in_flight: int = 4
    backend: str | None = None
    models: frozenset[str] = field(default_factory=frozenset)
    per_writer: bool = False


@dataclass(frozen=True)
class SendDecision:
    """What :meth:`RunStore.begin_send` decided.

    - ``send``: the run is now ``submitting``; send its create request. ``pricing``: it was
      let out while the price is unknown; once a task reading tells the price, report it
      with :meth:`RunStore.priced` (the experiment's other sends wait for it).
    - ``wait``: not now (too many creates in flight, or the price is being learnt); ask again.
    - ``refuse``: never (``code``/``reason`` say why); nothing was recorded, the caller
      records ``not_submitted`` — provably nothing was created or billed.
    - ``lost``: the run is not queued any more or the caller's lease is gone; leave it alone.
    """

    action: Literal["send", "wait", "refuse", "lost"]
    code: str | None = None
    reason: str | None = None
    run: dict[str, Any] | None = None
    pricing: bool = False


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
