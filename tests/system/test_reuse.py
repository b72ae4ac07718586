"""fx.extend() never pays twice for an identical seeded request; force=True and fx.rerun() do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support import connect, creates

import foxnb
from foxnb.sim import Simulator

PROMPT = "The camera keeps drifting over the hills"


def test_identical_seeded_request_is_reused_for_free(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """The second identical call is a new completed run reusing the first video; nothing sent."""
    fx = connect(sim, tmp_path)
    first = fx.extend(PROMPT, clips["landscape"], seed=7).wait(timeout=60)
    assert creates(sim) == 1 and first.reused_from is None and first.credits
    again = fx.extend(PROMPT, clips["landscape"], seed=7, tags="again")
    assert again.done and again.status == "completed"  # at once: nothing to wait for
    assert again.run_id != first.run_id and again.reused_from == first.run_id
    assert again.credits == 0 and again.video_path == first.video_path
    assert again.wait() is again and creates(sim) == 1
    recorded = fx.ledger.get(again.run_id) or {}
    assert recorded["reused_from"] == first.run_id
    assert recorded["credits"] == 0 and recorded["tags"] == ["again"]
    # Reusing the reuse points at the paid run, never at another reuse.
    third = fx.extend(PROMPT, clips["landscape"], seed=7)
    assert third.reused_from == first.run_id and creates(sim) == 1


def test_force_no_seed_or_other_fields_are_sent(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """force=True, a request without a seed, or any other field: each is a new paid task."""
    fx = connect(sim, tmp_path)
    fx.extend(PROMPT, clips["landscape"], seed=7).wait(timeout=60)
    forced = fx.extend(PROMPT, clips["landscape"], seed=7, force=True).wait(timeout=60)
    assert forced.reused_from is None and creates(sim) == 2
    fx.extend(PROMPT, clips["landscape"]).wait(timeout=60)
    fx.extend(PROMPT, clips["landscape"]).wait(timeout=60)
    assert creates(sim) == 4
    other = fx.extend(PROMPT, clips["landscape"], seed=7, negative_prompt="blur")
    assert other.reused_from is None and other.wait(timeout=60) and creates(sim) == 5


def test_changed_result_or_input_is_not_reused(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """An edited result file, or other content at the input's path, means sending again."""
    fx = connect(sim, tmp_path)
    clip = tmp_path / "clip.mp4"
    shutil.copy(clips["landscape"], clip)
    first = fx.extend(PROMPT, clip, seed=3).wait(timeout=60)
    assert first.video_path is not None
    with open(first.video_path, "ab") as fh:
        fh.write(b"\0")  # the saved video no longer matches its recorded sha256
    second = fx.extend(PROMPT, clip, seed=3).wait(timeout=60)
    assert second.reused_from is None and creates(sim) == 2
    shutil.copy(clips["portrait"], clip)  # same path, other content
    third = fx.extend(PROMPT, clip, seed=3).wait(timeout=60)
    assert third.reused_from is None and creates(sim) == 3


def test_rerun_sends_a_reused_request_again(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """fx.rerun(job) is "run again anyway": the same request and tags, sent and paid."""
    fx = connect(sim, tmp_path)
    fx.extend(PROMPT, clips["landscape"], seed=5, negative_prompt="blur").wait(timeout=60)
    reused = fx.extend(PROMPT, clips["landscape"], seed=5, negative_prompt="blur", tags="t")
    assert reused.reused_from is not None
    fresh = fx.rerun(reused).wait(timeout=60)
    assert fresh.reused_from is None and creates(sim) == 2
    assert fresh.request == reused.request
    assert (fx.ledger.get(fresh.run_id) or {})["tags"] == ["t"]
    assert fx.rerun(fresh.run_id, force=False).reused_from == fresh.run_id
    with pytest.raises(foxnb.ValidationError, match="no run"):
        fx.rerun("r-nope")


def test_identical_request_still_running_returns_its_job(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    """Submitting again while the identical seeded run is in flight pays nothing more."""
    with Simulator(speed=20, state_dir=tmp_path / "sim", upstream_lag_s=0.0) as slow:
        fx = connect(slow, tmp_path)
        first = fx.extend(PROMPT, clips["landscape"], seed=9)
        with pytest.warns(foxnb.FoxnbWarning, match="still running"):
            again = fx.extend(PROMPT, clips["landscape"], seed=9)
        assert again is first
        first.wait(timeout=60)
        assert slow.backend.requests["create"] == 1
