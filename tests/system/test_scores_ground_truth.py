"""Scores against ground truth: real extends on the simulator, clean and with each output defect.

One clean result and one result per defect kind (``sim.inject("create", "defect",
defect=KIND)``), all from the same clip, prompt and seed, so the defect is the only difference.
The simulator's task record says which defect each result got; the scores must find it: each
defect moves its own score far from the clean result's, and leaves the flags of the other
kinds as they are on the clean one. A ``short`` result does not last the input + 7 s, so foxnb
never records it as completed (``download_failed`` ``wrong_duration``) and keeps the file
beside, as ``<run_id>.rejected.mp4``: that file is scored.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

import foxnb
from foxnb.scores import Scores, score_extension
from foxnb.sim import Simulator

KINDS = ("cut", "prefix", "flicker", "color_drift", "short", "no_audio")
PROMPT = "the camera drifts slowly to the left"
SEED = 11


@pytest.fixture(scope="module")
def scored(
    tmp_path_factory: pytest.TempPathFactory, clips: dict[str, Path]
) -> Iterator[dict[str | None, Scores]]:
    """Scores of the clean result (key None) and of one result per defect kind."""
    folder = tmp_path_factory.mktemp("ground-truth")
    with Simulator(speed=200, state_dir=folder / "sim-state", upstream_lag_s=0.0) as sim:
        fx = foxnb.connect(simulator=sim, workdir=folder / "runs", quiet=True)
        out: dict[str | None, Scores] = {}
        for kind in (None, *KINDS):
            if kind is not None:
                sim.inject("create", "defect", defect=kind)
            # The same seeded request each time: force=True, or foxnb reuses the first video.
            job = fx.extend(PROMPT, clips["landscape"], seed=SEED, generate_audio=True, force=True)
            if kind == "short":
                with pytest.raises(foxnb.DownloadError) as info:
                    job.wait(120)
                assert info.value.code == "wrong_duration"
                video = folder / "runs" / "videos" / f"{job.run_id}.rejected.mp4"
            else:
                job.wait(120)
                assert job.status == "completed" and job.video_path is not None
                video = job.video_path
            task = sim.backend.task(job.task_id)  # type: ignore[arg-type]
            assert task is not None and getattr(task, "defect", None) == kind  # the ground truth
            out[kind] = score_extension(clips["landscape"], video, generate_audio=True)
        yield out


def table(scored: dict[str | None, Scores]) -> str:
    """The scores side by side, for the failure message (and ``pytest -s``)."""
    names = [n for n in Scores.__dataclass_fields__ if n != "notes"]
    lines = ["kind        " + " ".join(f"{n[:11]:>11}" for n in names)]
    for kind, scores in scored.items():
        cells = [getattr(scores, n) for n in names]
        lines.append(
            f"{kind or 'clean':<11} "
            + " ".join(f"{c:>11.3f}" if isinstance(c, float) else f"{c!s:>11}" for c in cells)
        )
    return "\n".join(lines)


def test_clean_result_scores_clean(scored: dict[str | None, Scores]) -> None:
    clean = scored[None]
    assert clean.has_prefix and clean.prefix_psnr >= 35, table(scored)
    assert clean.seam_jump <= 1.5 and clean.seam_ssim >= 0.95 and not clean.cut_at_seam
    assert clean.flicker >= 0.98 and clean.duration_ok and clean.audio_ok is True
    assert clean.new_s == pytest.approx(7.0, abs=0.2) and clean.notes == ()
    print("\n" + table(scored))


@pytest.mark.parametrize("kind", KINDS)
def test_defect_is_found_by_its_score(scored: dict[str | None, Scores], kind: str) -> None:
    """Each defect moves its own score far from the clean result's."""
    clean, bad = scored[None], scored[kind]
    why = table(scored)
    if kind == "cut":
        assert bad.seam_jump >= 5 * clean.seam_jump and bad.seam_jump >= 5, why
        assert bad.cut_at_seam and bad.seam_ssim <= clean.seam_ssim - 0.3, why
    elif kind == "prefix":
        assert bad.has_prefix and bad.prefix_psnr <= clean.prefix_psnr - 15, why
        assert bad.prefix_psnr < 25, why
    elif kind == "flicker":
        assert 1 - bad.flicker >= 5 * (1 - clean.flicker), why
        assert bad.motion_p95 >= 5 * clean.motion_p95, why
    elif kind == "color_drift":
        # The simulator's clean continuation already builds up a tint and a vignette (about
        # 26 ΔE on this clip); the drift adds a clear cast (over 10 ΔE) on top of that.
        assert bad.color_shift >= clean.color_shift + 10, why
        assert bad.color_shift >= 1.5 * clean.color_shift, why
    elif kind == "short":
        assert not bad.duration_ok and clean.duration_ok, why
        assert bad.new_s == pytest.approx(3.0, abs=0.2), why
    elif kind == "no_audio":
        assert bad.audio_ok is False and clean.audio_ok is True, why


@pytest.mark.parametrize("kind", KINDS)
def test_defect_leaves_other_flags_alone(scored: dict[str | None, Scores], kind: str) -> None:
    """No false alarms: a defect trips only the flags that belong to it."""
    bad, why = scored[kind], table(scored)
    assert bad.cut_at_seam == (kind == "cut"), why
    assert bad.duration_ok == (kind != "short"), why
    assert bad.audio_ok == (kind != "no_audio"), why
    assert bad.has_prefix, why
    assert (bad.prefix_psnr >= 35) == (kind != "prefix"), why
    if kind not in ("cut", "prefix"):
        assert bad.seam_jump <= 2 and not math.isnan(bad.seam_jump), why
    if kind not in ("flicker", "cut"):
        assert bad.flicker >= 0.98, why
