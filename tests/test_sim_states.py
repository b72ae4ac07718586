"""Task timelines as data, and their persistence across a simulator restart."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from foxnb.sample import make_sample_clip
from foxnb.sim import Simulator
from foxnb.sim.signing import window_expiry
from foxnb.sim.states import Status, Timeline, observe

TIMELINE = Timeline(created_at=100.0, start_at=105.0, finish_at=190.0, jitter_seed=11)


def sweep(timeline: Timeline, *, done_at: float | None = None) -> list[tuple[Status, int]]:
    steps = [timeline.created_at + 0.25 * i for i in range(500)]
    return [
        (snap.status, snap.progress)
        for snap in (observe(timeline, now, done_at=done_at) for now in steps)
    ]


def test_progress_is_zero_while_pending_then_monotonic() -> None:
    """Pending shows 0; processing rises monotonically within 1..99; completed shows 100."""
    seen = sweep(TIMELINE, done_at=150.0)
    progress = [p for _, p in seen]
    assert progress == sorted(progress)
    assert all(p == 0 for s, p in seen if s is Status.PENDING)
    assert all(1 <= p <= 99 for s, p in seen if s is Status.PROCESSING)
    assert all(p == 100 for s, p in seen if s is Status.COMPLETED)
    assert [s for s, _ in seen].index(Status.COMPLETED) == (190.0 - 100.0) / 0.25


def test_completion_waits_for_a_late_render() -> None:
    """Past the planned finish, a task still rendering stays processing at 99."""
    assert observe(TIMELINE, 250.0) == observe(TIMELINE, 250.0, done_at=260.0)
    assert observe(TIMELINE, 250.0).progress == 99
    assert observe(TIMELINE, 260.0, done_at=260.0).status is Status.COMPLETED


def test_failure_freezes_progress() -> None:
    """A failed task keeps the progress it had when it failed."""
    at_failure = observe(TIMELINE, 140.0).progress
    failed = observe(TIMELINE, 180.0, failed_at=140.0)
    assert failed == observe(TIMELINE, 999.0, failed_at=140.0)
    assert failed.status is Status.FAILED and failed.progress == at_failure


def test_jitter_is_seeded() -> None:
    """The same jitter seed gives the same curve; another seed gives another one."""
    other = Timeline(100.0, 105.0, 190.0, jitter_seed=12)
    assert sweep(TIMELINE) == sweep(Timeline(100.0, 105.0, 190.0, jitter_seed=11))
    assert sweep(TIMELINE) != sweep(other)


def test_timeline_rejects_disordered_instants() -> None:
    """start must not precede creation, nor finish precede start."""
    with pytest.raises(ValueError):
        Timeline(created_at=10.0, start_at=5.0, finish_at=20.0, jitter_seed=0)


def test_result_url_windows() -> None:
    """A result URL is stable within its validity window; the next window gets a new expiry."""
    assert window_expiry(1000.0, 60.0, 1000.0) == window_expiry(1000.0, 60.0, 1059.0) == 1060
    assert window_expiry(1000.0, 60.0, 1061.0) == 1120


def test_restarted_simulator_continues_tasks_from_state_dir(tmp_path: Path) -> None:
    """A task created on sim A completes on sim B (same state_dir, new port) and downloads."""
    clip = make_sample_clip(tmp_path / "in.mp4", duration_s=0.5, fps=8)
    state_dir = tmp_path / "state"
    # speed=20 leaves the task pending for well over 100 ms, so A stops before rendering.
    with Simulator(speed=20, state_dir=state_dir, api_key="sk-sim-restart") as first:
        headers = {"Authorization": f"Bearer {first.api_key}"}
        upload = httpx.post(
            first.url + "/v1/files/upload/stream",
            headers=headers,
            files={"file": ("in.mp4", clip.read_bytes())},
        ).json()
        created = httpx.post(
            first.url + "/v1/videos/generations",
            headers=headers,
            json={"model": "veo-3.1-extend", "prompt": "onwards", "video_url": upload["url"]},
        ).json()
        first_url = first.url
    record = first.backend.task(created["id"])
    assert record is not None and record.outcome is None

    with Simulator(state_dir=state_dir) as second:
        assert second.url != first_url and second.api_key == "sk-sim-restart"
        with httpx.Client(base_url=second.url, headers=headers) as http:
            served = http.get(upload["url"].replace(first_url, second.url))
            assert served.content == clip.read_bytes()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                body = http.get(f"/v1/tasks/{created['id']}?sync_upstream=true").json()
                if body["status"] in ("completed", "failed"):
                    break
                time.sleep(0.05)
            assert body["status"] == "completed", body
            assert body["created"] == created["created"]
            result = http.get(body["results"][0]["url"])
            assert result.status_code == 200 and result.headers["content-type"] == "video/mp4"
            assert body["results"][0]["url"].startswith(second.url)
