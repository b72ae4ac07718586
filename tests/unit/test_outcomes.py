"""How runs turned out, without a network: choosing a chain's candidate, judgements in the
ledger, the scoring worker's failure paths, sorting and shading a grid, the drift plot, the
judging widget, export folders and a chain's checked arguments."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from foxnb import ValidationError
from foxnb._files import sha256_file
from foxnb._html.drift import drift_svg
from foxnb._html.outcomes import shade_colour, stars_text, values_html
from foxnb.errors import DownloadError, StoreError
from foxnb.experiments.chain_spec import load_specs, make_spec, save_spec, spec_path
from foxnb.experiments.choose import check_pick, choose
from foxnb.experiments.compare import compare, shade_cells, sort_axes
from foxnb.experiments.export.files import export_runs
from foxnb.experiments.outcomes import Judgements, run_ids_of
from foxnb.runtime import scoring
from foxnb.runtime.scoring import SCORE_FIELDS, ScoreWorker, needs_scores
from foxnb.runtime.store import RunStore, open_store, to_dataframe
from foxnb.sample import make_sample_clip
from foxnb.scores import SCORES_VERSION


def Ledger(folder: Path) -> RunStore:
    """The default runs store of a work folder (SQLite), as a session opens it."""
    return open_store(None, folder)


def events(store: RunStore) -> int:
    """How many events the store's log holds (the old ledger's lines)."""
    return sum(1 for _ in store.events())


def cand(run_id: str, seam: float | None, **kw: Any) -> dict[str, Any]:
    return {"run_id": run_id, "status": "completed", "seam_jump": seam, **kw}


# ---------------------------------------------------------------------------- choosing


def test_choose_takes_the_best_score_and_breaks_ties_by_order() -> None:
    runs = [cand("a", 2.0), cand("b", 0.5), cand("c", 0.5), cand("d", 0.1, status="failed")]
    choice = choose(runs, "seam_jump")
    assert choice.run_id == "b" and "lowest seam_jump" in choice.reason
    assert (
        choose(
            [cand("a", None, seam_ssim=0.9), cand("b", None, seam_ssim=0.95)], "seam_ssim"
        ).run_id
        == "b"
    )


def test_a_star_wins_and_a_reject_is_never_chosen() -> None:
    runs = [cand("a", 0.1, pick="reject"), cand("b", 3.0), cand("c", 9.0, pick="star")]
    assert choose(runs, "seam_jump").run_id == "c"
    assert choose(runs[:2], "seam_jump").run_id == "b"  # the rejected best is skipped
    assert choose(runs[:1], "seam_jump").run_id is None


def test_manual_waits_for_a_star_and_missing_scores_wait_too() -> None:
    runs = [cand("a", 0.1), cand("b", 0.2)]
    waiting = choose(runs, "manual")
    assert waiting.run_id is None and "star" in waiting.reason
    assert choose([cand("a", None), cand("b", None)], "seam_jump").run_id is None
    runs[1]["pick"] = "star"
    assert choose(runs, "manual").run_id == "b"
    assert choose([cand("a", 1.0, status="failed")], "seam_jump").reason == "no candidate completed"


def test_check_pick_suggests_a_name() -> None:
    assert check_pick("manual") == "manual"
    with pytest.raises(ValidationError, match="did you mean 'seam_jump'"):
        check_pick("seam_jmp")


# ---------------------------------------------------------------------------- judgements


@pytest.fixture
def ledger(tmp_path: Path) -> RunStore:
    ledger = Ledger(tmp_path / "runs")
    ledger.append("r1", 1.0, status="completed", prompt="p", seed=1)
    ledger.append("r2", 1.0, status="failed", prompt="p", seed=2, error_code="boom")
    return ledger


def test_judgements_are_ledger_events_that_a_new_ledger_reads(
    ledger: RunStore, tmp_path: Path
) -> None:
    """Each judgement is one event; another store object on the folder sees the latest."""
    judge = Judgements(ledger)
    seen: list[tuple[str, dict[str, Any]]] = []
    judge.on_change(lambda run_id, fields: seen.append((run_id, fields)))
    judge.rate("r1", 4)
    judge.pick({"run_id": "r1"}, "star")
    judge.note(pd.Series({"run_id": "r1"}), "clean seam")
    judge.rate("r1", 5)
    judge.pick("r2", "reject")
    assert events(ledger) == 2 + 5 and [r for r, _ in seen] == ["r1"] * 4 + ["r2"]
    frame = Ledger(tmp_path / "runs").dataframe().set_index("run_id")
    assert frame.loc["r1", "rating"] == 5 and frame.loc["r1", "pick"] == "star"
    assert frame.loc["r1", "note"] == "clean seam" and frame.loc["r2", "pick"] == "reject"
    assert str(frame["rating"].dtype) == "Int64" and pd.isna(frame.loc["r2", "rating"])
    judge.note("r1", "")
    judge.pick("r1", None)
    assert judge.of("r1") == {"rating": 5, "pick": None, "note": None}


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda j: j.rate("r1", 6), "stars"),
        (lambda j: j.rate("r1", True), "stars"),
        (lambda j: j.pick("r1", "stra"), "pick"),
        (lambda j: j.note("r1", 42), "text"),
        (lambda j: j.rate("r9", 3), "run"),
        (lambda j: j.rate(3.5, 3), "run"),
    ],
)
def test_bad_judgements_are_refused_before_anything_is_written(
    ledger: RunStore, call: Any, field: str
) -> None:
    before = events(ledger)
    with pytest.raises(ValidationError) as info:
        call(Judgements(ledger))
    assert info.value.field == field and events(ledger) == before


def test_run_ids_of_takes_runs_in_every_shape(ledger: RunStore) -> None:
    frame = ledger.dataframe()
    assert run_ids_of(frame) == ["r1", "r2"] and run_ids_of("r1") == ["r1"]
    assert run_ids_of([{"run_id": "r2"}, "r1"]) == ["r2", "r1"]
    with pytest.raises(ValidationError):
        run_ids_of(42)


# ---------------------------------------------------------------------------- scoring worker


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 1 s input and a 2 s stand-in result (not an extension, but a readable video)."""
    folder = tmp_path_factory.mktemp("pair")
    clip = make_sample_clip(folder / "in.mp4", width=1280, height=720, duration_s=1.0, fps=8)
    result = make_sample_clip(folder / "out.mp4", width=1280, height=720, duration_s=2.0, fps=8)
    return clip, result


