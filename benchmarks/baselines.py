"""Three hand-written ways to run a sweep, as people write them: plain httpx, no foxnb.

(a) ``sequential``: create a task, poll it every 5 s until it ends, download, next.
(b) ``thread_pool``: the same function for every cell, in a ``ThreadPoolExecutor``.
(c) ``fixed_interval``: create every task, then query every unfinished one each 0.5 s.

Each queries with ``sync_upstream=true`` (as FoxAPI's task page suggests for fresh status),
downloads each result once, and notes the instant it first saw ``completed`` — the one line a
benchmark adds to code like this. Intervals are in wall seconds; the caller divides the
service-time figures by the simulator's speed.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .workload import Cell, create_body

FINISHED = ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class Seen:
    """What a baseline noted about one task."""

    task_id: str
    status: str
    seen_completed_at: float | None  # first response that said "completed"


def connect() -> httpx.Client:
    """An httpx client for the service named in the environment, as a script would make it."""
    return httpx.Client(
        base_url=os.environ["FOXAPI_BASE_URL"],
        headers={"Authorization": f"Bearer {os.environ['FOXAPI_API_KEY']}"},
        timeout=60,
    )


def upload(http: httpx.Client, clip: Path) -> str:
    """Upload the clip once; its URL is every task's ``video_url``."""
    response = http.post(
        "/v1/files/upload/stream", files={"file": (clip.name, clip.read_bytes(), "video/mp4")}
    )
    response.raise_for_status()
    return str(response.json()["url"])


def create(http: httpx.Client, cell: Cell, video_url: str) -> dict[str, Any]:
    response = http.post("/v1/videos/generations", json=create_body(cell, video_url))
    response.raise_for_status()
    return dict(response.json())


def query(http: httpx.Client, task_id: str) -> dict[str, Any]:
    response = http.get(f"/v1/tasks/{task_id}", params={"sync_upstream": "true"})
    response.raise_for_status()
    return dict(response.json())


def download(http: httpx.Client, task: dict[str, Any], folder: Path) -> None:
    response = http.get(task["results"][0]["url"])
    response.raise_for_status()
    (folder / f"{task['id']}.mp4").write_bytes(response.content)


def run_one(http: httpx.Client, cell: Cell, video_url: str, poll_s: float, out: Path) -> Seen:
    """Create one task, poll it every ``poll_s`` until it ends, download its video."""
    task = create(http, cell, video_url)
    while True:
        task = query(http, task["id"])
        if task["status"] in FINISHED:
            break
        time.sleep(poll_s)
    if task["status"] == "completed":
        seen = time.time()
        download(http, task, out)
        return Seen(task["id"], "completed", seen)
    return Seen(task["id"], task["status"], None)


def sequential(cells: list[Cell], clip: Path, poll_s: float, out: Path) -> list[Seen]:
    """(a) One job after the other."""
    with connect() as http:
        video_url = upload(http, clip)
        return [run_one(http, cell, video_url, poll_s, out) for cell in cells]


def thread_pool(
    cells: list[Cell], clip: Path, poll_s: float, out: Path, workers: int
) -> list[Seen]:
    """(b) ``run_one`` for every cell on ``workers`` threads."""
    with connect() as http, ThreadPoolExecutor(max_workers=workers) as pool:
        video_url = upload(http, clip)
        return list(pool.map(lambda cell: run_one(http, cell, video_url, poll_s, out), cells))


def fixed_interval(cells: list[Cell], clip: Path, poll_s: float, out: Path) -> list[Seen]:
    """(c) Submit everything, then query each unfinished task every ``poll_s``."""
    seen: list[Seen] = []
    with connect() as http:
        video_url = upload(http, clip)
        waiting = [create(http, cell, video_url)["id"] for cell in cells]
        while waiting:
            for task_id in list(waiting):
                task = query(http, task_id)
                if task["status"] not in FINISHED:
                    continue
                waiting.remove(task_id)
                if task["status"] == "completed":
                    seen.append(Seen(task_id, "completed", time.time()))
                    download(http, task, out)
                else:
                    seen.append(Seen(task_id, task["status"], None))
            if waiting:
                time.sleep(poll_s)
    return seen
