"""The life of one run on the engine loop: upload, create, poll, download — each step recorded.

``Runner.run(job)`` never raises: whatever happens ends up in the job's state and in the runs
store, so a notebook never loses track of a paid task. Its order of work is the guarantee:

- the caller holds the run's lease (``Tracker`` claimed it) before the runner starts;
- a create request goes out only after ``RunStore.begin_send`` moved the run from ``queued``
  to ``submitting`` in one transaction (the one gate to money: any number of writers, one
  create per run), with the experiment's budget and stop checked in the same transaction;
- the task id is durable in the store before anything else happens to the run;
- when the runner stops working on the run, its last events and the end of its lease are
  committed together.

Store calls go through the session's ``StoreLink`` (a writer thread), never on the loop.
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
    DownloadError,
    FoxError,
    NotFoundError,
    TaskFailedError,
)
from ..models import ACTIVE, EXTENSION_S, Task
from .eta import progress_total_s
from .jobs import Job, JobState
from .link import FLUSH_WAIT_S, StoreLink, stored
from .sending import Sender, Turns
from .store import SendRule
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
    """Runs jobs against one connection, recording every step in the runs store."""

    def __init__(
        self,
        client: AsyncClient,
        link: StoreLink,
        videos_dir: Path,
        *,
        host: str,
        clock: Callable[[], float] = time.time,
        on_lost: Callable[[Job], bool] | None = None,
        in_flight: Callable[[], int] = lambda: 0,
        on_completed: Callable[[str], object] | None = None,
    ):
        self.client = client
        self.link = link
        self.store = link.store
        #: How many of the session's jobs are sent and not yet done (recorded with each
        #: create, so estimates can learn how concurrency slows jobs down).
        self.in_flight = in_flight
        #: Told the run id of every run whose video was saved (the session scores it).
        self.on_completed = on_completed
        self.videos_dir = videos_dir
        #: This machine's name, recorded with each saved video (``video_host``).
        self.host = host
        self.clock = clock
        #: Called with a job whose run another owner now holds; True when it took the job
        #: over (then the runner leaves the job alone: not done, lease not released).
        self.on_lost = on_lost
        self.uploads = UploadCache(client, link, clock)
        self.sender = Sender(self)
        # Work in progress per run id, and the runs whose tracking was stopped (detach).
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._detaching: set[str] = set()
        self._handing: set[str] = set()  # runs another owner took over
        self._final: dict[str, dict[str, Any]] = {}  # each run's last changes, shown when done
        self._closing = False
        self._jobs: dict[str, Job] = {}
        self._turns: dict[str, Turns] = {}

    def record(self, job: Job, **fields: Any) -> None:
        """Queue the fields for the store (``StoreLink``: durable within milliseconds, in
        order), then show them in the job. A task id is shown only once it is durable (see
        ``sending.Sender``), and so is the status a job ends with: it is shown when the job
        is done (``_finish``), so a job never reads as ended while it is not done."""
        self.link.append(job.run_id, stored(fields))
        if self.link.warning != job.state.warning:
            fields = {**fields, "warning": self.link.warning}
        if fields.get("status", "queued") in ACTIVE:
            self.show(job, fields)
        else:
            self._final.setdefault(job.run_id, {}).update(fields)

    def show(self, job: Job, fields: dict[str, Any]) -> None:
        """Put the job's own fields among ``fields`` into its state (watchers are told)."""
        job.set_state(**{k: v for k, v in fields.items() if k in _JOB_FIELDS})

    def turns(self, experiment: str) -> Turns:
        """This process's line for asking to send runs of ``experiment`` (engine loop only)."""
        turns = self._turns.get(experiment)
        if turns is None:
            turns = self._turns[experiment] = Turns()
        return turns

    def poke(self, experiment: str) -> None:
        """Let ``experiment``'s waiting cells ask the store again (from any thread)."""
        turns = self._turns.get(experiment)
        if turns is not None:
            turns.poke()

    def fail(
        self, job: Job, exc: FoxError, code: str | None, status: str | None = None, **extra: Any
    ) -> None:
        """Record why ``job`` stopped; without ``status`` the run stays resumable as it was."""
        message = scrub(str(exc), self.secret)
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

    @property
    def secret(self) -> str:
        """The API key, scrubbed from anything recorded or shown."""
        return self.client.config.api_key

    def warn(self, warning: str | None) -> None:
        """(Any thread) the store refuses writes (``warning``), or takes them again (None):
        every running job shows it."""
        for job in list(self._jobs.values()):
            job.set_state(warning=warning)

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

    async def hand_off(self, job: Job) -> None:
        """(Engine loop) another owner now holds ``job``'s run: stop working on it and let
        ``on_lost`` watch it. A create request in flight is let finish: its task id must be
        recorded."""
        work = self._tasks.get(job.run_id)
        if job.status != "submitting" and work is not None:
            self._handing.add(job.run_id)
            work.cancel()

    async def run(
        self, job: Job, input_sha256: str | None = None, rule: SendRule | None = None
    ) -> None:
        """Take ``job`` as far as it can go. Never raises; see the module docstring.

        ``rule`` is the experiment's guard on sending the create request, if the job is one
        of an experiment's runs.
        """
        work = asyncio.current_task()
        assert work is not None
        self._tasks[job.run_id] = work
        self._jobs[job.run_id] = job
        handed_off = False
        try:
            if job.task_id is None:
                task, handed_off = await self.sender.submit(job, input_sha256, rule)
            else:
                task = None
            if job.task_id is None or handed_off:
                return
            if job.run_id in self._detaching:
                self._detached(job)
                return
            if self._closing:
                return  # the task id is recorded: fx.resume() in a new session tracks it
            if task is None:
                task = await self.client.get_task(job.task_id)
                self.observe(job, task)
            # Returns at once for a finished task (re-reading one that lacks its result URL).
            task = await self.client.wait(
                task,
                on_update=lambda t: self.observe(job, t),
                created_s=job.state.accepted_at or job.state.submitted_at,
            )
            self.observe(job, task)
            if task.status == "completed":
                await self._download(job, task)
        except asyncio.CancelledError:
            if job.run_id in self._handing:
                handed_off = self.lost(job)
            elif job.run_id in self._detaching:
                self._detached(job)
            elif not self._closing:
                raise  # the engine is shutting down: leave the run resumable as recorded
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
            self._handing.discard(job.run_id)
            if not handed_off:
                await self._finish(job)
            else:
                self._final.pop(job.run_id, None)

    async def _finish(self, job: Job) -> None:
        """Give the run up (its events first, in the same commit), queue a saved video for
        scoring (the scorer reads the run from the store), then say the job is done."""
        completed = (self._final.get(job.run_id) or {}).get("status") == "completed"
        try:
            if not self.link.closed:
                self.link.release(job.run_id)
                # The job ends once all it learnt is in the store (waiting while it refuses).
                refused = self.link.warning is not None
                await self.link.flush(None if refused else FLUSH_WAIT_S, through_refusal=refused)
            if completed and self.on_completed is not None:
                try:
                    self.on_completed(job.run_id)  # queues the scoring; returns at once
                except Exception:  # scoring is extra: it must never fail a saved run
                    log.exception("foxnb: could not queue %s for scoring", job.run_id)
        except Exception:
            log.exception("foxnb: could not record the end of %s", job.run_id)
        finally:
            final = self._final.pop(job.run_id, None) or {}
            if job.state.warning and not self.link.warning:
                final["warning"] = None
            if final:
                self.show(job, final)
            job.mark_done()

    def lost(self, job: Job) -> bool:
        """The store says the run is no longer ours to send (another owner took it, or it was
        sent already): hand the job to whoever watches other owners' runs (True), else it
        ends here, as the store says, with nothing sent."""
        return self.on_lost is not None and self.on_lost(job)

    def observe(self, job: Job, task: Task, **extra: Any) -> None:
        """Take what a task reading says into the store and the job (changes only)."""
        changes = self.changes(job, task, **extra)
        if changes:
            self.record(job, **changes)

    def changes(self, job: Job, task: Task, **extra: Any) -> dict[str, Any]:
        """What a task reading (plus ``extra``) changes in the job, not yet recorded."""
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
        return changes

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
            video_host=self.host,
            sha256=saved.sha256,
            size_bytes=saved.size,
            error=None,
            error_code=None,
            error_message=None,
        )

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
