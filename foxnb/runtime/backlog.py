"""When the ledger cannot be written: keep the runs' events in memory, say so, write them later.

The runner writes every step of a run to the ledger. If an append fails — a full disk, a file
size limit, a read-only or vanished folder — what the runner just learnt must not be lost,
least of all a task id that was just paid for. The event waits here, in order; a warning says
what is waiting (naming the task ids, so they are on screen even if the kernel dies) and
repeats while it lasts; every later write first retries the waiting ones, and ``drain()``
retries on a timer. When the ledger takes them, a second message says so and the runs carry
on as if nothing had happened.

Only the ledger's public ``append_many`` is used, so any store with that method will do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("foxnb")

Event = tuple[str, float, dict[str, Any]]


class Appends(Protocol):
    """What the backlog needs of a ledger."""

    path: Any

    def append_many(self, events: list[Event]) -> None: ...


class Backlog:
    """Ledger events not yet written, in order, with the warning that goes with them.

    ``retry_s`` is how often ``drain()`` tries again; ``warn_every_s`` how often the warning
    is repeated while writes keep failing (at once when a new task id starts waiting).
    """

    def __init__(
        self,
        ledger: Appends,
        *,
        retry_s: float = 2.0,
        warn_every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._ledger = ledger
        self._events: list[Event] = []
        self._warned_at: float | None = None
        self._warned_ids: set[str] = set()
        self.retry_s = retry_s
        self.warn_every_s = warn_every_s
        self._clock = clock
        self.warning: str | None = None
        """The last warning while writes fail, else None."""

    @property
    def pending(self) -> int:
        """How many events wait to be written."""
        return len(self._events)

    def write(self, run_id: str, at: float, fields: dict[str, Any]) -> bool:
        """Append an event after any waiting ones; False if it has to wait (with a warning)."""
        self._events.append((run_id, at, fields))
        return self.flush()

    def withdraw_last(self) -> None:
        """Forget the newest waiting event (one that was about to allow a request that is now
        not sent, so it must never be written)."""
        if self._events:
            self._events.pop()

    def flush(self) -> bool:
        """Write every waiting event in one append; True when none is left waiting."""
        if not self._events:
            return True
        try:
            self._ledger.append_many(list(self._events))
        except OSError as exc:
            self._warn(exc)
            return False
        if self.warning is not None:
            log.warning(
                "foxnb: the run ledger %s is writable again; %d waiting record(s) written, "
                "the runs carry on.",
                self._ledger.path,
                len(self._events),
            )
        self._events.clear()
        self.warning = self._warned_at = None
        self._warned_ids.clear()
        return True

    async def drain(self) -> None:
        """Retry every ``retry_s`` until every waiting event is written."""
        while not self.flush():
            await asyncio.sleep(self.retry_s)

    def _warn(self, exc: OSError) -> None:
        ids = {str(f["task_id"]) for _, _, f in self._events if f.get("task_id")}
        now = self._clock()
        due = self._warned_at is None or now - self._warned_at >= self.warn_every_s
        if not due and ids <= self._warned_ids:
            return
        self._warned_at, self._warned_ids = now, ids
        reason = exc.strerror or str(exc) or type(exc).__name__
        tasks = (
            f", among them task id(s) {', '.join(sorted(ids))} (created, so billed)" if ids else ""
        )
        self.warning = (
            f"foxnb: cannot write the run ledger {self._ledger.path} ({reason}); "
            f"{len(self._events)} record(s) wait in memory{tasks}. foxnb keeps tracking and "
            f"retries every {self.retry_s:g} s, and sends no new create request meanwhile. "
            "Free space or fix the folder, and keep this kernel running until a message says "
            "the ledger is writable again."
        )
        log.warning(self.warning)
