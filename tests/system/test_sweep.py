"""fx.sweep() end to end over real loopback HTTP against the simulator."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import connect

import foxnb
from foxnb import Sweep, SweepPlan
from foxnb.sim import Simulator

PROMPTS = ["Dusk falls over the valley", "A storm rolls in from the left"]
SEEDS = [1, 2, 3]


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulator state folder for the module, so each distinct video is rendered once."""
    return tmp_path_factory.mktemp("sweep-sim")


@pytest.fixture
def sim(renders: Path) -> Iterator[Simulator]:
    """A fresh simulator (own port, own request counts) reusing the module's rendered videos."""
    with Simulator(speed=200, state_dir=renders, upstream_lag_s=0.0) as server:
        yield server


def run(fx: foxnb.Session, clip: Path, **kw: Any) -> Sweep:
    sweep = fx.sweep(clip, **{"name": "dusk-vs-storm", "prompt": PROMPTS, "seed": SEEDS, **kw})
    assert isinstance(sweep, Sweep)
    return sweep.wait(timeout=120)


def plan(fx: foxnb.Session, clip: Path, **kw: Any) -> SweepPlan:
    result = fx.sweep(clip, name="dusk-vs-storm", prompt=PROMPTS, seed=SEEDS, dry_run=True, **kw)
    assert isinstance(result, SweepPlan)
    return result


