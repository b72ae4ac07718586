"""An experiment's cells in a shared runs store: planned, recorded and claimed in one go.

Sweeps and chains plan their cells from the runs already recorded (reuse a completed video,
re-attach an unfinished run, or submit), then record the new ones. With several writers of
one store, that must be one step: ``planning()`` holds the store's critical section for the
experiment (``RunStore.exclusive``) while the caller plans from the runs as they are now and
``record()`` writes the new cells and claims, for this session, every cell it will work on.
Two processes starting the same sweep at once thus make one set of cells; the second finds
the first's cells held by a live owner and watches them (``cell_job``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..runtime.jobs import Job
from ..runtime.store import Claim, Event, Held, SendRule, Txn
from ..runtime.tracker import Tracker
from .plan import Cell, Input


@contextmanager
def planning(tracker: Tracker, name: str) -> Iterator[tuple[Txn, list[dict[str, Any]]]]:
    """The critical section of experiment ``name``: its transaction, and every run of this
    backend as committed now (plan from these, then ``record``). Committed on exit."""
    with tracker.lock, tracker.store.exclusive(name) as txn:
        yield txn, [run for run in txn.runs().values() if tracker.same_backend(run)]


def record(
    tracker: Tracker,
    txn: Txn,
    cells: list[Cell],
    events: list[Event | None],
    launch: bool = True,
) -> tuple[list[str], dict[str, Claim]]:
    """Record the cells' new runs (``events``: one per cell, ``None`` for a re-attached one)
    inside ``planning``; claim the cells this session will work on (``launch``). Returns each
    cell's run id and the claims."""
    txn.append_many([event for event in events if event is not None])
    run_ids = [
        event[0] if event else str((cell.run or {})["run_id"])  # a re-attached cell's run
        for cell, event in zip(cells, events, strict=True)
    ]
    if not launch:
        return run_ids, {}
    wanted = [
        run_id
        for cell, run_id in zip(cells, run_ids, strict=True)
        if cell.action != "reuse" and tracker.live(run_id) is None
    ]
    claims = txn.claim_many(wanted, tracker.owner, tracker.lease_s, time.time())
    return run_ids, tracker.claimed(claims)


def cell_job(
    tracker: Tracker,
    cell: Cell,
    run_id: str,
    source: Input,
    rule: SendRule,
    claims: dict[str, Claim],
) -> Job:
    """The job of one recorded cell: this session's live one, launched, settled (reused),
    carried on from where the store says it is (an earlier call's), or watched."""
    live = tracker.live(run_id)
    if live is not None:
        return live
    if cell.action == "reuse":
        tracker.scorer.submit(run_id)  # records scores only if the source had none
        return tracker.job(run_id) or tracker.settled(run_id, cell.request)
    claim = claims[run_id]
    if not claim.ok:  # another live owner works on it: watch, never send again
        run = claim.run or cell.run or {"run_id": run_id}
        return tracker.watch(Held(run, claim.previous, None))
    if cell.action == "submit":
        return tracker.launch(
            run_id, cell.request, source.sha256, rule, input_duration_s=source.duration_s
        )
    # An unfinished cell of an earlier call: a create in flight when an earlier kernel died
    # is never resent (submission_unknown), a task is polled, a queued cell is sent.
    carried = tracker.continue_run(claim.run or dict(cell.run or {}))
    return carried if carried is not None else tracker.settled(run_id, cell.request)
