"""fx.report(): an experiment written as a folder, checked file by file and opened in Chromium.

One 2 x 2 sweep runs on the simulator over loopback for the whole module (one cell is made to
fail with a content-policy error), and its report is read back the way a colleague would:
the page's links, the copied videos against the ledger's sha256, the CSV and Parquet tables,
the manifest, and the page itself in Debian's Chromium from file://.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import foxnb
from foxnb import Sweep, media
from foxnb._files import sha256_file
from foxnb._html.base import SIM_NOTE as SIM_NOTICE
from foxnb.experiments.report import Report
from foxnb.experiments.report.runs import portable_runs
from foxnb.runtime.store import to_dataframe
from foxnb.sim import Simulator

NAME = "dusk-vs-storm"
HOSTILE = '<script>alert("x")</script> Dusk & "friends" fall'
PROMPTS = [HOSTILE, "A storm rolls in from the left"]
SEEDS = [1, 2]
PROMPTS_IN_GRID = [PROMPTS[0], PROMPTS[0], PROMPTS[1], PROMPTS[1]]  # one per cell, in order
FAILURE = "content_policy_violation"
INPUT_S = 1.0  # the `clips` fixture's length
EXTENDED_S = INPUT_S + 7.0
DURATION_TOLERANCE_S = 0.3


@dataclass(frozen=True)
class Experiment:
    """The module's session, simulator and finished sweep."""

    fx: foxnb.Session
    sim: Simulator
    sweep: Sweep


def run_sweep(fx: foxnb.Session, clip: Path) -> Sweep:
    sweep = fx.sweep(clip, name=NAME, prompt=PROMPTS, seed=SEEDS)
    assert isinstance(sweep, Sweep)
    return sweep.wait(timeout=120)


@pytest.fixture(scope="module")
def experiment(
    tmp_path_factory: pytest.TempPathFactory, clips: dict[str, Path]
) -> Iterator[Experiment]:
    """A 2 x 2 sweep (prompt x seed) on a simulator at speed 200; the first create fails."""
    base = tmp_path_factory.mktemp("report-runs")
    with Simulator(speed=200, state_dir=base / "sim", upstream_lag_s=0.0) as sim:
        fx = foxnb.connect(simulator=sim, workdir=base / "runs", quiet=True)
        sim.inject("create", "task_failure", code=FAILURE)
        sweep = run_sweep(fx, clips["landscape"])
        try:
            yield Experiment(fx, sim, sweep)
        finally:
            fx.close()


@pytest.fixture(scope="module")
def report(experiment: Experiment, tmp_path_factory: pytest.TempPathFactory) -> Report:
    """The experiment's report, written once, by experiment name."""
    return experiment.fx.report(NAME, tmp_path_factory.mktemp("report-out") / NAME)


def ledger_runs(experiment: Experiment) -> dict[str, dict[str, Any]]:
    return {
        run_id: run
        for run_id, run in experiment.fx.ledger.runs().items()
        if run.get("experiment") == NAME
    }


class Links(HTMLParser):
    """Every URL the page points at, by kind."""

    def __init__(self) -> None:
        super().__init__()
        self.videos: list[str] = []
        self.images: list[str] = []
        self.anchors: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "video":
            self.videos.append(found["src"])
            if "poster" in found:
                self.images.append(found["poster"])
        elif tag == "img":
            self.images.append(found["src"])
        elif tag == "a":
            self.anchors.append(found["href"])
        elif tag in ("script", "link") and ("src" in found or "href" in found):
            self.scripts.append(found.get("src") or found["href"])


def links_of(folder: Path) -> Links:
    parser = Links()
    parser.feed((folder / "index.html").read_text(encoding="utf-8"))
    return parser


def check_folder(folder: Path) -> Links:
    """Every link of the page is a relative path to a file inside ``folder``; the manifest
    lists every other file with its true size and sha256."""
    links = links_of(folder)
    assert links.videos and not links.scripts
    for link in [*links.videos, *links.images, *links.anchors]:
        assert "://" not in link and not link.startswith(("/", "data:")), link
        target = (folder / link).resolve()
        assert target.is_relative_to(folder.resolve()) and target.is_file(), link
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    on_disk = sorted(
        f.relative_to(folder).as_posix()
        for f in folder.rglob("*")
        if f.is_file() and f.name != "manifest.json"
    )
    assert [f["path"] for f in manifest["files"]] == on_disk
    for entry in manifest["files"]:
        file = folder / entry["path"]
        assert entry["size_bytes"] == file.stat().st_size
        assert entry["sha256"] == sha256_file(file), entry["path"]
    return links