def test_grid_completes_then_reruns_for_free(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """2 prompts x 3 seeds: six videos in grid order; the same sweep again sends nothing."""
    fx = connect(sim, tmp_path)
    sweep = run(fx, clips["landscape"])
    assert [j.status for j in sweep.jobs] == ["completed"] * 6
    df = sweep.df
    assert list(df.columns[:4]) == ["run_id", "cell", "prompt", "seed"]
    assert list(zip(df["prompt"], df["seed"], strict=True)) == list(
        itertools.product(PROMPTS, SEEDS)
    )
    assert list(df["cell"]) == list(range(6)) and set(df["experiment"]) == {"dusk-vs-storm"}
    assert df["sha256"].nunique() == 6 and (df["credits"] > 0).all()
    assert sim.backend.requests["upload"] == 1 and "completed 6" in repr(sweep)

    creates = sim.backend.requests["create"]
    again = run(fx, clips["landscape"])
    assert sim.backend.requests["create"] == creates == 6
    redo = again.df
    assert [j.status for j in again.jobs] == ["completed"] * 6
    assert list(redo["reused_from"]) == list(df["run_id"]) and (redo["credits"] == 0).all()
    assert list(redo["sha256"]) == list(df["sha256"])
    assert list(redo["video_path"]) == list(df["video_path"])
    assert len(fx.runs()) == 12


def test_zip_mode_pairs_axes_and_checks_lengths(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """zip pairs the i-th values; axes of unequal length are refused, naming the lengths."""
    fx = connect(sim, tmp_path)
    sweep = fx.sweep(clips["landscape"], name="z", prompt=PROMPTS, seed=[1, 2], mode="zip")
    assert isinstance(sweep, Sweep)
    df = sweep.wait(120).df
    assert list(zip(df["prompt"], df["seed"], strict=True)) == [(PROMPTS[0], 1), (PROMPTS[1], 2)]
    with pytest.raises(foxnb.ValidationError, match="prompt has 2, seed has 3"):
        fx.sweep(clips["landscape"], name="z2", prompt=PROMPTS, seed=SEEDS, mode="zip")
    assert sim.backend.requests["create"] == 2


def test_an_invalid_cell_stops_the_whole_sweep_before_any_request(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A bad value in one cell, a bad clip or a misspelt field: nothing sent or recorded."""
    fx = connect(sim, tmp_path)
    with pytest.raises(
        foxnb.ValidationError,
        match=r"cell 2 \(prompt='Dusk falls over the val…', seed=-1\): seed: must be an integer",
    ) as info:
        fx.sweep(clips["landscape"], name="bad", prompt=PROMPTS, seed=[1, 2, -1])
    assert info.value.field == "seed"
    with pytest.raises(foxnb.VideoInputError, match="854x480"):
        fx.sweep(clips["480p"], name="bad", prompt="pan", seed=SEEDS)
    with pytest.raises(foxnb.ValidationError, match="did you mean 'seed'"):
        fx.sweep(clips["landscape"], name="bad", prompt="pan", seeds=SEEDS)
    with pytest.raises(foxnb.ValidationError, match="name: must be a non-empty"):
        fx.sweep(clips["landscape"], name=" ", prompt="pan")
    assert sum(sim.backend.requests.values()) == 0
    assert fx.runs().empty


def test_max_jobs_guards_new_submissions_only(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """More new cells than max_jobs is refused up front; reused cells do not count."""
    fx = connect(sim, tmp_path)
    with pytest.raises(foxnb.ValidationError, match="would submit 6 new jobs, more than 5"):
        fx.sweep(clips["landscape"], name="dusk-vs-storm", prompt=PROMPTS, seed=SEEDS, max_jobs=5)
    assert sum(sim.backend.requests.values()) == 0 and fx.runs().empty
    run(fx, clips["landscape"], max_jobs=6)
    run(fx, clips["landscape"], max_jobs=0)  # everything reused: nothing new to pay for
    assert sim.backend.requests["create"] == 6


def test_dry_run_counts_before_and_after_a_real_run(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """The plan records and sends nothing; after a run it says every cell would be reused."""
    fx = connect(sim, tmp_path)
    before = plan(fx, clips["landscape"])
    assert (len(before.cells), before.submitted, before.reused, before.reattached) == (6, 6, 0, 0)
    assert before.expected_s is None and "unknown" in repr(before)
    assert fx.runs().empty and sim.backend.requests["create"] == 0
    run(fx, clips["landscape"])
    after = plan(fx, clips["landscape"])
    assert (after.submitted, after.reused, after.reattached) == (0, 6, 0)
    forced = plan(fx, clips["landscape"], force=True)
    assert forced.submitted == 6 and forced.expected_s is not None and forced.expected_s > 0
    assert "<table>" in forced._repr_html_() and "submit (paid)" in forced._repr_html_()
    assert len(fx.runs()) == 6 and sim.backend.requests["create"] == 6


def test_force_resubmits_every_cell(sim: Simulator, tmp_path: Path, clips: dict[str, Path]) -> None:
    """force=True pays again instead of reusing; the simulator's output is the same bytes."""
    fx = connect(sim, tmp_path)
    first = run(fx, clips["landscape"], seed=[1])
    forced = run(fx, clips["landscape"], seed=[1], force=True)
    assert sim.backend.requests["create"] == 4
    assert forced.df["reused_from"].isna().all() and (forced.df["credits"] > 0).all()
    assert list(forced.df["sha256"]) == list(first.df["sha256"])


def test_calling_again_while_running_reattaches(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A second call before the first finishes tracks the same runs instead of resending."""
    fx = connect(sim, tmp_path)
    first = fx.sweep(clips["landscape"], name="twice", prompt=PROMPTS[0], seed=SEEDS)
    second = fx.sweep(clips["landscape"], name="twice", prompt=PROMPTS[0], seed=SEEDS)
    assert isinstance(first, Sweep) and isinstance(second, Sweep)
    second.wait(120)
    first.wait(120)
    assert sim.backend.requests["create"] == 3
    assert all(j.status == "completed" for j in first.jobs + second.jobs)


def test_unsent_cells_survive_a_restart(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """Cells recorded as queued by a dead kernel are sent once by a second sweep() call."""
    fx = connect(sim, tmp_path)
    sha = foxnb._files.sha256_file(clips["landscape"])
    request = foxnb.ExtendRequest(
        prompt=PROMPTS[0], video=str(clips["landscape"]), seed=1, aspect_ratio="16:9"
    )
    fx.tracker.record(request, [], sha, experiment="restart", cell=0)  # as if the kernel died here
    later = connect(sim, tmp_path)
    sweep = later.sweep(clips["landscape"], name="restart", prompt=PROMPTS[0], seed=[1, 2])
    assert isinstance(sweep, Sweep)
    assert [j.status for j in sweep.wait(120).jobs] == ["completed"] * 2
    assert sim.backend.requests["create"] == 2 and len(later.runs()) == 2


def test_submission_unknown_cell_is_not_paid_for_again(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A cell whose create answer was lost is not resubmitted by a later sweep() call."""
    fx = connect(sim, tmp_path)
    sim.inject("create", "lost_response")
    first = fx.sweep(clips["landscape"], name="lost", prompt="pan", seed=[1, 2])
    first.wait(60)
    statuses = sorted(j.status for j in first.jobs)
    assert statuses == ["completed", "submission_unknown"]
    again = fx.sweep(clips["landscape"], name="lost", prompt="pan", seed=[1, 2])
    again.wait(60)
    assert sorted(j.status for j in again.jobs) == statuses
    assert sim.backend.requests["create"] == 2
