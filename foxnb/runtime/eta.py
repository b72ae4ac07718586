"""How long a job has left, as numbers a display can tick from (``Job.timing()``).

A job's time has parts: waiting to be sent (``queued``: the upload, a sweep's turn),
waiting at the service (``pending``: queued there, often behind your other jobs), being made
(``processing``, with a percentage), then the download. Each part is estimated its own way:

- The service's ``estimated_time`` is a typical figure; jobs often take longer, above all
  several at once (six jobs sent together took 17–18 s each against a ~9 s estimate). A
  ``PaceBook`` remembers how long recent runs of the model really took against that figure,
  and with how many of this session's jobs in flight when each was sent. A job's expected
  time is the estimate times the pace of the runs sent at a similar concurrency.
- A job last seen ``pending`` had not started then: at least the whole making time was
  still ahead of that reading, so the time left does not run down to zero while the job
  waits in the service's queue.
- While ``processing``, the progress readings below 99 % give the rate and so the moment
  the progress reaches its end (``progress_total_s``). A result can come later than that:
  it sits at 99 % while the service finishes it (behind other jobs' renders). The tail
  comparable runs showed past their progress's end is added.
- Past the expected end and still not done, the job is ``overdue``: ``eta_s`` is ``None``
  (never "~0 s left" for long) and ``overdue_s`` says by how much.

``job_timing`` is pure (a clock reading in, a ``JobTiming`` out), so tests walk the
simulator's own progress model (``foxnb.sim.states``) through it without sleeping.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from .._wire import LAST_PROGRESS, estimate_total_s

Phase = Literal["queued", "sending", "pending", "processing", "overdue", "downloading", "ended"]
"""Where a job's time goes now; ``overdue`` is processing past the expected end."""

PENDING_SHARE = 0.1
"""The share of a job's time it typically spends pending when nothing else holds it (the
simulator: 5–10 %). Pending longer means queueing: the making time is all still ahead."""

PACE_RANGE = (0.5, 5.0)
"""A pace outside this range is taken as a fluke of a few runs, and clamped."""

NEAREST_RUNS = 5
"""How many recent runs of the closest concurrency a pace is the median of."""

MAX_RUNS_PER_MODEL = 200

PRIOR_RUNS = 1
"""How many runs' worth of trust the service's own estimate gets against learnt ones."""

CONCURRENCY_SLACK = 0.5
"""Runs count as sent at a similar concurrency within this many doublings (log2) of the
closest concurrency seen."""


@dataclass(frozen=True)
class JobTiming:
    """A job's time at one moment. Wall-clock instants are Unix seconds (``time.time()``).

    A display ticks without asking the kernel: elapsed time is ``now - submitted_at`` (or
    ``now - queued_at`` while queued), the time left ``expected_end_at - now`` until that
    passes, then the job is overdue. ``phrase`` says it in words.
    """

    phase: Phase
    queued_at: float | None
    submitted_at: float | None
    started_at: float | None
    elapsed_s: float | None
    expected_total_s: float | None
    expected_end_at: float | None
    eta_s: float | None
    overdue_s: float | None
    pace: float

    @property
    def phrase(self) -> str:
        """``"~8 s left"``, ``"overdue by 6 s, still processing"``, ``"waiting to be sent"``…"""
        left = "" if self.eta_s is None else _left(self.eta_s)
        if self.phase == "queued":
            return "waiting to be sent" + (f", then {left}" if left else "")
        if self.phase == "sending":
            return "sending" + (f", then {left}" if left else "")
        if self.phase == "pending":
            queued = f"queued at the service, {left}" if left else "queued at the service"
            return queued
        if self.phase == "overdue":
            return f"overdue by {_seconds(self.overdue_s or 0)}, still processing"
        if self.phase == "downloading":
            return "downloading the result"
        if self.phase == "ended":
            return ""
        return left or "time left unknown"


def _seconds(value_s: float) -> str:
    whole_s = max(0, round(value_s))
    return f"{whole_s} s" if whole_s < 60 else f"{whole_s // 60} min {whole_s % 60:02d} s"


def _left(eta_s: float) -> str:
    return "less than 1 s left" if eta_s < 1 else f"~{_seconds(eta_s)} left"


