"""Watching runs that another owner works on: read-only jobs, and taking over when it is gone.

When a session meets a run held by a live owner — another kernel running the same sweep, a
headless worker, another ``Session`` of this process — it does not send, poll or download it.
Its ``Job`` *mirrors* the store instead: every ``WATCH_INTERVAL_S`` one read fetches every
watched run, and each job takes the run's status, progress, task id and result from it.
``job.state.watching`` names the owner.

A watched run whose owner is gone (its lease expired, or its process on this host no longer
exists) is offered to ``take_over``, which claims it and carries on with it (a create that
was in flight becomes ``submission_unknown``, never resent). A watched run that ends ends its
job (``wait()`` then returns, or raises what the run ended with); a completed run's video is
first fetched here if this machine cannot read it (``runtime.fetch``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..errors import JobError
from ..models import RESUMABLE
from .jobs import Job
from .store import Held, Owner, RunStore, claimable

log = logging.getLogger("foxnb")

WATCH_INTERVAL_S = 0.5
"""Seconds between two reads of the watched runs (one store read for all of them)."""


def mirror(job: Job, held: Held) -> None:
    """Show in ``job`` what the store says of its run."""
    run = held.run
    status = run.get("status") or job.status
    changes: dict[str, Any] = {
        "status": status,
        "progress": run.get("progress") or 0,
        "watching": held.owner,
    }
    for name in ("task_id", "credits", "sha256", "completed_at", "submitted_at", "accepted_at"):
        if run.get(name) is not None:
            changes[name] = run[name]
    if run.get("estimated_time_s") is not None:
        changes["estimated_time_s"] = run["estimated_time_s"]
    if run.get("video_path"):
        changes["video_path"] = Path(run["video_path"])
    if status not in RESUMABLE and status != "completed" and job.state.error is None:
        code = run.get("error_code") or status
        why = run.get("error_message") or f"it ended as {status}"
        by = f" by {held.owner}" if held.owner else ""
        changes["error"] = JobError(f"{job.run_id} ({status}{by}): {why}", job=job, code=code)
        changes["error_code"] = code
    job.set_state(**changes)


class Watcher:
    """Mirrors the runs of other owners into jobs on the engine loop; see the module doc."""

    def __init__(
        self,
        store: RunStore,
        owner: Owner,
        loop: asyncio.AbstractEventLoop,
        take_over: Callable[[Job, Held], bool],
        *,
        clock: Callable[[], float],
        on_ended: Callable[[Job, Held], Awaitable[None]] | None = None,
        interval_s: float = WATCH_INTERVAL_S,
    ):
        self.store = store
        #: Awaited when a watched run ended, before its job is done (a copy of its video).
        self.on_ended = on_ended
        self.owner = owner
        self.loop = loop
        self.take_over = take_over
        self.clock = clock
        self.interval_s = interval_s
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None

    def watch(self, job: Job, held: Held | None = None) -> Job:
        """Start mirroring ``job``'s run (from any thread); returns the job."""
        job.set_state(watching=held.owner if held else job.state.watching)
        if held is not None:
            mirror(job, held)
        with self._lock:
            self._jobs[job.run_id] = job
        self.loop.call_soon_threadsafe(self._start)
        return job

    def unwatch(self, run_id: str) -> Job | None:
        """Stop mirroring ``run_id``; the job, if it was watched."""
        with self._lock:
            return self._jobs.pop(run_id, None)

    def stop(self) -> None:
        """Stop watching (the session closes): each watched job ends as it was last seen."""
        with self._lock:
            jobs, self._jobs = list(self._jobs.values()), {}
        for job in jobs:
            job.mark_done()

    def get(self, run_id: str) -> Job | None:
        """The watched job of ``run_id``, if any."""
        with self._lock:
            return self._jobs.get(run_id)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            with self._lock:
                jobs = dict(self._jobs)
            if not jobs:
                return
            try:
                found = await asyncio.to_thread(self.store.peek, list(jobs))
            except Exception as exc:  # the store is unreachable: keep the jobs, try later
                log.warning("foxnb: could not read watched runs: %s", exc)
                found = {}
            now = self.clock()
            for run_id, job in jobs.items():
                held = found.get(run_id)
                if held is None or self.get(run_id) is not job:
                    continue
                mirror(job, held)
                if held.run.get("status") not in RESUMABLE:
                    self.unwatch(run_id)
                    self.loop.create_task(self._end(job, held))
                elif claimable(held.owner, held.lease_until, self.owner, now):
                    # Off the loop: a takeover claims in the store and may read the input.
                    taken = await asyncio.to_thread(self._offer, job, held)
                    if taken:
                        self.unwatch(run_id)
            await asyncio.sleep(self.interval_s)

    async def _end(self, job: Job, held: Held) -> None:
        try:
            if self.on_ended is not None:
                await self.on_ended(job, held)
        except Exception:
            log.exception("foxnb: finishing the watched run %s failed", job.run_id)
        finally:
            job.mark_done()

    def _offer(self, job: Job, held: Held) -> bool:
        try:
            return self.take_over(job, held)
        except Exception:
            log.exception("foxnb: taking over %s failed", job.run_id)
            return False
