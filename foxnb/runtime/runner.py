"""The life of one run on the engine loop: upload, create, poll, download — each step recorded.

``Runner.run(job)`` never raises: whatever happens ends up in the job's state and in the
ledger, so a notebook never loses track of a paid task. Its order of work is the guarantee:
the ledger learns that a create request is about to be sent *before* it is sent (if it
cannot, the request is not sent), and learns the task id as soon as it is known (if it cannot,
the id waits in memory with a warning until it can: ``backlog.Backlog``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..client import AsyncClient
from ..config import scrub
from ..errors import (
    APIError,
    DownloadError,
    FoxError,
    JobError,
    NotFoundError,
    SubmissionUnknownError,
    TaskFailedError,
    TransportError,
    ValidationError,
)
from ..models import EXTENSION_S, Task
from .backlog import Backlog
from .eta import progress_total_s
from .gate import SweepGate
from .jobs import Job, JobState
from .ledger import Ledger
from .uploads import UploadCache

log = logging.getLogger("foxnb")

_JOB_FIELDS = frozenset(f.name for f in dataclasses.fields(JobState))

RESULT_TTL_S = 24 * 3600  # documented lifetime of result links


def _expiry(url: str, seen_at: float) -> float:
    """When a result link stops working: its own ``expires`` parameter, else seen + 24 h."""
    for key, values in parse_qs(urlsplit(url).query).items():
        if key.lower() in ("expires", "exp") and values and values[0].isdigit():
            return float(values[0])
    return seen_at + RESULT_TTL_S


class Runner:
    """Runs jobs against one connection, recording every step in the ledger."""

    def __init__(
        self,
        client: AsyncClient,
        ledger: Ledger,
        videos_dir: Path,
        clock: Callable[[], float] = time.time,
        in_flight: Callable[[], int] = lambda: 0,
        on_completed: Callable[[str], object] | None = None,
    ):
        self.client = client
        #: How many of the session's jobs are sent and not yet done (recorded with each
        #: create, so estimates can learn how concurrency slows jobs down).
        self.in_flight = in_flight
        self.ledger = ledger
        self.videos_dir = videos_dir
        self.clock = clock
        self.uploads = UploadCache(client, ledger, clock)
        self.backlog = Backlog(ledger)
        #: Told the run id of every run whose video was saved (the session scores it).
        self.on_completed = on_completed
        # Work in progress per run id, and the runs whose tracking was stopped (detach).
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._detaching: set[str] = set()
        self._closing = False
        self._jobs: dict[str, Job] = {}

    def record(self, job: Job, **fields: Any) -> bool:
        """Append the fields to the ledger, then update the job: whatever a job shows (its
        task id above all) is already on disk, even if the process dies the next moment.

        Unless the ledger cannot take them yet: then they wait in ``backlog``, the job shows
        the warning saying so, and this returns False."""
        stored = {k: (str(v) if isinstance(v, Path) else v) for k, v in fields.items()}
        stored.pop("error", None)
        written = self.backlog.write(job.run_id, self.clock(), stored)
        shown = {k: v for k, v in fields.items() if k in _JOB_FIELDS}
        if self.backlog.warning != job.state.warning:
            shown["warning"] = self.backlog.warning
        job.set_state(**shown)
        return written

    def fail(
        self, job: Job, exc: FoxError, code: str | None, status: str | None = None, **extra: Any
    ) -> None:
        """Record why ``job`` stopped; without ``status`` the run stays resumable as it was."""
        message = scrub(str(exc), self.client.config.api_key)
        fields: dict[str, Any] = {"error": exc, "error_code": code, "error_message": message}
        if status is not None:
            fields["status"] = status
        self.record(job, **fields, **extra)

    async def detach(self, job: Job) -> None:
        """Stop working on ``job`` (on the engine loop). A create request in flight is never
        interrupted: the runner records the task id it gets back, then stops."""
        self._detaching.add(job.run_id)
        work = self._tasks.get(job.run_id)
        if job.status != "submitting" and work is not None:
            work.cancel()

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Stop working on every job, leaving each run resumable as recorded (the session is
        closing). A create request in flight is never interrupted: its task id is recorded
        first, within ``timeout_s``."""
        self._closing = True
        work = list(self._tasks.items())
        for run_id, task in work:
            job = self._jobs.get(run_id)
            if job is None or job.status != "submitting":
                task.cancel()
        if work:
            await asyncio.wait([task for _, task in work], timeout=timeout_s)

    async def run(
        self, job: Job, input_sha256: str | None = None, gate: SweepGate | None = None
    ) -> None:
        """Take ``job`` as far as it can go. Never raises; see the module docstring.

        ``gate`` is the sweep's say on sending the create request, if the job is a cell.
        """
        work = asyncio.current_task()
        assert work is not None
        self._tasks[job.run_id] = work
        self._jobs[job.run_id] = job
        try:
            task = await self._submit(job, input_sha256, gate) if job.task_id is None else None
            if job.task_id is None:
                return
            if job.run_id in self._detaching:
                self._detached(job)
                return
            if self._closing:
                return  # the task id is recorded: fx.resume() in a new session tracks it
            if task is None:
                task = await self.client.get_task(job.task_id)
                self._observe(job, task)
            # Returns at once for a finished task (re-reading one that lacks its result URL).
            task = await self.client.wait(
                task,
                on_update=lambda t: self._observe(job, t),
                created_s=job.state.accepted_at or job.state.submitted_at,
            )
            self._observe(job, task)
            if task.status == "completed":
                await self._download(job, task)
        except asyncio.CancelledError:
            if job.run_id not in self._detaching:
                raise  # the engine is shutting down: leave the run resumable as recorded
            self._detached(job)
        except NotFoundError as exc:
            self.fail(job, exc, "task_not_found", status="failed")
        except FoxError as exc:  # e.g. 401 mid-poll: stop tracking, keep the run resumable
            self.fail(job, exc, type(exc).__name__)
        except Exception as exc:
            log.exception("foxnb: unexpected error in %s", job.run_id)
            text = scrub(f"internal error while tracking {job.run_id}: {exc!r}", self.secret)
            self.fail(job, FoxError(text), "internal")
        finally:
            self._tasks.pop(job.run_id, None)
            self._jobs.pop(job.run_id, None)
            self._detaching.discard(job.run_id)
            try:
                if self.backlog.pending:  # the job ends once all it learnt is on disk
                    await self.backlog.drain()
                    job.set_state(warning=None)
            finally:
                job.mark_done()

    @property
    def secret(self) -> str:
        return self.client.config.api_key

    async def _submit(
        self, job: Job, input_sha256: str | None, gate: SweepGate | None
    ) -> Task | None:
        req = job.request
        video_url: str | None = None
        try:
            if req.is_local:
                assert input_sha256 is not None
                video_url, uploaded_at = await self.uploads.url_for(Path(req.video), input_sha256)
                self.record(job, video_url=video_url, uploaded_at=uploaded_at)
        except (APIError, TransportError, ValidationError) as exc:
            code = "upload_refused" if isinstance(exc, ValidationError) else "upload_failed"
            self.fail(job, exc, code, status="not_submitted")
            return None
        if gate is not None and (refusal := await gate.admit()) is not None:
            code, reason = refusal
            refused = JobError(
                f"{job.run_id} not sent: {reason}; nothing was created or billed for it",
                job=job,
                code=code,
            )
            self.fail(job, refused, code, status="not_submitted")
            return None
        now = self.clock()
        recorded = self.record(
            job,
            status="submitting",
            submitted_at=now,
            create_sent_at=now,
            video_url=video_url or req.video,
            in_flight=self.in_flight() + 1,
        )
        if not recorded:  # a create the ledger does not know of could be lost: do not send
            self.backlog.withdraw_last()
            refused = JobError(
                f"{job.run_id} not sent: the run ledger cannot be written ({job.state.warning}); "
                "nothing was created or billed, and the run stays queued for fx.resume()",
                job=job,
                code="ledger_unwritable",
            )
            if gate is not None:
                gate.settle(created=False, credits=None, error=refused)
            job.set_state(status="not_submitted", error=refused, error_code="ledger_unwritable")
            return None
        try:
            task = await self.client.create_task(req, video_url)
        except SubmissionUnknownError as exc:
            if gate is not None:
                gate.settle(created=True, credits=None, error=exc)  # may have been created
            exc.job = job  # type: ignore[attr-defined]
            self.fail(
                job, exc, "submission_unknown", status="submission_unknown", evidence=exc.evidence
            )
            return None
        except (APIError, TransportError) as exc:
            if gate is not None:
                gate.settle(created=False, credits=None, error=exc)
            code = getattr(exc, "code", None) or type(exc).__name__
            self.fail(job, exc, code, status="not_submitted")
            return None
        # One ledger line: the task id, its status, and when the answer came (the polling
        # planner's clock starts there, not when the request waited in the rate limiter).
        self._observe(job, task, task_id=task.id, accepted_at=self.clock())
        if gate is not None and gate.settle(created=True, credits=task.credits, error=None):
            # The budget needs this task's price before the next cell may go; FoxAPI's
            # create answer carries no ``usage``, a task reading does.
            credits = None
            try:
                task = await self.client.get_task(task.id)
                self._observe(job, task)
                credits = task.credits
            finally:
                gate.priced(credits)
        return task

    def _observe(self, job: Job, task: Task, **extra: Any) -> None:
        state = job.state
        now = self.clock()
        origin = extra.get("accepted_at") or state.accepted_at or state.submitted_at
        if task.status in ("pending", "processing") and origin is not None:
            job.add_progress(now - origin, task.progress)
        status = {"completed": "downloading"}.get(task.status, task.status)
        if not task.status_known:  # a word foxnb does not know: still running, as far as known
            status = state.status if state.status in ("pending", "processing") else "pending"
        changes: dict[str, Any] = dict(extra)
        if status != state.status:
            changes["status"] = status
            if status == "processing" and state.started_at is None:
                changes["started_at"] = now
        # What the service said, when it is not the status foxnb shows (e.g. "succeeded").
        said = task.service_status if task.service_status != task.status else None
        if said != state.service_status:
            changes["service_status"] = said
        if task.progress != state.progress and status != "downloading":
            changes["progress"] = task.progress
        if task.estimated_time_s is not None and task.estimated_time_s != state.estimated_time_s:
            changes["estimated_time_s"] = task.estimated_time_s
        if task.credits is not None and task.credits != state.credits:
            changes["credits"] = task.credits
        if task.status == "completed" and state.completed_at is None:
            changes["completed_at"] = now
            if state.submitted_at is not None:
                changes["duration_s"] = now - state.submitted_at
            # When the progress said it would be done, so estimates learn how late results
            # come past it (foxnb.runtime.eta).
            changes["predicted_s"] = progress_total_s(state.history, state.estimated_time_s)
        if task.status in ("failed", "cancelled") and state.error is None:
            err = task.error
            code = (err.code if err else None) or task.status
            message = err.message if err else f"the task was {task.status}"
            if task.service_status != task.status:
                message += f" (the service said {task.service_status!r})"
            changes.update(
                error=TaskFailedError(
                    f"{task.id} {task.status}: {code}: {message}", job=job, code=code
                ),
                error_code=code,
                error_message=message,
            )
        if changes:
            self.record(job, **changes)

    async def _download(self, job: Job, task: Task) -> None:
        if not task.result_urls:
            exc = DownloadError(
                f"{task.id} completed without a result URL", job=job, code="no_result"
            )
            self.fail(job, exc, "no_result", status="download_failed")
            return
        url = task.result_urls[0]
        self.record(job, result_url=url, result_expires_at=_expiry(url, self.clock()))
        dest = self.videos_dir / f"{job.run_id}.mp4"
        known_s = job.state.input_duration_s
        expected_s = None if known_s is None else known_s + EXTENSION_S
        try:
            try:
                saved = await self.client.download(url, dest, expected_s=expected_s)
            except DownloadError as exc:
                if exc.code != "result_expired":
                    raise
                # The link may have expired before we got to it: ask the task for a fresh one.
                fresh = await self.client.get_task(task.id, sync_upstream=False)
                if not fresh.result_urls:
                    raise
                url = fresh.result_urls[0]
                self.record(job, result_url=url, result_expires_at=_expiry(url, self.clock()))
                saved = await self.client.download(url, dest, expected_s=expected_s)
        except DownloadError as exc:
            exc.job = job
            self.fail(job, exc, exc.code, status="download_failed")
            return
        self.record(
            job,
            status="completed",
            progress=100,
            video_path=saved.path,
            sha256=saved.sha256,
            size_bytes=saved.size,
            error=None,
            error_code=None,
            error_message=None,
        )
        if self.on_completed is not None:
            try:
                self.on_completed(job.run_id)  # queues the scoring; returns at once
            except Exception:  # scoring is extra: it must never fail a saved run
                log.exception("foxnb: could not queue %s for scoring", job.run_id)

    def _detached(self, job: Job) -> None:
        if job.task_id is None:
            self.record(
                job,
                status="not_submitted",
                error_code="stopped",
                error_message="stopped before submission; nothing was sent or billed",
            )
        else:
            self.record(
                job,
                status="detached",
                error_message=f"foxnb stopped tracking {job.task_id}; FoxAPI has no "
                "cancel endpoint, so the task may still run and be billed",
            )
