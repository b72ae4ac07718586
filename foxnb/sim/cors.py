"""CORS for browser apps on another origin, which call FoxAPI directly from the page.

:class:`Cors` is the outermost ASGI layer, in front of the edge, so every response carries
its headers, errors, edge pages and file downloads included:

* ``Access-Control-Allow-Origin: *``: the API authenticates with a bearer header, not
  cookies, so any origin may call it (credentials are never allowed);
* ``Access-Control-Expose-Headers``: ``Retry-After`` (a page needs it to back off after a
  429) and the download headers a player or downloader reads.

A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is answered here with 204,
without authentication and without touching faults or the backend, as a browser sends it
without the ``Authorization`` header it is asking about. It allows ``GET``, ``HEAD``,
``POST`` and ``OPTIONS``, and echoes the requested headers (``Authorization``,
``Content-Type``, ...), and grants Chromium's Private Network Access request, so a page served
from a public origin may call a simulator on this machine. FoxAPI's documentation says
nothing about CORS; these headers are what a public JSON API with bearer keys sends.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ALLOWED_METHODS", "EXPOSED_HEADERS", "Cors"]

ALLOWED_METHODS = "GET, HEAD, POST, OPTIONS"
EXPOSED_HEADERS = "Retry-After, Content-Length, Content-Range, Accept-Ranges, Content-Type"
_DEFAULT_ALLOWED_HEADERS = "Authorization, Content-Type"
# Browsers cache a preflight answer this long (and cap it themselves, Chromium at 2 h).
_PREFLIGHT_MAX_AGE_S = 600


class Cors:
    """ASGI middleware adding CORS headers to every response and answering preflights."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            requested = headers.get("access-control-request-headers", _DEFAULT_ALLOWED_HEADERS)
            answer = {
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": requested,
                "Access-Control-Max-Age": str(_PREFLIGHT_MAX_AGE_S),
            }
            if headers.get("access-control-request-private-network") == "true":
                # Chromium asks before a page from a public origin calls a local server.
                answer["Access-Control-Allow-Private-Network"] = "true"
            preflight = Response(status_code=204, headers=answer)
            await preflight(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers["Access-Control-Allow-Origin"] = "*"
                response_headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            await send(message)

        await self._app(scope, receive, send_with_cors)
