"""The edge in front of the simulated API: faults, size limits, auth and rate limits.

:class:`Edge` is ASGI middleware that plays the CDN and API gateway the real service sits
behind. Requests on a redirect chain (``/files/via/...``, ``/files/loop/...``; see
:mod:`foxnb.sim.cdn`) are answered first, with no fault of their own. For every other request
the edge asks the backend for a fault :class:`~foxnb.sim.faults.Decision` and then, in this
order (an earlier step that answers ends the request):

1. waits the decided extra latency;
2. ``drop``: closes the connection before the request is handled;
3. ``edge_html``: answers 403 with an HTML block page; ``edge_413``: 413 with an HTML page;
4. bodies over ``max_upload_bytes`` (the edge's own limit, off unless set): 413 with an HTML
   page (not JSON);
5. ``/v1/*`` only: checks ``Authorization: Bearer <key>`` (401), then ``error_200`` (a 200
   carrying an error body), scripted or random 429 / 500 / 503, then the per-key token bucket
   (429); file URLs get the same 429/500/503, then the redirects and bogus bodies of
   :mod:`foxnb.sim.cdn`;
6. hands the request to the routes, which read the decision for ``task_failure``, ``defect``,
   ``empty_results``, ``status`` and ``expired``;
7. ``lost_response``: lets the routes finish (a create creates and bills its task), throws the
   response away and closes the connection; ``truncated``: sends a 200 JSON body cut in half;
   ``short_body``: sends the file's headers and all but its last byte, then closes.

Closing a connection is delegated to a ``drop`` callable supplied by the server, which aborts
the socket so the client sees a true transport error and nothing is logged (``graceful=True``
first sends what was already written, for ``short_body``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from typing import Any, Protocol

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import cdn
from .backend import Backend
from .errors import ApiError, error_json
from .faults import Decision
from .payloads import edge_block_html, edge_too_large_html

__all__ = ["DECISION_KEY", "Dropper", "Edge", "classify"]

_log = logging.getLogger(__name__)

#: Scope key under which the routes find this request's fault decision.
DECISION_KEY = "foxnb.sim.decision"

_REDIRECTS = frozenset({"redirect", "redirect_loop", "redirect_offsite"})
_BOGUS_BODIES = frozenset({"html_as_video", "json_as_octet", "no_content_type"})
_ERROR_ACTIONS = {
    "429": ApiError(429, "Rate limit exceeded; retry later."),
    "500": ApiError(500, "Internal server error; retry later."),
    "503": ApiError(503, "No available channel for this model right now; retry later."),
}


class Dropper(Protocol):
    """Closes the client connection behind an ASGI scope; ``False`` if it is not found."""

    def __call__(self, scope: Scope, *, graceful: bool = False) -> bool: ...


def classify(method: str, path: str) -> str | None:
    """The fault endpoint a request belongs to, or ``None`` for anything else."""
    if method == "POST" and path == "/v1/videos/generations":
        return "create"
    if method == "GET" and path.startswith("/v1/tasks/"):
        return "task"
    if method == "POST" and path.startswith("/v1/files/upload/"):
        return "upload"
    if method in ("GET", "HEAD") and path.startswith("/files/"):
        return "download"
    return None


class Edge:
    """ASGI middleware simulating the CDN/gateway in front of ``app`` (see module docs)."""

    def __init__(
        self,
        app: ASGIApp,
        backend: Backend,
        *,
        max_upload_bytes: int | None,
        drop: Dropper,
    ) -> None:
        self._app = app
        self._backend = backend
        self._max_upload_bytes = max_upload_bytes
        self._drop_connection = drop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if scope["path"].startswith("/files/"):
            self._note_key_on_file_url(scope)
            hop = cdn.parse_hop(scope["path"])
            if hop is not None:
                self._backend.count("redirect_hop")
                answer = hop.answer(scope)
                if answer is not None:
                    await answer(scope, receive, send)
                    return
                scope = {**cdn.served_path(scope, hop.target), DECISION_KEY: Decision()}
                await self._app(scope, receive, send)
                return
        endpoint = classify(scope["method"], scope["path"])
        decision = Decision() if endpoint is None else self._backend.decide(endpoint)
        scope = {**scope, DECISION_KEY: decision}
        if decision != Decision():
            # Dropped exchanges leave no access-log line, so say what was injected.
            _log.info("simulated fault %s on %s %s", decision, scope["method"], scope["path"])
        if decision.latency_s > 0:
            await asyncio.sleep(decision.latency_s)
        if decision.action == "drop":
            await self._drop(scope, receive)
            return
        early = self._early_response(scope, endpoint, decision)
        if early is not None:
            await early(scope, receive, send)
            return
        limit_bytes = self._max_upload_bytes
        chunked = "content-length" not in Headers(scope=scope)
        if endpoint == "upload" and limit_bytes is not None and chunked:
            body = await _read_at_most(receive, limit_bytes)
            if body is None:
                await _too_large()(scope, receive, send)
                return
            receive = _replay(body)
        if decision.action in ("lost_response", "truncated"):
            messages: list[Message] = []

            async def capture(message: Message) -> None:
                messages.append(message)

            await self._app(scope, receive, capture)
            if decision.action == "lost_response":
                await self._drop(scope, receive)
                return
            for message in _truncate_json(messages):
                await send(message)
            return
        if decision.action == "short_body" and scope["method"] == "GET":
            short = cdn.ShortBody(send)
            await self._app(scope, receive, short)
            if short.cut:
                await self._drop(scope, receive, graceful=True)
            return
        await self._app(scope, receive, send)

    def _early_response(
        self, scope: Scope, endpoint: str | None, decision: Decision
    ) -> Response | None:
        """A response decided before the routes run (steps 3–5), or ``None`` to go on."""
        headers = Headers(scope=scope)
        if decision.action == "edge_html":
            return HTMLResponse(edge_block_html(secrets.token_hex(8)), status_code=403)
        if decision.action == "edge_413":
            return _too_large()
        # The edge limits every body; only uploads come near the limit in practice.
        declared_bytes = headers.get("content-length", "")
        limit_bytes = self._max_upload_bytes
        if (
            limit_bytes is not None
            and declared_bytes.isdigit()
            and int(declared_bytes) > limit_bytes
        ):
            return _too_large()
        api_key: str | None = None
        if scope["path"].startswith("/v1/"):
            api_key = _bearer_token(headers)
            if api_key is None:
                return _error(ApiError(401, "Missing API key: send 'Authorization: Bearer <key>'."))
            if not hmac.compare_digest(api_key.encode(), self._backend.api_key.encode()):
                return _error(ApiError(401, "Invalid API key; check the key and try again."))
        if decision.action == "error_200":
            return JSONResponse(error_json(decision.error_type), status_code=200)
        if decision.action in _ERROR_ACTIONS:
            return _error(_ERROR_ACTIONS[decision.action], retry_after_s=decision.retry_after_s)
        if decision.action in _REDIRECTS:
            return cdn.redirect(scope, decision)
        if decision.action in _BOGUS_BODIES:
            return cdn.bogus_body(decision.action)
        over_limit = (
            api_key is not None
            and endpoint is not None
            and not self._backend.faults.allow(api_key, endpoint)
        )
        if over_limit:
            retry_after_s = self._backend.faults.faults.retry_after_s
            return _error(_ERROR_ACTIONS["429"], retry_after_s=retry_after_s)
        return None

    def _note_key_on_file_url(self, scope: Scope) -> None:
        """Count a file-URL request that carries the API key (file URLs never need it)."""
        token = _bearer_token(Headers(scope=scope))
        if token is not None and hmac.compare_digest(
            token.encode(), self._backend.api_key.encode()
        ):
            self._backend.count("key_sent_to_files")

    async def _drop(self, scope: Scope, receive: Receive, *, graceful: bool = False) -> None:
        """Close the connection (without a response, unless ``graceful`` lets what was already
        sent go out first) and wait until the server notices."""
        if not self._drop_connection(scope, graceful=graceful):
            raise ConnectionAbortedError("simulated connection drop: connection not found")
        # Returning only after the disconnect keeps the server from answering (with a 500)
        # an exchange it believes is still open.
        while (await receive())["type"] != "http.disconnect":
            pass


def _bearer_token(headers: Headers) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _error(error: ApiError, *, retry_after_s: float | None = None) -> Response:
    headers = {}
    if retry_after_s is not None:
        # Whole seconds are what RFC 9110 allows; fractions are sent as given (e.g. "1.5")
        # because scripted tests use them, and a tolerant client parses a float.
        headers["Retry-After"] = f"{retry_after_s:g}"
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def _too_large() -> Response:
    return HTMLResponse(edge_too_large_html(), status_code=413, headers={"Connection": "close"})


async def _read_at_most(receive: Receive, limit_bytes: int) -> bytes | None:
    """Read a whole request body, or return ``None`` as soon as it exceeds ``limit_bytes``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit_bytes:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    """A ``receive`` that yields ``body`` once, then reports a disconnect."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _truncate_json(messages: list[Message]) -> list[Message]:
    """Cut a captured 200 JSON response's body in half; other responses pass unchanged."""
    start = messages[0]
    headers = [(name, value) for name, value in start.get("headers", [])]
    content_type = dict(headers).get(b"content-type", b"")
    if start["status"] != 200 or not content_type.startswith(b"application/json"):
        return messages
    body = b"".join(message.get("body", b"") for message in messages[1:])
    cut = body[: len(body) // 2]
    kept: list[Any] = [(n, v) for n, v in headers if n.lower() != b"content-length"]
    kept.append((b"content-length", str(len(cut)).encode()))
    return [
        {**start, "headers": kept},
        {"type": "http.response.body", "body": cut, "more_body": False},
    ]