# ---------------------------------------------------------------------------- the folder


def test_report_folder_holds_page_videos_tables_and_manifest(
    experiment: Experiment, report: Report
) -> None:
    """index.html, runs.csv/.parquet, manifest.json and one MP4 + JPEG per completed run."""
    runs = ledger_runs(experiment)
    completed = sorted(r for r, run in runs.items() if run["status"] == "completed")
    failed = [r for r, run in runs.items() if run["status"] == "failed"]
    assert len(runs) == 4 and len(completed) == 3 and len(failed) == 1
    files = sorted(f.relative_to(report.path).as_posix() for f in report.path.rglob("*"))
    assert files == sorted(
        ["index.html", "manifest.json", "runs.csv", "runs.parquet", "videos"]
        + [f"videos/{r}.{ext}" for r in completed for ext in ("mp4", "jpg")]
    )
    assert (report.runs, report.videos, report.problems) == (4, 3, ())
    assert report.index == report.path / "index.html"
    assert report.size_bytes == sum(f.stat().st_size for f in report.path.rglob("*") if f.is_file())
    manifest = json.loads((report.path / "manifest.json").read_text())
    assert manifest["format"] == "foxnb-report/1" and manifest["foxnb_version"] == foxnb.__version__
    made = datetime.fromisoformat(manifest["created_at"])
    assert abs((datetime.now(timezone.utc) - made).total_seconds()) < 600
    assert manifest["grid"] == {"rows": "prompt", "cols": "seed"} and manifest["runs"] == 4
    assert manifest["backends"] == ["sim"] and manifest["missing_videos"] == []
    check_folder(report.path)
    for poster in (report.path / "videos").glob("*.jpg"):
        assert poster.read_bytes()[:2] == b"\xff\xd8" and poster.stat().st_size < 20_000
    leftovers = [p.name for p in report.path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    shown = report._repr_html_()
    assert 'href="file://' in shown and "4 runs, 3 videos" in shown and NAME in shown


def test_every_video_resolves_inside_the_folder_and_matches_the_ledger(
    experiment: Experiment, report: Report
) -> None:
    """Each <video src> is videos/<run_id>.mp4 in the folder, byte-identical to the recorded
    result (sha256) and input + 7 s long; each has its own poster."""
    runs = ledger_runs(experiment)
    links = links_of(report.path)
    completed = {r for r, run in runs.items() if run["status"] == "completed"}
    assert sorted(links.videos) == sorted(f"videos/{r}.mp4" for r in completed)
    assert {f"videos/{r}.jpg" for r in completed} <= set(links.images)
    for run_id in completed:
        copy = report.path / "videos" / f"{run_id}.mp4"
        assert sha256_file(copy) == runs[run_id]["sha256"]
        assert copy.stat().st_size == runs[run_id]["size_bytes"]
        assert abs(media.probe(copy).duration_s - EXTENDED_S) <= DURATION_TOLERANCE_S


def test_page_says_simulator_lists_every_run_and_escapes_the_prompt(
    experiment: Experiment, report: Report
) -> None:
    """The page names the backend plainly, shows the failed run's error code, and prints the
    hostile prompt as text."""
    page = (report.path / "index.html").read_text(encoding="utf-8")
    assert SIM_NOTICE == "simulator — synthetic videos, nothing billed" and SIM_NOTICE in page
    assert '<script>alert("x")' not in page and "<script>alert" not in page
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Dusk &amp; &quot;friends&quot;"
    assert page.count(escaped) == 2 + 1  # a row header, and both of its runs in the table
    assert "prompt ↓ · seed →" in page and "4 runs: 3 completed, 1 failed" in page
    runs = ledger_runs(experiment)
    for run_id, run in runs.items():
        row = page.split(f'<tr id="{run_id}">', 1)[1].split("</tr>", 1)[0]
        assert f"<td>{run['status']}</td>" in row
        if run["status"] == "failed":
            assert f"<code>{FAILURE}</code>" in row and "videos/" not in row
    failed = next(r for r, run in runs.items() if run["status"] == "failed")
    assert f"<b>failed</b> · <code>{FAILURE}</code>" in page  # its grid cell
    assert f"<code>{failed}</code> · failed" in page


def test_runs_parquet_keeps_dtypes_and_csv_reads_back(
    experiment: Experiment, report: Report
) -> None:
    """Parquet keeps categories, UTC datetimes and nullable ints; the CSV holds the same rows."""
    table = pd.read_parquet(report.path / "runs.parquet")
    for column in ("model", "aspect_ratio", "status", "backend"):
        assert isinstance(table[column].dtype, pd.CategoricalDtype), column
    for column in ("submitted_at", "completed_at", "recorded_at", "create_sent_at"):
        assert isinstance(table[column].dtype, pd.DatetimeTZDtype), column
        assert str(table[column].dt.tz) == "UTC"
    for column in ("seed", "cell", "progress", "size_bytes"):
        assert table[column].dtype == "Int64", column
    assert table["generate_audio"].dtype == "boolean"
    expected = experiment.sweep.df.sort_values("cell").reset_index(drop=True)
    assert list(table["run_id"]) == list(expected["run_id"])
    assert list(table["seed"]) == list(expected["seed"]) and list(table["cell"]) == [0, 1, 2, 3]
    assert list(table["prompt"]) == list(expected["prompt"]) and HOSTILE in set(table["prompt"])
    assert (table["completed_at"].dropna() == expected["completed_at"].dropna()).all()
    assert set(table["model"]) == {"veo-3.1-extend"} and set(table["aspect_ratio"]) == {"16:9"}
    done = table["status"] == "completed"
    assert list(table.loc[done, "video_path"]) == [f"videos/{r}.mp4" for r in table.run_id[done]]
    assert table.loc[~done, "video_path"].isna().all()
    assert table.loc[~done, "error_code"].tolist() == [FAILURE]
    assert all(len(tags) == 0 for tags in table["tags"])

    csv = pd.read_csv(report.path / "runs.csv")
    assert list(csv["run_id"]) == list(table["run_id"]) and list(csv["prompt"]) == PROMPTS_IN_GRID
    assert list(csv["status"]) == list(table["status"].astype(str))
    assert list(csv["video_path"].fillna("")) == list(table["video_path"].fillna(""))
    times = pd.to_datetime(csv["completed_at"], utc=True)
    assert (times.dropna() == table["completed_at"].dropna()).all()
    assert list(csv["tags"]) == ["[]"] * 4


def test_no_local_path_or_api_key_in_any_file(
    experiment: Experiment, report: Report, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No file mentions the workdir, the input clip's folder, the home folder or the key."""
    forbidden = [str(tmp_path_factory.getbasetemp()), experiment.sim.api_key]
    if len(Path.home().parts) > 1:
        forbidden.append(str(Path.home()))
    assert str(experiment.fx.workdir).startswith(forbidden[0])
    files = [f for f in report.path.rglob("*") if f.is_file()]
    assert len(files) == 10
    for file in files:
        data = file.read_bytes()
        for text in forbidden:
            assert text.encode() not in data, (file.name, text)
    # Parquet pages may be compressed, so read its values back too.
    table = pd.read_parquet(report.path / "runs.parquet")
    cells = [str(v) for column in table.columns for v in table[column]]
    assert not [c for c in cells if any(text in c for text in forbidden)]
    assert set(table["video"]) == {"landscape.mp4"}


def test_a_moved_folder_still_works(experiment: Experiment, tmp_path: Path) -> None:
    """A report of the Sweep object, moved elsewhere, keeps every link and every checksum."""
    written = experiment.fx.report(experiment.sweep, tmp_path / "first")
    moved = Path(shutil.move(written.path, tmp_path / "somewhere" / "else"))
    assert not written.path.exists()
    links = check_folder(moved)
    assert len(links.videos) == 3
    manifest = json.loads((moved / "manifest.json").read_text())
    assert manifest["title"] == NAME and manifest["grid"] == {"rows": "prompt", "cols": "seed"}


def test_an_existing_path_is_refused_unless_overwrite(
    experiment: Experiment, tmp_path: Path
) -> None:
    """A second write to the same path is refused; overwrite=True replaces a report (and only
    a report); nothing is left behind beside it."""
    path = tmp_path / "shared"
    experiment.fx.report(NAME, path)
    before = (path / "manifest.json").read_bytes()
    with pytest.raises(foxnb.ValidationError, match="already exists; pass overwrite=True"):
        experiment.fx.report(NAME, path)
    assert (path / "manifest.json").read_bytes() == before
    (path / "stale.txt").write_text("from an older report")
    replaced = experiment.fx.report(NAME, path, overwrite=True)
    assert not (path / "stale.txt").exists() and replaced.videos == 3
    check_folder(path)

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "thesis.txt").write_text("not a report")
    with pytest.raises(foxnb.ValidationError, match="not a foxnb report folder"):
        experiment.fx.report(NAME, notes, overwrite=True)
    assert (notes / "thesis.txt").read_text() == "not a report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes", "shared"]


