"""When to look again: predicting a task's end from its progress, and the polling flow."""

from __future__ import annotations

import heapq
import threading
import zlib
from collections.abc import Callable, Generator, Sequence

from ..models import Task
from .retry import RetryPolicy
from .steps import Observe, Outcome, Sleep, Step

LAST_PROGRESS = 99.0
"""The reading a task shows last before it completes. FoxAPI reports whole percents and, like
the simulator, tops out at 99 while the result is being made; ``completed`` (100) follows.
Predictions aim at the moment the progress passes 99, so a service that does report 100 just
before it completes is seen one short tail poll later, never much later."""
_WHOLE_PERCENT = 0.5
"""A whole-number reading ``p`` stands for a value somewhere in ``[p, p + 1)``."""


def estimate_total_s(
    elapsed_s: float, estimated_s: float | None, history: Sequence[tuple[float, int]]
) -> float | None:
    """Best guess of a task's total duration from its progress history and the server hint.

    ``history`` holds ``(elapsed_s, progress)`` observations. Two rising progress readings
    give a rate (measured over the longest span, so whole-percent rounding matters little);
    one reading gives a straight line from the start; otherwise the server's
    ``estimated_time`` is all there is. The end is when the progress passes ``LAST_PROGRESS``.
    """
    rising = _rising(history)
    step_s = _step_s(rising)
    if step_s is not None:
        t, p = rising[-1]
        return t + (LAST_PROGRESS - p - _WHOLE_PERCENT) * step_s
    if rising and rising[-1][0] > 0:
        t, p = rising[-1]
        return t * LAST_PROGRESS / (p + _WHOLE_PERCENT)
    return estimated_s


def _rising(history: Sequence[tuple[float, int]]) -> list[tuple[float, int]]:
    """The readings taken while the task made progress (0 and 100 say nothing of its pace)."""
    return [(t, p) for t, p in history if 0 < p < 100]


def _step_s(rising: Sequence[tuple[float, int]]) -> float | None:
    """Seconds per percent over the longest span of ``rising`` (``None``: no rate yet)."""
    if len(rising) >= 2:
        (t1, p1), (t2, p2) = rising[0], rising[-1]
        if p2 > p1 and t2 > t1:
            return (t2 - t1) / (p2 - p1)
    return None


# The first look comes at this share of the estimate and up to the spread later, fixed by the
# task id: tasks created together (at the rate limit's pace) are then not all read together,
# which would queue the reads aimed at other tasks' ends behind them in the rate limiter.
_FIRST_LOOK = 0.35
_FIRST_LOOK_SPREAD = 0.25
# Shares of the predicted remaining time that the next poll covers while closing in on the
# end: after a single progress reading (whose rate still includes the queueing time, and can
# overstate the remaining time by half) and after two or more.
_APPROACH_ONE_READING = 0.5
_APPROACH = 0.8
# A single reading taken early (low progress) predicts the end badly, the more so when the
# start of the clock is off (a create request that waited in the rate limiter); after one
# reading the next poll comes within this share of the server's estimate, to measure a rate.
_ONE_READING_MAX_SHARE = 0.45
# Within this share of the predicted total, the next poll lands just past the predicted end,
# by the second share.
_NEAR_END = 0.12
_PAST_END = 0.002
# Past the predicted end, the first poll comes this share of the elapsed time later, and each
# further one twice that, up to ``tail_fraction``: a task that is nearly done is seen at once,
# one that lingers costs few queries.
_FIRST_TAIL = 0.01