def job_timing(
    now_s: float,
    *,
    status: str,
    done: bool,
    queued_at: float | None = None,
    submitted_at: float | None = None,
    accepted_at: float | None = None,
    started_at: float | None = None,
    completed_at: float | None = None,
    estimated_time_s: float | None = None,
    history: Sequence[tuple[float, int]] = (),
    pace: float = 1.0,
    typical_s: float | None = None,
    tail_s: float = 0.0,
) -> JobTiming:
    """The timing of a job at ``now_s`` from what it has seen (see the module docstring).

    ``history`` holds ``(seconds since accepted_at (else submitted_at), progress)`` readings;
    ``pace``, ``typical_s`` and ``tail_s`` come from a ``PaceBook``: how long comparable runs
    took over the estimate, in seconds, and past the end their progress predicted.
    """
    base = JobTiming(
        "ended", queued_at, submitted_at, started_at, None, None, None, None, None, pace
    )
    if done or status not in ("queued", "submitting", "pending", "processing", "downloading"):
        end = completed_at if completed_at is not None else now_s
        took = None if submitted_at is None else end - submitted_at
        return replace(base, elapsed_s=took, expected_total_s=took)
    prior_s = typical_s if estimated_time_s is None else estimated_time_s * pace
    if status in ("queued", "submitting"):
        since = queued_at if queued_at is not None else now_s
        return replace(
            base,
            phase="queued" if status == "queued" else "sending",
            elapsed_s=now_s - since,
            expected_total_s=prior_s,
            expected_end_at=None if prior_s is None else now_s + prior_s,
            eta_s=prior_s,
        )
    running = replace(base, phase="pending" if status == "pending" else "processing")
    if status == "downloading":
        running = replace(running, phase="downloading")
    if submitted_at is None:  # a run re-attached without its send time: no clock to go by
        return running
    running = replace(running, elapsed_s=now_s - submitted_at)
    if status == "downloading":
        return running
    origin = accepted_at if accepted_at is not None else submitted_at
    end_at = _expected_end_at(status, origin, estimated_time_s, history, prior_s, tail_s)
    if end_at is None:
        return running
    running = replace(running, expected_total_s=end_at - submitted_at, expected_end_at=end_at)
    if status == "processing" and now_s > end_at:
        return replace(running, phase="overdue", overdue_s=now_s - end_at)
    return replace(running, eta_s=max(0.0, end_at - now_s))


def progress_total_s(
    history: Sequence[tuple[float, int]], estimated_s: float | None = None
) -> float | None:
    """Seconds (from the clock origin of ``history``) until the progress reaches its end.

    Readings below ``LAST_PROGRESS`` (99) give the rate; readings at 99 say nothing more of
    it (a late result sits there), except that the end came no later than the first of them.
    None without a rising reading.
    """
    below = [(t, p) for t, p in history if 0 < p < LAST_PROGRESS]
    at_end = [t for t, p in history if LAST_PROGRESS <= p < 100]
    if not below:
        return min(at_end) if at_end else None
    total = estimate_total_s(below[-1][0], estimated_s, below)
    if at_end:
        return min(at_end) if total is None else min(total, min(at_end))
    return total


def _expected_end_at(
    status: str,
    origin: float,
    estimated_s: float | None,
    history: Sequence[tuple[float, int]],
    prior_s: float | None,
    tail_s: float,
) -> float | None:
    """When the result should be ready (wall clock), or None when nothing tells."""
    if status == "processing":
        progress_s = progress_total_s(history, estimated_s)
        if progress_s is not None:
            return origin + progress_s + tail_s
    if prior_s is None:
        return None
    if status == "pending":
        # Still pending at the last reading: the whole making time was ahead then, however
        # long the task had waited in the service's queue.
        seen_s = max((t for t, _ in history), default=0.0)
        return origin + max(prior_s, seen_s + (1.0 - PENDING_SHARE) * prior_s)
    return origin + prior_s


@dataclass(frozen=True)
class PaceSample:
    """One completed run: its model, concurrency when sent, the estimate and the real time."""

    run_id: str
    model: str
    in_flight: int
    estimated_s: float
    took_s: float
    tail_s: float | None = None  # past the end its progress predicted (None: not known)


