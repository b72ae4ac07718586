"""Bringing files in: size limits on uploads, and ``/v1/files/upload/url``'s fetch.

**File-size limit** (``max_file_bytes``, 100 MB unless configured): an upload whose file is
larger is answered 413 with FoxAPI's JSON error body, type ``file_too_large_error`` (the type
FoxAPI's OpenAPI lists; the limit itself is not documented, 100 MB is the edge figure public
clients cite). A body that declares a size far past the limit is refused before it is read;
one without a ``Content-Length`` (chunked) is counted as it arrives and refused as soon as it
passes the limit, so no upload is ever held whole in memory beyond it. The edge's HTML 413
(:mod:`foxnb.sim.edge`) is separate and off unless configured or injected.

**Uploads by URL**: the simulator downloads the file itself. It has no internet, and a real
service must not be turned into a fetcher of its own private network, so by default it only
fetches loopback URLs (``127.0.0.0/8``, ``::1``, ``localhost``), redirects included;
``Simulator(fetch_remote_uploads=True)`` lifts that for a simulator run where other hosts can
be reached. Refusals are 422s naming ``url``: ``url_not_allowed``, ``url_fetch_failed``.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import unquote, urlsplit

import httpx
from starlette.types import Message, Receive

from .errors import ApiError

__all__ = [
    "BODY_OVERHEAD_BYTES",
    "DEFAULT_MAX_FILE_BYTES",
    "LimitedReceive",
    "fetch_upload",
    "is_loopback_url",
    "too_large",
]

#: The file-size limit unless configured: what public clients cite for FoxAPI's edge.
DEFAULT_MAX_FILE_BYTES = 100 * 1024**2
#: Room for a multipart envelope (or JSON around base64) beyond the file itself.
BODY_OVERHEAD_BYTES = 1024**2

_FETCH_TIMEOUT_S = 10.0


def too_large(size_bytes: int, limit_bytes: int, *, param: str, what: str = "The file") -> ApiError:
    """The JSON 413 for a file (or body) of ``size_bytes`` over ``limit_bytes``."""
    mib = f" ({limit_bytes / 1024**2:g} MiB)" if limit_bytes >= 1024**2 else ""
    return ApiError(
        413,
        f"{what} is {size_bytes:,} bytes; uploads are limited to {limit_bytes:,} bytes{mib}. "
        "Upload a shorter or more compressed video.",
        code="file_too_large",
        param=param,
    )


class LimitedReceive:
    """An ASGI ``receive`` that raises the JSON 413 once a body passes ``body_limit_bytes``.

    The error names ``file_limit_bytes``, the limit a user can act on.
    """

    def __init__(
        self, receive: Receive, body_limit_bytes: int, file_limit_bytes: int, *, param: str
    ) -> None:
        self._receive = receive
        self._body_limit_bytes = body_limit_bytes
        self._file_limit_bytes = file_limit_bytes
        self._param = param
        self._seen_bytes = 0

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._seen_bytes += len(message.get("body", b""))
            if self._seen_bytes > self._body_limit_bytes:
                raise too_large(
                    self._seen_bytes,
                    self._file_limit_bytes,
                    param=self._param,
                    what="The request body (so far)",
                )
        return message


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine's loopback (an IP literal, or ``localhost``).

    Only literal addresses count: a DNS name is not resolved. (The same rule as the client's
    ``foxnb.config.is_loopback``, written again because the simulator imports nothing of the
    client.)

    >>> is_loopback_url("http://127.0.0.1:8765/a.mp4"), is_loopback_url("http://10.0.0.1/a")
    (True, False)
    """
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def fetch_upload(url: str, *, allow_remote: bool, limit_bytes: int) -> tuple[bytes, str]:
    """Download ``url`` for ``/v1/files/upload/url``: its bytes and a file name from its path.

    Raises :class:`~foxnb.sim.errors.ApiError`: 422 ``url_not_allowed`` for a host the
    simulator may not fetch (also when a redirect leads there), 422 ``url_fetch_failed`` when
    the URL does not answer 200, and the JSON 413 past ``limit_bytes``.
    """

    async def check_host(request: httpx.Request) -> None:
        if not allow_remote and not is_loopback_url(str(request.url)):
            raise ApiError(
                422,
                f"Invalid value for parameter 'url': the simulator fetches only loopback URLs "
                f"(127.0.0.1, ::1, localhost), and {request.url.host!r} is not one. Start it "
                "with fetch_remote_uploads=True (--fetch-remote-uploads) to allow other hosts.",
                code="url_not_allowed",
                param="url",
            )

    chunks: list[bytes] = []
    size_bytes = 0
    try:
        async with (
            httpx.AsyncClient(
                follow_redirects=True,
                timeout=_FETCH_TIMEOUT_S,
                trust_env=False,
                event_hooks={"request": [check_host]},
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise _fetch_failed(f"it answered HTTP {response.status_code}")
            async for chunk in response.aiter_bytes():
                size_bytes += len(chunk)
                if size_bytes > limit_bytes:
                    raise too_large(size_bytes, limit_bytes, param="url", what="The file (so far)")
                chunks.append(chunk)
            final_path = response.url.path
    except httpx.HTTPError as exc:
        raise _fetch_failed(type(exc).__name__) from exc
    name = unquote(final_path.rsplit("/", 1)[-1])
    return b"".join(chunks), name


def _fetch_failed(reason: str) -> ApiError:
    return ApiError(
        422,
        f"Could not fetch the file at 'url': {reason}. The URL must serve the file itself.",
        code="url_fetch_failed",
        param="url",
    )
