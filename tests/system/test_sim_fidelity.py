"""Simulator fidelity over loopback HTTP (issue 10): upload by URL, CORS, aspect_ratio, clean
failure messages and the JSON 413, each as a third-party client would meet it."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from foxnb.sample import make_audio_only_clip, make_sample_clip
from foxnb.sim import Simulator
from foxnb.sim.pipeline import without_local_paths

UPLOAD_KEYS = {"id", "filename", "url", "size", "created"}
LIMIT_BYTES = 50_000


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fidelity-state")


@pytest.fixture(scope="module")
def shared_sim(state_dir: Path) -> Iterator[Simulator]:
    with Simulator(speed=200, upstream_lag_s=0.0, state_dir=state_dir) as running:
        yield running


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fidelity-clips")
    rotated = folder / "rotated.mp4"  # stored 1280x720, flagged to play rotated: portrait
    with av.open(str(rotated), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.set_display_rotation(90)
        for index in range(4):
            picture = np.full((720, 1280, 3), 40 * index, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode())
    return {
        "landscape": make_sample_clip(folder / "land.mp4", duration_s=0.25, fps=8),
        "portrait": make_sample_clip(
            folder / "port.mp4", width=720, height=1280, duration_s=0.25, fps=8
        ),
        "480p": make_sample_clip(
            folder / "480p.mp4", width=854, height=480, duration_s=0.25, fps=8
        ),
        "audio": make_audio_only_clip(folder / "audio.m4a", duration_s=0.25),
        "rotated": rotated,
    }


def upload(api: httpx.Client, path: Path) -> dict[str, Any]:
    response = api.post("/v1/files/upload/stream", files={"file": (path.name, path.read_bytes())})
    assert response.status_code == 200, response.text
    return dict(response.json())


def create(api: httpx.Client, video_url: str, **extra: Any) -> httpx.Response:
    body = {"model": "veo-3.1-extend-fast", "prompt": "on", "video_url": video_url, **extra}
    return api.post("/v1/videos/generations", json=body)


def finish(api: httpx.Client, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        task = dict(api.get(f"/v1/tasks/{task_id}", params={"sync_upstream": "true"}).json())
        if task["status"] in ("completed", "failed"):
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish")


def via(url: str) -> str:
    """The same file through a one-hop redirect path: a URL the simulator does not own."""
    parts = httpx.URL(url)
    return str(parts.copy_with(path="/files/via/0" + parts.path))


# -- POST /v1/files/upload/url ------------------------------------------------------------


def test_upload_by_url_answers_like_the_other_uploads(
    shared_sim: Simulator, api: httpx.Client, clips: dict[str, Path]
) -> None:
    """A loopback URL is fetched and stored; the answer has the upload fields, the new URL
    serves the same bytes, and a task made from it completes."""
    source = upload(api, clips["landscape"])
    response = api.post("/v1/files/upload/url", json={"url": via(source["url"])})
    assert response.status_code == 200, response.text
    stored = response.json()
    assert set(stored) == UPLOAD_KEYS and stored["id"] != source["id"]
    assert stored["filename"] == "land.mp4" and stored["size"] == source["size"]
    assert httpx.get(stored["url"]).content == clips["landscape"].read_bytes()
    named = api.post(
        "/v1/files/upload/url", json={"url": source["url"], "file_name": "my clip.mp4"}
    )
    assert named.json()["filename"] == "my_clip.mp4"
    assert finish(api, create(api, stored["url"]).json()["id"])["status"] == "completed"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 422, "missing_parameter"),
        ({"url": "ftp://127.0.0.1/a.mp4"}, 422, "invalid_parameter"),
        ({"url": "http://192.0.2.1/a.mp4"}, 422, "url_not_allowed"),
        ({"url": "http://files.example.com/a.mp4"}, 422, "url_not_allowed"),
        ({"url": "http://127.0.0.1:9/a.mp4"}, 422, "url_fetch_failed"),
        ({"url": "http://127.0.0.1:9/a.mp4", "auto_cleanup": "no"}, 422, "invalid_parameter"),
    ],
)
def test_upload_by_url_refusals_name_the_field(
    api: httpx.Client, body: dict[str, Any], status: int, code: str
) -> None:
    """Missing, malformed, off-machine and unreachable URLs are JSON errors naming the field."""
    response = api.post("/v1/files/upload/url", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["param"] == ("auto_cleanup" if "auto_cleanup" in body else "url")


def test_upload_by_url_does_not_follow_a_redirect_off_this_machine(
    shared_sim: Simulator, api: httpx.Client, clips: dict[str, Path]
) -> None:
    """A loopback URL that redirects off-machine is refused (the redirect is not followed),
    and a 404 is a fetch failure."""
    source = upload(api, clips["landscape"])
    shared_sim.inject("download", "redirect_offsite")
    refused = api.post("/v1/files/upload/url", json={"url": source["url"]})
    assert refused.json()["error"]["code"] == "url_not_allowed"
    shared_sim.backend.evict_uploads([source["id"]])
    gone = api.post("/v1/files/upload/url", json={"url": source["url"]})
    assert gone.json()["error"]["code"] == "url_fetch_failed" and "404" in gone.text


def test_fetch_remote_uploads_lets_other_hosts_through() -> None:
    """With fetch_remote_uploads=True a non-loopback host is tried, not refused (0.0.0.0:9
    reaches this machine's closed port 9, so nothing leaves the machine)."""
    with Simulator(fetch_remote_uploads=True) as open_sim:
        auth = {"Authorization": f"Bearer {open_sim.api_key}"}
        response = httpx.post(
            f"{open_sim.url}/v1/files/upload/url",
            json={"url": "http://0.0.0.0:9/a.mp4"},
            headers=auth,
        )
    assert response.json()["error"]["code"] == "url_fetch_failed"


# -- the JSON 413 -------------------------------------------------------------------------


def test_uploads_over_the_file_limit_get_a_json_413() -> None:
    """Over max_file_bytes: JSON 413 file_too_large_error from every upload endpoint, with or
    without a Content-Length; at the limit: accepted. The edge's HTML 413 stays configurable."""
    with Simulator(max_file_bytes=LIMIT_BYTES) as small:
        auth = {"Authorization": f"Bearer {small.api_key}"}
        with httpx.Client(base_url=small.url, headers=auth) as api:
            over, exact = b"v" * (LIMIT_BYTES + 1), b"v" * LIMIT_BYTES
            answers = {
                "stream": api.post("/v1/files/upload/stream", files={"file": ("a.mp4", over)}),
                "base64": api.post(
                    "/v1/files/upload/base64",
                    json={"file_data": base64.b64encode(over).decode(), "file_name": "a.mp4"},
                ),
                # Chunked (no Content-Length), 2 MiB: refused as it passes the body cap.
                "chunked": api.post(
                    "/v1/files/upload/base64",
                    content=iter([b'{"file_data": "', *[b"A" * 65536] * 32, b'"}']),
                    headers={"Content-Type": "application/json"},
                ),
            }
            for name, response in answers.items():
                assert response.status_code == 413, name
                error = response.json()["error"]
                assert error["type"] == "file_too_large_error", name
                assert f"{LIMIT_BYTES:,} bytes" in error["message"], name
            assert "(so far)" in answers["chunked"].json()["error"]["message"]
            assert answers["stream"].json()["error"]["param"] == "file"
            accepted = api.post("/v1/files/upload/stream", files={"file": ("a.mp4", exact)})
            assert accepted.status_code == 200 and accepted.json()["size"] == LIMIT_BYTES
    with Simulator(max_upload_bytes=4096) as edged:
        auth = {"Authorization": f"Bearer {edged.api_key}"}
        page = httpx.post(
            f"{edged.url}/v1/files/upload/stream", files={"file": ("a", b"x" * 8192)}, headers=auth
        )
        assert page.status_code == 413 and page.headers["content-type"].startswith("text/html")


# -- aspect_ratio -------------------------------------------------------------------------


def test_aspect_ratio_that_contradicts_the_input_is_a_422(
    shared_sim: Simulator, api: httpx.Client, clips: dict[str, Path]
) -> None:
    """9:16 on a 16:9 upload (or the reverse, or against a rotation flag) is refused before
    any task exists; the matching value or none at all is accepted."""
    tasks, balance = shared_sim.backend.task_count, shared_sim.backend.balance_credits
    cases = [("landscape", "9:16"), ("portrait", "16:9"), ("rotated", "16:9")]
    for clip, wrong in cases:
        response = create(api, upload(api, clips[clip])["url"], aspect_ratio=wrong)
        assert response.status_code == 422, clip
        error = response.json()["error"]
        assert error["param"] == "aspect_ratio" and "aspect_ratio" in error["message"]
    assert (shared_sim.backend.task_count, shared_sim.backend.balance_credits) == (tasks, balance)
    landscape = upload(api, clips["landscape"])["url"]
    portrait = upload(api, clips["portrait"])["url"]
    rotated = upload(api, clips["rotated"])["url"]
    for url, right in ((landscape, "16:9"), (portrait, "9:16"), (rotated, "9:16")):
        assert create(api, url, aspect_ratio=right).status_code == 200
        assert create(api, url).status_code == 200


def test_aspect_ratio_against_a_foreign_input_fails_the_task(
    shared_sim: Simulator, api: httpx.Client, clips: dict[str, Path]
) -> None:
    """An input the simulator only sees once fetched fails with aspect_ratio_mismatch,
    naming the field, and is refunded."""
    foreign = via(upload(api, clips["landscape"])["url"])
    balance = shared_sim.backend.balance_credits
    created = create(api, foreign, aspect_ratio="9:16")
    assert created.status_code == 200
    task = finish(api, created.json()["id"])
    assert task["status"] == "failed" and task["error"]["code"] == "aspect_ratio_mismatch"
    assert "aspect_ratio" in task["error"]["message"]
    assert shared_sim.backend.balance_credits == balance


# -- failure messages ---------------------------------------------------------------------


def test_failed_tasks_never_show_local_paths(
    shared_sim: Simulator, api: httpx.Client, clips: dict[str, Path], state_dir: Path
) -> None:
    """Undecodable, unsupported, audio-only and unreachable inputs fail with messages that
    hold no path of the simulator's disk."""
    junk = api.post(
        "/v1/files/upload/base64",
        json={"file_data": base64.b64encode(b"not a video").decode(), "file_name": "junk.mp4"},
    ).json()["url"]
    inputs = {
        "video_decode_failed": junk,
        "video_resolution_unsupported": upload(api, clips["480p"])["url"],
        "video_no_stream": upload(api, clips["audio"])["url"],
        "video_fetch_failed": "http://127.0.0.1:9/missing.mp4",
    }
    for code, url in inputs.items():
        task = finish(api, create(api, url).json()["id"])
        message = task["error"]["message"]
        assert task["error"]["code"] == code
        assert str(state_dir) not in message and "/tmp/" not in message, message
        assert not re.search(r"(?<![\w:/.])/(tmp|root|home|work|var)/", message), message


def test_stray_paths_are_scrubbed_and_urls_kept() -> None:
    """The safety net replaces absolute paths, not the paths inside URLs."""
    text = "decode '/tmp/foxnb-sim-1/uploads/a.mp4' (from http://127.0.0.1:5/files/uploads/a.mp4)"
    assert (
        without_local_paths(text) == "decode '<file>' (from http://127.0.0.1:5/files/uploads/a.mp4)"
    )
