"""Task timelines as data, and their persistence across a simulator restart."""

from __future__ import annotations

import pytest

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
