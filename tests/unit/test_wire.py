"""The sans-I/O core: retry rules, backoff, rate limiting and the polling schedule."""

from __future__ import annotations

import heapq
import json
import random
import statistics
from collections.abc import Callable, Generator
from typing import Any

import pytest

from foxnb import _wire as W
from foxnb import errors as E
from foxnb.models import ExtendRequest, Task
from foxnb.sim.states import Status, Timeline, observe

KEY = "sk-test-0123456789abcdef"
REQ = ExtendRequest(prompt="pan", video="https://example.com/in.mp4")
NO_WAIT = W.RetryPolicy(sleep_scale=0.0)


def ok(data: dict[str, Any], status: int = 200) -> W.Response:
    return W.Response(status, {}, json.dumps(data).encode())


def err(status: int, body: bytes | dict[str, Any] = b"", **headers: str) -> W.Response:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    return W.Response(status, headers, raw)


def drive(
    flow: Generator[W.Step, W.Outcome, Any], outcomes: list[W.Outcome]
) -> tuple[Any, list[W.Step]]:
    """Run a flow, answering each Send with the next scripted outcome."""
    steps: list[W.Step] = []
    reply: W.Outcome = None
    script = iter(outcomes)
    while True:
        try:
            step = flow.send(reply)
        except StopIteration as done:
            return done.value, steps
        steps.append(step)
        reply = next(script) if isinstance(step, W.Send | W.Fetch) else None


def core(policy: W.RetryPolicy = NO_WAIT, clock: list[float] | None = None) -> W.Core:
    now = clock or [1000.0]
    return W.Core(
        secret=KEY,
        policy=policy,
        clock=lambda: now[0],
        throttle=W.Throttle(rate_per_s=1000, burst=1000),
        rng=random.Random(0),
    )


CREATED = {
    "id": "task-unified-1-abcdefgh",
    "status": "pending",
    "progress": 0,
    "task_info": {"can_cancel": True, "estimated_time": 45},
}


def sends(steps: list[W.Step]) -> int:
    return sum(isinstance(s, W.Send) for s in steps)


def test_create_resent_after_connection_refused_and_429() -> None:
    """Provably-not-created failures (refused, 429) are retried for the paid POST."""
    refused = W.Failure("connect", "refused", request_sent=False)
    task, steps = drive(core().create(REQ, None), [refused, err(429, retry_after="2"), ok(CREATED)])
    assert task.id == CREATED["id"] and sends(steps) == 3


@pytest.mark.parametrize(
    "outcome",
    [
        W.Failure("timeout", "read timed out", request_sent=True),
        W.Failure("dropped", "peer closed connection", request_sent=True),
        err(500, {"error": {"message": "oops", "type": "server_error"}}),
        err(503, {"error": {"message": "no channel", "type": "service_unavailable_error"}}),
        W.Response(200, {}, b'{"id": "task-unif'),
    ],
)
def test_ambiguous_create_failure_is_never_resent(outcome: W.Outcome) -> None:
    """After the request left, any failure ends in SubmissionUnknownError with evidence."""
    with pytest.raises(E.SubmissionUnknownError) as info:
        drive(core().create(REQ, None), [outcome, ok(CREATED)])
    assert "POST /v1/videos/generations sent at" in info.value.evidence
    assert "did not resend" in info.value.evidence


def test_reads_retry_on_5xx_429_and_transport() -> None:
    """Task reads are retried through 503, 429 and a reset, then succeed."""
    outcomes: list[W.Outcome] = [
        err(503),
        err(429),
        W.Failure("dropped", "reset", True),
        ok(CREATED),
    ]
    task, steps = drive(core().task("t"), outcomes)
    assert task.status == "pending" and sends(steps) == 4


def test_reads_give_up_after_max_attempts() -> None:
    """A persistent 500 ends in ServerError after max_attempts tries."""
    policy = W.RetryPolicy(max_attempts=3, sleep_scale=0.0)
    with pytest.raises(E.ServerError):
        drive(core(policy).task("t"), [err(500)] * 3)


