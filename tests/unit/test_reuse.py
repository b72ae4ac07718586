"""The reuse rule shared by fx.extend() and fx.sweep(): which earlier run answers a request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from foxnb._files import sha256_file
from foxnb.models import ExtendRequest
from foxnb.runtime.reuse import (
    IntactVideos,
    completed_by_key,
    request_key,
    reusable,
    reuse_fields,
    run_key,
)
from foxnb.sample import make_sample_clip

URL = "https://example.com/in.mp4"


def request(**fields: Any) -> ExtendRequest:
    return ExtendRequest(**{"prompt": "Dusk falls", "video": URL, "seed": 7, **fields})


def run_of(req: ExtendRequest, run_id: str, video: Path, **fields: Any) -> dict[str, Any]:
    """A completed run of ``req`` whose result is the file ``video``."""
    return {
        **req.__dict__,
        "run_id": run_id,
        "status": "completed",
        "input_sha256": None,
        "video_path": str(video),
        "sha256": sha256_file(video),
        "size_bytes": video.stat().st_size,
        **fields,
    }


_CLIPS: dict[bytes, bytes] = {}


def result(tmp_path: Path, name: str, content: bytes = b"mp4 bytes") -> Path:
    """A real (tiny, 8 s) MP4 at ``tmp_path / name``, one per ``content`` label: only a
    readable video that lasts the 7 s extension can be reused."""
    if content not in _CLIPS:
        made = make_sample_clip(
            tmp_path / f"made-{len(_CLIPS)}.mp4",
            width=64,
            height=36,
            duration_s=8.0,
            fps=2,
            audio=False,
            seed=len(_CLIPS),
        )
        _CLIPS[content] = made.read_bytes()
    path = tmp_path / name
    path.write_bytes(_CLIPS[content])
    return path


def find(runs: list[dict[str, Any]], req: ExtendRequest) -> dict[str, Any] | None:
    return reusable(completed_by_key(runs), req, None, IntactVideos())


def test_identical_seeded_request_reuses_the_newest_intact_run(tmp_path: Path) -> None:
    """Of two completed identical runs, the newer one answers; its fields are copied."""
    req = request()
    older = run_of(req, "r1", result(tmp_path, "a.mp4", b"a"))
    newer = run_of(req, "r2", result(tmp_path, "b.mp4", b"b"))
    found = find([older, newer], req)
    assert found is not None and found["run_id"] == "r2"
    fields = reuse_fields(found, now_s=5.0)
    assert fields["reused_from"] == "r2" and fields["credits"] == 0
    assert fields["status"] == "completed" and fields["completed_at"] == 5.0
    assert fields["video_path"] == newer["video_path"] and fields["sha256"] == newer["sha256"]


def test_no_seed_is_never_reused(tmp_path: Path) -> None:
    """Without a seed the service picks one: the same request is not the same video."""
    req = request(seed=None)
    assert find([run_of(req, "r1", result(tmp_path, "a.mp4"))], req) is None


def test_every_request_field_counts(tmp_path: Path) -> None:
    """A run differing in any request field (or the input) is not an answer."""
    done = run_of(request(), "r1", result(tmp_path, "a.mp4"))
    for other in (
        request(seed=8),
        request(prompt="Dawn breaks"),
        request(negative_prompt="blur"),
        request(generate_audio=False),
        request(model="veo-3.1-extend-fast"),
        request(video="https://example.com/other.mp4"),
    ):
        assert find([done], other) is None, other
    assert find([done], request()) is not None


def test_changed_or_missing_video_is_not_reused(tmp_path: Path) -> None:
    """A result file edited or deleted since it was recorded is not handed out again."""
    req = request()
    edited, gone = result(tmp_path, "a.mp4"), result(tmp_path, "b.mp4")
    runs = [run_of(req, "r1", edited), run_of(req, "r2", gone)]
    edited.write_bytes(b"changed")
    gone.unlink()
    assert find(runs, req) is None


def test_an_error_page_recorded_as_a_result_is_not_reused(tmp_path: Path) -> None:
    """A 55-byte HTML page an older foxnb recorded as ``completed`` (sha256 matching), a video
    too short for an extension, or one not lasting its input + 7 s, is not handed out."""
    req = request()
    page = tmp_path / "page.mp4"
    page.write_bytes(b"<html><title>503 Service Unavailable</title></html>\n\n\n")
    short = make_sample_clip(tmp_path / "short.mp4", width=64, height=36, duration_s=2.0, fps=2)
    assert find([run_of(req, "r1", page), run_of(req, "r2", short)], req) is None
    eight_s = result(tmp_path, "a.mp4")
    assert find([run_of(req, "r3", eight_s, input_duration_s=5.0)], req) is None  # not 12 s
    assert find([run_of(req, "r4", eight_s, input_duration_s=1.0)], req) is not None


def test_reuses_and_unfinished_runs_are_not_sources(tmp_path: Path) -> None:
    """Only a paid, completed run is reused: never another reuse, never a failed run."""
    req = request()
    video = result(tmp_path, "a.mp4")
    reuse = run_of(req, "r2", video, reused_from="r1")
    failed = run_of(req, "r3", video, status="failed")
    assert find([reuse, failed], req) is None


def test_local_inputs_are_keyed_by_content() -> None:
    """Two local inputs at one path with different content are different requests."""
    run = {**request().__dict__, "video": "/clips/in.mp4", "input_sha256": "aa"}
    assert run_key(run) != run_key({**run, "input_sha256": "bb"})
    assert run_key(run) == run_key({**run, "video": "/elsewhere/in.mp4"})  # content, not path
    assert request_key(request(), None) == run_key({**request().__dict__, "input_sha256": None})
