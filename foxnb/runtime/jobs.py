"""``Job``: the handle ``fx.extend()`` returns while the work runs in the background.

Users read it (``status``, ``progress``, ``timing()``, ``video_path``), wait on it (``wait()``,
``await job``), watch it (``on_update``) or stop tracking it (``detach()``). The runtime
drives it through a small engine-side API, in the manner of ``concurrent.futures.Future``'s
``set_result``: ``set_state()`` and ``add_progress()`` as the run moves (see
``foxnb.models`` for the statuses), ``mark_done()`` when nothing more will happen without you.
A job holds no future of its own (a 10,000-job sweep need not hold 10,000 of them and their
locks): ``await job`` waits for ``mark_done()``, like ``wait()``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FoxError, JobError, JobTimeoutError
from ..models import ExtendRequest
from .eta import JobTiming, PaceBook, job_timing

if TYPE_CHECKING:
    from ..widgets.waiting import WaitLine

log = logging.getLogger("foxnb")


@dataclass
class JobState:
    """Everything a job knows; the fields mirror the run ledger's columns."""

    status: str = "queued"
    progress: int = 0
    queued_at: float | None = None
    started_at: float | None = None
    in_flight: int | None = None
    task_id: str | None = None
    error: FoxError | None = None
    error_code: str | None = None
    submitted_at: float | None = None
    accepted_at: float | None = None
    completed_at: float | None = None
    estimated_time_s: float | None = None
    result_url: str | None = None
    video_path: Path | None = None
    sha256: str | None = None
    credits: float | None = None
    reused_from: str | None = None
    service_status: str | None = None
    input_duration_s: float | None = None
    warning: str | None = None
    #: The owner (``host:pid:session``) working on this run when it is not this session:
    #: the job then mirrors the runs store, read-only (``runtime.watch``).
    watching: str | None = None
    history: list[tuple[float, int]] = field(default_factory=list)