@pytest.mark.parametrize(
    ("status", "cls", "needle"),
    [
        (401, E.AuthenticationError, "FOXAPI_API_KEY"),
        (402, E.InsufficientCreditsError, "Top up"),
        (404, E.NotFoundError, "task id"),
        (422, E.BadRequestError, "field 'seed'"),
    ],
)
def test_client_errors_are_final_and_explained(
    status: int, cls: type[E.APIError], needle: str
) -> None:
    """4xx answers are not retried and say what to do."""
    body = {
        "error": {
            "message": f"bad thing for {KEY}",
            "type": "x",
            "code": "invalid_parameter",
            "param": "seed",
        }
    }
    with pytest.raises(cls) as info:
        drive(core().create(REQ, None), [err(status, body)])
    assert needle in str(info.value)
    assert KEY not in str(info.value) and KEY not in (info.value.body_excerpt or "")


@pytest.mark.parametrize(
    ("status", "cls"), [(403, E.PermissionDeniedError), (413, E.PayloadTooLargeError)]
)
def test_edge_html_pages_become_clear_errors(status: int, cls: type[E.APIError]) -> None:
    """An HTML page from an edge proxy is named as such, with its title."""
    page = (
        b"<html><head><title>Attention Required! | Cloudflare</title></head><body>x</body></html>"
    )
    with pytest.raises(cls) as info:
        drive(core().create(REQ, None), [err(status, page)])
    assert "edge proxy" in str(info.value) and "Attention Required" in str(info.value)


def test_backoff_is_capped_jittered_and_honours_retry_after() -> None:
    """Delays grow, stay under the cap, and never undercut Retry-After."""
    policy = W.RetryPolicy(base_delay_s=0.5, max_delay_s=8.0)
    rng = random.Random(1)
    delays = [W.backoff_s(a, policy, rng) for a in range(10)]
    assert all(0 < d <= 8.0 for d in delays) and delays[-1] >= 4.0
    assert W.backoff_s(0, policy, rng, retry_after_s=5.0) >= 5.0
    assert W.parse_retry_after({"retry-after": "3"}, 0) == 3.0
    assert W.parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 1445412470) == 10.0


def test_throttle_spaces_requests_and_backs_off_on_429() -> None:
    """A burst passes, then requests are spaced; a 429 pauses everyone and halves the rate."""
    t = W.Throttle(rate_per_s=2, burst=2)
    waits = [t.reserve(0.0) for _ in range(4)]
    assert waits == [0.0, 0.0, 0.5, 1.0]
    t.on_rate_limited(10.0, retry_after_s=3.0)
    assert t.rate_per_s == 1.0 and t.reserve(10.0) == pytest.approx(3.0)


def test_poll_schedule_is_sparse_then_dense_near_the_end() -> None:
    """A 60 s estimate: first look at 30 s, then close in on the moment the progress passes 99
    and land just after it; past it, polls are 1 %, 2 %, 4 % of the elapsed time apart."""
    assert W.next_poll_delay_s(0.0, 60.0, []) == pytest.approx(30.0)
    # one reading, 50 % (50.5 on average) at 30 s: 99 at 58.8 s; cover half the 28.8 s left
    assert W.next_poll_delay_s(30.0, 60.0, [(30.0, 50)]) == pytest.approx(14.406, abs=1e-3)
    # 50 % at 30 s and 70 % at 42 s: 99 at 59.1 s; cover 4/5 of the 17.1 s left
    assert W.next_poll_delay_s(42.0, 60.0, [(30.0, 50), (42.0, 70)]) == pytest.approx(13.68)
    # 50 % at 30 s and 92 % at 55.2 s: 99 at 59.1 s, within 12 %: land 0.4 % past it
    assert W.next_poll_delay_s(55.2, 60.0, [(30.0, 50), (55.2, 92)]) == pytest.approx(4.0182)
    # a 5 s task showing 99: 1 % is 0.05 s, raised to the 0.5 s floor unless the caller lowers it
    short = [(2.0, 50), (4.0, 99)]
    assert W.next_poll_delay_s(5.0, 4.0, short) == pytest.approx(0.5)
    assert W.next_poll_delay_s(5.0, 4.0, short, min_interval_s=0.05) == pytest.approx(0.05)
    # past the predicted end: 1 % of the elapsed time, doubling with every reading of 99, to 4 %
    assert W.next_poll_delay_s(80.0, 60.0, [(30.0, 50), (40.0, 98)]) == pytest.approx(0.8)
    three_99s = [(30.0, 50), (40.0, 99), (60.0, 99), (70.0, 99)]
    assert W.next_poll_delay_s(80.0, 60.0, three_99s) == pytest.approx(3.2)
    assert W.next_poll_delay_s(5.0, None, []) == 2.5


