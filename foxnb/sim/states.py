"""The task lifecycle as data: which status and progress a task shows at a given moment.

FoxAPI documents the flow ``pending → processing → completed | failed``; an older version of
the task page also lists ``cancelled``. The simulator plans every task up front as a
:class:`Timeline` (wall-clock instants) and records what the render worker reported (an
instant of success, failure or cancellation). :func:`observe` turns those facts and a moment
``now`` into a :class:`Snapshot`; it is pure, so the same inputs always give the same answer,
a restarted simulator continues a task exactly where the previous one left it, and tests can
walk a timeline without sleeping.

Progress is 0 while pending, then grows with the elapsed share of the planned processing time
(the way services that report an estimate-based percentage behave; FoxAPI does not document
how its figure is made), its time axis warped by a small seeded jitter so two tasks do not
advance in lock step. It never decreases, and stays at 99 or below until the render is done
*and* the planned finish time has passed.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass

__all__ = ["TERMINAL", "Snapshot", "Status", "Timeline", "observe"]

# Number of pieces in the monotone time warp that gives each task its own pace.
_WARP_PIECES = 8
# How unevenly the warp may stretch one piece against another (1.0 ± this).
_WARP_SPREAD = 0.25


class Status(str, enum.Enum):
    """A task status as it appears in the ``status`` field of the task JSON."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


@dataclass(frozen=True)
class Timeline:
    """The planned course of one task, in wall-clock Unix seconds.

    ``start_at`` is when the task leaves ``pending``; ``finish_at`` is the earliest moment it
    may show ``completed`` (the render may take longer, then completion waits for it).
    ``jitter_seed`` fixes the task's progress wobble.
    """

    created_at: float
    start_at: float
    finish_at: float
    jitter_seed: int

    def __post_init__(self) -> None:
        if not self.created_at <= self.start_at <= self.finish_at:
            raise ValueError(f"timeline instants out of order: {self}")


@dataclass(frozen=True)
class Snapshot:
    """What a task looks like at one moment: a status and an integer progress 0..100."""

    status: Status
    progress: int


def observe(
    timeline: Timeline,
    now: float,
    *,
    done_at: float | None = None,
    failed_at: float | None = None,
    cancelled_at: float | None = None,
) -> Snapshot:
    """Return the status and progress of a task at wall-clock instant ``now``.

    ``done_at`` is when the render finished successfully, ``failed_at`` when the task failed
    and ``cancelled_at`` when it was cancelled (each ``None`` while it has not happened). A
    failure or cancellation freezes progress where it was at that instant.

    >>> t = Timeline(created_at=0.0, start_at=1.0, finish_at=11.0, jitter_seed=7)
    >>> observe(t, 0.5)
    Snapshot(status=<Status.PENDING: 'pending'>, progress=0)
    >>> observe(t, 12.0, done_at=5.0).status.value
    'completed'
    """
    for ended_at, status in ((cancelled_at, Status.CANCELLED), (failed_at, Status.FAILED)):
        if ended_at is not None and now >= ended_at:
            return Snapshot(status, _running_progress(timeline, ended_at))
    if now < timeline.start_at:
        return Snapshot(Status.PENDING, 0)
    if done_at is not None and now >= max(done_at, timeline.finish_at):
        return Snapshot(Status.COMPLETED, 100)
    return Snapshot(Status.PROCESSING, _running_progress(timeline, now))


def _running_progress(timeline: Timeline, now: float) -> int:
    """Progress 1..99 while processing (0 before the start), monotonic in ``now``."""
    if now < timeline.start_at:
        return 0
    span_s = timeline.finish_at - timeline.start_at
    fraction = 1.0 if span_s <= 0 else min(1.0, (now - timeline.start_at) / span_s)
    # 1..99 keeps 0 meaning "not started" and 100 meaning "result available".
    return 1 + math.floor(98 * _warp(fraction, timeline.jitter_seed))


def _warp(fraction: float, seed: int) -> float:
    """A seeded, monotone, piecewise-linear map of [0, 1] onto itself."""
    rng = random.Random(seed)
    weights = [rng.uniform(1 - _WARP_SPREAD, 1 + _WARP_SPREAD) for _ in range(_WARP_PIECES)]
    total = sum(weights)
    piece = min(_WARP_PIECES - 1, math.floor(fraction * _WARP_PIECES))
    within = fraction * _WARP_PIECES - piece
    return (sum(weights[:piece]) + within * weights[piece]) / total
