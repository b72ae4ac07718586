"""Download faults, HEAD/ranges and evicted uploads, over real loopback HTTP (issue 10's CDN cases).

Every case is what a client downloading a paid result, or pre-checking an input URL, can meet:
redirects (chained, looping, off this machine), bodies that are not the video, a body one byte
short of its Content-Length, and an upload URL the service has evicted.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from foxnb.sample import make_sample_clip
from foxnb.sim import Simulator


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("download-faults")
    return make_sample_clip(folder / "in.mp4", duration_s=0.25, fps=8)


def upload(api: httpx.Client, clip: Path, name: str = "in.mp4") -> dict[str, Any]:
    response = api.post("/v1/files/upload/stream", files={"file": (name, clip.read_bytes())})
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def files(api: httpx.Client, clip: Path) -> dict[str, str]:
    """An upload URL and the signed result URL of a completed task made from it."""
    upload_url = upload(api, clip)["url"]
    body = {"model": "veo-3.1-extend-fast", "prompt": "on", "video_url": upload_url}
    task_id = api.post("/v1/videos/generations", json=body).json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        task = api.get(f"/v1/tasks/{task_id}", params={"sync_upstream": "true"}).json()
        if task["status"] == "completed":
            return {"upload": upload_url, "result": task["results"][0]["url"]}
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not complete")


@pytest.fixture(scope="module")
def result_bytes(files: dict[str, str]) -> bytes:
    return httpx.get(files["result"]).content


def is_loopback(url: str) -> bool:
    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


def test_redirect_leads_to_the_same_file_under_another_loopback_url(
    shared_sim: Simulator, files: dict[str, str], result_bytes: bytes
) -> None:
    """redirect: a 302 to another loopback URL, which serves the very same bytes."""
    shared_sim.inject("download", "redirect")
    first = httpx.get(files["result"])
    assert first.status_code == 302
    location = first.headers["location"]
    assert location != files["result"] and is_loopback(location)
    assert httpx.get(location).content == result_bytes


def test_chained_redirects_take_no_faults_of_their_own(
    shared_sim: Simulator, files: dict[str, str], result_bytes: bytes
) -> None:
    """hops=3 is exactly three 302s; the next queued fault still hits the next download."""
    hops_before = shared_sim.backend.requests["redirect_hop"]
    shared_sim.inject("download", "redirect", hops=3)
    shared_sim.inject("download", "expired")
    followed = httpx.get(files["result"], follow_redirects=True)
    assert [r.status_code for r in followed.history] == [302, 302, 302]
    assert all(is_loopback(str(r.url)) for r in followed.history)
    assert followed.status_code == 200 and followed.content == result_bytes
    assert shared_sim.backend.requests["redirect_hop"] == hops_before + 3
    assert httpx.get(files["result"]).status_code == 403  # the queued "expired"


def test_redirect_of_an_upload_url_answers_head_at_the_end(
    shared_sim: Simulator, files: dict[str, str], clip: Path
) -> None:
    """A HEAD pre-check of an upload URL follows the redirect to a 200 with the file's size."""
    shared_sim.inject("download", "redirect", hops=2)
    head = httpx.head(files["upload"], follow_redirects=True)
    assert len(head.history) == 2
    assert head.status_code == 200 and int(head.headers["content-length"]) == clip.stat().st_size


def test_redirect_loop_never_ends(shared_sim: Simulator, files: dict[str, str]) -> None:
    """redirect_loop: 302s that go round two loopback URLs for ever; a client gives up."""
    shared_sim.inject("download", "redirect_loop")
    url, locations = files["result"], []
    for _ in range(6):
        response = httpx.get(url)
        assert response.status_code == 302
        url = response.headers["location"]
        locations.append(url)
    assert len(set(locations)) == 2 and all(is_loopback(u) for u in locations)
    assert locations[1] == locations[3] == locations[5] != locations[2]
    shared_sim.inject("download", "redirect_loop")
    with (
        httpx.Client(follow_redirects=True, max_redirects=5) as client,
        pytest.raises(httpx.TooManyRedirects),
    ):
        client.get(files["result"])


def test_redirect_offsite_points_off_this_machine(
    shared_sim: Simulator, files: dict[str, str]
) -> None:
    """redirect_offsite: Location is plain http on a non-loopback host (default or location=)."""
    shared_sim.inject("download", "redirect_offsite")
    location = httpx.get(files["result"]).headers["location"]
    parts = urlsplit(location)
    assert parts.scheme == "http" and parts.hostname == "192.0.2.1"
    assert parts.path == urlsplit(files["result"]).path
    shared_sim.inject("download", "redirect_offsite", location="http://10.9.8.7:8080/x.mp4")
    assert httpx.get(files["result"]).headers["location"] == "http://10.9.8.7:8080/x.mp4"


