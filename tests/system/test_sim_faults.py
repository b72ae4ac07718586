"""Fault injection over loopback HTTP: scripted one-shot faults, seeded random faults, limits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from foxnb.sample import make_sample_clip
from foxnb.sim import Faults, Simulator
from foxnb.sim.faults import FaultInjector

VALID: dict[str, Any] = {
    "model": "veo-3.1-extend",
    "prompt": "keep panning",
    "video_url": "https://example.com/input.mp4",
}


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    # speed=1: tasks stay pending for the whole module, so no render runs.
    with Simulator(speed=1) as running:
        yield running


@pytest.fixture()
def client(sim: Simulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    with httpx.Client(base_url=sim.url, headers=headers, timeout=10) as http:
        yield http


def create(client: httpx.Client) -> httpx.Response:
    return client.post("/v1/videos/generations", json=VALID)


def test_lost_response_creates_and_bills_but_client_sees_transport_error(
    sim: Simulator, client: httpx.Client
) -> None:
    """lost_response: the create is handled (task exists, billed) but the connection drops."""
    tasks, balance = sim.backend.task_count, sim.backend.balance_credits
    sim.inject("create", "lost_response")
    with pytest.raises(httpx.TransportError):
        create(client)
    assert sim.backend.task_count == tasks + 1
    assert sim.backend.balance_credits == balance - 100
    assert create(client).status_code == 200  # the next request is served normally


def test_drop_closes_before_handling(sim: Simulator, client: httpx.Client) -> None:
    """drop: the connection closes with no response and nothing is created."""
    tasks = sim.backend.task_count
    sim.inject("create", "drop")
    with pytest.raises(httpx.TransportError):
        create(client)
    assert sim.backend.task_count == tasks


def test_drop_of_an_upload_with_a_body(sim: Simulator, client: httpx.Client) -> None:
    """A dropped upload is a transport error too, even with the body unread."""
    sim.inject("upload", "drop")
    with pytest.raises(httpx.TransportError):
        client.post("/v1/files/upload/stream", files={"file": ("a.bin", b"x" * 200_000)})


def test_scripted_500s_are_consumed_in_order(sim: Simulator, client: httpx.Client) -> None:
    """inject('task', '500', count=3) fails exactly the next three task queries."""
    task_id = create(client).json()["id"]
    sim.inject("task", "500", count=3)
    statuses = [client.get(f"/v1/tasks/{task_id}").status_code for _ in range(4)]
    assert statuses == [500, 500, 500, 200]
    assert sim.backend.faults.scripted_left("task") == 0


@pytest.mark.parametrize(
    ("kind", "status", "error_type"),
    [
        ("429", 429, "rate_limit_error"),
        ("500", 500, "server_error"),
        ("503", 503, "service_unavailable_error"),
    ],
)
def test_error_faults_use_foxapi_error_bodies(
    sim: Simulator, client: httpx.Client, kind: str, status: int, error_type: str
) -> None:
    """429/500/503 faults answer with FoxAPI's error JSON and create nothing."""
    tasks = sim.backend.task_count
    sim.inject("create", kind)
    response = create(client)
    assert response.status_code == status
    assert response.json()["error"]["type"] == error_type
    assert "retry-after" not in response.headers
    assert sim.backend.task_count == tasks


def test_429_with_retry_after(sim: Simulator, client: httpx.Client) -> None:
    """inject('create', '429', retry_after_s=1.5) sends Retry-After: 1.5."""
    sim.inject("create", "429", retry_after_s=1.5)
    response = create(client)
    assert response.status_code == 429 and response.headers["retry-after"] == "1.5"


def test_edge_html_is_an_html_403(sim: Simulator, client: httpx.Client) -> None:
    """edge_html: a 403 HTML page (not JSON), as from a CDN block."""
    sim.inject("upload", "edge_html")
    response = client.post("/v1/files/upload/base64", json={"file_data": "AAAA"})
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text


