"""``SweepGate``: whether the next cell of a sweep may be sent, and why not.

Every cell of a sweep asks the gate right before its create request, and reports the answer
afterwards. The gate says no, for this cell and every later one, when

- a credit budget would be exceeded: ``budget_credits`` is the most the experiment may have
  reserved in all (cells paid in earlier calls count). The price of a job is what the service
  reports in a task's ``usage`` (the largest figure seen, or the ledger's for the same model);
  until one is known, cells are sent one at a time so the first answer tells it;
- the service answered a create with 402 (balance ran out), 401 (key rejected) or 403: the
  next requests would fail the same way, so they are not sent;
- you called ``sweep.stop_submitting()``.

It also lets at most ``max_in_flight`` create requests out at once (the rest wait their turn
unsent), so such a stop, or a crash, leaves most cells provably unsent.

A refused cell ends ``not_submitted`` with ``error_code`` ``budget`` or ``sweep_stopped``:
provably nothing was created or billed for it. Cells already sent are not affected: FoxAPI
has no cancel endpoint, so they run to the end, are billed, and are still tracked.

The gate lives on the engine loop; only ``stop()`` is called from other threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from ..errors import AuthenticationError, FoxError, InsufficientCreditsError, PermissionDeniedError

STOPPING_ERRORS = (InsufficientCreditsError, AuthenticationError, PermissionDeniedError)
"""Create errors after which the rest of a sweep is not sent: the next would fail alike."""


class SweepGate:
    """Admits a sweep's create requests one by one; see the module docstring."""

    def __init__(
        self,
        name: str,
        *,
        budget_credits: float | None = None,
        spent_credits: float = 0.0,
        price_credits: float | None = None,
        max_in_flight: int = 4,
    ):
        self.name = name
        #: Create requests allowed out at once: few, so a 402 or 401 answer, a stop, or a
        #: crash finds most cells still unsent rather than in flight.
        self.max_in_flight = max_in_flight
        self.budget_credits = budget_credits
        #: Credits reserved by this experiment's tasks (earlier calls included).
        self.spent_credits = spent_credits
        #: Credits per job: the largest figure the service reported, ``None`` until known.
        self.price_credits = price_credits
        #: Why the remaining cells are not sent (``None`` while sending goes on).
        self.stopped: str | None = None
        self.stop_code: str | None = None
        self._in_flight = 0
        self._lock = threading.Lock()
        # Cells waiting for their turn, oldest first; each change wakes only as many as
        # could now go (all of them once stopped), so a 1,000-cell sweep is not woken
        # 1,000 times per answer.
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None

    def stop(self, reason: str, code: str = "sweep_stopped") -> None:
        """Send no further cell; ``reason`` is recorded on each of them. Thread-safe."""
        with self._lock:
            if self.stopped is None:
                self.stopped, self.stop_code = reason, code
        self._wake()

    async def admit(self) -> tuple[str, str] | None:
        """``None`` when the caller may send its create request now (then it must call
        ``settle``), else ``(error_code, reason)`` for not sending it at all."""
        while True:
            refusal = self._try_admit()
            if isinstance(refusal, tuple):
                self._wake()  # stopped: every waiting cell is refused too
                return refusal
            if refusal is None:
                return None
            self._loop = asyncio.get_running_loop()
            turn = self._loop.create_future()
            self._waiting.append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._wake()  # pass the turn this cell got on to the next one
                raise

    def settle(self, *, created: bool, credits: float | None, error: FoxError | None) -> bool:
        """Report how an admitted create request ended.

        ``created`` also covers an unknown outcome (no answer): its price is counted as
        spent, the safe assumption for a budget. Returns True when the gate needs this
        task's price before admitting another cell: the caller then reads the task and
        calls ``priced()``.
        """
        needs_price = False
        with self._lock:
            if created and credits is None and self.price_credits is None:
                needs_price = self.budget_credits is not None and error is None
            if not needs_price:
                self._in_flight -= 1
                if created:
                    self._charge(credits)
        if isinstance(error, STOPPING_ERRORS):
            kind = type(error).__name__
            self.stop(f"a create request of this sweep failed with {kind}: {error}")
        self._wake()
        return needs_price

    def priced(self, credits: float | None) -> None:
        """The price of the task ``settle`` asked about (``None``: the service gave none)."""
        with self._lock:
            self._in_flight -= 1
            self._charge(credits)
            if credits is None and self.stopped is None:
                self.stopped = (
                    f"budget_credits={self.budget_credits:g} was set, but the service "
                    "reported no credits figure for a task, so the budget cannot be kept"
                )
                self.stop_code = "budget"
        self._wake()

    def _charge(self, credits: float | None) -> None:
        """Count one created task (caller holds the lock)."""
        charge = credits if credits is not None else self.price_credits
        self.spent_credits += charge or 0.0
        if credits is not None:
            self.price_credits = max(self.price_credits or 0.0, credits)

    def _try_admit(self) -> tuple[str, str] | str | None:
        with self._lock:
            if self.stopped is not None:
                return (self.stop_code or "sweep_stopped", self.stopped)
            if self._in_flight >= self.max_in_flight:
                return "wait"
            budget, price = self.budget_credits, self.price_credits
            if budget is None:
                self._in_flight += 1
                return None
            if price is None:
                # Price unknown: one request at a time until an answer reports it.
                if self._in_flight:
                    return "wait"
                if self.spent_credits >= budget:
                    return self._over_budget()
                self._in_flight += 1
                return None
            committed = self.spent_credits + self._in_flight * price
            if committed + price <= budget:
                self._in_flight += 1
                return None
            if self._in_flight:
                return "wait"  # one in flight may fail and leave room
            return self._over_budget()

    def _over_budget(self) -> tuple[str, str]:
        price = "" if self.price_credits is None else f"; a job costs {self.price_credits:g}"
        self.stopped = (
            f"credit budget reached: {self.spent_credits:g} of {self.budget_credits:g} credits "
            f"reserved by sweep {self.name!r}{price}"
        )
        self.stop_code = "budget"
        return (self.stop_code, self.stopped)

    def _wake(self) -> None:
        """Let waiting cells look again (from the engine loop or any other thread)."""
        loop = self._loop
        if loop is None:
            return
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._wake_on_loop()
        else:
            loop.call_soon_threadsafe(self._wake_on_loop)

    def _wake_on_loop(self) -> None:
        with self._lock:
            stopped = self.stopped is not None
            room = max(1, self.max_in_flight - self._in_flight)
        woken = 0
        while self._waiting and (stopped or woken < room):
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                woken += 1


def gate_from_runs(
    runs: Iterable[dict[str, Any]],
    name: str,
    budget_credits: float | None,
    models: set[str] | None = None,
) -> SweepGate:
    """The gate for experiment ``name`` from recorded runs (all of one backend): what its
    tasks reserved so far, and a job's price.

    The price is the largest credits figure the runs hold for a task of one of ``models``
    (all models of the experiment when not given).
    """
    runs = list(runs)
    mine = [r for r in runs if r.get("experiment") == name]
    models = models or {r["model"] for r in mine if r.get("model")}
    prices = [
        float(r["credits"])
        for r in runs
        if r.get("credits") is not None and r.get("model") in models and r.get("task_id")
    ]
    price = max(prices) if prices else None
    spent = 0.0
    for run in mine:
        if run.get("task_id") and not run.get("reused_from"):
            spent += float(run.get("credits") or price or 0.0)
        elif run.get("status") == "submission_unknown":
            spent += price or 0.0  # perhaps created: count it, the safe side of a budget
    return SweepGate(name, budget_credits=budget_credits, spent_credits=spent, price_credits=price)