@pytest.mark.parametrize(
    ("kind", "content_type", "starts"),
    [
        ("html_as_video", "video/mp4", b"<!DOCTYPE html>"),
        ("json_as_octet", "application/octet-stream", b'{"error"'),
        ("no_content_type", None, b"<!DOCTYPE html>"),
    ],
)
def test_bodies_that_are_not_the_video(
    shared_sim: Simulator, files: dict[str, str], kind: str, content_type: str | None, starts: bytes
) -> None:
    """A 200 carrying an error page, labelled as video, as octets, or not labelled at all."""
    shared_sim.inject("download", kind)
    response = httpx.get(files["result"])
    assert response.status_code == 200
    assert response.headers.get("content-type") == content_type
    assert response.content.startswith(starts) and len(response.content) < 1000
    if kind == "json_as_octet":
        assert json.loads(response.content)["error"]["type"] == "not_found"


def test_short_body_sends_one_byte_less_than_declared(
    shared_sim: Simulator, files: dict[str, str], result_bytes: bytes
) -> None:
    """short_body: Content-Length N, exactly N - 1 correct bytes, then the connection ends."""
    shared_sim.inject("download", "short_body")
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", files["result"]) as resp:
        assert resp.status_code == 200
        assert int(resp.headers["content-length"]) == len(result_bytes)
        for chunk in resp.iter_raw():
            received.extend(chunk)
    assert bytes(received) == result_bytes[:-1]
    assert httpx.get(files["result"]).content == result_bytes  # one-shot


@pytest.mark.parametrize("which", ["upload", "result"])
def test_every_file_url_answers_head_and_ranges(
    files: dict[str, str], which: str, result_bytes: bytes, clip: Path
) -> None:
    """HEAD: size, type and Accept-Ranges, no body; ranges: 206, or 416 past the end."""
    url = files[which]
    size = len(result_bytes) if which == "result" else clip.stat().st_size
    head = httpx.head(url)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == size
    assert head.headers["content-type"] == "video/mp4"
    assert head.headers["accept-ranges"] == "bytes"
    ranged = httpx.get(url, headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100
    assert ranged.headers["content-range"] == f"bytes 0-99/{size}"
    assert httpx.get(url, headers={"Range": f"bytes={size + 5}-"}).status_code == 416


def test_evicted_uploads_answer_404(shared_sim: Simulator, api: httpx.Client, clip: Path) -> None:
    """evict_uploads(ids) or evict_uploads(): those URLs 404 (GET and HEAD), others still serve;
    a task made from an evicted URL fails with video_fetch_failed."""
    first, second = upload(api, clip, "a.mp4"), upload(api, clip, "b.mp4")
    assert shared_sim.backend.evict_uploads([first["id"], "file-0-nothing"]) == [first["id"]]
    assert httpx.get(first["url"]).status_code == 404
    assert httpx.head(first["url"]).status_code == 404
    assert httpx.head(second["url"]).status_code == 200
    assert second["id"] in shared_sim.backend.evict_uploads()
    assert httpx.get(second["url"]).status_code == 404
    body = {"model": "veo-3.1-extend-fast", "prompt": "on", "video_url": first["url"]}
    task_id = api.post("/v1/videos/generations", json=body).json()["id"]
    deadline = time.monotonic() + 30
    while (task := api.get(f"/v1/tasks/{task_id}?sync_upstream=true").json())["status"] not in (
        "failed",
        "completed",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert task["status"] == "failed" and task["error"]["code"] == "video_fetch_failed"


def test_the_key_sent_to_a_file_url_is_counted(
    shared_sim: Simulator, files: dict[str, str]
) -> None:
    """A file request carrying the API key is counted, redirect hops included; others are not."""
    before = shared_sim.backend.key_sent_to_files
    httpx.get(files["result"])
    httpx.get(files["result"], headers={"Authorization": "Bearer sk-someone-else"})
    assert shared_sim.backend.key_sent_to_files == before
    shared_sim.inject("download", "redirect", hops=2)
    leaky = {"Authorization": f"Bearer {shared_sim.api_key}"}
    httpx.get(files["result"], headers=leaky, follow_redirects=True)
    assert shared_sim.backend.key_sent_to_files == before + 3
