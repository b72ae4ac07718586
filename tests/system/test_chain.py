"""fx.chain on the simulator: hops build on the chosen result, re-runs pay only for what
changed, a manual pick waits for your star, and the budget guard stops a chain."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from support import connect, creates, wait_for

import foxnb
from foxnb._files import sha256_file
from foxnb.media import probe
from foxnb.sim import Simulator

PROMPTS = ["the camera drifts left", "night falls", "dawn breaks"]


@pytest.mark.slow
def test_chain_builds_on_its_choices_and_reuses_unchanged_hops(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """3 hops × best of 2: each hop extends the lowest-seam_jump candidate; the same call
    again sends nothing; changing hop 2's prompt re-runs hops 2-3 only, hop 1 for 0 credits."""
    fx = connect(sim, tmp_path)
    clip = clips["landscape"]
    chain = fx.chain(clip, PROMPTS, seed=5, best_of=2, name="trip").wait(240)
    assert chain.done and chain.stopped is None, chain
    df = chain.df
    assert list(df.hop) == [1, 1, 2, 2, 3, 3] and list(df.seed) == [5, 6] * 3
    assert (df.status == "completed").all() and df.seam_jump.notna().all()
    assert creates(sim) == 6 and chain.new_credits == 600 and chain.credits == 600
    previous = clip
    for hop in chain.hops:  # each hop's input is the previous hop's chosen video, by content
        rows = df[df.hop == hop.index + 1]
        assert set(rows.input_sha256) == {sha256_file(previous)}
        best = rows.loc[rows.seam_jump.idxmin(), "run_id"]
        assert hop.chosen == best and rows.chosen.sum() == 1
        assert hop.reason == "the lowest seam_jump"
        previous = Path(rows.loc[rows.run_id == best, "video_path"].iloc[0])
    assert chain.video_path == previous
    assert probe(previous).duration_s == pytest.approx(1.0 + 3 * 7.0, abs=0.3)
    drift = chain.drift
    assert list(drift.hop) == [1, 2, 3] and drift.seam_jump.notna().all()
    assert drift.color_shift.notna().all()
    assert "<svg" in chain.drift_plot()._repr_svg_()

    again = fx.chain(clip, PROMPTS, seed=5, best_of=2, name="trip").wait(120)
    assert creates(sim) == 6 and again.new_runs == [] and again.new_credits == 0
    assert [h.chosen for h in again.hops] == [h.chosen for h in chain.hops]

    changed = [PROMPTS[0], "a storm rolls in", PROMPTS[2]]
    third = fx.chain(clip, changed, seed=5, best_of=2, name="trip").wait(240)
    assert third.stopped is None and creates(sim) == 10
    first, second, last = third.hops
    assert first.submitted == [] and [j.run_id for j in first.jobs] == [
        j.run_id for j in chain.hops[0].jobs
    ]
    assert first.chosen == chain.hops[0].chosen
    assert len(second.submitted) == 2 and len(last.submitted) == 2
    runs = fx.runs().set_index("run_id")
    assert runs.loc[second.submitted, "prompt"].tolist() == ["a storm rolls in"] * 2
    assert third.new_credits == 400 and third.credits == 600


@pytest.mark.slow
def test_manual_pick_waits_for_a_star_then_goes_on(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """pick="manual": wait() returns at the hop waiting for a star; starring one (through the
    chain's JudgeView, as a click would) lets the chain carry on from it."""
    fx = connect(sim, tmp_path)
    chain = fx.chain(clips["landscape"], PROMPTS[:2], seed=1, best_of=2, pick="manual")
    chain.wait(120)
    hop = chain.needs_pick
    assert hop is not None and hop.index == 0 and not chain.done
    assert hop.reason == "waiting for you to star one of the candidates"
    from foxnb.widgets.chain_view import ChainView

    view = ChainView(chain)
    (picker,) = view.picker.children
    picker.tiles[1].star.value = True  # the second candidate, not the best by any score
    wait_for(lambda: chain.hops[0].chosen, 30, what="the star to be seen")
    assert chain.hops[0].chosen == hop.jobs[1].run_id and chain.hops[0].reason == "you starred it"
    second = wait_for(
        lambda: chain.needs_pick if chain.hops[1].state == "picking" else None,
        120,
        what="hop 2 to wait for a pick",
    )
    fx.star(second.jobs[0])
    chain.wait(60)
    assert chain.done and chain.stopped is None
    assert chain.hops[1].chosen == second.jobs[0].run_id
    inputs = fx.runs().set_index("run_id").loc[[j.run_id for j in second.jobs], "input_sha256"]
    assert set(inputs) == {fx.runs().set_index("run_id").loc[hop.jobs[1].run_id, "sha256"]}
    html = view.hops.value
    assert html.count('data-state="done"') == 2


@pytest.mark.slow
def test_budget_stops_a_chain_before_it_overspends(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A 250-credit budget at 100 credits a job: hop 1's two runs, then nothing more is sent."""
    fx = connect(sim, tmp_path)
    chain = fx.chain(clips["landscape"], PROMPTS, seed=1, best_of=2, budget_credits=250)
    chain.wait(180)
    assert chain.done and chain.stopped is not None and "budget" in chain.stopped
    assert creates(sim) == 2 and chain.hops[0].chosen is not None
    statuses = Counter(fx.runs().status.astype(str))
    assert statuses == {"completed": 2, "not_submitted": 2}
    codes = set(fx.runs().error_code.dropna())
    assert codes == {"budget"}
    assert chain.hops[1].state == "stopped" and chain.hops[2].jobs == []


def test_chain_arguments_are_checked_before_anything_is_sent(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A bad prompt in hop 3 or a bad option is refused at once: nothing recorded or sent."""
    fx = connect(sim, tmp_path)
    with pytest.raises(foxnb.ValidationError) as info:
        fx.chain(clips["landscape"], ["ok", "fine", ""], seed=1)
    assert info.value.field == "prompt"
    with pytest.raises(foxnb.ValidationError, match="did you mean 'negative_prompt'"):
        fx.chain(clips["landscape"], ["ok"], negativ_prompt="blur")
    with pytest.raises(foxnb.ValidationError) as info:
        fx.chain(clips["480p"], ["ok"])
    assert len(fx.runs()) == 0 and creates(sim) == 0
