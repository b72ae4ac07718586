"""Recovering runs: resume, attach, and taking over runs whose owner is gone.

Functions of a ``Tracker`` (which delegates to them). Every run is claimed before anything is
done with it; what happens next depends on where the store says it is:

- ``submitting``: its owner died with the create request in flight. It is never resent: it
  becomes ``submission_unknown`` with the evidence (FoxAPI cannot list tasks, so whether it was
  created cannot be known);
- it has a task: the task is polled and the result downloaded (``download_failed`` tries the
  download again);
- ``queued``: it is sent, through its experiment's rule, if its input is still the same content
  here or was uploaded recently enough to send that upload's link;
- a run a live owner holds is watched instead (``watch.py``), and taken over (``take_over``)
  once that owner is gone.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .._files import remove_stale_parts
from ..errors import DownloadError, ValidationError
from ..models import RESUMABLE, ExtendRequest
from .fetch import local_copy, readable
from .jobs import Job
from .records import recorded_options, recorded_request
from .store import Held, SendRule
from .store.base import as_number

if TYPE_CHECKING:
    from .tracker import Tracker

log = logging.getLogger("foxnb")


def rule(tracker: Tracker, run: dict[str, Any]) -> SendRule | None:
    """The send rule of ``run``'s experiment (``None`` outside one).

    A budget recorded with the cells (by a version before the runs store kept it per
    experiment) becomes the experiment's budget if it has none.
    """
    name = run.get("experiment")
    if not name:
        return None
    budget = run.get("budget_credits")
    if name not in tracker.budgets_checked and budget is not None:
        state = tracker.store.experiment(name, time.time(), tracker.backend)
        if state.budget_credits is None:
            tracker.store.set_budget(name, float(budget))
        tracker.budgets_checked.add(name)
    return SendRule(name, backend=tracker.backend, per_writer=True)


def resume(tracker: Tracker) -> list[Job]:
    """Carry on with every unfinished run of this backend; see ``Session.resume``.

    Runs no live owner holds are claimed (in one transaction) and continued; runs a live
    owner works on are watched. Returns the jobs of both, oldest first.
    """
    remove_stale_parts(tracker.videos_dir)
    with tracker.lock:
        found = tracker.unfinished_held()
        claims = tracker.claim(list(found))
        jobs = []
        for run_id, held in found.items():
            claim = claims[run_id]
            if claim.ok and claim.run is not None:
                job = tracker.continue_run(claim.run)
            else:
                job = tracker.watch(Held(claim.run or held.run, claim.previous, held.lease_until))
            if job is not None:
                jobs.append(job)
        return jobs


def continue_run(tracker: Tracker, run: dict[str, Any], job: Job | None = None) -> Job | None:
    """Carry on with a run this session has just claimed, from where the store says it is.

    A create found in flight (``submitting``) is never resent: ``submission_unknown``. A
    run with a task is polled and downloaded; a queued one is sent (through its
    experiment's rule). ``job`` is the watched job to continue, if any.
    """
    run_id, status = run["run_id"], run.get("status")
    if status == "submitting":
        tracker.flag_unknown(run)
        return tracker.settled(run_id, request_of(run), job) if job else None
    if run.get("task_id") and status in RESUMABLE:
        return _poll(tracker, run, job)
    if status == "queued":
        return tracker.requeue(run, tracker.rule(run), job)
    tracker.release(run_id)  # it ended while we looked: nothing to do
    return tracker.settled(run_id, request_of(run), job)


def take_over(tracker: Tracker, job: Job, held: Held) -> bool:
    """Claim a watched run whose owner is gone and carry on with it (the watcher calls
    this off the engine loop); True if this session now works on it."""
    with tracker.lock:
        claim = tracker.claim([job.run_id])[job.run_id]
        if not claim.ok or claim.run is None:
            return False
        tracker.watcher.unwatch(job.run_id)
        tracker.continue_run(claim.run, job)
        return True


def watch_job(tracker: Tracker, job: Job) -> bool:
    """The runner found ``job``'s run held or sent by someone else: watch it instead."""
    held = tracker.store.peek([job.run_id]).get(job.run_id)
    if held is None:
        return False
    tracker.link.forget([job.run_id])
    tracker.watch(held, job)
    return True


async def watched_ended(tracker: Tracker, job: Job, held: Held) -> None:
    """A watched run ended: if it completed with a video this machine cannot read (saved
    by a worker elsewhere), fetch a copy so the job shows it, or say why it cannot."""
    if held.run.get("status") != "completed":
        return
    try:
        path = await local_copy(tracker.client, held.run, tracker.videos_dir)
    except DownloadError as exc:
        log.warning("foxnb: %s", exc)
        job.set_state(video_path=None, error=exc)
        return
    job.set_state(video_path=path, watching=None)


def leases_lost(tracker: Tracker, run_ids: set[str]) -> None:
    """(Writer thread) another owner took these runs over: stop working on them."""
    for run_id in run_ids:
        job = tracker.live(run_id)
        if job is not None and tracker.watcher.get(run_id) is None:
            tracker.engine.start(tracker.runner.hand_off(job))


def flag_unknown(tracker: Tracker, run: dict[str, Any]) -> None:
    """Record submission_unknown for a run whose owner died mid-create, and release it."""
    sent = run.get("create_sent_at")
    when = datetime.fromtimestamp(sent, timezone.utc).isoformat() if sent else "?"
    evidence = (
        f"the process ended while the create request sent at {when} was in flight; "
        "no task id was recorded, so foxnb will not resend it. Check your FoxAPI "
        "dashboard before submitting again."
    )
    fields = {
        "status": "submission_unknown",
        "error_code": "submission_unknown",
        "error_message": evidence,
        "evidence": evidence,
    }
    tracker.release(run["run_id"], (run["run_id"], time.time(), fields))


def attach(tracker: Tracker, run_id: str) -> Job:
    """Track the task of a recorded run again (e.g. after ``detach()`` or a restart)."""
    run = tracker.store.get(run_id)
    if run is None:
        raise ValidationError("run_id", f"no run {run_id!r} in {tracker.store.location}")
    if not run.get("task_id"):
        raise ValidationError("run_id", f"{run_id} has no task id (status {run['status']})")
    with tracker.lock:
        live = tracker.live(run_id)
        if live is not None:
            return live
        claim = tracker.claim([run_id])[run_id]
        if not claim.ok:
            held = tracker.store.peek([run_id]).get(run_id) or Held(run, claim.previous, None)
            return tracker.watch(held)
        return _poll(tracker, claim.run or run, None)


def _poll(tracker: Tracker, run: dict[str, Any], job: Job | None) -> Job:
    """Poll and download the task of a claimed run (a detached run is tracked again)."""
    job = job or tracker.new_job(run["run_id"], request_of(run))
    job.set_state(
        status=run["status"] if run["status"] not in ("detached",) else "processing",
        progress=run.get("progress") or 0,
        task_id=run["task_id"],
        submitted_at=run.get("submitted_at"),
        accepted_at=run.get("accepted_at"),
        estimated_time_s=run.get("estimated_time_s"),
        credits=run.get("credits"),
        queued_at=run.get("recorded_at"),
        started_at=run.get("started_at"),
        in_flight=run.get("in_flight"),
        input_duration_s=as_number(run.get("input_duration_s")),
    )
    return tracker.launch(run["run_id"], job.request, None, job=job)


def requeue(
    tracker: Tracker, run: dict[str, Any], rule: SendRule | None = None, job: Job | None = None
) -> Job | None:
    """Launch a claimed run that was never sent, if its input is still the same content
    here — or, on a machine without the file, was uploaded recently enough (by whoever
    recorded it) to send that upload's URL."""
    sha = run.get("input_sha256")
    code, message = (
        "input_changed",
        ("the input file is gone or changed since the run was queued; nothing was sent"),
    )
    request: ExtendRequest | None = None
    try:
        request = ExtendRequest(prompt=run["prompt"], video=run["video"], **recorded_options(run))
        if request.is_local and not readable(request.video, sha):
            request = None
    except ValidationError as exc:
        if "video" not in {e.field for e in exc.errors}:  # an older foxnb let it through
            code, message = "invalid_request", f"{exc}; nothing was sent"
            sha = None  # no upload would make it valid
    if request is None and sha is not None:
        uploaded = tracker.runner.uploads.recorded(sha)
        if uploaded is not None:
            options = recorded_options(run)
            request = ExtendRequest(prompt=run["prompt"], video=uploaded[0], **options)
            sha = None  # nothing to upload: the URL is sent as it is
    if request is None:
        fields = {"status": "not_submitted", "error_code": code, "error_message": message}
        tracker.release(run["run_id"], (run["run_id"], time.time(), fields))
        return tracker.settled(run["run_id"], request_of(run), job) if job else None
    if job is not None:
        job.request = request
    duration_s = as_number(run.get("input_duration_s"))
    return tracker.launch(
        run["run_id"],
        request,
        sha if request.is_local else None,
        rule,
        job,
        input_duration_s=duration_s,
    )


def request_of(run: dict[str, Any]) -> ExtendRequest:
    """The request a recorded run made (for its ``Job``), without any option foxnb would now
    refuse (``records.recorded_request``)."""
    video = run.get("video_url") or run.get("video") or "https://invalid.example/unknown.mp4"
    try:
        return recorded_request({**run, "prompt": run.get("prompt") or "?"}, video)
    except ValidationError:
        return ExtendRequest(prompt="?", video="https://invalid.example/unknown.mp4")