def completed(ledger: RunStore, run_id: str, clip: str, result: Path, **kw: Any) -> None:
    ledger.append(
        run_id,
        1.0,
        status="completed",
        video=clip,
        video_path=str(result),
        sha256=sha256_file(result),
        generate_audio=True,
        **kw,
    )


def test_worker_scores_a_run_once_and_records_one_event(
    tmp_path: Path, pair: tuple[Path, Path]
) -> None:
    clip, result = pair
    ledger = Ledger(tmp_path / "runs")
    completed(ledger, "r1", str(clip), result, input_sha256=sha256_file(clip))
    worker = ScoreWorker(ledger, tmp_path / "inputs")
    fields = worker.submit("r1").result(60)
    assert set(fields) == set(SCORE_FIELDS) and fields["score_error"] is None
    assert fields["scores_version"] == SCORES_VERSION and fields["duration_ok"] is False
    run = ledger.get("r1")
    assert run is not None and not needs_scores(run)
    lines = events(ledger)
    assert worker.submit("r1").result(60)["seam_jump"] == fields["seam_jump"]  # not again
    assert events(ledger) == lines
    worker.submit("r1", force=True).result(60)
    assert events(ledger) == lines + 1


def test_a_store_that_fails_a_read_fails_the_waiters_not_the_worker(
    tmp_path: Path, pair: tuple[Path, Path]
) -> None:
    """The store going away mid-sweep (closed here; a dropped database in a team) fails the
    futures of the runs it could not read, instead of killing the thread and leaving them
    waiting forever; a later request is served by a new read."""
    clip, result = pair
    ledger = Ledger(tmp_path / "runs")
    completed(ledger, "r1", str(clip), result, input_sha256=sha256_file(clip))
    worker = ScoreWorker(ledger, tmp_path / "inputs")
    ledger.close()
    with pytest.raises(StoreError, match="closed"):
        worker.submit("r1").result(60)
    reopened = Ledger(tmp_path / "runs")
    worker.ledger = reopened
    assert worker.submit("r1").result(60)["score_error"] is None
    assert worker.pending("r1") is None


