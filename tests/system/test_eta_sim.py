"""Job.timing() on the simulator over loopback: six jobs at once, the clock ticking."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from support import connect

from foxnb import Sweep
from foxnb.runtime.eta import JobTiming
from foxnb.sim import Simulator

NEAR_ZERO_MAX_S = 2.0
SAMPLE_EVERY_S = 0.1


def watch(sweep: Sweep) -> dict[str, list[tuple[float, JobTiming]]]:
    """Every cell's timing, read every 0.1 s until all have ended."""
    seen: dict[str, list[tuple[float, JobTiming]]] = {job.run_id: [] for job in sweep.jobs}
    while not all(job.done for job in sweep.jobs):
        now = time.time()
        for job in sweep.jobs:
            if not job.done:
                seen[job.run_id].append((now, job.timing(now)))
        time.sleep(SAMPLE_EVERY_S)
    return seen


def longest_near_zero_s(shown: list[tuple[float, JobTiming]]) -> float:
    longest, since = 0.0, None
    for now, timing in shown:
        if timing.eta_s is not None and timing.eta_s < 1.0:
            since = now if since is None else since
            longest = max(longest, now - since)
        else:
            since = None
    return longest


@pytest.mark.serial
def test_six_at_once_never_sit_at_zero_and_teach_the_pace(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A 6-cell sweep: no cell shows under a second left for more than 2 s; each run records
    its concurrency, start and predicted end; the next estimate has learnt the pace."""
    with Simulator(speed=20, state_dir=tmp_path / "sim", upstream_lag_s=0.0) as sim:
        fx = connect(sim, tmp_path)
        sweep = fx.sweep(clips["landscape"], name="eta", prompt="Dusk", seed=list(range(6)))
        assert isinstance(sweep, Sweep)
        seen = watch(sweep)
        sweep.wait(timeout=120)
    assert [job.status for job in sweep.jobs] == ["completed"] * 6
    for run_id, shown in seen.items():
        assert longest_near_zero_s(shown) <= NEAR_ZERO_MAX_S, run_id
        phases = {t.phase for _, t in shown}
        assert phases <= {"queued", "sending", "pending", "processing", "overdue", "downloading"}
        late = [t for _, t in shown if t.phase == "overdue"]
        assert all(t.eta_s is None and "still processing" in t.phrase for t in late)
    runs = [fx.ledger.get(job.run_id) or {} for job in sweep.jobs]
    assert sorted(r["in_flight"] for r in runs)[-1] >= 2  # sent together: counted together
    assert all(r["started_at"] >= r["submitted_at"] and r["predicted_s"] > 0 for r in runs)
    job = sweep.jobs[-1]
    assert job.started_at is not None and job.submitted_at is not None
    took = [r["completed_at"] - r["accepted_at"] for r in runs]
    in_flight = max(r["in_flight"] for r in runs)
    estimate = runs[0]["estimated_time_s"]
    pace = fx.tracker.pace.factor("veo-3.1-extend", in_flight)
    ratios = [1.0] + [t / estimate for t in took]  # learnt runs, pulled towards the estimate
    assert pace != 1.0 and min(ratios) - 0.01 <= pace <= max(ratios) + 0.01


def test_a_blocked_clock_still_ticks(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """timing() needs no new status read: elapsed grows between polls, read from any thread."""
    fx = connect(sim, tmp_path)
    job = fx.extend("Pan left", clips["landscape"], seed=1)
    readings: list[JobTiming] = []
    reader = threading.Thread(target=lambda: readings.append(job.timing()))
    reader.start()
    reader.join()
    job.wait(timeout=60)
    ended = job.timing()
    assert ended.phase == "ended" and ended.eta_s is None and ended.elapsed_s is not None
    assert readings and readings[0].phase in ("queued", "sending", "pending", "processing")
    assert job.timing(now_s=time.time() + 100).elapsed_s == ended.elapsed_s  # stopped at the end
