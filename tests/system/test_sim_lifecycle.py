"""The simulator end to end over loopback HTTP: tasks run, render real MP4s, and expire."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from foxnb.sample import make_audio_only_clip, make_sample_clip
from foxnb.sim import Simulator
from foxnb.sim.backend import completed_at
from foxnb.sim.cli import build_parser
from foxnb.sim.pipeline import SHARED_RENDERS_ENV
from foxnb.sim.render import probe_video

MODEL = "veo-3.1-extend"
CLIP_S = 0.5
CLIP_FPS = 8


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "720p": make_sample_clip(folder / "720p.mp4", duration_s=CLIP_S, fps=CLIP_FPS),
        "480p": make_sample_clip(
            folder / "480p.mp4", width=854, height=480, duration_s=CLIP_S, fps=CLIP_FPS
        ),
        "4x3": make_sample_clip(
            folder / "4x3.mp4", width=960, height=720, duration_s=CLIP_S, fps=CLIP_FPS
        ),
        "audio_only": make_audio_only_clip(folder / "audio.m4a", duration_s=0.5),
    }


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Simulator]:
    # upstream_lag_s=25 at speed 50 is a 0.5 s wall-clock lag, long enough to observe.
    with Simulator(speed=50, upstream_lag_s=25, seed=1) as running:
        yield running


def upload(api: httpx.Client, path: Path) -> str:
    response = api.post(
        "/v1/files/upload/stream", files={"file": (path.name, path.read_bytes(), "video/mp4")}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["url"])


def create(api: httpx.Client, video_url: str, **extra: Any) -> dict[str, Any]:
    body = {"model": MODEL, "prompt": "the sun keeps setting", "video_url": video_url, **extra}
    response = api.post("/v1/videos/generations", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def poll(api: httpx.Client, task_id: str, timeout_s: float = 20.0) -> list[dict[str, Any]]:
    """All synced task bodies seen until the task is terminal."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = api.get(f"/v1/tasks/{task_id}", params={"sync_upstream": "true"}).json()
        seen.append(body)
        if body["status"] in ("completed", "failed", "cancelled"):
            return seen
        time.sleep(0.03)
    raise AssertionError(f"task {task_id} still {seen[-1]['status']} after {timeout_s} s")


@pytest.fixture(scope="module")
def completed(api: httpx.Client, clips: dict[str, Path]) -> dict[str, Any]:
    """A task run to completion with audio, with every synced body seen on the way."""
    created = create(api, upload(api, clips["720p"]), seed=7)
    history = poll(api, created["id"])
    return {"created": created, "history": history, "final": history[-1]}


def test_create_response_has_documented_shape(completed: dict[str, Any]) -> None:
    """The create response is SPEC §1c's pending task object."""
    created = completed["created"]
    assert set(created) == {
        "created",
        "id",
        "model",
        "object",
        "progress",
        "status",
        "task_info",
        "type",
    }
    assert created["id"].startswith(f"task-unified-{created['created']}-")
    assert len(created["id"].rsplit("-", 1)[1]) == 8
    assert (created["status"], created["progress"], created["object"], created["type"]) == (
        "pending",
        0,
        "video.generation.task",
        "video",
    )
    assert created["task_info"]["can_cancel"] is True
    assert created["task_info"]["estimated_time"] >= 1


def test_lifecycle_is_ordered_and_progress_monotonic(completed: dict[str, Any]) -> None:
    """Statuses go pending → processing → completed and progress never goes back."""
    history = completed["history"]
    order = ["pending", "processing", "completed"]
    ranks = [order.index(body["status"]) for body in history]
    assert ranks == sorted(ranks)
    assert "processing" in {body["status"] for body in history}
    progress = [body["progress"] for body in history]
    assert progress == sorted(progress)
    assert all(body["progress"] <= 99 for body in history if body["status"] != "completed")
    final = completed["final"]
    assert final["progress"] == 100 and final["error"] is None
    assert final["usage"] == {
        "billing_rule": "per_call",
        "credits_reserved": 100,
        "credits_consumed": 100,
        "user_group": "default",
    }


def test_unsynced_query_lags_behind(api: httpx.Client, clips: dict[str, Path]) -> None:
    """Without sync_upstream a just-completed task is still reported as processing."""
    task_id = create(api, upload(api, clips["720p"]), seed=7)["id"]  # a cached render
    assert poll(api, task_id)[-1]["status"] == "completed"
    lagging = api.get(f"/v1/tasks/{task_id}").json()
    assert lagging["status"] == "processing" and lagging["results"] is None
    time.sleep(0.6)
    assert api.get(f"/v1/tasks/{task_id}").json()["status"] == "completed"