class GatedStore:
    """A real store whose first read waits for ``opened`` (so runs queue up behind it) and
    whose first ``refuse`` writes fail; it keeps the run ids of each write."""

    def __init__(self, store: RunStore, refuse: int = 0):
        self.store, self.refuse = store, refuse
        self.opened = threading.Event()
        self.writes: list[list[str]] = []

    def peek(self, run_ids: Any) -> Any:
        self.opened.wait(60)
        return self.store.peek(run_ids)

    def append_many(self, events: Any) -> None:
        events = list(events)
        self.writes.append([run_id for run_id, _, _ in events])
        if self.refuse:
            self.refuse -= 1
            raise StoreError("the disk is full")
        self.store.append_many(events)


def test_runs_scored_together_are_recorded_in_one_write(
    tmp_path: Path, pair: tuple[Path, Path]
) -> None:
    """Runs that complete in a burst queue up while the worker is busy: their scores are
    recorded in one store transaction, and every run has them."""
    clip, result = pair
    ledger = Ledger(tmp_path / "runs")
    ids = [f"r{n}" for n in range(6)]
    for run_id in ids:
        completed(ledger, run_id, str(clip), result, input_sha256=sha256_file(clip))
    gated = GatedStore(ledger)
    worker = ScoreWorker(gated, tmp_path / "inputs")  # type: ignore[arg-type]
    futures = [worker.submit(run_id) for run_id in ids]
    gated.opened.set()
    assert all(f.result(60)["score_error"] is None for f in futures)
    assert gated.writes == [ids[:1], ids[1:]]
    assert all(not needs_scores(ledger.get(run_id) or {}) for run_id in ids)


def test_a_failed_write_fails_its_waiters_not_the_worker(
    tmp_path: Path, pair: tuple[Path, Path]
) -> None:
    """A store that refuses a batch of scores: each waiter of that batch gets the error, no
    scores are half-recorded, and the next request is recorded."""
    clip, result = pair
    ledger = Ledger(tmp_path / "runs")
    for run_id in ("r1", "r2"):
        completed(ledger, run_id, str(clip), result, input_sha256=sha256_file(clip))
    gated = GatedStore(ledger, refuse=1)
    gated.opened.set()
    worker = ScoreWorker(gated, tmp_path / "inputs")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="disk is full"):
        worker.submit("r1").result(60)
    assert needs_scores(ledger.get("r1") or {})
    assert worker.submit("r2").result(60)["score_error"] is None
    assert not needs_scores(ledger.get("r2") or {}) and worker.pending("r1") is None