def test_missing_and_changed_videos_are_reported_not_dropped(
    experiment: Experiment, tmp_path: Path
) -> None:
    """A deleted or altered result is left out with a warning, and the page says why."""
    runs = experiment.fx.runs()
    frame = runs[runs["experiment"] == NAME].reset_index(drop=True)
    done = frame.index[frame["status"] == "completed"].tolist()
    gone, changed, intact = (str(frame.at[i, "run_id"]) for i in done)
    altered = tmp_path / "altered.mp4"
    altered.write_bytes(Path(frame.at[done[1], "video_path"]).read_bytes() + b"\0")
    frame.loc[done[0], "video_path"] = str(tmp_path / "deleted.mp4")
    frame.loc[done[1], "video_path"] = str(altered)

    with pytest.warns(foxnb.FoxnbWarning, match=r"2 completed run\(s\) without their video"):
        written = experiment.fx.report(frame, tmp_path / "partial")
    assert written.title == NAME and written.videos == 1
    reasons = {p.run_id: p.reason for p in written.problems}
    assert set(reasons) == {gone, changed}
    assert "deleted.mp4 no longer exists" in reasons[gone]
    assert "altered.mp4 changed since it was downloaded" in reasons[changed]
    assert sorted(p.name for p in (written.path / "videos").iterdir()) == [
        f"{intact}.jpg",
        f"{intact}.mp4",
    ]
    page = written.index.read_text(encoding="utf-8")
    assert page.count("video not included: ") == 2 and "2 completed run(s) without" in page
    for reason in reasons.values():
        assert page.count(reason) == 3  # the warning box, the grid cell, the table row
    manifest = json.loads((written.path / "manifest.json").read_text())
    assert {m["run_id"] for m in manifest["missing_videos"]} == {gone, changed}
    table = pd.read_parquet(written.path / "runs.parquet").set_index("run_id")
    assert table.loc[[gone, changed], "video_path"].isna().all()
    assert table.at[intact, "video_path"] == f"videos/{intact}.mp4"
    check_folder(written.path)


