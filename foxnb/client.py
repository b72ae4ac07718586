"""Low-level FoxAPI clients: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

Most people use ``foxnb.connect()``, which runs jobs in the background for you. These
clients are for scripts that want the raw calls::

    from foxnb import Client, ExtendRequest
    with Client(api_key="sk-...") as client:
        task = client.create_task(ExtendRequest(prompt="Keep panning", video=url))
        task = client.wait(task)
        client.download(task.result_urls[0], Path("out.mp4"))

Both are thin shells: every decision (what to send, what an answer means, whether and when
to retry) is made by the flows in ``foxnb._wire``; a client only performs their steps.
``_perform`` is the single place where httpx exceptions become foxnb outcomes.
"""

from __future__ import annotations

import asyncio
import errno
import random
import time
from collections.abc import Callable, Generator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from . import _wire as W
from ._files import AtomicWriter
from .config import Config, base_url_from_env, key_from_env, scrub
from .errors import DownloadError
from .models import ExtendRequest, Task, UploadedFile

T = TypeVar("T")
OnUpdate = Callable[[Task], None]

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=120.0, pool=30.0)
MAX_RESULT_BYTES = 2 * 1024**3
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _failure(exc: httpx.TransportError, secret: str | None) -> W.Failure:
    """Classify an httpx error: could the server have received the request?"""
    detail = scrub(str(exc) or type(exc).__name__, secret)
    if isinstance(exc, _NOT_SENT):
        return W.Failure("connect", detail, request_sent=False)
    if isinstance(exc, httpx.TimeoutException):
        return W.Failure("timeout", detail, request_sent=True)
    return W.Failure("dropped", detail, request_sent=True)


def _check_result_headers(response: httpx.Response, max_bytes: int) -> None:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind and not (kind.startswith("video/") or kind == "application/octet-stream"):
        raise DownloadError(f"the result URL served {kind!r}, not a video", code="content_type")
    length = response.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise DownloadError(
            f"the result is {int(length):,} bytes, over the {max_bytes:,}-byte cap",
            code="too_large",
        )


def _save_error(dest: Path, exc: OSError) -> DownloadError:
    """What a disk error while saving a result means, and what to do about it.

    Nothing partial is left behind (``AtomicWriter`` removed it) and the task's result stays
    on the service, so the cure is always the same: fix the disk, download again.
    """
    again = "call fx.resume() to download it again"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        cause = "no space left on the device" if exc.errno == errno.ENOSPC else "disk quota used up"
        return DownloadError(
            f"{cause} while saving {dest}; free space and {again}", code="disk_full"
        )
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno == errno.EFBIG:
        reason += " (a file size limit applies to this process)"
    return DownloadError(
        f"could not save {dest}: {reason}; fix that and {again}", code="write_failed"
    )


class _Base:
    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        config: Config | None = None,
        transport: Any = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        policy: W.RetryPolicy | None = None,
        throttle: W.Throttle | None = None,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ):
        if config is None:
            config = Config(
                api_key=api_key or key_from_env() or "", base_url=base_url or base_url_from_env()
            )
        self.config = config
        self._transport = transport
        self._timeout = timeout
        self.core = W.Core(
            secret=config.api_key,
            policy=policy or W.RetryPolicy(),
            clock=clock,
            throttle=throttle or W.Throttle(),
            rng=random.Random(seed),
        )

    def _client_kwargs(self, with_key: bool) -> dict[str, Any]:
        headers = {"User-Agent": W.USER_AGENT}
        if with_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        kw: dict[str, Any] = {"headers": headers, "timeout": self._timeout}
        if with_key:
            kw["base_url"] = self.config.base_url
        if self._transport is not None:
            kw["transport"] = self._transport
        return kw

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