def test_identical_files_are_decoded_once(
    tmp_path: Path, pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs with the same input and the same result (a shared rendering, a re-run): one
    decode, the same scores recorded for both, each with its own scored_at."""
    clip, result = pair
    ledger = Ledger(tmp_path / "runs")
    for run_id in ("r1", "r2"):
        completed(ledger, run_id, str(clip), result, input_sha256=sha256_file(clip))
    calls: list[Path] = []

    decode = scoring.run_in_video_process

    def counted(function: Any, clip_path: Path, result_path: Path, **options: Any) -> Any:
        calls.append(Path(result_path))
        return decode(function, clip_path, result_path, **options)

    monkeypatch.setattr(scoring, "run_in_video_process", counted)
    scored = ScoreWorker(ledger, tmp_path / "inputs").score_all(["r1", "r2"])
    assert calls == [result]
    same = {k: v for k, v in scored["r1"].items() if k != "scored_at"}
    assert same == {k: v for k, v in scored["r2"].items() if k != "scored_at"}
    assert all((ledger.get(r) or {}).get("scored_at") for r in ("r1", "r2"))


def crashes_the_process(*args: Any, **kwargs: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_file_that_crashes_ffmpeg_is_unreadable(
    tmp_path: Path, pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scoring that kills foxnb's video process (twice) is a note on the run, not an error."""
    clip, result = pair
    ledger = Ledger(tmp_path / "runs")
    completed(ledger, "r1", str(clip), result, input_sha256=sha256_file(clip))
    monkeypatch.setattr(scoring, "score_extension", crashes_the_process)
    fields = ScoreWorker(ledger, tmp_path / "inputs").score_all(["r1"])["r1"]
    assert fields["score_error"] == "unreadable"
    assert fields["score_notes"] == "not scored: FFmpeg crashed reading it"


def test_worker_fetches_a_url_input_once(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    """An input given as a URL is fetched once and shared; a failed fetch is a note."""
    clip, result = pair
    ledger = Ledger(tmp_path / "runs")
    fetched: list[str] = []

    def fetch(url: str, dest: Path) -> None:
        fetched.append(url)
        if "gone" in url:
            raise DownloadError("HTTP 404", code="result_expired")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(clip.read_bytes())

    for run_id in ("r1", "r2"):
        completed(ledger, run_id, "https://example.com/in.mp4", result)
    completed(ledger, "r3", "https://example.com/gone.mp4", result)
    worker = ScoreWorker(ledger, tmp_path / "inputs", fetch=fetch)
    scored = worker.score_all(["r1", "r2", "r3"])
    assert fetched == ["https://example.com/in.mp4", "https://example.com/gone.mp4"]
    assert scored["r1"]["seam_jump"] == scored["r2"]["seam_jump"] is not None
    assert scored["r3"]["score_error"] == "input_fetch_failed" and scored["r3"]["seam_jump"] is None
    assert "HTTP 404" in scored["r3"]["score_notes"]
    assert len(list((tmp_path / "inputs").iterdir())) == 1


@pytest.mark.parametrize(
    "problem", ["input_missing", "input_changed", "no_result", "result_changed", "unreadable"]
)
def test_a_run_that_cannot_be_scored_gets_empty_scores_and_a_reason(
    tmp_path: Path, pair: tuple[Path, Path], problem: str
) -> None:
    clip, result = pair
    local_clip, local_result = tmp_path / "in.mp4", tmp_path / "out.mp4"
    local_clip.write_bytes(clip.read_bytes())
    local_result.write_bytes(result.read_bytes())
    ledger = Ledger(tmp_path / "runs")
    completed(ledger, "r1", str(local_clip), local_result, input_sha256=sha256_file(local_clip))
    if problem == "input_missing":
        local_clip.unlink()
    elif problem == "input_changed":
        local_clip.write_bytes(b"other bytes")
    elif problem == "no_result":
        local_result.unlink()
    elif problem == "result_changed":
        local_result.write_bytes(b"other bytes")
    else:  # a file that is no video, recorded with its own sha256
        local_result.write_bytes(b"not a video")
        ledger.append("r1", 2.0, sha256=sha256_file(local_result))
    fields = ScoreWorker(ledger, tmp_path / "inputs").submit("r1").result(60)
    assert fields["score_error"] == problem and fields["score_notes"].startswith("not scored: ")
    assert all(fields[name] is None for name in ("seam_jump", "color_shift", "duration_ok"))
    run = ledger.get("r1")
    assert run is not None and run["status"] == "completed"  # the run itself is untouched


# ---------------------------------------------------------------------------- grids


def test_sort_axes_orders_rows_and_columns_best_first() -> None:
    chosen = {
        ("a", 1): {"seam_jump": 3.0, "rating": 1},
        ("a", 2): {"seam_jump": 5.0, "rating": 2},
        ("b", 1): {"seam_jump": 1.0, "rating": 5},
        ("b", 2): {"seam_jump": None, "rating": None},
        ("c", 1): {},
    }
    assert sort_axes(["a", "b", "c"], [1, 2], chosen, "seam_jump") == (["b", "a", "c"], [1, 2])
    assert sort_axes(["a", "b", "c"], [1, 2], chosen, "rating") == (["b", "a", "c"], [1, 2])
    shades = shade_cells(chosen, "seam_jump")
    assert set(shades) == {("a", 1), ("a", 2), ("b", 1)}
    assert shades[("b", 1)].startswith("rgba(26,127,55") and shades[("a", 2)].startswith(
        "rgba(207,34,46"
    )


def test_compare_shows_sorts_and_shades_by_a_score() -> None:
    frame = to_dataframe(
        [
            {
                "run_id": f"r{i}",
                "prompt": p,
                "seed": s,
                "status": "failed",
                "seam_jump": j,
                "rating": r,
            }
            for i, (p, s, j, r) in enumerate(
                [
                    ("dusk", 1, 4.0, 2),
                    ("dusk", 2, 2.0, None),
                    ("storm", 1, 1.0, 5),
                    ("storm", 2, 0.5, 4),
                ]
            )
        ]
    )
    grid = compare(frame, show=["seam_jump", "rating"], sort_by="seam_jump", shade="seam_jump")
    assert grid.row_values == ["storm", "dusk"] and grid.col_values == [2, 1]
    assert grid.html.count('class="foxnb-values"') == 4 and "★★★★★" in grid.html
    assert grid.html.count("background:rgba(") == 4
    with pytest.raises(ValidationError, match="did you mean 'seam_jump'") as info:
        compare(frame, sort_by="seam_jmp")
    assert info.value.field == "sort_by"
    with pytest.raises(ValidationError) as info:
        compare(frame, shade="prompt")
    assert info.value.field == "shade"


def test_values_html_escapes_notes_and_marks_picks() -> None:
    html = values_html(
        {"seam_jump": 1.23456, "pick": "star", "note": "<script>x</script>"},
        ["seam_jump", "flicker"],
    )
    assert "seam_jump 1.23" in html and "flicker –" in html and "★ starred" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert stars_text(3) == "★★★☆☆" and stars_text(None) == ""
    assert shade_colour(None, 0, 1, "min") is None and shade_colour(1, 1, 1, "min") is not None


def test_drift_svg_draws_a_point_per_scored_hop() -> None:
    svg = drift_svg([1, 2, 3], {"seam_jump": [1.0, None, 2.5], "color_shift": [4.0, 6.0, 12.0]})
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<circle") == 5 and svg.count("<polyline") == 2
    assert "hop 2: color_shift 6" in svg
    assert "not scored yet" in drift_svg([1], {"seam_jump": [None]})


# ---------------------------------------------------------------------------- the judging view


def test_judge_view_buttons_record_judgements(ledger: RunStore) -> None:
    """Every control is one ledger event; a judgement made elsewhere redraws the tile."""
    from foxnb.widgets.judge import JudgeView

    judge = Judgements(ledger)
    view = JudgeView(ledger.dataframe(), judge)
    tile = view.tiles[0]
    tile.star.value = True
    tile.rating.value = 3
    tile.note.value = "keep"
    assert judge.of("r1") == {"rating": 3, "pick": "star", "note": "keep"}
    tile.reject.value = True
    assert judge.of("r1")["pick"] == "reject" and not tile.star.value  # redrawn from the event
    judge.rate("r2", 1)
    assert view.tiles[1].rating.value == 1 and "★☆☆☆☆" in view.tiles[1].values.value
    assert "text/html" in view._repr_mimebundle_()


# ---------------------------------------------------------------------------- export, chain spec


def test_export_refuses_folders_it_did_not_write(tmp_path: Path, ledger: RunStore) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("precious")
    frame = ledger.dataframe()
    with pytest.raises(ValidationError, match="overwrite=True"):
        export_runs(frame, tmp_path / "mine", tmp_path / "runs")
    with pytest.raises(ValidationError, match="not a foxnb export"):
        export_runs(frame, tmp_path / "mine", tmp_path / "runs", overwrite=True)
    done = export_runs(frame, tmp_path / "out", tmp_path / "runs")
    document = json.loads((tmp_path / "out" / "runs.json").read_text())
    assert done.videos == () and document["runs"] == []
    assert {s["run_id"] for s in document["skipped"]} == {"r1", "r2"}
    export_runs(frame, tmp_path / "out", tmp_path / "runs", overwrite=True)  # its own: replaced


def test_chain_spec_checks_its_arguments_and_round_trips(tmp_path: Path) -> None:
    good = {
        "name": None,
        "prompts": ["a", "b"],
        "seed": 1,
        "best_of": 3,
        "pick": "seam_jump",
        "budget_credits": None,
        "tags": "t",
        "fields": {"model": "veo-3.1-extend-fast"},
    }
    spec = make_spec("clip.mp4", **good)  # type: ignore[arg-type]
    assert spec.name == "chain-clip" and spec.seeds() == [1, 2, 3] and spec.tags == ("t",)
    for key, value in [
        ("prompts", "one text"),
        ("seed", -1),
        ("best_of", 0),
        ("best_of", 9),
        ("pick", "best"),
        ("budget_credits", 0),
        ("fields", {"seed": 3}),
    ]:
        with pytest.raises(ValidationError) as info:
            make_spec("clip.mp4", **{**good, key: value})  # type: ignore[arg-type]
        assert info.value.field == ("seed" if key == "fields" else key)
    saved = save_spec(tmp_path, spec)
    assert spec_path(tmp_path, spec.name).is_file()
    assert load_specs(tmp_path) == [saved]