def next_poll_delay_s(
    elapsed_s: float,
    estimated_s: float | None,
    history: Sequence[tuple[float, int]],
    *,
    min_interval_s: float = 0.5,
    max_interval_s: float = 60.0,
    tail_fraction: float = 0.04,
    first_look: float = 0.5,
) -> float:
    """Seconds until the next poll: look once early, close in on the predicted end, land on it.

    The first look (at ``first_look`` of the estimate; ``poll`` spreads it over 35-60 % by
    task id) learns the progress rate. Every reading then
    predicts the end again, and the next poll covers most of the way there (half of it after
    one reading, but no more than 45 % of the server's estimate; four fifths after more), so
    the polls converge on the end instead of overshooting it while the prediction is still
    coarse. Within 12 % of the predicted end, the next poll lands just past it. Once the
    prediction has passed, polls are 1 %, 2 %, 4 % … of the elapsed time apart, at most
    ``tail_fraction``. Against the simulator's progress (±25 % wobble around a straight line)
    this sees a task done within 0.5 % of its duration at the median and 1.4 % at the 95th
    percentile, in 4 queries at the median and rarely 7 (3,000 simulated timelines, the
    benchmark's two models; ``./dev bench`` measures it end to end).
    """
    total_s = estimate_total_s(elapsed_s, estimated_s, history)
    if total_s is None:  # no hint at all: grow the interval geometrically
        return min(max_interval_s, max(min_interval_s, elapsed_s * 0.5))
    rising = sum(1 for _, p in history if 0 < p < 100)
    remaining_s = total_s - elapsed_s
    late = sum(1 for _, p in history if p >= LAST_PROGRESS)
    if remaining_s <= 0 or late:
        # The end is due: poll at a short, growing interval instead of re-predicting from a
        # progress that barely moves any more (whole percents near 99 say little).
        delay = min(tail_fraction, _FIRST_TAIL * 2.0 ** max(0, late - 1)) * elapsed_s
    elif rising == 0:
        delay = min(remaining_s, first_look * total_s - elapsed_s)
        delay = delay if delay > 0 else remaining_s + _PAST_END * total_s
    elif remaining_s > _NEAR_END * total_s:
        share = _APPROACH_ONE_READING if rising == 1 else _APPROACH
        delay = share * remaining_s
        if rising == 1 and estimated_s is not None:
            delay = min(delay, _ONE_READING_MAX_SHARE * estimated_s)
    else:
        delay = remaining_s + _PAST_END * total_s
    return min(max_interval_s, max(min_interval_s, delay))


# The precise schedule: for the few tasks a wait ends on (``Finishers``), reads to spare go to
# seeing the end sooner. A task predicted to end within ``_LAST_SHARE`` of its duration of the
# latest predicted end of the tasks polled with it takes up to ``PRECISE_MAX_READS`` reads.
PRECISE_MAX_READS = 6
_LAST_SHARE = 0.2
# While the end is more than ``_PRECISE_NEAR`` percent-steps away the next read covers this
# share of the way (a reading near the end predicts it better than one far from it); the
# readings nearer than that bound the end.
_PRECISE_APPROACH = 0.7
_PRECISE_NEAR = 2.5
# Progress is not even over a whole task, so the window is widened by this many steps, and
# the last read lands this many more past it (a read that still finds the task running costs a
# seventh). Tuned offline on 10,000 tasks in sweeps of 100 (``docs/benchmark.md``).
_CLOSE_MARGIN = 0.2
_LAST_MARGIN = 0.2


def precise_delay_s(
    elapsed_s: float, history: Sequence[tuple[float, int]], reads_left: int
) -> float | None:
    """Seconds until the next read of a task whose end is worth ``reads_left`` more reads.

    ``None`` until two readings give a rate (or once the progress shows 99: the tail schedule
    of ``next_poll_delay_s`` applies). A whole-percent reading ``p`` at ``t`` puts the end,
    the progress passing 99, in a window one percent-step wide: after ``t + (98 - p) * step``
    and by ``t + (99 - p) * step``. While that window is more than a few steps away, the next
    read closes in on it; then every reading near the end narrows it, the next read splits
    what is left, and the last read of the budget lands on its far edge.
    """
    rising = _rising(history)
    step_s = _step_s(rising)
    if step_s is None or rising[-1][1] >= LAST_PROGRESS:
        return None
    t2, p2 = rising[-1]
    opens_s = t2 + (LAST_PROGRESS - 1 - p2) * step_s
    if opens_s - elapsed_s > _PRECISE_NEAR * step_s and reads_left > 2:
        return _PRECISE_APPROACH * (opens_s + 0.5 * step_s - elapsed_s)
    near = [(t, p) for t, p in rising if LAST_PROGRESS - p <= _PRECISE_NEAR] or rising[-1:]
    opens_s = max([elapsed_s] + [t + (LAST_PROGRESS - 1 - p) * step_s for t, p in near])
    closes_s = min(t + (LAST_PROGRESS - p) * step_s for t, p in near)
    closes_s = max(closes_s, opens_s) + _CLOSE_MARGIN * step_s
    if reads_left > 1:
        return (opens_s + closes_s) / 2 - elapsed_s
    return closes_s + _LAST_MARGIN * step_s - elapsed_s