def test_result_is_real_mp4_input_plus_7s_with_audio(
    api: httpx.Client, completed: dict[str, Any], tmp_path: Path
) -> None:
    """The result URL serves an H.264 1280x720 MP4, 7 s longer than the input, with AAC."""
    [result] = completed["final"]["results"]
    response = api.get(result["url"], headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    path = tmp_path / "out.mp4"
    path.write_bytes(response.content)
    facts = probe_video(path)
    assert (facts.video_codec, facts.width, facts.height) == ("h264", 1280, 720)
    assert facts.duration_s == pytest.approx(CLIP_S + 7.0, abs=0.2)
    assert facts.audio_codec == "aac"


def test_result_without_audio_has_no_audio_track(
    api: httpx.Client, clips: dict[str, Path], tmp_path: Path
) -> None:
    """generate_audio=false yields a video without an audio stream."""
    created = create(api, upload(api, clips["720p"]), seed=7, generate_audio=False)
    final = poll(api, created["id"])[-1]
    path = tmp_path / "silent.mp4"
    path.write_bytes(api.get(final["results"][0]["url"]).content)
    facts = probe_video(path)
    assert facts.has_video and not facts.has_audio


def test_download_supports_ranges(api: httpx.Client, completed: dict[str, Any]) -> None:
    """A Range request gets 206 with Content-Range; an unsatisfiable one gets 416."""
    task_id = completed["created"]["id"]
    url = api.get(f"/v1/tasks/{task_id}?sync_upstream=true").json()["results"][0]["url"]
    size = len(api.get(url).content)
    partial = api.get(url, headers={"Range": "bytes=0-99"})
    assert partial.status_code == 206
    assert partial.headers["content-range"] == f"bytes 0-99/{size}"
    assert len(partial.content) == 100
    assert api.get(url, headers={"Range": f"bytes={size + 10}-"}).status_code == 416


def test_tampered_signature_is_refused(api: httpx.Client, completed: dict[str, Any]) -> None:
    """A result URL with a wrong sig gets a CDN-style 403, not the file."""
    url = completed["final"]["results"][0]["url"]
    response = api.get(url.replace("sig=", "sig=0"))
    assert response.status_code == 403
    assert "<Code>AccessDenied</Code>" in response.text


def test_scripted_expired_and_empty_results(
    shared_sim: Simulator, api: httpx.Client, completed: dict[str, Any]
) -> None:
    """inject('download','expired') fails one download; inject('task','empty_results') one read."""
    task_id = completed["created"]["id"]
    url = api.get(f"/v1/tasks/{task_id}?sync_upstream=true").json()["results"][0]["url"]
    shared_sim.inject("download", "expired")
    expired = api.get(url)
    assert expired.status_code == 403 and "expired" in expired.text
    assert api.get(url).status_code == 200
    shared_sim.inject("task", "empty_results")
    empty = api.get(f"/v1/tasks/{task_id}?sync_upstream=true").json()
    assert empty["status"] == "completed" and empty["results"] == []
    again = api.get(f"/v1/tasks/{task_id}?sync_upstream=true").json()
    assert again["results"][0]["url"].startswith(shared_sim.url)


@pytest.mark.parametrize(
    ("clip", "code"),
    [
        ("480p", "video_resolution_unsupported"),
        ("4x3", "video_aspect_ratio_unsupported"),
        ("audio_only", "video_no_stream"),
    ],
)
def test_unsupported_input_fails_the_task(
    shared_sim: Simulator, api: httpx.Client, clips: dict[str, Path], clip: str, code: str
) -> None:
    """Inputs outside 720p/1080p 16:9/9:16 fail with the renderer's code and are refunded."""
    balance = shared_sim.backend.balance_credits
    task_id = create(api, upload(api, clips[clip]))["id"]
    final = poll(api, task_id)[-1]
    assert final["status"] == "failed" and final["results"] is None
    assert final["error"]["code"] == code and final["error"]["type"] == "task_error"
    assert final["error"]["message"]
    assert shared_sim.backend.balance_credits == balance


def test_unreachable_or_undecodable_input_fails(api: httpx.Client) -> None:
    """A URL nobody serves fails video_fetch_failed; non-media bytes fail video_decode_failed."""
    dead = create(api, "http://127.0.0.1:9/nothing.mp4")["id"]
    junk = api.post(
        "/v1/files/upload/base64", json={"file_data": "bm90IGEgdmlkZW8=", "file_name": "junk.mp4"}
    ).json()["url"]
    junk_task = create(api, junk)["id"]
    assert poll(api, dead)[-1]["error"]["code"] == "video_fetch_failed"
    assert poll(api, junk_task)[-1]["error"]["code"] == "video_decode_failed"


def test_expired_url_is_refused_and_requery_gives_fresh_one(clips: dict[str, Path]) -> None:
    """After result_ttl_s the URL answers 403; querying the task again yields a working URL."""
    with Simulator(speed=200, result_ttl_s=1.0) as short:
        headers = {"Authorization": f"Bearer {short.api_key}"}
        with httpx.Client(base_url=short.url, headers=headers, timeout=10) as http:
            task_id = create(http, upload(http, clips["720p"]), seed=7)["id"]
            first = poll(http, task_id)[-1]["results"][0]["url"]
            assert http.get(first).status_code == 200
            expires = int(parse_qs(urlsplit(first).query)["expires"][0])
            time.sleep(max(0.0, expires - time.time()) + 0.05)
            stale = http.get(first)
            assert stale.status_code == 403
            assert "expired" in stale.text and stale.headers["content-type"] == "application/xml"
            fresh = http.get(f"/v1/tasks/{task_id}").json()["results"][0]["url"]
            assert fresh != first
            assert http.get(fresh).status_code == 200


def test_result_url_can_be_extended_again(
    api: httpx.Client, completed: dict[str, Any], tmp_path: Path
) -> None:
    """A result URL works as the next task's video_url: the chain grows by another 7 s."""
    task_id = completed["created"]["id"]
    url = api.get(f"/v1/tasks/{task_id}?sync_upstream=true").json()["results"][0]["url"]
    final = poll(api, create(api, url, seed=8)["id"])[-1]
    assert final["status"] == "completed", final
    path = tmp_path / "chained.mp4"
    path.write_bytes(api.get(final["results"][0]["url"]).content)
    assert probe_video(path).duration_s == pytest.approx(CLIP_S + 14.0, abs=0.3)


def test_shared_results_serve_one_rendering_on_an_unchanged_timeline(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    """distinct_results=False: two prompts/seeds of one clip get the same bytes, rendered once,
    each task still completing on its own planned timeline; completed_at reports that instant."""
    with Simulator(
        speed=200, seed=3, state_dir=tmp_path / "state", distinct_results=False
    ) as shared:
        headers = {"Authorization": f"Bearer {shared.api_key}"}
        with httpx.Client(base_url=shared.url, headers=headers, timeout=10) as http:
            video_url = upload(http, clips["720p"])
            ids = [
                create(http, video_url, prompt=prompt, seed=seed)["id"]
                for prompt, seed in (("the storm rolls in", 1), ("dusk falls", 2))
            ]
            finals = [poll(http, task_id)[-1] for task_id in ids]
            blobs = [http.get(final["results"][0]["url"]).content for final in finals]
        records = {record.id: record for record in shared.backend.tasks()}
        saved = json.loads((tmp_path / "state" / "state.json").read_text(encoding="utf-8"))
    # The state file, encoded a task at a time, holds every record as it is now.
    assert saved["tasks"] == [record.to_json() for record in records.values()]
    assert [final["status"] for final in finals] == ["completed", "completed"]
    assert blobs[0] == blobs[1] and len(blobs[0]) > 1000
    assert len(list((tmp_path / "state" / "renders").glob("*.mp4"))) == 1
    assert {records[i].seed for i in ids} == {1, 2}  # the tasks keep their own seeds
    for task_id in ids:
        record = records[task_id]
        shown = completed_at(record)
        assert shown is not None and shown >= record.timeline.finish_at


def test_distinct_results_stay_the_default_and_the_cli_can_turn_them_off() -> None:
    """Simulator and `foxnb sim` render per task unless told otherwise (--no-distinct-results)."""
    default = Simulator()
    try:
        assert default.backend.distinct_results is True
    finally:
        default.stop()
    assert build_parser().parse_args([]).distinct_results is True
    assert build_parser().parse_args(["--no-distinct-results"]).distinct_results is False


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


def test_simulators_sharing_a_renders_folder_encode_each_result_once(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With FOXNB_SIM_SHARED_RENDERS set, a new render lands in that folder as well, and a
    simulator with another state folder copies it from there instead of encoding it again:
    a stand-in file put there under the render's name is what it then serves."""
    shared = tmp_path / "shared"
    monkeypatch.setenv(SHARED_RENDERS_ENV, str(shared))

    def result_bytes(state: Path) -> bytes:
        with Simulator(speed=200, state_dir=state, upstream_lag_s=0.0) as sim:
            headers = {"Authorization": f"Bearer {sim.api_key}"}
            with httpx.Client(base_url=sim.url, headers=headers, timeout=10) as http:
                video_url = upload(http, clips["720p"])
                final = poll(http, create(http, video_url, prompt="dusk falls", seed=4)["id"])[-1]
                assert final["status"] == "completed", final
                return http.get(final["results"][0]["url"]).content

    first = result_bytes(tmp_path / "a")
    kept = list(shared.glob("*.mp4"))
    assert len(kept) == 1 and kept[0].read_bytes() == first
    assert probe_video(kept[0]).duration_s == pytest.approx(CLIP_S + 7.0, abs=0.3)
    assert result_bytes(tmp_path / "b") == first
    stand_in = clips["480p"].read_bytes()
    kept[0].write_bytes(stand_in)
    assert result_bytes(tmp_path / "c") == stand_in
    # Each state folder keeps its own copy: the change reached neither earlier simulator's.
    for state in ("a", "b"):
        assert (tmp_path / state / "renders" / kept[0].name).read_bytes() == first
    assert [p.name for p in shared.iterdir()] == [kept[0].name]  # no temporary files left
