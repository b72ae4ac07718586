"""Low-level FoxAPI clients: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

Most people use ``foxnb.connect()``, which runs jobs in the background for you. These
clients are for scripts that want the raw calls::

    from foxnb import Client, ExtendRequest
    with Client(api_key="sk-...") as client:
        task = client.create_task(ExtendRequest(prompt="Keep panning", video=url))
        task = client.wait(task)
        client.download(task.result_urls[0], Path("out.mp4"))

Both are thin shells: every decision (what to send, what an answer means, whether and when
to retry, which redirect to follow) is made by the flows in ``foxnb._wire``; a client only
performs their steps, with the httpx helpers of ``foxnb._http`` (``_perform`` is where httpx
exceptions become foxnb outcomes).

The API key goes only to the service: result and upload URLs are fetched by clients without
it, and a client talking to this machine never uses a proxy (``HTTP_PROXY``/``ALL_PROXY``),
so the key never passes one in clear. Uploads are streamed from disk and refused before
sending when over ``max_upload_bytes`` (100 MiB by default, FoxAPI's edge limit).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Generator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx

from . import _wire as W
from ._http import (
    Multipart,
    ResultSave,
    client_options,
    failure,
    peek_headers,
    peek_limit,
    unbind,
    unbound_stream,
    unbound_sync_stream,
)
from ._inputs import check_upload_size
from ._turns import take_turn
from .config import Config, base_url_from_env, key_from_env, uses_env_proxy
from .models import MAX_UPLOAD_BYTES, ExtendRequest, Task, UploadedFile

T = TypeVar("T")
OnUpdate = Callable[[Task], None]

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=120.0, pool=30.0)
MAX_RESULT_BYTES = 2 * 1024**3


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
        max_upload_bytes: int | None = MAX_UPLOAD_BYTES,
    ):
        if config is None:
            config = Config(
                api_key=api_key or key_from_env() or "", base_url=base_url or base_url_from_env()
            )
        self.config = config
        self.max_upload_bytes = max_upload_bytes
        """Largest file ``upload()`` sends (``None``: no limit); bigger ones are refused."""
        self._transport = transport
        self._timeout = timeout
        self.core = W.Core(
            secret=config.api_key,
            policy=policy or W.RetryPolicy(),
            clock=clock,
            throttle=throttle or W.Throttle(),
            rng=random.Random(seed),
        )

    def _api_options(self, asynchronous: bool) -> dict[str, Any]:
        """The service's client: the key, and no proxy when the service is this machine."""
        headers = {"User-Agent": W.USER_AGENT, "Authorization": f"Bearer {self.config.api_key}"}
        return {
            "headers": headers,
            "timeout": self._timeout,
            "base_url": self.config.base_url,
            **client_options(
                not uses_env_proxy(self.config.base_url), self._transport, asynchronous
            ),
        }

    def _file_options(self, proxied: bool, asynchronous: bool) -> dict[str, Any]:
        """Clients for public file URLs: never the key; the environment's proxy only if
        ``proxied`` (the direct one serves this machine)."""
        return {
            "headers": {"User-Agent": W.USER_AGENT},
            "timeout": self._timeout,
            **client_options(not proxied, self._transport, asynchronous),
        }

    def _result_url(self, url: str) -> str:
        """A result URL as given, or a relative one resolved against the service's address."""
        return urljoin(self.config.base_url + "/", url)

    def _check_upload(self, path: Path) -> None:
        if self.max_upload_bytes is not None:
            check_upload_size(path, self.max_upload_bytes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


class Client(_Base):
    """Blocking FoxAPI client. Use as a context manager, or call ``close()``."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._api = httpx.Client(**self._api_options(asynchronous=False))
        # Result and upload links are public URLs: the key is never sent there.
        self._files = {p: httpx.Client(**self._file_options(p, False)) for p in (True, False)}

    def create_task(self, request: ExtendRequest, video_url: str | None = None) -> Task:
        """Create a paid extension task (never resent unless provably not created)."""
        return self._drive(self.core.create(request, video_url))

    def get_task(self, task_id: str, sync_upstream: bool = True) -> Task:
        """Read a task's current state."""
        return self._drive(self.core.task(task_id, sync_upstream))

    def upload(self, path: str | Path) -> UploadedFile:
        """Upload a local file (streamed from disk); its ``url`` can be sent as ``video_url``.

        A file over ``max_upload_bytes`` is refused with a ``VideoInputError`` before sending.
        """
        self._check_upload(Path(path))
        return self._drive(self.core.upload(Path(path)))

    def wait(
        self, task: Task, on_update: OnUpdate | None = None, timeout_s: float | None = None
    ) -> Task:
        """Poll until the task ends (or ``timeout_s`` passes); returns the last reading."""
        now = self.core.clock()
        deadline = None if timeout_s is None else now + timeout_s
        return self._drive(self.core.wait(task, now, deadline), on_update)

    def download(
        self,
        url: str,
        dest: str | Path,
        max_bytes: int = MAX_RESULT_BYTES,
        expected_s: float | None = None,
        extension: bool = True,
    ) -> W.Saved:
        """Save a result URL to ``dest`` atomically; returns path, sha256 and size.

        Only a whole, readable video is saved (lasting ``expected_s``, the input's duration
        plus 7 s, when given; any duration with ``extension=False``, for an input clip); see
        ``foxnb._wire.fetching``.
        """
        where = self._result_url(url)
        flow = self.core.download(where, Path(dest), max_bytes, expected_s, extension)
        return self._drive(flow)

    def read_range(
        self, url: str, first_byte: int = 0, last_byte: int = 0, attempts: int = 2
    ) -> tuple[W.Response, str]:
        """Bytes ``first_byte`` … ``last_byte`` of a public URL (redirects followed safely, no
        key sent): the answer and the URL that gave it."""
        return self._drive(self.core.peek(url, first_byte, last_byte, attempts))

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

    def _perform(self, step: W.Send | W.Fetch | W.Peek) -> W.Outcome:
        try:
            if isinstance(step, W.Fetch):
                return self._fetch(step)
            if isinstance(step, W.Peek):
                return self._peek(step)
            request = step.request
            if request.upload is not None:
                body = Multipart(request.upload)
                content = body.whole() if body.small else iter(body)
                r = self._api.request(
                    request.method, request.path, content=content, headers=body.headers
                )
            else:
                r = self._api.request(
                    request.method, request.path, params=dict(request.params), json=request.json
                )
            unbind(r)
            return W.Response(r.status_code, r.headers, r.content)
        except httpx.TransportError as exc:
            return failure(exc, self.config.api_key)

    def _peek(self, step: W.Peek) -> W.Outcome:
        files = self._files[uses_env_proxy(step.url)]
        with unbound_sync_stream(files, step.url, headers=peek_headers(step)) as r:
            body = b""
            for chunk in r.iter_bytes():
                body += chunk
                if len(body) >= peek_limit(step):
                    break
            return W.Response(r.status_code, r.headers, body[: peek_limit(step)])

    def _fetch(self, step: W.Fetch) -> W.Outcome:
        with unbound_sync_stream(self._files[uses_env_proxy(step.url)], step.url) as r:
            if r.status_code != 200:
                return W.Response(r.status_code, r.headers, r.read()[:4096])
            with ResultSave(step, r, self.config.api_key) as save:
                try:
                    for chunk in r.iter_bytes():  # as read (see AsyncClient._fetch)
                        if (rejected := save.write(chunk)) is not None:
                            return rejected
                except httpx.TransportError as exc:
                    return save.cut_short(r.num_bytes_downloaded, exc)
                return save.body_problem(r.num_bytes_downloaded) or save.finish()

    def close(self) -> None:
        self._api.close()
        for files in self._files.values():
            files.close()

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
        self._api = httpx.AsyncClient(**self._api_options(asynchronous=True))
        self._files = {p: httpx.AsyncClient(**self._file_options(p, True)) for p in (True, False)}
        self._slots = asyncio.Semaphore(max_in_flight)

    async def create_task(self, request: ExtendRequest, video_url: str | None = None) -> Task:
        """Create a paid extension task (never resent unless provably not created)."""
        return await self._drive(self.core.create(request, video_url))

    async def get_task(self, task_id: str, sync_upstream: bool = True) -> Task:
        """Read a task's current state."""
        return await self._drive(self.core.task(task_id, sync_upstream))

    async def upload(self, path: str | Path) -> UploadedFile:
        """Upload a local file (streamed from disk); its ``url`` can be sent as ``video_url``.

        A file over ``max_upload_bytes`` is refused with a ``VideoInputError`` before sending.
        """
        self._check_upload(Path(path))
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
        self,
        url: str,
        dest: str | Path,
        max_bytes: int = MAX_RESULT_BYTES,
        expected_s: float | None = None,
        extension: bool = True,
    ) -> W.Saved:
        """Save a result URL to ``dest`` atomically; returns path, sha256 and size.

        Only a whole, readable video is saved (lasting ``expected_s``, the input's duration
        plus 7 s, when given; any duration with ``extension=False``, for an input clip); see
        ``foxnb._wire.fetching``.
        """
        where = self._result_url(url)
        flow = self.core.download(where, Path(dest), max_bytes, expected_s, extension)
        return await self._drive(flow)

    async def read_range(
        self, url: str, first_byte: int = 0, last_byte: int = 0, attempts: int = 2
    ) -> tuple[W.Response, str]:
        """Bytes ``first_byte`` … ``last_byte`` of a public URL (redirects followed safely, no
        key sent): the answer and the URL that gave it."""
        return await self._drive(self.core.peek(url, first_byte, last_byte, attempts))

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

    async def _perform(self, step: W.Send | W.Fetch | W.Peek) -> W.Outcome:
        take_turn()  # on foxnb's engine thread, lets the notebook's thread run (foxnb._turns)
        try:
            if isinstance(step, W.Fetch):
                return await self._fetch(step)
            if isinstance(step, W.Peek):
                return await self._peek(step)
            request = step.request
            if request.upload is not None:
                body = Multipart(request.upload)  # a big file streams, never held whole
                stream = await asyncio.to_thread(body.whole) if body.small else aiter(body)
                r = await self._api.request(
                    request.method, request.path, content=stream, headers=body.headers
                )
            else:
                r = await self._api.request(
                    request.method, request.path, params=dict(request.params), json=request.json
                )
            unbind(r)
            return W.Response(r.status_code, r.headers, r.content)
        except httpx.TransportError as exc:
            return failure(exc, self.config.api_key)

    async def _peek(self, step: W.Peek) -> W.Outcome:
        files = self._files[uses_env_proxy(step.url)]
        async with unbound_stream(files, step.url, headers=peek_headers(step)) as r:
            body = b""
            async for chunk in r.aiter_bytes():
                body += chunk
                if len(body) >= peek_limit(step):
                    break
            return W.Response(r.status_code, r.headers, body[: peek_limit(step)])

    async def _fetch(self, step: W.Fetch) -> W.Outcome:
        async with unbound_stream(self._files[uses_env_proxy(step.url)], step.url) as r:
            if r.status_code != 200:
                return W.Response(r.status_code, r.headers, (await r.aread())[:4096])
            with ResultSave(step, r, self.config.api_key) as save:
                try:
                    # Each piece as the socket gave it (up to 64 KB), straight to the file: asked
                    # for 1 MB pieces, httpx gathered a whole result in a growing buffer first,
                    # copied at every growth with the GIL held (docs/benchmark.md).
                    async for chunk in r.aiter_bytes():
                        if (rejected := save.write(chunk)) is not None:
                            return rejected
                except httpx.TransportError as exc:
                    return save.cut_short(r.num_bytes_downloaded, exc)
                problem = save.body_problem(r.num_bytes_downloaded)
                return problem or await save.afinish()

    async def aclose(self) -> None:
        await self._api.aclose()
        for files in self._files.values():
            await files.aclose()
