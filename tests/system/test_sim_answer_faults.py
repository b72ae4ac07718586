"""Odd answers over loopback HTTP: unexpected status words, errors sent with HTTP 200, edge 413."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from foxnb.sim import Simulator

BODY = {
    "model": "veo-3.1-extend",
    "prompt": "keep panning",
    "video_url": "https://example.com/input.mp4",
}


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Simulator]:
    # speed=1: tasks stay pending for the whole module, so no input is ever fetched.
    with Simulator(speed=1, upstream_lag_s=0.0) as running:
        yield running


def read(api: httpx.Client, task_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/tasks/{task_id}", params={"sync_upstream": "true"})
    assert response.status_code == 200
    return dict(response.json())


@pytest.mark.parametrize("word", ["succeeded", "success", "done", "error", "timeout"])
def test_status_word_replaces_only_the_status(
    shared_sim: Simulator, api: httpx.Client, word: str
) -> None:
    """status=WORD: the next reads report WORD; the rest of the body and the task are unchanged."""
    task_id = api.post("/v1/videos/generations", json=BODY).json()["id"]
    honest = read(api, task_id)
    shared_sim.inject("task", "status", status=word, count=2)
    odd = [read(api, task_id) for _ in range(2)]
    assert [body["status"] for body in odd] == [word, word]
    for body in odd:
        assert {k: v for k, v in body.items() if k != "status"} == {
            k: v for k, v in honest.items() if k != "status"
        }
    assert read(api, task_id)["status"] == honest["status"] == "pending"


def test_error_200_on_a_task_read(shared_sim: Simulator, api: httpx.Client) -> None:
    """error_200 on a read: HTTP 200, a body with only an error object (type as asked)."""
    task_id = api.post("/v1/videos/generations", json=BODY).json()["id"]
    shared_sim.inject("task", "error_200")
    shared_sim.inject("task", "error_200", error_type="not_found")
    first = api.get(f"/v1/tasks/{task_id}")
    second = api.get(f"/v1/tasks/{task_id}")
    assert first.status_code == second.status_code == 200
    assert set(first.json()) == {"error"}
    assert first.json()["error"]["type"] == "server_error" and first.json()["error"]["message"]
    assert second.json()["error"]["type"] == "not_found"
    assert read(api, task_id)["id"] == task_id


@pytest.mark.parametrize("error_type", [None, "insufficient_quota", "rate_limit_error"])
def test_error_200_on_create_creates_nothing(
    shared_sim: Simulator, api: httpx.Client, error_type: str | None
) -> None:
    """error_200 on create: HTTP 200 with an error body; no task, no credits taken."""
    tasks, balance = shared_sim.backend.task_count, shared_sim.backend.balance_credits
    shared_sim.inject("create", "error_200", error_type=error_type)
    response = api.post("/v1/videos/generations", json=BODY)
    assert response.status_code == 200
    assert response.json()["error"]["type"] == (error_type or "server_error")
    assert "id" not in response.json()
    assert (shared_sim.backend.task_count, shared_sim.backend.balance_credits) == (tasks, balance)


def test_edge_413_on_a_small_upload(shared_sim: Simulator, api: httpx.Client) -> None:
    """edge_413: the edge's HTML 413 page, whatever the size; nothing is stored."""
    shared_sim.inject("upload", "edge_413")
    response = api.post("/v1/files/upload/stream", files={"file": ("a.mp4", b"tiny")})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "413" in response.text
    again = api.post("/v1/files/upload/stream", files={"file": ("a.mp4", b"tiny")})
    assert again.status_code == 200


@pytest.mark.parametrize(
    ("endpoint", "kind", "options"),
    [
        ("task", "status", {}),
        ("task", "500", {"status": "done"}),
        ("download", "redirect", {"hops": 0}),
        ("download", "redirect_loop", {"hops": 2}),
        ("create", "500", {"error_type": "server_error"}),
        ("create", "error_200", {"error_type": "Bad Type"}),
        ("download", "redirect_offsite", {"location": "ftp://x/y"}),
        ("download", "redirect", {"location": "http://10.0.0.1/"}),
        ("create", "short_body", {}),
    ],
)
def test_misplaced_or_missing_options_are_refused(
    shared_sim: Simulator, endpoint: str, kind: str, options: dict[str, Any]
) -> None:
    """Each option goes with its own kind and is checked when the fault is scripted."""
    with pytest.raises(ValueError):
        shared_sim.inject(endpoint, kind, **options)
