"""Headless workers: claim runs from a shared store and carry them out until none is left.

``foxnb worker --store URL [--experiment NAME]`` runs :func:`work` with a session of its own.
Several workers — processes on one machine, or machines sharing a PostgreSQL store — split a
sweep between them without ever sending a cell twice:

- a worker claims runs with ``RunStore.claim_some`` (the oldest runs with work left that no
  live owner holds, several in one transaction) and holds at most ``hold`` runs not yet
  sent, so the rest stay free for the others; runs already sent are tracked until their
  video is saved;
- each run is carried on from where the store says it is (``Tracker.continue_run``): a queued
  cell is sent through its experiment's rule, a task is polled and downloaded, a create found
  in flight (its owner died mid-request) becomes ``submission_unknown``, never resent;
- a run this worker could not finish (a download that failed) is not claimed again by it;
- when nothing is claimable, the worker waits while other owners still hold unfinished runs
  (one of them may die: its runs are taken over once its lease lapses, at once if it was a
  process of this machine), and stops when every run has ended.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..models import RESUMABLE
from .jobs import Job
from .tracker import Tracker

HOLD = 8
"""Runs not yet sent that a worker holds at once (the experiment's in-flight cap is 4)."""


@dataclass
class WorkReport:
    """What a worker did: its jobs, by final status."""

    jobs: list[Job] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(job.status for job in self.jobs))


def work(
    tracker: Tracker,
    *,
    experiment: str | None = None,
    hold: int = HOLD,
    poll_s: float = 0.5,
    on_job: Callable[[Job], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> WorkReport:
    """Claim and carry out runs of ``tracker``'s backend (of ``experiment`` if given) until
    none is left; see the module docstring. ``on_job`` is told of each job taken on."""
    report = WorkReport()
    changed = threading.Event()  # set when a job of this worker is sent or ends
    phase: dict[str, tuple[bool, bool]] = {}  # run id -> (not sent yet, done)

    def wake(job: Job) -> None:
        """Wake the loop when ``job`` is sent or ends (room to claim another), not on
        every progress reading (each wake may cost a claiming transaction)."""
        now = (job.task_id is None, job.done)
        if phase.get(job.run_id) != now:
            phase[job.run_id] = now
            changed.set()

    foreign: set[str] = set()  # runs of another service address: never ours to send
    while not should_stop():
        changed.clear()
        running = [job for job in report.jobs if not job.done]
        # Runs this worker gave up on that still have work left (a download that failed):
        # not claimed again by it, so it does not loop on them.
        tried = foreign | {j.run_id for j in report.jobs if j.done and j.status in RESUMABLE}
        unsent = sum(job.task_id is None for job in running)
        took = False
        if unsent < hold and not should_stop():
            runs = tracker.store.claim_some(
                tracker.owner,
                tracker.lease_s,
                time.time(),
                hold - unsent,
                experiment,
                backend=tracker.backend,
                exclude=sorted(tried),
            )
            took = bool(runs)
            tracker.link.hold(run["run_id"] for run in runs)
            for run in runs:
                job = _take(tracker, run, foreign)
                if job is not None:
                    job.on_update(wake)
                    report.jobs.append(job)
                    if on_job is not None:
                        on_job(job)
        running = [job for job in report.jobs if not job.done]
        if not took and not running and not _left(tracker, experiment, tried):
            return report
        if not took:
            # Until a job is sent or ends (room to claim another), or a while has passed
            # (another owner's runs may have ended, or become free to take over).
            changed.wait(poll_s)
    return report


def _take(tracker: Tracker, run: dict[str, Any], foreign: set[str]) -> Job | None:
    """Carry on with a run just claimed; ``None`` if there is nothing to do with it here."""
    if not tracker.same_backend(run):  # another service address: not ours to send
        foreign.add(run["run_id"])
        tracker.release(run["run_id"])
        return None
    with tracker.lock:
        return tracker.continue_run(run)


def _left(tracker: Tracker, experiment: str | None, tried: set[str]) -> bool:
    """Whether other owners still hold unfinished runs this worker might have to take over."""
    left = tracker.store.unfinished(backend=tracker.backend, experiment=experiment)
    return any(
        run_id not in tried and tracker.same_backend(held.run) for run_id, held in left.items()
    )