class Job:
    """One extension run. Returned at once by ``fx.extend()``; the work goes on in the background.

    Use ``job.wait()`` in a cell or script, ``await job`` in async code, or just display it.
    ``job.status``, ``job.progress``, ``job.task_id``, ``job.error`` and ``job.video_path``
    are always current. ``on_update(callback)`` calls you (from the engine thread) on every
    change.
    """

    def __init__(
        self,
        run_id: str,
        request: ExtendRequest,
        *,
        backend: str,
        detach_hook: Callable[[Job], None] | None = None,
        pace: PaceBook | None = None,
    ):
        self.run_id = run_id
        self.request = request
        self.backend = backend
        self._state = JobState()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[Job], None]] = []
        self._finished = False
        # Made when someone first waits: a 10,000-cell sweep need not hold 10,000 Events.
        self._done_event: threading.Event | None = None
        self._detach_hook = detach_hook
        self._pace = pace

    # -------------------------------------------------------------- reading

    @property
    def status(self) -> str:
        return self._state.status

    @property
    def progress(self) -> int:
        """Percent done as reported by the service (100 once the video is saved)."""
        return self._state.progress

    @property
    def task_id(self) -> str | None:
        return self._state.task_id

    @property
    def error(self) -> FoxError | None:
        """Why the job did not produce a video (or stopped being tracked), else None."""
        return self._state.error

    @property
    def service_status(self) -> str | None:
        """The service's own status word when it is not one foxnb shows as ``status`` (e.g.
        ``"succeeded"``, read as completed, or a word foxnb does not know, polled on)."""
        return self._state.service_status

    @property
    def warning(self) -> str | None:
        """Something you should know while the job goes on (e.g. the run ledger cannot be
        written, and what is waiting in memory), else None."""
        return self._state.warning

    @property
    def video_path(self) -> Path | None:
        """The local MP4, once completed."""
        return self._state.video_path

    @property
    def result_url(self) -> str | None:
        return self._state.result_url

    @property
    def sha256(self) -> str | None:
        return self._state.sha256

    @property
    def credits(self) -> float | None:
        """Credits the service reported for this run's task (0 for a reused result)."""
        return self._state.credits

    @property
    def reused_from(self) -> str | None:
        """The run whose video this job reused instead of paying again, else None.

        ``fx.extend()`` reuses a completed, identical seeded request (see
        ``foxnb.runtime.reuse``); ``fx.rerun(job)`` sends the same request again anyway.
        """
        return self._state.reused_from

    @property
    def done(self) -> bool:
        """True once nothing more will happen without your action."""
        return self._finished

    @property
    def queued_at(self) -> float | None:
        """When the run was recorded (Unix seconds), before anything was sent."""
        return self._state.queued_at

    @property
    def submitted_at(self) -> float | None:
        """When the create request was sent (Unix seconds); elapsed time counts from here."""
        return self._state.submitted_at

    @property
    def started_at(self) -> float | None:
        """When the service was first seen processing the task (Unix seconds), else None."""
        return self._state.started_at

    @property
    def elapsed_s(self) -> float | None:
        """Seconds since submission (until completion, once completed)."""
        start = self._state.submitted_at
        if start is None:
            return None
        return (self._state.completed_at or time.time()) - start

    @property
    def eta_s(self) -> float | None:
        """Estimated seconds left: 0 once the expected end has passed (``timing().phase`` is
        then ``"overdue"``, ``timing().overdue_s`` says by how much); None when unknown or
        ended. A display that counts down from it shows "overdue", never "~0 s left" for long.
        """
        timing = self.timing()
        return 0.0 if timing.phase == "overdue" else timing.eta_s

    def timing(self, now_s: float | None = None) -> JobTiming:
        """Where the job's time goes: phase (queued, pending, processing, overdue…), elapsed
        time, expected end and time left, and a phrase saying it (``foxnb.runtime.eta``).

        The estimate allows for queueing at the service and for how long comparable runs
        (same model, similar number of jobs in flight) have really taken.

            job.timing().phrase        # "~8 s left", "overdue by 6 s, still processing"
        """
        state = self.snapshot()
        in_flight = state.in_flight
        pace, typical_s, tail_s = 1.0, None, 0.0
        if self._pace is not None:
            in_flight = in_flight or self._pace.in_flight_now() + 1
            pace = self._pace.factor(self.request.model, in_flight)
            typical_s = self._pace.typical_s(self.request.model, in_flight)
            tail_s = self._pace.tail_s(self.request.model, in_flight)
        return job_timing(
            time.time() if now_s is None else now_s,
            status=state.status,
            done=self.done,
            queued_at=state.queued_at,
            submitted_at=state.submitted_at,
            accepted_at=state.accepted_at,
            started_at=state.started_at,
            completed_at=state.completed_at,
            estimated_time_s=state.estimated_time_s,
            history=state.history,
            pace=pace,
            typical_s=typical_s,
            tail_s=tail_s,
        )

    def snapshot(self) -> JobState:
        """A consistent copy of the state (for renderers)."""
        with self._lock:
            return JobState(**{**self._state.__dict__, "history": list(self._state.history)})

    # -------------------------------------------------------------- waiting

    def wait(self, timeout: float | None = None, *, quiet: bool = False) -> Job:
        """Block until the job ends; return it, or raise why it has no video.

        Raises ``TaskFailedError``, ``SubmissionUnknownError``, ``DownloadError``, the API
        error that stopped it, or ``JobTimeoutError`` if ``timeout`` (seconds) passes first
        (the job keeps running). Safe in a notebook cell: the work runs on another thread,
        and an interrupt (■) stops the waiting, not the job.

        While it blocks, one progress line is rewritten in place (in a notebook, or a
        terminal; nothing when output goes to a file or pipe); ``quiet=True`` turns it off.
        """
        line = None if quiet or self.done else _wait_line(self)
        deadline = None if timeout is None else time.monotonic() + timeout
        note = ""
        try:
            finished = self._done_signal()
            while not finished.wait(
                0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
            ):
                if deadline is not None and time.monotonic() >= deadline:
                    note = "(stopped waiting; the job keeps running)"
                    raise JobTimeoutError(
                        f"{self.run_id} still {self.status} after {timeout} s; it keeps "
                        "running in the background"
                    )
                if line is not None:
                    line.update()
        except KeyboardInterrupt:
            note = "(stopped waiting; the job keeps running)"
            raise
        finally:
            if line is not None:
                line.close(note)
        self._raise_if_unsuccessful()
        return self

    def __await__(self) -> Generator[Any, None, Job]:
        return self._ended().__await__()

    async def _ended(self) -> Job:
        """What ``await job`` runs, on the awaiting loop: until ``mark_done()``."""
        if not self.done:
            loop = asyncio.get_running_loop()
            ended: asyncio.Future[None] = loop.create_future()

            def settle(_: Job) -> None:  # on the engine thread, or here if done already
                if self.done:
                    loop.call_soon_threadsafe(_resolve, ended)

            self.on_update(settle)
            try:
                await ended
            finally:
                self._callbacks.remove(settle)
        self._raise_if_unsuccessful()
        return self

    def _raise_if_unsuccessful(self) -> None:
        if self.status == "completed":
            return
        if self._state.error is not None:
            raise self._state.error
        raise JobError(f"{self.run_id} ended as {self.status}", job=self)

    # -------------------------------------------------------------- control

    def on_update(self, callback: Callable[[Job], None]) -> None:
        """Call ``callback(job)`` after every change (on the engine thread; keep it quick)."""
        self._callbacks.append(callback)
        if self.done:
            callback(self)

    def detach(self) -> None:
        """Stop tracking this job. This does NOT cancel the task on FoxAPI.

        FoxAPI documents no cancel endpoint: a submitted task keeps running and is billed.
        foxnb stops polling and downloading and records the run as ``detached`` (a job not
        yet sent is simply not sent). ``fx.attach(run_id)`` resumes tracking later.
        """
        if self._detach_hook is None or self.done:
            return
        self._detach_hook(self)

    # -------------------------------------------------------------- engine side

    @property
    def state(self) -> JobState:
        """The live state, for the runtime (read it; change it only through ``set_state``)."""
        return self._state

    def set_state(self, **changes: Any) -> None:
        """Change fields of the state (names of ``JobState``), then tell every watcher."""
        with self._lock:
            for name, value in changes.items():
                setattr(self._state, name, value)
        self._notify()

    def add_progress(self, elapsed_s: float, progress_pct: int) -> None:
        """Remember one progress reading, ``elapsed_s`` after the create answer came (or the
        request was sent, if no answer time is known), for ``timing()``."""
        with self._lock:
            self._state.history.append((elapsed_s, progress_pct))

    def mark_done(self) -> None:
        """Nothing more will happen without the user: release ``wait()`` and tell watchers."""
        with self._lock:
            self._finished = True
            event = self._done_event
        if event is not None:
            event.set()
        self._notify()

    def _done_signal(self) -> threading.Event:
        """An Event set once the job is done (made on first use)."""
        with self._lock:
            if self._done_event is None:
                self._done_event = threading.Event()
                if self._finished:
                    self._done_event.set()
            return self._done_event

    def _notify(self) -> None:
        for callback in list(self._callbacks):
            try:
                callback(self)
            except Exception:  # a broken display must not stop the job
                log.exception("foxnb: an on_update callback failed for %s", self.run_id)

    def _ipython_display_(self) -> None:
        """In a notebook, a live card that becomes a saved snapshot; elsewhere a text line."""
        # Imported here: importing foxnb must not load ipywidgets or IPython.
        # The one upward import of the runtime, for display only (named in the layer test).
        from ..widgets.display import show_job

        show_job(self)

    def __repr__(self) -> str:
        where = " [simulator]" if self.backend == "sim" else ""
        task = f" {self.task_id}" if self.task_id else ""
        pct = f" {self.progress}%" if self.status in ("pending", "processing") else ""
        said = f" (service says {self.service_status!r})" if self.service_status else ""
        status = f"{self.status}{pct}{said}"
        by = f" (run by {self._state.watching})" if self._state.watching and not self.done else ""
        return f"<Job {self.run_id} {self.request.model} {status}{task}{where}{by}>"


def _wait_line(job: Job) -> WaitLine | None:
    # The progress line is drawn by the widgets layer (IPython display or a terminal): an
    # upward import, on use only, named in the layer test beside the display hook.
    from ..widgets.waiting import job_text, wait_line

    return wait_line(lambda: job_text(job))


def _resolve(ended: asyncio.Future[None]) -> None:
    """Settle the future ``await job`` waits on, once (later calls find it done)."""
    if not ended.done():
        ended.set_result(None)
