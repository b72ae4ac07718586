"""Faults over real loopback sockets: each ends as documented, and no paid run is lost or doubled.

Every test ends by counting the simulator's tasks against the run ledger (``account``):
*runs lost* are tasks the service created (and bills) that no ledger run accounts for;
*duplicates* are requests for which the service holds more tasks than the ledger has runs.
Both must be 0 whatever went wrong on the wire. docs/faults.md lists these tests as a table.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import account, connect, finish, wait_for

import foxnb
from foxnb import Sweep
from foxnb import _wire as W
from foxnb.sim import Faults, Simulator
from foxnb.sim.store import StateDirInUseError


class Recorder(httpx.AsyncHTTPTransport):
    """The real HTTP transport, noting when each API request went out and how it was answered
    (status 0: no answer, e.g. connection refused)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[float, httpx.URL, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        at = time.monotonic()
        status = 0
        try:
            response = await super().handle_async_request(request)
            status = response.status_code
            return response
        finally:
            if request.url.path.startswith("/v1/"):
                self.sent.append((at, request.url, status))

    def unanswered(self, path_part: str) -> int:
        """How many API requests whose path contains ``path_part`` got no answer."""
        return sum(status == 0 and path_part in url.path for _, url, status in self.sent)


# ------------------------------------------------------------------ create and read faults

# (endpoint, fault, inject options, final status, tasks created, create requests sent)
CREATE_FAULTS = [
    ("429 with Retry-After", "429", {"retry_after_s": 0.2}, "completed", 1, 2),
    ("429 without Retry-After", "429", {}, "completed", 1, 2),
    ("500", "500", {}, "submission_unknown", 0, 1),
    ("503", "503", {}, "submission_unknown", 0, 1),
    ("reset before handling", "drop", {}, "submission_unknown", 0, 1),
    ("reset after handling", "lost_response", {}, "submission_unknown", 1, 1),
    ("truncated 200", "truncated", {}, "submission_unknown", 1, 1),
    ("edge HTML 403", "edge_html", {}, "not_submitted", 0, 1),
    ("content policy", "task_failure", {"code": "content_policy_violation"}, "failed", 1, 1),
    ("generation failed", "task_failure", {"code": "generation_failed"}, "failed", 1, 1),
]


@pytest.mark.parametrize(
    ("fault", "options", "status", "tasks", "creates"),
    [pytest.param(*row[1:], id=row[0]) for row in CREATE_FAULTS],
)
def test_create_fault_ends_as_documented(
    sim: Simulator,
    tmp_path: Path,
    clips: dict[str, Path],
    fault: str,
    options: dict[str, Any],
    status: str,
    tasks: int,
    creates: int,
) -> None:
    """One fault on the create request: the documented status, the evidence, 0 lost, 0 doubled."""
    fx = connect(sim, tmp_path)
    sim.inject("create", fault, **options)
    job = finish(fx.extend("The camera keeps panning", clips["landscape"], seed=4))
    row = fx.ledger.get(job.run_id)
    assert row is not None and job.status == status == row["status"]
    assert sim.backend.task_count == tasks and sim.backend.requests["create"] == creates
    if status == "submission_unknown":
        assert isinstance(job.error, foxnb.SubmissionUnknownError)
        assert "sent at" in row["evidence"] and "resend" in row["evidence"]
    if status == "failed":
        assert isinstance(job.error, foxnb.TaskFailedError)
        assert job.error.code == options["code"] == row["error_code"]
    if status == "not_submitted":
        assert isinstance(job.error, foxnb.PermissionDeniedError)
        assert "edge proxy" in str(job.error)
    if status == "completed":
        assert job.video_path is not None and job.video_path.stat().st_size > 10_000
    assert account(fx, sim) == (0, 0)


@pytest.mark.parametrize(
    ("fault", "options"),
    [
        pytest.param("500", {"count": 2}, id="500 twice"),
        pytest.param("503", {"count": 2}, id="503 twice"),
        pytest.param("drop", {}, id="connection reset"),
        pytest.param("truncated", {}, id="truncated 200"),
        pytest.param("429", {"count": 3}, id="429 three times"),
    ],
)
def test_read_fault_is_ridden_out(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], fault: str, options: dict[str, Any]
) -> None:
    """Faults on task reads are retried (reads are free); the job completes with one task."""
    fx = connect(sim, tmp_path)
    sim.inject("task", fault, **options)
    job = fx.extend("The camera keeps panning", clips["landscape"], seed=5).wait(60)
    assert job.status == "completed" and job.video_path is not None
    assert sim.backend.faults.scripted_left("task") == 0  # every fault was met
    assert sim.backend.task_count == 1 and sim.backend.requests["create"] == 1
    assert account(fx, sim) == (0, 0)


