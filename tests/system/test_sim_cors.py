"""CORS over loopback HTTP: preflights without auth, headers on every response, and a real
browser app on another origin running a whole extend cycle against the simulator."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from foxnb.sample import make_sample_clip
from foxnb.sim import Simulator

ORIGIN = "http://app.example"
CREATE = {"model": "veo-3.1-extend-fast", "prompt": "on", "video_url": "https://x.example/a.mp4"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sample_clip(tmp_path_factory.mktemp("cors") / "in.mp4", duration_s=0.25, fps=8)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/v1/videos/generations", "POST"),
        ("/v1/tasks/task-unified-1-abcdefgh", "GET"),
        ("/v1/files/upload/base64", "POST"),
        ("/files/uploads/20250101/file-1-abc/a.mp4", "GET"),
    ],
)
def test_preflight_is_answered_without_auth_or_faults(
    shared_sim: Simulator, path: str, method: str
) -> None:
    """OPTIONS with Access-Control-Request-Method gets 204 and the allow headers; no key is
    needed, no fault is consumed, nothing reaches the backend."""
    shared_sim.inject("create", "500")
    before = dict(shared_sim.backend.requests)
    response = httpx.options(
        shared_sim.url + path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert method in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-headers"] == "authorization,content-type"
    assert response.headers["access-control-allow-private-network"] == "true"
    assert "access-control-allow-credentials" not in response.headers
    assert dict(shared_sim.backend.requests) == before
    assert shared_sim.backend.faults.scripted_left("create") == 1
    shared_sim.backend.faults.decide("create")  # leave the queue as found


def test_every_response_carries_cors_headers(
    shared_sim: Simulator, api: httpx.Client, clip: Path
) -> None:
    """Successes, API errors, edge pages, file downloads and redirects all allow any origin
    and expose Retry-After."""
    origin = {"Origin": ORIGIN}
    upload_url = api.post(
        "/v1/files/upload/stream", files={"file": ("in.mp4", clip.read_bytes())}, headers=origin
    ).json()["url"]
    shared_sim.inject("create", "429", retry_after_s=2)
    shared_sim.inject("create", "edge_html")
    shared_sim.inject("download", "redirect")
    answers = {
        "429": api.post("/v1/videos/generations", json=CREATE, headers=origin),
        "edge 403": api.post("/v1/videos/generations", json=CREATE, headers=origin),
        "create": api.post("/v1/videos/generations", json=CREATE, headers=origin),
        "422": api.post("/v1/videos/generations", json={"model": "x"}, headers=origin),
        "401": httpx.get(f"{shared_sim.url}/v1/tasks/task-unified-1-abcdefgh", headers=origin),
        "404": api.get("/v1/tasks/task-unified-1-abcdefgh", headers=origin),
        "no route": api.get("/v1/nothing", headers=origin),
        "redirect": httpx.get(upload_url, headers=origin),
        "download": httpx.get(upload_url, headers=origin),
        "head": httpx.head(upload_url, headers=origin),
    }
    statuses = {name: response.status_code for name, response in answers.items()}
    assert statuses == {
        "create": 200,
        "429": 429,
        "edge 403": 403,
        "422": 422,
        "401": 401,
        "404": 404,
        "no route": 404,
        "redirect": 302,
        "download": 200,
        "head": 200,
    }
    for name, response in answers.items():
        assert response.headers["access-control-allow-origin"] == "*", name
        assert "Retry-After" in response.headers["access-control-expose-headers"], name
    assert answers["429"].headers["retry-after"] == "2"


_APP_CYCLE = """
async ({sim, key, clip}) => {
  const auth = {Authorization: `Bearer ${key}`};
  const json = {...auth, "Content-Type": "application/json"};
  const up = await fetch(`${sim}/v1/files/upload/base64`, {
    method: "POST", headers: json, body: JSON.stringify({file_data: clip, file_name: "in.mp4"})});
  const upload = await up.json();
  const created = await fetch(`${sim}/v1/videos/generations`, {method: "POST", headers: json,
    body: JSON.stringify({model: "veo-3.1-extend-fast", prompt: "on", video_url: upload.url})});
  const task = await created.json();
  let seen = task;
  for (let i = 0; i < 400 && seen.status !== "completed" && seen.status !== "failed"; i++) {
    await new Promise((done) => setTimeout(done, 50));
    seen = await (await fetch(`${sim}/v1/tasks/${task.id}?sync_upstream=true`,
                              {headers: auth})).json();
  }
  const video = await fetch(seen.results[0].url);
  const bytes = (await video.arrayBuffer()).byteLength;
  await window.inject429();
  const limited = await fetch(`${sim}/v1/videos/generations`, {method: "POST", headers: json,
    body: JSON.stringify({model: "veo-3.1-extend-fast", prompt: "on", video_url: upload.url})});
  return {upload: up.status, create: created.status, status: seen.status, bytes,
          declared: Number(video.headers.get("Content-Length")),
          limited: limited.status, retryAfter: limited.headers.get("Retry-After"),
          origin: location.origin};
}
"""


class _AppPage(http.server.BaseHTTPRequestHandler):
    """The browser app's own origin: one empty page."""

    def do_GET(self) -> None:  # the name http.server calls
        body = b"<!DOCTYPE html><title>app</title><p>app"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def app_origin() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AppPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.browser
def test_a_browser_app_on_another_origin_runs_a_full_cycle(
    shared_sim: Simulator, browser: Any, app_origin: str, clip: Path
) -> None:
    """Chromium on another origin uploads, creates, polls, downloads the MP4 and reads
    Retry-After from a 429, all through CORS."""
    page = browser.new_page()
    try:
        page.goto(app_origin + "/")
        # The app calls this between its two creates, so the 429 meets the second one.
        page.expose_function(
            "inject429", lambda: shared_sim.inject("create", "429", retry_after_s=3)
        )
        result = page.evaluate(
            _APP_CYCLE,
            {
                "sim": shared_sim.url,
                "key": shared_sim.api_key,
                "clip": base64.b64encode(clip.read_bytes()).decode(),
            },
        )
    finally:
        page.close()
    assert result["origin"] == app_origin != shared_sim.url
    assert (result["upload"], result["create"], result["status"]) == (200, 200, "completed")
    assert result["bytes"] == result["declared"] > 10_000
    assert (result["limited"], result["retryAfter"]) == (429, "3")
