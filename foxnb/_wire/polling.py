"""When to look again: predicting a task's end from its progress, and the polling flow."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

from ..models import Task
from .retry import RetryPolicy
from .steps import Observe, Outcome, Sleep, Step


def estimate_total_s(
    elapsed_s: float, estimated_s: float | None, history: Sequence[tuple[float, int]]
) -> float | None:
    """Best guess of a task's total duration from its progress history and the server hint.

    ``history`` holds ``(elapsed_s, progress)`` observations. Two rising progress readings
    give a rate (measured over the longest span, so whole-percent rounding matters little);
    one reading gives a straight line from the start; otherwise the server's
    ``estimated_time`` is all there is.
    """
    rising = [(t, p) for t, p in history if 0 < p < 100]
    if len(rising) >= 2:
        (t1, p1), (t2, p2) = rising[0], rising[-1]
        if p2 > p1 and t2 > t1:
            return t2 + (100 - p2) * (t2 - t1) / (p2 - p1)
    if rising and rising[-1][0] > 0:
        t, p = rising[-1]
        return t * 100 / p
    return estimated_s


# Shares of the predicted remaining time that the next poll covers while closing in on the
# end: after a single progress reading (whose rate still includes the queueing time, and can
# overstate the remaining time by half) and after two or more.
_APPROACH_ONE_READING = 0.5
_APPROACH = 0.75
# A single reading taken early (low progress) predicts the end badly, the more so when the
# start of the clock is off (a create request that waited in the rate limiter); after one
# reading the next poll comes within this share of the server's estimate, to measure a rate.
_ONE_READING_MAX_SHARE = 0.25
# Within this share of the predicted total, the next poll lands just past the predicted end,
# by the second share.
_NEAR_END = 0.1
_PAST_END = 0.005


def next_poll_delay_s(
    elapsed_s: float,
    estimated_s: float | None,
    history: Sequence[tuple[float, int]],
    *,
    min_interval_s: float = 0.5,
    max_interval_s: float = 60.0,
    tail_fraction: float = 0.04,
) -> float:
    """Seconds until the next poll: look once early, close in on the predicted end, land on it.

    The first look (at half the estimate) learns the progress rate. Every reading then
    predicts the end again, and the next poll covers most of the way there (half of it after
    one reading, but no more than a quarter of the server's estimate; three quarters after
    more), so the polls converge on the end instead of overshooting it while the prediction
    is still coarse. Within 10 % of the predicted end, the next poll lands just past it.
    Once the prediction has passed, polls are
    ``tail_fraction`` of the elapsed time apart, so a finished task is seen within about that
    fraction of its duration. Against progress that wobbles ±25 % around a straight line (the
    simulator's) this sees a task done within about 3 % of its duration, in about 4 queries.
    """
    total_s = estimate_total_s(elapsed_s, estimated_s, history)
    if total_s is None:  # no hint at all: grow the interval geometrically
        return min(max_interval_s, max(min_interval_s, elapsed_s * 0.5))
    rising = sum(1 for _, p in history if 0 < p < 100)
    remaining_s = total_s - elapsed_s
    if remaining_s <= 0:
        delay = tail_fraction * elapsed_s
    elif rising == 0:
        delay = min(remaining_s, 0.5 * total_s - elapsed_s)
        delay = delay if delay > 0 else remaining_s + _PAST_END * total_s
    elif remaining_s > _NEAR_END * total_s:
        share = _APPROACH_ONE_READING if rising == 1 else _APPROACH
        delay = share * remaining_s
        if rising == 1 and estimated_s is not None:
            delay = min(delay, _ONE_READING_MAX_SHARE * estimated_s)
    else:
        delay = remaining_s + _PAST_END * total_s
    return min(max_interval_s, max(min_interval_s, delay))


def poll(
    task: Task,
    *,
    fetch: Callable[[str, bool], Generator[Step, Outcome, dict[str, Any]]],
    clock: Callable[[], float],
    created_s: float,
    policy: RetryPolicy,
    deadline_s: float | None = None,
) -> Generator[Step, Outcome, Task]:
    """Poll ``task`` until it is terminal, yielding an ``Observe`` for every reading.

    A ``completed`` task without result URLs is re-read without ``sync_upstream``, which
    public clients report fills them in.
    """
    history: list[tuple[float, int]] = []
    estimated_s = task.estimated_time_s
    empty_reads = 0
    while True:
        elapsed_s = clock() - created_s
        if task.status in ("processing", "pending"):
            history.append((elapsed_s, task.progress))
        if task.estimated_time_s is not None:
            estimated_s = task.estimated_time_s
        if task.is_terminal and not (task.status == "completed" and not task.result_urls):
            return task
        if task.status == "completed":
            empty_reads += 1
            if empty_reads > policy.max_attempts:
                return task
            delay_s = min(policy.max_delay_s, policy.base_delay_s * empty_reads)
        else:
            delay_s = next_poll_delay_s(
                elapsed_s, estimated_s, history, min_interval_s=policy.min_poll_interval_s
            )
        if deadline_s is not None and clock() + delay_s > deadline_s:
            return task
        yield Sleep(delay_s * policy.sleep_scale)
        data = yield from fetch(task.id, empty_reads == 0)
        task = Task.from_json(data)
        yield Observe(task)