def poll_offline(
    state: Callable[[float], dict[str, Any]], estimate_s: float, policy: W.RetryPolicy
) -> tuple[int, float]:
    """Drive the polling flow on a fake clock against ``state(now)``; return (GETs, the
    instant the flow ended, i.e. when it saw the task completed)."""
    now = [0.0]
    c = core(policy, clock=now)
    first = Task.from_json({**CREATED, "task_info": {"estimated_time": estimate_s}})
    flow = c.wait(first, created_s=0.0)
    gets = 0
    reply: W.Outcome = None
    while True:
        try:
            step = flow.send(reply)
        except StopIteration:
            return gets, now[0]
        reply = None
        if isinstance(step, W.Sleep):
            now[0] += step.seconds
        if isinstance(step, W.Send):
            gets += 1
            reply = ok(state(now[0]))


def simulate(duration_s: float, estimate_s: float) -> tuple[int, float]:
    """Poll a task whose progress is linear after a 5 % queue; return (GETs, detection lag)."""

    def state(t: float) -> dict[str, Any]:
        if t >= duration_s:
            return {"id": "t", "status": "completed", "progress": 100, "results": [{"url": "u"}]}
        start = 0.05 * duration_s
        progress = 0 if t < start else int(100 * (t - start) / (duration_s - start))
        return {
            "id": "t",
            "status": "processing" if t >= start else "pending",
            "progress": progress,
        }

    gets, seen_s = poll_offline(state, estimate_s, W.RetryPolicy())
    return gets, seen_s - duration_s


