"""httpx at the edge, for both clients: failures, proxies, streamed uploads, checked results.

- ``failure(exc)``: the one place an httpx exception becomes a foxnb ``Failure`` (could the
  server have received the request?).
- ``client_options(url)``: whether a client may use the proxy that ``HTTP_PROXY`` /
  ``HTTPS_PROXY`` / ``ALL_PROXY`` name. Never for this machine: the simulator's plain-http
  address carries the API key, and no proxy may see it (``config.uses_env_proxy``).
- ``Multipart``: an upload's ``multipart/form-data`` body, streamed from disk in 1 MiB reads
  with its ``Content-Length`` known up front, so a 400 MB clip costs a few MB of memory.
- ``unbind`` (and ``unbound_stream`` / ``unbound_sync_stream`` for streamed responses): every
  response, once closed, lets go of its stream, so it is freed as soon as foxnb is done with it.
- ``ResultSave``: a result being downloaded, kept only if it is the video: the bytes announced
  all arrived, the body is not an error page, FFmpeg reads it and its duration fits
  (``media.result_problem``). Otherwise the driver answers the flow with a ``Rejected``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from . import _wire as W
from ._files import AtomicWriter
from ._video_process import VideoProcessCrashed, in_video_process, run_in_video_process
from .config import scrub
from .errors import DownloadError
from .media import markup_kind, result_problem

CHUNK_BYTES = 1 << 20
SMALL_BODY_BYTES = 8 << 20
"""Bodies up to this size are sent in one piece: an edge that refuses one by its size at once
(an HTML 413 before reading it) then still gets its answer through; bigger ones stream."""
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_SNIFF_BYTES = 512


def failure(exc: httpx.TransportError, secret: str | None) -> W.Failure:
    """Classify an httpx error: could the server have received the request?"""
    detail = scrub(str(exc) or type(exc).__name__, secret)
    if isinstance(exc, _NOT_SENT):
        return W.Failure("connect", detail, request_sent=False)
    if isinstance(exc, httpx.TimeoutException):
        return W.Failure("timeout", detail, request_sent=True)
    return W.Failure("dropped", detail, request_sent=True)


def client_options(direct: bool, transport: Any, asynchronous: bool) -> dict[str, Any]:
    """httpx client options for requests to ``url`` (``None``: to other hosts than this one):
    no proxy for this machine. An explicit transport is what turns the environment's proxies
    off in httpx while keeping the rest of it (``SSL_CERT_FILE``, …)."""
    if transport is None and direct:
        transport = httpx.AsyncHTTPTransport() if asynchronous else httpx.HTTPTransport()
    return {} if transport is None else {"transport": transport}


_SPENT = httpx.ByteStream(b"")


def unbind(response: httpx.Response) -> None:
    """Let a closed ``response`` go of its stream.

    httpx binds each response's stream to the response (the stream refers back to it, to set
    ``elapsed`` when it closes), so every response is a reference cycle: it, its request, its
    headers and the connection pool's records of it are freed only by a full garbage
    collection, about 870 objects per job of a sweep. Once the response is closed nothing reads
    its stream again, and with it gone, reference counting frees the lot at once.
    """
    if response.is_closed:
        response.stream = _SPENT


@contextlib.asynccontextmanager
async def unbound_stream(
    client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.Response]:
    """``client.stream("GET", url)``, its response unbound (``unbind``) once it is closed."""
    response: httpx.Response | None = None
    try:
        async with client.stream("GET", url, headers=headers) as response:
            yield response
    finally:
        if response is not None:
            unbind(response)


@contextlib.contextmanager
def unbound_sync_stream(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None
) -> Iterator[httpx.Response]:
    """``unbound_stream`` for the blocking client."""
    response: httpx.Response | None = None
    try:
        with client.stream("GET", url, headers=headers) as response:
            yield response
    finally:
        if response is not None:
            unbind(response)


class Multipart:
    """``POST /v1/files/upload/stream``'s body for one file, streamed from disk.

    The parts are ``file_name`` and ``file``; ``headers`` carry the boundary and the exact
    ``Content-Length``, so the request is not chunked and an edge can refuse it by size.
    """

    def __init__(self, upload: W.Upload):
        self.path = upload.path
        boundary = secrets.token_hex(16)
        name = _quoted(upload.file_name)
        self.head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file_name"\r\n\r\n'
            f"{upload.file_name}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{boundary}--\r\n".encode()
        size = self.path.stat().st_size
        self.headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(self.head) + size + len(self.tail)),
        }

    @property
    def small(self) -> bool:
        """True when the whole body is at most ``SMALL_BODY_BYTES`` (send it with ``whole``)."""
        return int(self.headers["Content-Length"]) <= SMALL_BODY_BYTES

    def whole(self) -> bytes:
        """The whole body in memory (for a ``small`` one)."""
        return self.head + self.path.read_bytes() + self.tail

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        with open(self.path, "rb") as fh:
            while chunk := fh.read(CHUNK_BYTES):
                yield chunk
        yield self.tail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.head
        fh = await asyncio.to_thread(open, self.path, "rb")
        try:
            # Disk reads in a worker thread: a slow disk must not stall the event loop.
            while chunk := await asyncio.to_thread(fh.read, CHUNK_BYTES):
                yield chunk
        finally:
            fh.close()
        yield self.tail


def _quoted(name: str) -> str:
    """A file name as a quoted multipart parameter (as browsers write it)."""
    return name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def peek_headers(step: W.Peek) -> dict[str, str]:
    return {"Range": f"bytes={step.first_byte}-{step.last_byte}"}


def peek_limit(step: W.Peek) -> int:
    """Bytes of a ``Peek`` answer kept (a server ignoring ``Range`` sends the whole file)."""
    return max(1, step.last_byte - step.first_byte + 1)


class ResultSave:
    """One downloaded result on its way to disk; see the module docstring.

    Use as a context manager around the body's chunks: ``write`` each (it answers a
    ``Rejected`` as soon as the first bytes show an error page), then ``body_problem``
    (complete?), then ``finish`` or ``await afinish()`` (the FFmpeg check, in foxnb's video
    process).
    Leaving the block without ``finish`` saving leaves nothing behind.
    """

    def __init__(self, step: W.Fetch, response: httpx.Response, secret: str | None):
        self.step = step
        self.secret = secret
        self.label = response.headers.get("content-type", "").split(";")[0].strip().lower()
        length = response.headers.get("content-length", "")
        self.declared = int(length) if length.isdigit() else None
        if self.declared is not None and self.declared > step.max_bytes:
            raise DownloadError(
                f"the result is {self.declared:,} bytes, over the {step.max_bytes:,}-byte cap",
                code="too_large",
            )
        self.writer = AtomicWriter(step.dest, step.max_bytes)
        self.head = b""
        self._sniffed = False

    def __enter__(self) -> ResultSave:
        try:
            self.writer.__enter__()
        except OSError as exc:
            raise save_error(self.step.dest, exc) from exc
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.writer.__exit__(t, e, tb)

    def write(self, chunk: bytes) -> W.Rejected | None:
        if not self._sniffed:
            self.head += chunk[: _SNIFF_BYTES - len(self.head)]
            if len(self.head) >= _SNIFF_BYTES:
                rejected = self._sniff()
                if rejected is not None:
                    return rejected
        try:
            self.writer.write(chunk)
        except OSError as exc:
            raise save_error(self.step.dest, exc) from exc
        return None

    def cut_short(self, received_bytes: int, exc: httpx.TransportError) -> W.Outcome:
        """The connection failed mid-body: ``truncated`` if fewer bytes than announced came."""
        if self.declared is not None and received_bytes < self.declared:
            return W.Rejected(
                "truncated",
                f"the connection ended after {received_bytes:,} of the {self.declared:,} bytes "
                "announced",
            )
        return failure(exc, self.secret)

    def body_problem(self, received_bytes: int) -> W.Rejected | None:
        """Whether the whole body arrived and does not look like a page (cheap checks)."""
        if self.declared is not None and received_bytes != self.declared:
            return W.Rejected(
                "truncated",
                f"{received_bytes:,} bytes arrived where {self.declared:,} were announced",
            )
        return None if self._sniffed else self._sniff()

    def finish(self) -> W.Saved | W.Rejected:
        """Check the saved bytes with FFmpeg (in foxnb's video process, waited for); save
        them as the result, or reject them (a readable video whose duration does not fit is
        kept beside, as ``.rejected.mp4``)."""
        with self._disk_errors():
            written = self.writer.flush()
            try:
                problem = run_in_video_process(
                    result_problem, written, self.step.expected_s, extension=self.step.extension
                )
            except VideoProcessCrashed:
                problem = _CRASHED
            return self._keep(problem)

    async def afinish(self) -> W.Saved | W.Rejected:
        """``finish`` for the event loop: the disk work on a worker thread, the check in the
        video process, neither blocking the loop."""
        with self._disk_errors():
            written = await asyncio.to_thread(self.writer.flush)
            try:
                problem = await in_video_process(
                    result_problem, written, self.step.expected_s, extension=self.step.extension
                )
            except VideoProcessCrashed:
                problem = _CRASHED
            return await asyncio.to_thread(self._keep, problem)

    def _keep(self, problem: tuple[str, str] | None) -> W.Saved | W.Rejected:
        """Commit the file as the result (no ``problem``) or say why not."""
        if problem is None:
            return W.Saved(self.step.dest, self.writer.commit(), self.writer.size)
        code, reason = problem
        kept = None
        if code == "wrong_duration":
            kept = self.step.dest.with_name(f"{self.step.dest.stem}.rejected.mp4")
            self.writer.commit(kept)
        return W.Rejected(code, f"the file it served is not the extension: {reason}", kept)

    @contextlib.contextmanager
    def _disk_errors(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise save_error(self.step.dest, exc) from exc

    def _sniff(self) -> W.Rejected | None:
        self._sniffed = True
        kind = markup_kind(self.head)
        if kind is None:
            return None
        title = W.page_title(self.head)
        shown = (
            f" ({scrub(title, self.secret)[:80]!r})" if title and kind != "an empty body" else ""
        )
        label = f"labelled {self.label!r}" if self.label else "with no Content-Type"
        return W.Rejected("not_a_video", f"it served {kind}{shown} {label}, not the video")


_CRASHED = ("not_a_video", "FFmpeg crashed reading it")


def save_error(dest: Path, exc: OSError) -> DownloadError:
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