class Client(_Base):
    """Blocking FoxAPI client. Use as a context manager, or call ``close()``."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._api = httpx.Client(**self._client_kwargs(with_key=True))
        # Result links are public CDN URLs: the key is never sent there.
        self._cdn = httpx.Client(**self._client_kwargs(with_key=False))

    def create_task(self, request: ExtendRequest, video_url: str | None = None) -> Task:
        """Create a paid extension task (never resent unless provably not created)."""
        return self._drive(self.core.create(request, video_url))

    def get_task(self, task_id: str, sync_upstream: bool = True) -> Task:
        """Read a task's current state."""
        return self._drive(self.core.task(task_id, sync_upstream))

    def upload(self, path: str | Path) -> UploadedFile:
        """Upload a local file; its ``url`` can be sent as ``video_url``."""
        return self._drive(self.core.upload(Path(path)))

    def wait(
        self, task: Task, on_update: OnUpdate | None = None, timeout_s: float | None = None
    ) -> Task:
        """Poll until the task ends (or ``timeout_s`` passes); returns the last reading."""
        now = self.core.clock()
        deadline = None if timeout_s is None else now + timeout_s
        return self._drive(self.core.wait(task, now, deadline), on_update)

    def download(self, url: str, dest: str | Path, max_bytes: int = MAX_RESULT_BYTES) -> W.Saved:
        """Save a result URL to ``dest`` atomically; returns path, sha256 and size."""
        return self._drive(self.core.download(url, Path(dest), max_bytes))

    def _drive(self, flow: Generator[W.Step, W.Outcome, T], on_update: OnUpdate | None = None) -> T:
        # AsyncClient._drive is the same loop with ``await``: the two drivers are all that
        # sync and async code do differently (the flows are shared, in foxnb._wire).
        outcome: W.Outcome = None
        while True:
            try:
                step = flow.send(outcome)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            outcome = None
            if isinstance(step, W.Sleep):
                time.sleep(step.seconds)
            elif isinstance(step, W.Observe):
                if on_update is not None:
                    on_update(step.task)
            else:
                outcome = self._perform(step)

    def _perform(self, step: W.Send | W.Fetch) -> W.Outcome:
        try:
            if isinstance(step, W.Fetch):
                return self._fetch(step)
            request = step.request
            if request.upload is not None:
                with open(request.upload.path, "rb") as fh:
                    r = self._api.request(
                        request.method,
                        request.path,
                        files={"file": (request.upload.file_name, fh, "application/octet-stream")},
                        data={"file_name": request.upload.file_name},
                    )
            else:
                r = self._api.request(
                    request.method, request.path, params=dict(request.params), json=request.json
                )
            return W.Response(r.status_code, r.headers, r.content)
        except httpx.TransportError as exc:
            return _failure(exc, self.config.api_key)

    def _fetch(self, step: W.Fetch) -> W.Outcome:
        with self._cdn.stream("GET", step.url) as r:
            if r.status_code != 200:
                return W.Response(r.status_code, r.headers, r.read()[:4096])
            _check_result_headers(r, step.max_bytes)
            try:
                with AtomicWriter(step.dest, step.max_bytes) as out:
                    for chunk in r.iter_bytes(1 << 20):
                        out.write(chunk)
                    return W.Saved(step.dest, out.commit(), out.size)
            except OSError as exc:
                raise _save_error(step.dest, exc) from exc

    def close(self) -> None:
        self._api.close()
        self._cdn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient(_Base):
    """Asyncio FoxAPI client with the same methods as ``Client``, as coroutines.

    ``max_in_flight`` caps concurrent HTTP requests across every task it serves.
    Create it inside the event loop that will use it.
    """

    def __init__(self, *args: Any, max_in_flight: int = 8, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._api = httpx.AsyncClient(**self._client_kwargs(with_key=True))
        self._cdn = httpx.AsyncClient(**self._client_kwargs(with_key=False))
        self._slots = asyncio.Semaphore(max_in_flight)

    async def create_task(self, request: ExtendRequest, video_url: str | None = None) -> Task:
        """Create a paid extension task (never resent unless provably not created)."""
        return await self._drive(self.core.create(request, video_url))

    async def get_task(self, task_id: str, sync_upstream: bool = True) -> Task:
        """Read a task's current state."""
        return await self._drive(self.core.task(task_id, sync_upstream))

    async def upload(self, path: str | Path) -> UploadedFile:
        """Upload a local file; its ``url`` can be sent as ``video_url``."""
        return await self._drive(self.core.upload(Path(path)))

    async def wait(
        self,
        task: Task,
        on_update: OnUpdate | None = None,
        timeout_s: float | None = None,
        created_s: float | None = None,
    ) -> Task:
        """Poll until the task ends (or ``timeout_s`` passes); returns the last reading.

        ``created_s`` (wall clock) lets a resumed job keep its original timeline.
        """
        now = self.core.clock()
        deadline = None if timeout_s is None else now + timeout_s
        flow = self.core.wait(task, created_s if created_s is not None else now, deadline)
        return await self._drive(flow, on_update)

    async def download(
        self, url: str, dest: str | Path, max_bytes: int = MAX_RESULT_BYTES
    ) -> W.Saved:
        """Save a result URL to ``dest`` atomically; returns path, sha256 and size."""
        return await self._drive(self.core.download(url, Path(dest), max_bytes))

    async def _drive(
        self, flow: Generator[W.Step, W.Outcome, T], on_update: OnUpdate | None = None
    ) -> T:
        outcome: W.Outcome = None
        while True:
            try:
                step = flow.send(outcome)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            outcome = None
            if isinstance(step, W.Sleep):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, W.Observe):
                if on_update is not None:
                    on_update(step.task)
            else:
                async with self._slots:
                    outcome = await self._perform(step)

    async def _perform(self, step: W.Send | W.Fetch) -> W.Outcome:
        try:
            if isinstance(step, W.Fetch):
                return await self._fetch(step)
            request = step.request
            if request.upload is not None:
                # Read in a worker thread: a large file must not stall the event loop.
                content = await asyncio.to_thread(request.upload.path.read_bytes)
                r = await self._api.request(
                    request.method,
                    request.path,
                    files={"file": (request.upload.file_name, content, "application/octet-stream")},
                    data={"file_name": request.upload.file_name},
                )
            else:
                r = await self._api.request(
                    request.method, request.path, params=dict(request.params), json=request.json
                )
            return W.Response(r.status_code, r.headers, r.content)
        except httpx.TransportError as exc:
            return _failure(exc, self.config.api_key)

    async def _fetch(self, step: W.Fetch) -> W.Outcome:
        async with self._cdn.stream("GET", step.url) as r:
            if r.status_code != 200:
                return W.Response(r.status_code, r.headers, (await r.aread())[:4096])
            _check_result_headers(r, step.max_bytes)
            try:
                with AtomicWriter(step.dest, step.max_bytes) as out:
                    async for chunk in r.aiter_bytes(1 << 20):
                        out.write(chunk)
                    return W.Saved(step.dest, out.commit(), out.size)
            except OSError as exc:
                raise _save_error(step.dest, exc) from exc

    async def aclose(self) -> None:
        await self._api.aclose()
        await self._cdn.aclose()
