"""Results that redirect, lie or fall short (issue 10): never recorded as a video, never lost.

Each test drives a real job against the simulator over loopback with one of its download
faults: redirects (followed up to 5 hops, never off this machine over plain http, never with
the key), bodies that are not the video (an error page however labelled, a body one byte
short, a result whose duration does not fit its input). A bad body is tried 3 times, then the
run ends ``download_failed`` with a code saying why; nothing is saved as the result, and
``fx.resume()`` fetches it once the link serves the video. ``account`` checks every test: 0
runs lost, 0 duplicates; ``sim.backend.key_sent_to_files`` checks 0 key leaks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hostile_edge import Answer, HostileEdge, through
from support import account, connect, finish

import foxnb
from foxnb._files import sha256_file
from foxnb.sim import Simulator

PROMPT = "The camera keeps panning"


def videos(fx: foxnb.Session) -> list[str]:
    """Files in the session's videos folder (results, and results put aside)."""
    folder = fx.workdir / "videos"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def assert_clean(fx: foxnb.Session, sim: Simulator) -> None:
    assert account(fx, sim) == (0, 0)
    assert sim.backend.key_sent_to_files == 0


@pytest.mark.parametrize("hops", [1, 5])
def test_redirects_up_to_five_hops_are_followed_without_the_key(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], hops: int
) -> None:
    """A result URL answering 302s (1 or 5 hops, as CDNs do) is followed: completed, the
    video saved with its sha256, the key sent to no hop."""
    fx = connect(sim, tmp_path)
    sim.inject("download", "redirect", hops=hops)
    job = fx.extend(PROMPT, clips["landscape"], seed=1).wait(60)
    assert job.status == "completed" and job.video_path is not None
    assert sha256_file(job.video_path) == job.sha256
    assert sim.backend.requests["redirect_hop"] == hops
    assert_clean(fx, sim)


@pytest.mark.parametrize(
    ("kind", "options", "needle"),
    [
        ("redirect", {"hops": 6}, "more than 5 redirects"),
        ("redirect_loop", {}, "redirect loop"),
        ("redirect_offsite", {}, "plain http on this machine only"),
    ],
    ids=["6 hops", "loop", "offsite http"],
)
def test_redirects_foxnb_will_not_follow_end_download_failed_then_resume_fetches(
    sim: Simulator,
    tmp_path: Path,
    clips: dict[str, Path],
    kind: str,
    options: dict[str, int],
    needle: str,
) -> None:
    """Too many hops, a loop, or plain http off this machine (192.0.2.1, never dialled): tried
    3 times, then download_failed ``redirect``, nothing saved; fx.resume() later downloads it
    with no new create."""
    fx = connect(sim, tmp_path)
    sim.inject("download", kind, count=3, **options)  # type: ignore[arg-type]
    job = finish(fx.extend(PROMPT, clips["landscape"], seed=1))
    assert job.status == "download_failed", job.error
    assert isinstance(job.error, foxnb.DownloadError) and job.error.code == "redirect"
    assert needle in str(job.error) and videos(fx) == []
    row = fx.runs().iloc[0]
    assert row["error_code"] == "redirect" and row["status"] == "download_failed"
    (resumed,) = fx.resume()
    assert resumed.wait(60).status == "completed" and sim.backend.requests["create"] == 1
    assert_clean(fx, sim)


@pytest.mark.parametrize(
    ("kind", "code", "needle"),
    [
        ("html_as_video", "not_a_video", "an HTML page"),
        ("json_as_octet", "not_a_video", "a JSON document"),
        ("no_content_type", "not_a_video", "with no Content-Type"),
        ("short_body", "truncated", "bytes announced"),
    ],
)
def test_a_body_that_is_not_the_video_is_never_completed(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], kind: str, code: str, needle: str
) -> None:
    """An error page served as video/mp4, as octet-stream or with no type, and a body one
    byte shorter than its Content-Length: 3 tries, then download_failed with the code; no file
    saved, no sha256 recorded; a new session's resume() downloads the real video."""
    fx = connect(sim, tmp_path)
    sim.inject("download", kind, count=3)
    job = finish(fx.extend(PROMPT, clips["landscape"], seed=1))
    assert job.status == "download_failed" and isinstance(job.error, foxnb.DownloadError)
    assert job.error.code == code and needle in str(job.error), str(job.error)
    assert videos(fx) == [] and job.sha256 is None
    run = fx.runs().iloc[0]
    assert run["error_code"] == code and pd.isna(run["sha256"])
    later = connect(sim, tmp_path)
    (resumed,) = later.resume()
    assert resumed.wait(60).status == "completed"
    assert sha256_file(resumed.video_path) == resumed.sha256  # type: ignore[arg-type]
    assert_clean(later, sim)


