"""The async client against the simulator's app in this process (no socket): upload, create,
read, and the errors the service answers with."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import httpx
import pytest
from conftest import InProcessSimulator

import foxnb
from foxnb.client import AsyncClient


def test_upload_create_and_read_a_task(
    asgi_sim: InProcessSimulator, clips: dict[str, Path]
) -> None:
    """An uploaded clip's URL is accepted by create; the task reads back with its fields."""

    async def scenario() -> tuple[foxnb.UploadedFile, foxnb.Task, foxnb.Task]:
        client = asgi_sim.client()
        try:
            uploaded = await client.upload(clips["landscape"])
            request = foxnb.ExtendRequest(prompt="Keep panning", video=uploaded.url, seed=3)
            created = await client.create_task(request)
            read = await client.get_task(created.id)
            return uploaded, created, read
        finally:
            await client.aclose()

    uploaded, created, read = asyncio.run(scenario())
    assert uploaded.url.startswith("http://127.0.0.1:9/files/uploads/")
    assert created.id.startswith("task-unified-") and created.status == "pending"
    assert read.id == created.id and read.status in ("pending", "processing")
    assert asgi_sim.backend.task_count == 1


def test_a_wrong_key_is_refused_and_nothing_is_created(asgi_sim: InProcessSimulator) -> None:
    """The service answers a wrong key with 401: AuthenticationError, no task, key masked."""
    wrong_key = "sk-wrong-key-0000000000000000"

    async def scenario() -> None:
        client = AsyncClient(
            api_key=wrong_key,
            base_url="http://127.0.0.1:9",
            transport=httpx.ASGITransport(app=asgi_sim.app),
        )
        try:
            request = foxnb.ExtendRequest(prompt="Keep panning", video="https://example.com/a.mp4")
            await client.create_task(request)
        finally:
            await client.aclose()

    with pytest.raises(foxnb.AuthenticationError) as raised:
        asyncio.run(scenario())
    assert wrong_key not in str(raised.value) and asgi_sim.backend.task_count == 0


def test_an_unknown_task_is_not_found(asgi_sim: InProcessSimulator) -> None:
    """Reading a task id the service never issued raises NotFoundError (a 404)."""

    async def scenario() -> None:
        client = asgi_sim.client()
        try:
            await client.get_task("task-unified-1757165031-nosuchid")
        finally:
            await client.aclose()

    with pytest.raises(foxnb.NotFoundError):
        asyncio.run(scenario())


def test_no_response_outlives_its_request(
    asgi_sim: InProcessSimulator, clips: dict[str, Path], tmp_path: Path
) -> None:
    """With the garbage collector off, no httpx response (nor what it holds) is left once the
    client is done with it: each is freed as soon as it is read, not at a full collection."""

    def responses() -> int:
        return sum(isinstance(o, httpx.Response) for o in gc.get_objects())

    async def scenario() -> None:
        client = asgi_sim.client()
        try:
            uploaded = await client.upload(clips["landscape"])
            request = foxnb.ExtendRequest(prompt="Keep panning", video=uploaded.url, seed=3)
            created = await client.create_task(request)
            for _ in range(5):
                await client.get_task(created.id)
            answer, _ = await client.read_range(uploaded.url, 0, 15)
            assert answer.status == 206
            saved = await client.download(uploaded.url, tmp_path / "copy.mp4", extension=False)
            assert saved.path.stat().st_size == clips["landscape"].stat().st_size
        finally:
            await client.aclose()

    gc.collect()
    before = responses()
    gc.disable()
    try:
        asyncio.run(scenario())
        left = responses() - before
    finally:
        gc.enable()
    assert left == 0