def test_a_rerun_sweep_shares_one_copy_per_video(
    experiment: Experiment, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """Run twice, an experiment has 8 runs but 4 videos: reused runs point at the same copy."""
    fx = foxnb.connect(simulator=experiment.sim, workdir=tmp_path / "runs", quiet=True)
    try:
        first = run_sweep(fx, clips["landscape"])
        again = run_sweep(fx, clips["landscape"])
        written = fx.report(NAME, tmp_path / "both")
    finally:
        fx.close()
    assert set(again.df["reused_from"]) == set(first.df["run_id"])
    assert written.runs == 8 and written.videos == 4
    assert len(list((written.path / "videos").glob("*.mp4"))) == 4
    table = pd.read_parquet(written.path / "runs.parquet")
    assert table["video_path"].notna().all() and table["video_path"].nunique() == 4
    page = written.index.read_text(encoding="utf-8")
    # The re-run's 4 reused runs are folded into the runs they reused: each listed once.
    assert "other run(s)" not in page
    assert "4 runs: 4 completed (and 4 re-run(s) that reused them at 0 credits)" in page
    assert page.count("reused 1× at 0 credits") == 4
    assert page.count('<tr id="') == 4
    spent = first.df["credits"].sum()
    assert f"· {spent:g} credits spent</p>" in page
    check_folder(written.path)


def test_local_paths_are_rewritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Results become videos/<id>.mp4, local inputs their file name, and any other mention of
    the runs folder or the home folder <workdir> or ~; a home of "/" rewrites nothing."""
    home = tmp_path / "home" / "ana"
    workdir = home / "project" / "foxnb-runs"
    monkeypatch.setenv("HOME", str(home))
    frame = to_dataframe(
        [
            {
                "run_id": "r1",
                "status": "completed",
                "video": str(home / "clips" / "in.mp4"),
                "video_path": str(workdir / "videos" / "r1.mp4"),
            },
            {
                "run_id": "r2",
                "status": "download_failed",
                "video": "https://example.com/in.mp4",
                "video_path": None,
                "error_message": f"could not write {workdir}/videos/r2.mp4",
                "evidence": f"see {home}/notes.txt and {home}/clips/in.mp4",
            },
        ]
    )
    table = portable_runs(frame, {"r1": "videos/r1.mp4"}, workdir)
    assert table["video_path"].tolist() == ["videos/r1.mp4", pd.NA]
    assert table["video"].tolist() == ["in.mp4", "https://example.com/in.mp4"]
    assert table.at[1, "error_message"] == "could not write <workdir>/videos/r2.mp4"
    assert table.at[1, "evidence"] == "see ~/notes.txt and in.mp4"
    assert table["evidence"].dtype == "string"
    assert not [v for c in table.columns for v in table[c] if str(home) in str(v)]

    monkeypatch.setenv("HOME", "/")
    kept = portable_runs(frame, {}, Path("/"))
    assert kept.at[1, "error_message"] == f"could not write {workdir}/videos/r2.mp4"


# ---------------------------------------------------------------------------- choosing axes


def test_axes_can_be_chosen_and_names_are_checked(experiment: Experiment, tmp_path: Path) -> None:
    """rows/cols pick any two columns; a typo or an unknown experiment is named with a hint."""
    flipped = experiment.fx.report(NAME, tmp_path / "flipped", rows="seed", cols="prompt")
    manifest = json.loads((flipped.path / "manifest.json").read_text())
    assert manifest["grid"] == {"rows": "seed", "cols": "prompt"}
    assert "seed ↓ · prompt →" in flipped.index.read_text(encoding="utf-8")
    with pytest.raises(foxnb.ValidationError, match="did you mean 'seed'"):
        experiment.fx.report(NAME, tmp_path / "typo", rows="sed")
    with pytest.raises(foxnb.ValidationError, match=f"did you mean '{NAME}'"):
        experiment.fx.report("dusk-vs-strom", tmp_path / "unknown")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flipped"]


# ---------------------------------------------------------------------------- in a browser


@pytest.mark.browser
def test_page_opened_from_disk_plays_every_video(
    report: Report, browser: Any, tmp_path: Path
) -> None:
    """Opened via file:// with no server, every video loads and lasts input + 7 s, every
    poster decodes, and a row's "play row" button plays that row's videos together."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        failed_requests: list[tuple[str, str]] = []
        page.on(
            "requestfailed",
            lambda request: failed_requests.append((request.url, request.failure or "")),
        )
        page.goto(report.index.resolve().as_uri())
        videos = page.locator("video.foxnb-video")
        assert videos.count() == 3
        states = videos.evaluate_all(
            """async (all) => Promise.all(all.map(v => new Promise(done => {
                const report = () => done({src: v.currentSrc, duration: v.duration,
                    readyState: v.readyState, error: v.error ? v.error.code : null});
                if (v.readyState >= 1) return report();
                v.addEventListener('loadedmetadata', report, {once: true});
                v.addEventListener('error', report, {once: true});
                setTimeout(report, 20000);
            })))"""
        )
        for state in states:
            assert state["error"] is None and state["readyState"] >= 1, state
            assert state["src"].startswith("file://"), state
            assert abs(state["duration"] - EXTENDED_S) <= DURATION_TOLERANCE_S, state
        posters = page.locator("video.foxnb-video").evaluate_all(
            """async (all) => Promise.all(all.map(v => new Promise(done => {
                const img = new Image();
                img.onload = () => done(img.naturalWidth);
                img.onerror = () => done(0);
                img.src = v.poster;
            })))"""
        )
        assert all(width > 0 for width in posters), posters
        rows = page.locator("table.foxnb-grid tbody tr")
        counts = [rows.nth(i).locator("video").count() for i in range(rows.count())]
        assert sorted(counts) == [1, 2]  # one cell failed
        assert page.locator("button.foxnb-play-row").count() == 2
        full = rows.nth(counts.index(2))
        full.locator("button.foxnb-play-row").click()
        page.wait_for_function(
            """(row) => [...row.querySelectorAll('video')]
                .every(v => !v.paused && v.currentTime > 0.2)""",
            arg=full.element_handle(),
            timeout=20_000,
        )
        # Chromium aborts a video's download once it has the metadata (preload="metadata").
        assert [f for f in failed_requests if f[1] != "net::ERR_ABORTED"] == []
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    finally:
        page.close()