class PaceBook:
    """How long runs have really taken, per model and concurrency; shared by a session's jobs.

    ``load`` (called once, on first use) yields earlier runs (ledger records); ``add`` learns
    from a run that just completed (each run once). ``in_flight_now`` counts the jobs in
    flight now, for a job not yet sent. Safe to use from any thread.
    """

    def __init__(
        self,
        load: Callable[[], Iterable[dict[str, Any]]] | None = None,
        in_flight_now: Callable[[], int] = lambda: 0,
    ):
        self._load = load
        self.in_flight_now = in_flight_now
        self._samples: dict[str, list[PaceSample]] = {}
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def add(self, sample: PaceSample) -> None:
        """Learn from one completed run."""
        with self._lock:
            self._add(sample)

    def add_run(self, run: dict[str, Any]) -> None:
        """Learn from a completed run record, if it has the figures (reuses do not)."""
        sample = sample_of(run)
        if sample is not None:
            self.add(sample)

    def factor(self, model: str, in_flight: int) -> float:
        """Time taken over the estimate by the closest runs (1.0 without any), clamped.

        Few runs are trusted little: their median is pulled towards the service's own
        estimate (1.0) as if ``PRIOR_RUNS`` runs had matched it exactly.
        """
        near = self._nearest(model, in_flight)
        if not near:
            return 1.0
        pace = _shrunk(statistics.median(s.took_s / s.estimated_s for s in near), 1.0, len(near))
        return min(PACE_RANGE[1], max(PACE_RANGE[0], pace))

    def typical_s(self, model: str, in_flight: int) -> float | None:
        """Seconds the closest runs took, at the median (None without any)."""
        near = self._nearest(model, in_flight)
        return statistics.median(s.took_s for s in near) if near else None

    def tail_s(self, model: str, in_flight: int) -> float:
        """Seconds the closest runs came after their progress's end, at the median (≥ 0)."""
        tails = [s.tail_s for s in self._nearest(model, in_flight) if s.tail_s is not None]
        return max(0.0, _shrunk(statistics.median(tails), 0.0, len(tails))) if tails else 0.0

    def _nearest(self, model: str, in_flight: int) -> list[PaceSample]:
        with self._lock:
            if self._load is not None:
                load, self._load = self._load, None
                for run in load():
                    sample = sample_of(run)
                    if sample is not None:
                        self._add(sample)
            samples = list(self._samples.get(model, ()))
        target = math.log2(max(1, in_flight))
        distance = [abs(math.log2(s.in_flight) - target) for s in samples]
        if not samples:
            return []
        # The closest concurrency seen (within a factor of ~1.4 of it), the most recent first:
        # runs sent alone say little about a crowded sweep, and the other way round.
        near = min(distance) + CONCURRENCY_SLACK
        chosen = [i for i in range(len(samples)) if distance[i] <= near]
        return [samples[i] for i in chosen[-NEAREST_RUNS:]]

    def _add(self, sample: PaceSample) -> None:
        if sample.run_id in self._seen:
            return
        self._seen.add(sample.run_id)
        kept = self._samples.setdefault(sample.model, [])
        kept.append(sample)
        del kept[:-MAX_RUNS_PER_MODEL]


def _shrunk(median: float, prior: float, count: int) -> float:
    """``median`` of ``count`` runs, pulled towards ``prior`` while the runs are few."""
    return prior + (median - prior) * count / (count + PRIOR_RUNS)


def sample_of(run: dict[str, Any]) -> PaceSample | None:
    """The pace sample of a completed run record, or None when it lacks the figures."""
    origin = run.get("accepted_at") or run.get("submitted_at")
    done_at, estimated = run.get("completed_at"), run.get("estimated_time_s")
    if run.get("reused_from") or not origin or not done_at or not estimated or not run.get("model"):
        return None
    took_s = float(done_at) - float(origin)
    if took_s <= 0 or float(estimated) <= 0:
        return None
    in_flight = run.get("in_flight")
    predicted = run.get("predicted_s")
    return PaceSample(
        str(run.get("run_id")),
        str(run["model"]),
        max(1, int(in_flight)) if isinstance(in_flight, int | float) else 1,
        float(estimated),
        took_s,
        None if not isinstance(predicted, int | float) else took_s - float(predicted),
    )