def test_adaptive_polling_few_requests_low_latency() -> None:
    """Tasks 0.5x-2x the estimate whose progress reaches 100 only at completion (a service
    unlike the simulator): at most 6 GETs, seen within 5 % of their duration. Aiming at 99
    costs such a service one extra, short poll (a median of 5)."""
    factors = (0.5, 0.7, 0.85, 1.0, 1.2, 1.4, 2.0)
    results = [simulate(60 * f, 60) for f in factors]
    gets = sorted(g for g, _ in results)
    lags = [lag / (60 * f) for (_, lag), f in zip(results, factors, strict=True)]
    assert max(lags) <= 0.05, lags
    assert max(gets) <= 6 and gets[len(gets) // 2] <= 5, gets


@pytest.mark.parametrize("clock_lead", [0.0, 0.3])
def test_polling_against_the_simulators_progress_model(clock_lead: float) -> None:
    """Timelines drawn as the simulator draws them (0.7-1.4x the estimate, 5-10 % pending,
    progress wobbling +-25 %), on a 10x-scaled clock: p95 detection within 2 % of the
    duration (2.5 % when the client's clock started up to 30 % of the estimate before the
    task was created), a median of 4 GETs and never more than 7."""
    rng = random.Random(5)
    policy = W.RetryPolicy(min_poll_interval_s=0.05)  # the 0.5 s floor, scaled like the clock
    lags, gets = [], []
    for i in range(300):
        typical_s = (90.0 if i % 2 else 45.0) / 10
        total_s = typical_s * rng.uniform(0.7, 1.4)
        timeline = Timeline(0.0, total_s * rng.uniform(0.05, 0.1), total_s, rng.randrange(2**31))
        lead_s = rng.uniform(0, clock_lead) * typical_s

        def state(
            t: float, timeline: Timeline = timeline, lead_s: float = lead_s
        ) -> dict[str, Any]:
            snap = observe(timeline, t - lead_s, done_at=timeline.start_at)
            results = [{"url": "u"}] if snap.status is Status.COMPLETED else None
            return {
                "id": "t",
                "status": snap.status.value,
                "progress": snap.progress,
                "results": results,
            }

        n, seen_s = poll_offline(state, max(1, round(typical_s)), policy)
        gets.append(n)
        lags.append((seen_s - lead_s - total_s) / total_s)
    lags.sort()
    p95 = 0.02 if clock_lead == 0 else 0.025
    assert min(lags) >= 0 and lags[int(0.95 * (len(lags) - 1))] <= p95, lags[-10:]
    assert sorted(gets)[len(gets) // 2] <= 4 and max(gets) <= 7, sorted(gets)


def test_precise_schedule_closes_in_then_splits_the_last_percent() -> None:
    """50 % at 30 s and 92 % at 55.2 s (0.6 s a percent): the end is 3.6 s away, so the next
    read covers 70 % of the way; a later 97 % at 58 s puts the end in one percent-step, which
    the next read splits (two reads left) or lands past (the last read of the budget)."""
    assert W.precise_delay_s(55.2, [(30.0, 50)], 4) is None  # one reading: no rate yet
    assert W.precise_delay_s(55.2, [(30.0, 50), (55.2, 92)], 4) == pytest.approx(2.73)
    late = [(30.0, 50), (55.2, 92), (58.0, 97)]
    step = 28.0 / 47
    opens, closes = 58.0 + step, 58.0 + 2.2 * step
    assert W.precise_delay_s(58.0, late, 2) == pytest.approx((opens + closes) / 2 - 58.0)
    assert W.precise_delay_s(58.0, late, 1) == pytest.approx(closes + 0.2 * step - 58.0)
    # 99 already: the tail schedule of next_poll_delay_s, not this one
    assert W.precise_delay_s(59.0, [*late, (59.0, 99)], 3) is None


def test_finishers_name_the_tasks_a_wait_ends_on() -> None:
    ends = W.Finishers()
    ends.predict("alone", 10.0)
    assert not ends.among_last(10.0, 0.0)  # a task polled alone keeps the frugal schedule
    ends.forget("alone")
    for i in range(200):
        ends.predict(f"t{i}", 100.0 + i)
    ends.predict("t199", 150.0)  # the latest moves earlier: t198 (298 s) is now the latest
    assert ends.among_last(298.0, 0.0) and not ends.among_last(290.0, 5.0)
    assert ends.among_last(290.0, 10.0)
    for i in range(150, 199):
        ends.forget(f"t{i}")
    assert ends.among_last(249.0, 0.0)  # t149 ends at 249 s
    for i in range(10_000):  # re-predictions do not pile up
        ends.predict("t0", float(i % 7))
    assert len(ends._heap) <= 2 * 151 + 64


def test_tasks_created_together_first_look_at_different_moments() -> None:
    """The first read comes at 35-60 % of the estimate, fixed by the task id: a sweep created
    at the rate limit's pace is not read back all at once."""
    firsts = []
    for i in range(200):
        task = Task.from_json({**CREATED, "id": f"task-unified-1-{i:08d}"})
        step = next(core(W.RetryPolicy()).wait(task, created_s=1000.0))
        assert isinstance(step, W.Sleep)
        firsts.append(step.seconds / 45)
    assert min(firsts) >= 0.35 and max(firsts) <= 0.6 and max(firsts) - min(firsts) > 0.2
    seventh = Task.from_json({**CREATED, "id": "task-unified-1-00000007"})
    again = next(core(W.RetryPolicy()).wait(seventh, created_s=1000.0))
    assert isinstance(again, W.Sleep) and again.seconds / 45 == firsts[7]


def sweep_offline(seed: int, finishers: W.Finishers | None) -> tuple[float, list[int]]:
    """100 tasks created 11 ms apart as the benchmark's sweep (the two models, 10x clock), each
    polled by its own flow, all on one fake clock; returns how long after the last task
    ended the last was seen, and the reads of each task."""
    rng = random.Random(seed)
    policy = W.RetryPolicy(min_poll_interval_s=0.05)
    due: list[tuple[float, int]] = []
    flows, reads, seen, ends = [], [0] * 100, [0.0] * 100, []
    now = [0.0]
    for i in range(100):
        typical_s = 9.0 if i % 2 == 0 else 4.5
        total_s = typical_s * rng.uniform(0.7, 1.4)
        start = 0.011 * i
        timeline = Timeline(
            start, start + total_s * rng.uniform(0.05, 0.1), start + total_s, rng.randrange(2**31)
        )
        ends.append(timeline.finish_at)

        def fetch(
            task_id: str, sync: bool, i: int = i, timeline: Timeline = timeline
        ) -> Generator[W.Step, W.Outcome, Task]:
            reads[i] += 1
            snap = observe(timeline, now[0], done_at=timeline.start_at)
            results = [{"url": "u"}] if snap.status is Status.COMPLETED else None
            return Task.from_json(
                {
                    "id": task_id,
                    "status": snap.status.value,
                    "progress": snap.progress,
                    "results": results,
                }
            )
            yield  # a flow, answered at once

        first = Task.from_json(
            {**CREATED, "id": f"t{i}", "task_info": {"estimated_time": round(typical_s)}}
        )
        flows.append(
            W.poll(
                first,
                fetch=fetch,
                clock=lambda: now[0],
                created_s=start,
                policy=policy,
                finishers=finishers,
            )
        )
        heapq.heappush(due, (start, i))
    while due:
        now[0], i = heapq.heappop(due)
        try:
            step = flows[i].send(None)
            while not isinstance(step, W.Sleep):
                step = flows[i].send(None)
        except StopIteration:
            seen[i] = now[0]
            continue
        heapq.heappush(due, (now[0] + step.seconds + rng.uniform(0.002, 0.02), i))
    return max(seen) - max(ends), reads


def test_the_tasks_a_sweep_ends_on_are_seen_sooner_for_a_read_or_two() -> None:
    """On 30 simulated sweeps, the tasks predicted to end last spend spare reads: the sweep is
    seen over sooner (mean lag after its last task ended, 10x clock), the median task
    still takes 4 reads, and hardly any takes a seventh (one whose progress slowed at the
    very end)."""
    plain = [sweep_offline(seed, None) for seed in range(30)]
    sharp = [sweep_offline(seed, W.Finishers()) for seed in range(30)]
    lag_plain = statistics.fmean(lag for lag, _ in plain)
    lag_sharp = statistics.fmean(lag for lag, _ in sharp)
    assert lag_sharp < 0.8 * lag_plain, (lag_sharp, lag_plain)
    reads = sorted(n for _, per_task in sharp for n in per_task)
    assert reads[len(reads) // 2] <= 4 and reads[-1] <= 7, reads[-20:]
    assert sum(n == 7 for n in reads) <= len(reads) // 1000, reads[-20:]


def test_one_early_reading_is_not_trusted_far() -> None:
    """6 % after 2.6 s predicts a 40 s task; with a 4 s estimate the next look is within 1.8 s
    (45 % of the estimate)."""
    assert W.next_poll_delay_s(2.63, 4.0, [(2.63, 6)], min_interval_s=0.05) == pytest.approx(1.8)
    # without a server estimate, half the predicted remaining time as before
    assert W.next_poll_delay_s(2.63, None, [(2.63, 6)]) == pytest.approx(0.5 * (40.06 - 2.63), 0.01)


def test_completed_without_results_is_read_again_without_sync_upstream() -> None:
    """completed + empty results triggers a re-read without sync_upstream."""
    empty = {"id": "t", "status": "completed", "progress": 100, "results": []}
    full = {**empty, "results": [{"url": "https://cdn/x.mp4"}]}
    task, steps = drive(
        core().wait(Task.from_json(CREATED), created_s=1000.0), [ok(empty), ok(full)]
    )
    requests = [s.request for s in steps if isinstance(s, W.Send)]
    assert task.result_urls == ("https://cdn/x.mp4",)
    assert requests[0].params == {"sync_upstream": "true"} and requests[1].params == {}


def test_expired_download_is_final() -> None:
    """A 403 on the result URL is reported as result_expired, not retried."""
    with pytest.raises(E.DownloadError) as info:
        drive(core().download("https://cdn/x.mp4", __import__("pathlib").Path("x"), 10), [err(403)])
    assert info.value.code == "result_expired"
