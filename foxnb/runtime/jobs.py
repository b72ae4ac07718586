"""``Job``: the handle ``fx.extend()`` returns while the work runs in the background.

Users read it (``status``, ``progress``, ``eta_s``, ``video_path``), wait on it (``wait()``,
``await job``), watch it (``on_update``) or stop tracking it (``detach()``). The runtime
drives it through a small engine-side API, in the manner of ``concurrent.futures.Future``'s
``set_result``: ``set_state()`` and ``add_progress()`` as the run moves (see
``foxnb.models`` for the statuses), ``bind()`` once its work is scheduled, ``mark_done()``
when nothing more will happen without you.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._wire import estimate_total_s
from ..errors import FoxError, JobError, JobTimeoutError
from ..models import ExtendRequest

log = logging.getLogger("foxnb")


@dataclass
class JobState:
    """Everything a job knows; the fields mirror the run ledger's columns."""

    status: str = "queued"
    progress: int = 0
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
    ):
        self.run_id = run_id
        self.request = request
        self.backend = backend
        self._state = JobState()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[Job], None]] = []
        self._done = threading.Event()
        self._future: concurrent.futures.Future[None] | None = None
        self._detach_hook = detach_hook

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
        return self._done.is_set()

    @property
    def elapsed_s(self) -> float | None:
        """Seconds since submission (until completion, once completed)."""
        start = self._state.submitted_at
        if start is None:
            return None
        return (self._state.completed_at or time.time()) - start

    @property
    def eta_s(self) -> float | None:
        """Estimated seconds left, from ``estimated_time`` and the observed progress rate."""
        elapsed = self.elapsed_s
        if self.done or elapsed is None or self.status not in ("pending", "processing"):
            return None
        total = estimate_total_s(elapsed, self._state.estimated_time_s, self._state.history)
        return None if total is None else max(0.0, total - elapsed)

    def snapshot(self) -> JobState:
        """A consistent copy of the state (for renderers)."""
        with self._lock:
            return JobState(**{**self._state.__dict__, "history": list(self._state.history)})

    # -------------------------------------------------------------- waiting

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the job ends; return it, or raise why it has no video.

        Raises ``TaskFailedError``, ``SubmissionUnknownError``, ``DownloadError``, the API
        error that stopped it, or ``JobTimeoutError`` if ``timeout`` (seconds) passes first
        (the job keeps running). Safe in a notebook cell: the work runs on another thread,
        and an interrupt (■) stops the waiting, not the job.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.wait(
            0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
        ):
            if deadline is not None and time.monotonic() >= deadline:
                raise JobTimeoutError(
                    f"{self.run_id} still {self.status} after {timeout} s; it keeps running "
                    "in the background"
                )
        self._raise_if_unsuccessful()
        return self

    def __await__(self) -> Generator[Any, None, Job]:
        if self._future is not None:
            yield from asyncio.wrap_future(self._future).__await__()
        while not self._done.is_set():  # a job detached mid-flight ends without its future
            yield from asyncio.sleep(0.05).__await__()
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
        """Remember one progress reading ``elapsed_s`` after submission (for ``eta_s``)."""
        with self._lock:
            self._state.history.append((elapsed_s, progress_pct))

    def bind(self, work: concurrent.futures.Future[None]) -> None:
        """The future of the engine coroutine working on this job (what ``await job`` awaits)."""
        self._future = work

    def mark_done(self) -> None:
        """Nothing more will happen without the user: release ``wait()`` and tell watchers."""
        self._done.set()
        self._notify()

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
        return f"<Job {self.run_id} {self.request.model} {self.status}{pct}{task}{where}>"