class Finishers:
    """The predicted ends of the tasks one connection polls: which ones a wait ends on.

    A sweep is over when its last task is seen done, so the few tasks predicted to end last
    (``among_last``) are worth the precise schedule (``precise_delay_s``); the others keep
    the frugal one. Thread-safe. The latest end is the top of a heap whose outdated entries
    are dropped when they reach the top, and which is rebuilt when it doubles.
    """

    def __init__(self) -> None:
        self._ends: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def predict(self, key: str, end_s: float) -> None:
        """Task ``key`` is now predicted to end at ``end_s`` (clock seconds)."""
        with self._lock:
            self._ends[key] = end_s
            heapq.heappush(self._heap, (-end_s, key))
            if len(self._heap) > 2 * len(self._ends) + 64:
                self._heap = [(-end, k) for k, end in self._ends.items()]
                heapq.heapify(self._heap)

    def forget(self, key: str) -> None:
        """Task ``key`` is no longer polled."""
        with self._lock:
            self._ends.pop(key, None)

    def among_last(self, end_s: float, margin_s: float) -> bool:
        """Whether a task ending at ``end_s`` ends within ``margin_s`` of the latest end, of
        two or more tasks: a task polled alone keeps the frugal schedule, and so does the last
        of a batch once the others are done (on 30 simulated sweeps, keeping it on the precise
        schedule saw the sweep's end later, not sooner)."""
        with self._lock:
            heap = self._heap
            while heap and self._ends.get(heap[0][1]) != -heap[0][0]:
                heapq.heappop(heap)
            return len(self._ends) > 1 and end_s >= -heap[0][0] - margin_s


def unknown_status_delay_s(reads: int, policy: RetryPolicy) -> float:
    """Seconds before read number ``reads`` (1, 2, …) of a task whose status word foxnb does
    not know: doubling from ``base_delay_s``, capped at ``unknown_status_max_delay_s``. The
    word may mean "still working" or "ended"; either way nothing is gained by asking often."""
    return min(policy.unknown_status_max_delay_s, policy.base_delay_s * 2.0 ** min(reads, 30))


def poll(
    task: Task,
    *,
    fetch: Callable[[str, bool], Generator[Step, Outcome, Task]],
    clock: Callable[[], float],
    created_s: float,
    policy: RetryPolicy,
    deadline_s: float | None = None,
    finishers: Finishers | None = None,
) -> Generator[Step, Outcome, Task]:
    """Poll ``task`` until it is terminal, yielding an ``Observe`` for every reading.

    With ``finishers`` (shared by the tasks polled together), a task predicted to end among
    the last of them is read on the precise schedule (``precise_delay_s``).

    A ``completed`` task without result URLs is re-read without ``sync_upstream``, which
    public clients report fills them in. A status word foxnb does not know is polled on, at a
    growing interval (``unknown_status_delay_s``), for as long as it lasts.
    """
    history: list[tuple[float, int]] = []
    estimated_s = task.estimated_time_s
    empty_reads = unknown_reads = reads = 0
    key = task.id
    first_look = _FIRST_LOOK + _FIRST_LOOK_SPREAD * zlib.crc32(key.encode()) / 2**32
    try:
        while True:
            elapsed_s = clock() - created_s
            if task.status in ("processing", "pending"):
                history.append((elapsed_s, task.progress))
            if task.estimated_time_s is not None:
                estimated_s = task.estimated_time_s
            if task.is_terminal and not (task.status == "completed" and not task.result_urls):
                return task
            unknown_reads = 0 if task.status_known else unknown_reads + 1
            if unknown_reads:
                delay_s = unknown_status_delay_s(unknown_reads, policy)
            elif task.status == "completed":
                empty_reads += 1
                if empty_reads > policy.max_attempts:
                    return task
                delay_s = min(policy.max_delay_s, policy.base_delay_s * empty_reads)
            else:
                delay_s = next_poll_delay_s(
                    elapsed_s,
                    estimated_s,
                    history,
                    min_interval_s=policy.min_poll_interval_s,
                    first_look=first_look,
                )
                total_s = estimate_total_s(elapsed_s, estimated_s, history)
                if finishers is not None and total_s is not None:
                    finishers.predict(key, created_s + total_s)
                    if reads < PRECISE_MAX_READS and finishers.among_last(
                        created_s + total_s, _LAST_SHARE * total_s
                    ):
                        sharp_s = precise_delay_s(elapsed_s, history, PRECISE_MAX_READS - reads)
                        if sharp_s is not None:
                            delay_s = max(policy.min_poll_interval_s, sharp_s)
            if deadline_s is not None and clock() + delay_s > deadline_s:
                return task
            yield Sleep(delay_s * policy.sleep_scale)
            task = yield from fetch(task.id, empty_reads == 0)
            reads += 1
            yield Observe(task)
    finally:
        if finishers is not None:
            finishers.forget(key)