def test_bytes_ffmpeg_cannot_read_are_not_a_video(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """200 ``video/mp4`` with 200 KB of noise (and an MP4 cut before its index): no page to
    recognise, so FFmpeg decides; 3 tries, then ``not_a_video``; nothing saved; once the link
    serves the video, fx.resume() saves it."""
    noise = np.random.default_rng(3).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    serving = {"body": noise}

    def rule(method: str, path: str, answer: Answer | None) -> Answer | None:
        if answer is None and path.startswith("/files/output/") and serving["body"]:
            return 200, {"content-type": "video/mp4"}, serving["body"]
        return None

    with HostileEdge(sim.url, rule) as edge:
        fx = through(edge, sim, tmp_path / "runs")
        job = finish(fx.extend(PROMPT, clips["landscape"], seed=1))
        assert job.status == "download_failed" and isinstance(job.error, foxnb.DownloadError)
        assert job.error.code == "not_a_video" and "FFmpeg cannot read it" in str(job.error)
        assert videos(fx) == []
        real = clips["landscape"].read_bytes()
        serving["body"] = real[: len(real) // 2]  # its first half: a truncated MP4
        (again,) = fx.resume()
        assert finish(again).status == "download_failed" and again.error is not None
        assert getattr(again.error, "code", None) == "not_a_video" and videos(fx) == []
        serving["body"] = b""
        (resumed,) = fx.resume()
        assert resumed.wait(60).status == "completed"
    assert_clean(fx, sim)


def test_one_bad_body_is_retried_and_the_video_saved(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """One HTML page (a CDN hiccup) then the video: completed after one more try."""
    fx = connect(sim, tmp_path)
    sim.inject("download", "html_as_video")
    job = fx.extend(PROMPT, clips["landscape"], seed=1).wait(60)
    assert job.status == "completed" and sim.backend.requests["download"] >= 2
    assert_clean(fx, sim)


def test_a_result_that_does_not_fit_its_input_is_put_aside(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A result 4 s long for a 1 s input (the ``short`` defect: 3 s added, not 7): never
    recorded completed; download_failed ``wrong_duration``, the file kept beside as
    ``<run_id>.rejected.mp4`` (it may still be what was paid for)."""
    fx = connect(sim, tmp_path)
    sim.inject("create", "defect", defect="short")
    job = finish(fx.extend(PROMPT, clips["landscape"], seed=1))
    assert job.status == "download_failed" and isinstance(job.error, foxnb.DownloadError)
    assert job.error.code == "wrong_duration" and "lasts 4.0 s" in str(job.error)
    assert videos(fx) == [f"{job.run_id}.rejected.mp4"]
    assert fx.runs().iloc[0]["input_duration_s"] == pytest.approx(1.0, abs=0.2)
    assert_clean(fx, sim)


def test_a_sweep_never_reuses_an_error_page_recorded_as_a_result(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A ledger written by an older foxnb that recorded a 55-byte HTML page as ``completed``
    (with its sha256): a seeded sweep of the same request submits it again instead of reusing
    the page; a real result of the same request is reused."""
    fx = connect(sim, tmp_path)
    good = fx.extend(PROMPT, clips["landscape"], seed=7).wait(60)
    page = fx.workdir / "videos" / "old.mp4"
    page.write_bytes(b"<html><title>503 Service Unavailable</title></html>\n\n\n")
    bad = {k: v for k, v in fx.ledger.get(good.run_id).items() if k not in ("run_id", "at")}  # type: ignore[union-attr]
    bad.update(seed=8, video_path=str(page), sha256=sha256_file(page), size_bytes=55)
    fx.ledger.append("r-older-foxnb", 1.0, **bad)
    plan = fx.sweep(clips["landscape"], name="again", prompt=PROMPT, seed=[7, 8], dry_run=True)
    assert [c.action for c in plan.cells] == ["reuse", "submit"]  # type: ignore[union-attr]


def test_old_ledger_seed_out_of_range_still_loads(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A seed of 2**63 written by an older foxnb (accepted, paid): fx.runs(), sweep.df and
    fx.report keep working, showing it exactly; fx.resume() tracks the run instead of failing."""
    fx = connect(sim, tmp_path)
    sweep = fx.sweep(clips["landscape"], name="seeds", prompt=PROMPT, seed=[1, 2])
    sweep.wait(60)  # type: ignore[union-attr]
    first = sweep.jobs[0].run_id  # type: ignore[union-attr]
    fx.ledger.append(first, 2.0, seed=2**63)
    huge = {
        "run_id": "r-huge",
        "at": 3.0,
        "status": "download_failed",
        "backend": "sim",
        "prompt": PROMPT,
        "seed": 2**64 + 1,
        "video": str(clips["landscape"]),
        "experiment": "seeds",
        "cell": 2,
        "task_id": sweep.jobs[1].task_id,  # type: ignore[union-attr]
    }
    # As an older foxnb recorded it (the store keeps integers of any size exactly).
    fx.ledger.append("r-huge", 3.0, **{k: v for k, v in huge.items() if k not in ("run_id", "at")})
    runs = fx.runs()
    assert set(runs["seed"]) == {2**63, 2, 2**64 + 1}
    assert sweep.df["seed"].tolist() == [2**63, 2]  # type: ignore[union-attr]
    report = fx.report("seeds", tmp_path / "report")
    assert report.runs == 3 and "9223372036854775808" in (report.path / "runs.csv").read_text()
    (resumed,) = connect(sim, tmp_path).resume()
    assert resumed.run_id == "r-huge" and resumed.wait(60).status == "completed"
