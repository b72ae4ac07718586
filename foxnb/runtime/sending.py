"""A run's way to its create request: upload, ask the store, send — and wait politely when
the store says "not yet".

The decision itself is the store's (``RunStore.begin_send`` with an experiment's
``SendRule``): a budget, a stop (402, 401, 403, ``stop_submitting()``) and the cap on creates
in flight hold for every kernel, worker and machine sharing the store. What stays in the
process is how its cells wait:

- ``Turns``: at most ``limit`` cells of one experiment ask the store at a time; the others
  wait in line without touching it, so a 1,000-cell sweep does not poll the store 1,000
  times per answer. A cell keeps its turn until its create request has been answered.
- A cell told ``wait`` asks again when a create of this process settles (``poke``), or after
  a short pause that grows from 20 to 200 ms (another process's answers are not announced).

``Sender`` is that way for one ``Runner``: upload the input once, ``begin_send`` (the plain
compare-and-set ``queued`` → ``submitting`` for a lone run, the experiment's rule for a cell),
the create request, and its answer recorded before anything else. ``STOPPING_ERRORS`` are the
create answers after which an experiment stops sending: the next would fail the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import (
    APIError,
    AuthenticationError,
    InsufficientCreditsError,
    JobError,
    PermissionDeniedError,
    SubmissionUnknownError,
    TransportError,
    ValidationError,
)
from ..models import Task
from .jobs import Job
from .link import stored
from .store import STOPPED_CODE, SendDecision, SendRule

if TYPE_CHECKING:
    from .runner import Runner

log = logging.getLogger("foxnb")

STOPPING_ERRORS = (InsufficientCreditsError, AuthenticationError, PermissionDeniedError)
"""Create errors after which the rest of an experiment is not sent: the next would fail alike."""

FIRST_PAUSE_S = 0.02
LONGEST_PAUSE_S = 0.2


class Turns:
    """Who of this process's cells of one experiment may ask the store now (engine loop only)."""

    def __init__(self, limit: int = 4):
        self.limit = limit
        self._holders = 0
        self._line: deque[asyncio.Future[None]] = deque()
        self._changed = asyncio.Event()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold one of the ``limit`` turns for the ``async with`` block."""
        while self._line and self._line[0].done():  # left the line (cancelled)
            self._line.popleft()
        if self._holders >= self.limit or self._line:
            ticket = asyncio.get_running_loop().create_future()
            self._line.append(ticket)
            try:
                await ticket  # the leaving holder passed its turn on: _holders unchanged
            except asyncio.CancelledError:
                if ticket.done() and not ticket.cancelled():
                    self._leave()  # the turn came as the wait was cancelled: pass it on
                else:
                    ticket.cancel()  # skipped by _leave (no search through a long line)
                raise
        else:
            self._holders += 1
        try:
            yield
        finally:
            self._leave()

    def _leave(self) -> None:
        while self._line:
            ticket = self._line.popleft()
            if not ticket.done():
                ticket.set_result(None)
                return
        self._holders -= 1

    async def pause(self, attempt: int) -> None:
        """Wait before asking the store again: until a local create settles, or a short while."""
        changed = self._changed
        delay_s = min(LONGEST_PAUSE_S, FIRST_PAUSE_S * 1.5**attempt)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(changed.wait(), delay_s)

    def poke(self) -> None:
        """A create settled or the experiment stopped: waiting holders ask again at once."""
        self._changed.set()
        self._changed = asyncio.Event()


class Sender:
    """Takes one runner's jobs to their create request; see the module docstring."""

    def __init__(self, runner: Runner):
        self.runner = runner

    async def submit(
        self, job: Job, input_sha256: str | None, rule: SendRule | None
    ) -> tuple[Task | None, bool]:
        """Upload, ask the store, send the create request: the task (``None`` if none was
        made) and whether another owner took the job over. A cell of an experiment does all
        of it in its turn, so the cells waiting for one hold nothing but their place."""
        if rule is None:
            return await self._submit(job, input_sha256, None, None)
        turns = self.runner.turns(rule.experiment)
        async with turns.turn():
            try:
                return await self._submit(job, input_sha256, rule, turns)
            finally:
                turns.poke()

    async def _submit(
        self, job: Job, input_sha256: str | None, rule: SendRule | None, turns: Turns | None
    ) -> tuple[Task | None, bool]:
        req = job.request
        video_url: str | None = None
        try:
            if req.is_local:
                assert input_sha256 is not None
                video_url, uploaded_at = await self.runner.uploads.url_for(
                    Path(req.video), input_sha256
                )
                self.runner.link.append(
                    job.run_id, {"video_url": video_url, "uploaded_at": uploaded_at}
                )
        except (APIError, TransportError, ValidationError) as exc:
            code = "upload_refused" if isinstance(exc, ValidationError) else "upload_failed"
            self.runner.fail(job, exc, code, status="not_submitted")
            return None, False
        if not await self.runner.link.flush():
            # The store refuses writes: a create it could not record must not be sent. The run
            # stays queued (nothing is recorded of this attempt) for fx.resume().
            self._unrecorded(job)
            return None, False
        admitted = await self._admit(job, video_url, rule, turns)
        if admitted is None:
            return None, self.runner.lost(job)
        return await self._send(job, video_url, rule, admitted), False

    def _unrecorded(self, job: Job) -> None:
        """Not sent because the store cannot record it: the job says so; the store, which
        cannot take it, keeps the run queued."""
        warning = self.runner.link.warning or "the runs store cannot be written"
        refused = JobError(
            f"{job.run_id} not sent: the runs store cannot record it ({warning}); nothing was "
            "created or billed, and the run stays queued for fx.resume()",
            job=job,
            code="ledger_unwritable",
        )
        job.set_state(
            status="not_submitted", error=refused, error_code="ledger_unwritable", warning=warning
        )

    async def _ask(self, job: Job, video_url: str | None, rule: SendRule | None) -> SendDecision:
        """One ``begin_send`` (on the store's writer thread): if it says ``send``, the run is
        ``submitting`` with these fields, durably, before the request leaves. A store that
        fails to answer is a refusal (``ledger_unwritable``): the transaction did not commit,
        so nothing may be sent."""
        runner = self.runner
        now = runner.clock()
        fields = {
            "submitted_at": now,
            "create_sent_at": now,
            "video_url": video_url or job.request.video,
            "in_flight": runner.in_flight() + 1,
        }
        try:
            decision: SendDecision = await runner.link.call(
                runner.store.begin_send, job.run_id, runner.link.owner, now, fields, rule
            )
        except Exception as exc:
            log.warning("foxnb: could not ask the runs store to send %s: %s", job.run_id, exc)
            return SendDecision("refuse", "ledger_unwritable", str(exc))
        return decision

    async def _admit(
        self, job: Job, video_url: str | None, rule: SendRule | None, turns: Turns | None
    ) -> SendDecision | None:
        """Ask the store until it says ``send`` (the decision) or ``refuse`` (recorded here;
        the decision too); ``None`` when the run is not ours to send any more. Without a
        ``rule`` it is the plain compare-and-set (queued → submitting), asked once: the
        store answers ``send`` or ``lost`` (``refuse`` only when it cannot be written)."""
        attempt = 0
        while True:
            decision = await self._ask(job, video_url, rule)
            if decision.action == "lost":
                return None
            if decision.action == "refuse" and decision.code == "ledger_unwritable":
                self._unrecorded(job)
                return decision
            if decision.action == "refuse":
                code = decision.code or STOPPED_CODE
                refused = JobError(
                    f"{job.run_id} not sent: {decision.reason}; nothing was created or billed "
                    "for it",
                    job=job,
                    code=code,
                )
                self.runner.fail(job, refused, code, status="not_submitted")
                return decision
            if decision.action == "send":
                return decision
            assert turns is not None, "without a rule the store never says wait"
            await turns.pause(attempt)
            attempt += 1

    async def _send(
        self, job: Job, video_url: str | None, rule: SendRule | None, decision: SendDecision
    ) -> Task | None:
        """Send the create request of a run the store let out (``decision``); record the
        answer."""
        if decision.action != "send":
            return None  # refused: recorded by _admit
        sent = decision.run or {}
        job.set_state(
            status="submitting",
            submitted_at=sent.get("submitted_at"),
            in_flight=sent.get("in_flight"),
        )
        try:
            task = await self.runner.client.create_task(job.request, video_url)
        except SubmissionUnknownError as exc:
            exc.job = job  # type: ignore[attr-defined]
            self.runner.fail(
                job, exc, "submission_unknown", status="submission_unknown", evidence=exc.evidence
            )
            return None
        except (APIError, TransportError) as exc:
            if rule is not None and isinstance(exc, STOPPING_ERRORS):
                reason = f"a create request of this sweep failed with {type(exc).__name__}: {exc}"
                await self.runner.link.call(
                    self.runner.store.stop_experiment, rule.experiment, reason
                )
            code = getattr(exc, "code", None) or type(exc).__name__
            self.runner.fail(job, exc, code, status="not_submitted")
            return None
        # One event: the task id, its status, and when the answer came (the polling planner's
        # clock starts there, not when the request waited in the rate limiter). It is durable
        # before the job shows it, and before anything else happens.
        changes = self.runner.changes(job, task, task_id=task.id, accepted_at=self.runner.clock())
        self.runner.link.append(job.run_id, stored(changes))
        await self.runner.link.flush()
        self.runner.show(job, changes)
        if decision.pricing:
            # The budget needs this task's price before the experiment's next cell may go;
            # FoxAPI's create answer carries no ``usage``, a task reading does.
            credits = task.credits
            try:
                if credits is None:
                    task = await self.runner.client.get_task(task.id)
                    self.runner.observe(job, task)
                    credits = task.credits
            finally:
                await self.runner.link.call(self.runner.store.priced, job.run_id, credits)
        return task