def test_truncated_is_a_200_with_broken_json(sim: Simulator, client: httpx.Client) -> None:
    """truncated: status 200, JSON content type, body cut short so it does not parse."""
    task_id = create(client).json()["id"]
    sim.inject("task", "truncated")
    response = client.get(f"/v1/tasks/{task_id}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_latency_delays_the_response(sim: Simulator, client: httpx.Client) -> None:
    """latency: the request is served, latency_s later."""
    sim.inject("task", "latency", latency_s=0.3)
    started = time.monotonic()
    response = client.get("/v1/tasks/unknown")
    assert response.status_code == 404
    assert time.monotonic() - started >= 0.3


def test_unknown_fault_kinds_are_refused(sim: Simulator) -> None:
    """inject() names the kinds an endpoint takes when given a wrong one."""
    with pytest.raises(ValueError, match="expired"):
        sim.inject("task", "expired")
    with pytest.raises(ValueError, match="endpoint"):
        sim.inject("tasks", "500")


def test_task_failure_fails_mid_processing_with_code(tmp_path: Path) -> None:
    """inject('create', 'task_failure') creates a task that later fails with the given code."""
    clip = make_sample_clip(tmp_path / "in.mp4", duration_s=0.5, fps=8)
    with Simulator(speed=200) as fast:
        headers = {"Authorization": f"Bearer {fast.api_key}"}
        with httpx.Client(base_url=fast.url, headers=headers) as http:
            url = http.post(
                "/v1/files/upload/stream", files={"file": ("in.mp4", clip.read_bytes())}
            ).json()["url"]
            fast.inject("create", "task_failure", code="generation_failed")
            task_id = http.post("/v1/videos/generations", json={**VALID, "video_url": url}).json()[
                "id"
            ]
            seen = []
            for _ in range(200):
                body = http.get(f"/v1/tasks/{task_id}?sync_upstream=true").json()
                seen.append(body["status"])
                if body["status"] == "failed":
                    break
                time.sleep(0.02)
            assert body["error"] == {
                "code": "generation_failed",
                "message": body["error"]["message"],
                "type": "task_error",
            }
            assert "completed" not in seen
            assert fast.backend.balance_credits == 10_000


def status_sequence(faults: Faults, fault_seed: int, requests: int = 40) -> list[int]:
    with Simulator(faults=faults, fault_seed=fault_seed) as noisy:
        headers = {"Authorization": f"Bearer {noisy.api_key}"}
        codes = []
        with httpx.Client(base_url=noisy.url, headers=headers) as http:
            for _ in range(requests):
                try:
                    codes.append(http.get("/v1/tasks/none").status_code)
                except httpx.TransportError:
                    codes.append(0)
        return codes


def test_seeded_random_faults_are_reproducible() -> None:
    """The same fault_seed and request sequence give the same faults; another seed differs."""
    faults = Faults(rate_limit=0.2, error_500=0.15, error_503=0.1, drop=0.1, endpoints={"task"})
    first = status_sequence(faults, fault_seed=3)
    assert first == status_sequence(faults, fault_seed=3)
    assert first != status_sequence(faults, fault_seed=4)
    assert {0, 404, 429, 500, 503} <= set(first)


def test_random_faults_respect_endpoints() -> None:
    """Rates apply only to the listed endpoints."""
    injector = FaultInjector(Faults(error_500=1.0, endpoints={"create"}), seed=0, now=time.time)
    assert injector.decide("create").action == "500"
    assert injector.decide("task").action is None


def test_token_bucket_limits_requests_per_key() -> None:
    """rate_limit_rps is a real per-key token bucket: a burst beyond it gets 429."""
    with Simulator(faults=Faults(rate_limit_rps=5, retry_after_s=1)) as limited:
        headers = {"Authorization": f"Bearer {limited.api_key}"}
        with httpx.Client(base_url=limited.url, headers=headers) as http:
            codes = [http.get("/v1/tasks/none").status_code for _ in range(12)]
            assert codes[:4] == [404] * 4
            assert codes.count(429) >= 5
            limited_response = http.get("/v1/tasks/none")
            assert limited_response.headers.get("retry-after") == "1"
            time.sleep(0.5)
            assert http.get("/v1/tasks/none").status_code == 404


def test_fault_parsing_from_cli_pairs() -> None:
    """--fault KEY=VALUE pairs build a Faults value; bad keys or rates are refused."""
    faults = Faults.parse(
        [
            "rate_limit=0.2",
            "retry_after_s=1",
            "lost_response=0.1",
            "latency_s=0.1-0.3",
            "endpoints=create,task",
            "failure_code=generation_failed",
            "rate_limit_rps=none",
        ]
    )
    assert faults == Faults(
        rate_limit=0.2,
        retry_after_s=1.0,
        lost_response=0.1,
        latency_s=(0.1, 0.3),
        endpoints=frozenset({"create", "task"}),
        failure_code="generation_failed",
    )
    with pytest.raises(ValueError):
        Faults.parse(["bogus=1"])
    with pytest.raises(ValueError):
        Faults.parse(["drop=2"])


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("stop_signal", "started_ignoring_sigint"),
    [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["ctrl-c", "ctrl-c, started as a background job", "sigterm"],
)
def test_cli_prints_url_and_key_and_stops_on_ctrl_c(
    stop_signal: signal.Signals, started_ignoring_sigint: bool
) -> None:
    """python -m foxnb.sim serves, prints where, and exits 0 on SIGINT or SIGTERM, also when
    it was started with SIGINT ignored (as a shell script's background job is)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "foxnb.sim",
            "--port",
            "0",
            "--speed",
            "10",
            "--fault",
            "error_503=1",
            "--fault",
            "endpoints=create",
            "--api-key",
            "sk-sim-cli-1234",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_ignore_sigint if started_ignoring_sigint else None,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        url = lines[1].strip().split("=", 1)[1]
        assert lines[2].strip() == "export FOXAPI_API_KEY=sk-sim-cli-1234"
        response = httpx.post(
            url + "/v1/videos/generations",
            headers={"Authorization": "Bearer sk-sim-cli-1234"},
            json=VALID,
        )
        assert response.status_code == 503
        process.send_signal(stop_signal)
        assert process.wait(timeout=60) == 0  # seconds alone; far longer on a busy machine
        assert process.stdout.read().splitlines()[-1] == "Stopping."
    finally:
        process.kill()
        process.wait()