def test_completed_with_empty_results_is_read_again(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """Every synced read of the finished task lists no result: a plain re-read finds the URL."""
    recorder = Recorder()
    fx = connect(sim, tmp_path, transport=recorder)
    sim.set_faults(Faults(empty_results=1.0, endpoints={"task"}))
    job = fx.extend("The camera keeps panning", clips["landscape"], seed=5).wait(60)
    assert job.status == "completed" and job.video_path is not None
    reads = [url for _, url, _ in recorder.sent if url.path.startswith("/v1/tasks/")]
    assert "sync_upstream" in reads[0].params and "sync_upstream" not in reads[-1].params
    assert sim.backend.task_count == 1 and account(fx, sim) == (0, 0)


def test_edge_block_on_a_read_stops_tracking_and_resume_finishes(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """An edge HTML 403 on a read stops tracking (kept resumable); resume() completes the run."""
    fx = connect(sim, tmp_path)
    sim.inject("task", "edge_html")
    job = finish(fx.extend("The camera keeps panning", clips["landscape"], seed=6))
    assert isinstance(job.error, foxnb.PermissionDeniedError)
    assert job.task_id is not None and job.status in ("pending", "processing")
    assert [r["run_id"] for r in fx.unfinished()] == [job.run_id]
    again = fx.resume()
    assert [j.run_id for j in again] == [job.run_id]
    assert again[0].wait(60).status == "completed"
    assert sim.backend.task_count == 1 and account(fx, sim) == (0, 0)


SHORT_READ = httpx.Timeout(connect=5.0, read=0.5, write=5.0, pool=5.0)


def test_slow_create_beyond_the_timeout_is_submission_unknown(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A create answered after the read timeout: submission_unknown with evidence, never resent."""
    fx = connect(sim, tmp_path, timeout=SHORT_READ)
    sim.inject("create", "latency", latency_s=1.5)
    job = finish(fx.extend("The camera keeps panning", clips["landscape"], seed=7))
    assert job.status == "submission_unknown"
    assert "timeout" in fx.ledger.get(job.run_id)["evidence"]  # type: ignore[index]
    time.sleep(1.5)  # the server has done whatever it was going to do with the request
    assert sim.backend.requests["create"] == 1
    # The simulator drops a request whose client left during the delay; the ledger still
    # accounts for whatever the service did.
    assert sim.backend.task_count in (0, 1) and account(fx, sim) == (0, 0)


def test_slow_read_beyond_the_timeout_is_retried(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A task read answered after the read timeout is retried, and the job completes."""
    fx = connect(sim, tmp_path, timeout=SHORT_READ)
    sim.inject("task", "latency", latency_s=1.5)
    job = fx.extend("The camera keeps panning", clips["landscape"], seed=8).wait(60)
    assert job.status == "completed" and sim.backend.requests["task"] >= 2
    assert sim.backend.task_count == 1 and account(fx, sim) == (0, 0)


def test_expired_result_url_is_fetched_fresh(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A result link that expired before the download is re-queried; one task, one video."""
    fx = connect(sim, tmp_path)
    sim.inject("download", "expired")
    job = fx.extend("The camera keeps panning", clips["landscape"], seed=9).wait(60)
    assert job.status == "completed" and job.sha256 == foxnb._files.sha256_file(job.video_path)
    assert sim.backend.requests["download"] == 2 and sim.backend.task_count == 1
    assert account(fx, sim) == (0, 0)


def test_upload_refused_by_the_edge_for_size_sends_nothing(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    """An edge HTML 413 on the upload: PayloadTooLargeError, not_submitted, no task."""
    with Simulator(speed=200, max_upload_bytes=1000) as small:
        fx = connect(small, tmp_path)
        job = finish(fx.extend("The camera keeps panning", clips["landscape"]))
        assert job.status == "not_submitted" and isinstance(job.error, foxnb.PayloadTooLargeError)
        assert "edge proxy" in str(job.error) and "413" in str(job.error)
        assert small.backend.requests["create"] == 0 and small.backend.task_count == 0
        assert account(fx, small) == (0, 0)


# ------------------------------------------------------------------ a 429 storm in a sweep

CELLS = 50


def peak_per_s(times: list[float]) -> int:
    """The most requests sent in any one-second window."""
    times = sorted(times)
    start, best = 0, 0
    for end, at in enumerate(times):
        while at - times[start] > 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


STORM_S = 3.0


def test_429s_have_their_own_retry_budget_and_cut_the_rate_once_per_burst() -> None:
    """Ten 429s in a row delay a read without ending it (5xx get six tries); the shared rate
    halves once per burst of 429s, requests leave the pause spaced, and twenty successes
    restore the rate."""
    throttle = W.Throttle(rate_per_s=40)
    core = W.Core(
        secret=None,
        policy=W.RetryPolicy(sleep_scale=0.0),
        clock=time.time,
        throttle=throttle,
        rng=random.Random(0),
    )
    flow = core.task("task-unified-1-abcdefgh")
    limited = W.Response(429, {}, b'{"error": {"message": "slow down"}}')
    task_body = b'{"id": "task-unified-1-abcdefgh", "status": "processing"}'
    answers = [limited] * 10 + [W.Response(200, {}, task_body)]
    step, sent = next(flow), 0
    while True:
        reply = None
        if isinstance(step, W.Send):
            reply, sent = answers[sent], sent + 1
        try:
            step = flow.send(reply)
        except StopIteration as done:
            assert done.value.status == "processing" and sent == 11
            break
    throttle = W.Throttle(rate_per_s=40)
    throttle.on_rate_limited(10.0, None, sent_at_s=9.9)
    throttle.on_rate_limited(10.1, None, sent_at_s=9.95)  # sent before the cut: no new cut
    assert throttle.rate_per_s == 20
    throttle.on_rate_limited(11.0, 0.5, sent_at_s=10.5)  # sent after it: the rate halves
    assert throttle.rate_per_s == 10 and throttle.reserve(11.0) == pytest.approx(0.5)
    # Those that waited out the pause leave one interval (1 / 10 s) apart, not as a burst.
    assert [throttle.reserve(11.0) for _ in range(3)] == pytest.approx([0.6, 0.7, 0.8])
    for _ in range(20):
        throttle.on_success()
    assert throttle.rate_per_s == 40
    # Once they have all gone, a burst of five may leave at once again.
    assert [throttle.reserve(20.0) for _ in range(6)] == pytest.approx([0] * 5 + [0.025])
    # An answer to an earlier request, arriving during a pause, does not end it as a burst.
    paused = W.Throttle(rate_per_s=10)
    paused.on_rate_limited(0.0, 1.0, sent_at_s=0.0)
    paused.on_success()
    assert [paused.reserve(0.5) for _ in range(2)] == pytest.approx([0.5, 0.5 + 1 / 5.5])


def test_slots_of_a_cut_rate_are_not_booked_far_ahead() -> None:
    """While the rate is cut, a request whose slot would come more than ``recheck_s`` after
    the pause asks again later: once the rate has recovered it leaves at the rate of then,
    not in a slot booked seconds ahead at the cut rate."""
    throttle = W.Throttle(rate_per_s=40, recheck_s=1.0)
    for at in (10.0, 10.1, 10.2, 10.3, 10.4, 10.5, 10.6, 10.7):  # eight cuts: 40/s to 0.2/s
        throttle.on_rate_limited(at, 0.3, sent_at_s=at)
    assert throttle.rate_per_s == pytest.approx(0.2)
    assert throttle.wait_to_book(10.7) == 0  # the first slot: the end of the pause
    assert throttle.reserve(10.7) == pytest.approx(0.3)
    # The next would be 5 s later: not booked, asked again in at most recheck_s.
    assert throttle.wait_to_book(10.7) == pytest.approx(1.0)
    assert throttle.wait_to_book(14.5) == pytest.approx(0.5)  # at 15 s it is 1 s ahead
    for _ in range(19):  # answers come back (as if before 11.0 s): 0.2/s to 38.2/s
        throttle.on_success()
    # The next slot: one interval of the new rate after the last one booked (11.0).
    assert throttle.wait_to_book(11.0) == 0
    assert throttle.reserve(11.0) == pytest.approx(1 / 38.2)
    throttle.on_success()  # the full rate: booked at once again, however far ahead
    assert [throttle.reserve(11.0) for _ in range(3)] == pytest.approx(
        [1 / 38.2 + 0.025 * k for k in (1, 2, 3)]
    )
    assert throttle.wait_to_book(11.0) == 0


@pytest.mark.slow
@pytest.mark.serial
@pytest.mark.parametrize(
    "storm",
    [
        pytest.param(None, id="no storm"),
        pytest.param(Faults(rate_limit=0.5, retry_after_s=0.3), id="storm with Retry-After"),
        pytest.param(Faults(rate_limit=0.5), id="storm without Retry-After"),
    ],
)
def test_429_storm_during_a_50_job_sweep(
    tmp_path: Path, clips: dict[str, Path], storm: Faults | None
) -> None:
    """Half of all creates and reads get 429 for 3 s: all 50 cells complete, once, and slower.

    Without a storm the client reaches its full rate (``rate_per_s``) while the 50 creates go
    out. In a storm its busiest second stays far below that: every burst of 429s halves the
    shared rate, a ``Retry-After`` pauses every request, and each 429 is retried after a
    backoff. When the storm ends the rate recovers and every cell completes; a 429 never
    ends a job.
    """
    rate = 40.0
    recorder = Recorder()
    faults = None if storm is None else dataclasses.replace(storm, endpoints={"create", "task"})
    with Simulator(
        speed=400, upstream_lag_s=0.0, faults=faults, fault_seed=11, state_dir=tmp_path / "sim"
    ) as sim:
        fx = connect(sim, tmp_path, rate_per_s=rate, transport=recorder)
        started = time.monotonic()
        calm = threading.Timer(STORM_S, sim.set_faults, args=(Faults(),))
        calm.start()
        try:
            sweep = fx.sweep(
                clips["landscape"],
                name="storm",
                prompt="The camera keeps panning",
                seed=1,
                negative_prompt=[f"blur {i}" for i in range(CELLS)],
            )
            assert isinstance(sweep, Sweep)
            sweep.wait(timeout=120)
        finally:
            calm.cancel()
        elapsed_s = time.monotonic() - started
        assert Counter(job.status for job in sweep.jobs) == {"completed": CELLS}
        assert sim.backend.task_count == CELLS == len({job.task_id for job in sweep.jobs})
        assert account(fx, sim) == (0, 0)
    label = "no storm" if storm is None else f"storm, Retry-After {storm.retry_after_s}"
    in_storm = [(at, status) for at, _, status in recorder.sent if at - started < STORM_S]
    peak = peak_per_s([at for at, _ in in_storm])
    limited = sum(status == 429 for _, status in in_storm)
    print(
        f"\n{label}: first {STORM_S:g} s: {len(in_storm)} "
        f"API requests, {limited} answered 429, busiest second {peak} (rate_per_s {rate:g}); "
        f"whole sweep {len(recorder.sent)} API requests in {elapsed_s:.1f} s"
    )
    if storm is None:
        assert peak >= 0.75 * rate and limited == 0
    else:
        assert limited >= 5 and peak < 0.4 * rate


# ------------------------------------------------------------------ the simulator restarts


@pytest.mark.slow
def test_simulator_restarted_mid_sweep(tmp_path: Path, clips: dict[str, Path]) -> None:
    """The simulator stops while 12 cells poll and comes back on the same port and state folder.

    Polls meet refused connections and retry; a job started while it is down waits for it
    (a refused create provably created nothing, so it is sent again). All complete, once each.
    """
    state = tmp_path / "sim"
    recorder = Recorder()
    first = Simulator(speed=40, state_dir=state, upstream_lag_s=0.0).start()
    port = int(first.url.rsplit(":", 1)[1])
    fx = connect(first, tmp_path, rate_per_s=40, transport=recorder)
    prompt = "The camera keeps panning"
    # Render the one video every later job gets first, so stop() has no render to wait for.
    fx.extend(prompt, clips["landscape"], seed=2).wait(60)
    sweep = fx.sweep(
        clips["landscape"],
        name="restart",
        prompt=prompt,
        seed=2,
        negative_prompt=[f"blur {i}" for i in range(12)],
    )
    assert isinstance(sweep, Sweep)
    wait_for(lambda: all(job.task_id for job in sweep.jobs))
    assert all(job.status in ("pending", "processing") for job in sweep.jobs)
    first.stop()
    during = fx.extend(prompt, clips["landscape"], seed=2, negative_prompt="while down")
    # Down until both a poll and the new create have been refused.
    wait_for(lambda: recorder.unanswered("/v1/tasks/") and recorder.unanswered("/generations"))
    assert during.task_id is None
    second = Simulator(speed=40, state_dir=state, port=port, upstream_lag_s=0.0).start()
    try:
        sweep.wait(timeout=90)
        during.wait(60)
        assert Counter(job.status for job in sweep.jobs) == {"completed": 12}
        assert during.status == "completed"
        assert second.backend.task_count == 14
        assert first.backend.requests["create"] + second.backend.requests["create"] == 14
        assert account(fx, second) == (0, 0)
    finally:
        second.stop()


# ------------------------------------------------------------------ one simulator per folder

HOLDER = """
import sys, time
import foxnb
fx = foxnb.connect(workdir=sys.argv[1], quiet=True)
print(fx.config.base_url, flush=True)
time.sleep(120)
"""


def test_a_second_kernel_on_the_same_workdir_is_refused(tmp_path: Path) -> None:
    """Two processes, one workdir: the second embedded simulator fails and names the first.

    The lock is held by the live process and released when it dies (here: kill -9), after
    which the folder's simulator state opens normally.
    """
    workdir = tmp_path / "runs"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(workdir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().startswith("http://127.0.0.1:")
        second = subprocess.run(
            [sys.executable, "-c", HOLDER, str(workdir)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0 and second.stdout == ""
        message = second.stderr.strip().splitlines()[-1]
        assert f"process {holder.pid}" in message and str(workdir / ".sim") in message
        assert "workdir" in message  # says what to do
        with pytest.raises(RuntimeError, match=f"process {holder.pid}"):
            Simulator(state_dir=workdir / ".sim")
        cli = subprocess.run(
            [sys.executable, "-m", "foxnb.sim", "--state-dir", str(workdir / ".sim")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 2 and "Traceback" not in cli.stderr
        assert cli.stderr.startswith("foxnb sim: ") and f"process {holder.pid}" in cli.stderr
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    with Simulator(state_dir=workdir / ".sim") as after:  # the dead holder's lock is gone
        assert after.running
        with pytest.raises(StateDirInUseError, match="another Simulator in this process"):
            Simulator(state_dir=workdir / ".sim")
    Simulator(state_dir=workdir / ".sim").stop()  # stopped: free again
