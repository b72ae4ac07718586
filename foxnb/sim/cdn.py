"""How the simulated CDN misbehaves on file URLs: redirects, bodies that are not the file, cut-offs.

The edge (:mod:`foxnb.sim.edge`) calls these for the ``download`` faults of
:mod:`foxnb.sim.faults`; each returns an ASGI response or wraps ``send``, and none of them
touches the backend.

Redirect chains live under two path prefixes that carry the original file path after them:

* ``/files/via/<n>/<file path>``: while ``n > 0``, a 302 to ``/files/via/<n-1>/...``; at
  ``n == 0`` the file itself (the edge rewrites the path and serves it normally). A
  ``redirect`` with ``hops=N`` answers the original URL with a 302 to ``/files/via/<N-1>/...``,
  so a client follows exactly N redirects.
* ``/files/loop/<a|b>/<file path>``: a 302 to the other letter, for ever.

Hop requests are not fault endpoints of their own: the fault was decided on the original URL.
Locations are absolute URLs on the host the client used, so they stay on loopback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.datastructures import URL, Headers
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import Message, Scope, Send

from .faults import OFFSITE_BASE_URL, Decision
from .payloads import cdn_error_html

__all__ = ["Hop", "ShortBody", "bogus_body", "parse_hop", "redirect", "served_path"]

_HOP_PATH = re.compile(r"^/files/(via|loop)/(\d+|a|b)(/files/.+)$")
_MISSING_JSON = {"error": {"message": "The requested file is not available.", "type": "not_found"}}


@dataclass(frozen=True)
class Hop:
    """A request on a redirect chain: ``kind`` is ``via`` or ``loop``; ``step`` the ``n`` or
    the letter; ``target`` the original file path it stands for."""

    kind: str
    step: str
    target: str

    def answer(self, scope: Scope) -> Response | None:
        """The 302 this hop answers, or ``None`` when it is the last one (serve ``target``)."""
        if self.kind == "loop":
            other = "b" if self.step == "a" else "a"
            return _found(scope, f"/files/loop/{other}{self.target}")
        remaining = int(self.step)
        if remaining == 0:
            return None
        return _found(scope, f"/files/via/{remaining - 1}{self.target}")


def parse_hop(path: str) -> Hop | None:
    """The redirect-chain hop a request path is, or ``None`` for an ordinary path."""
    match = _HOP_PATH.match(path)
    if match is None:
        return None
    kind, step, target = match.groups()
    if (kind == "loop") != (step in ("a", "b")):
        return None
    return Hop(kind, step, target)


def served_path(scope: Scope, path: str) -> Scope:
    """``scope`` rewritten to ask for ``path`` (the last hop serves the original file)."""
    return {**scope, "path": path, "raw_path": path.encode("utf-8")}


def redirect(scope: Scope, decision: Decision) -> Response:
    """The 302 that starts a ``redirect``, ``redirect_loop`` or ``redirect_offsite`` fault."""
    path = scope["path"]
    if decision.action == "redirect_loop":
        return _found(scope, f"/files/loop/a{path}")
    if decision.action == "redirect_offsite":
        if decision.location is not None:
            return RedirectResponse(decision.location, status_code=302)
        query = scope.get("query_string", b"").decode("latin-1")
        return RedirectResponse(
            f"{OFFSITE_BASE_URL}{path}" + (f"?{query}" if query else ""), status_code=302
        )
    return _found(scope, f"/files/via/{decision.hops - 1}{path}")


def bogus_body(action: str) -> Response:
    """A 200 whose body is an error page, for ``html_as_video``, ``json_as_octet`` and
    ``no_content_type``."""
    if action == "html_as_video":
        return Response(cdn_error_html(), status_code=200, media_type="video/mp4")
    if action == "json_as_octet":
        response: Response = JSONResponse(_MISSING_JSON, status_code=200)
        response.headers["content-type"] = "application/octet-stream"
        return response
    # No media type at all: Starlette then sends no Content-Type header.
    return Response(cdn_error_html(), status_code=200, media_type=None)


class ShortBody:
    """A ``send`` wrapper for ``short_body``: the real headers, then all but the last byte.

    Only a 200 or 206 with a ``Content-Length`` of at least one byte is cut; anything else
    (a 404, a 416) passes unchanged. After the app returns, :attr:`cut` says whether the
    connection must now be closed to end the response early.
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self._budget_bytes = 0
        self.cut = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            declared = Headers(raw=message.get("headers", [])).get("content-length", "")
            if message["status"] in (200, 206) and declared.isdigit() and int(declared) > 0:
                self.cut = True
                self._budget_bytes = int(declared) - 1
            await self._send(message)
            return
        if not self.cut or message["type"] != "http.response.body":
            await self._send(message)
            return
        chunk = message.get("body", b"")[: self._budget_bytes]
        self._budget_bytes -= len(chunk)
        # Never the last body message: the response stays open until the connection closes.
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})


def _found(scope: Scope, path: str) -> Response:
    """A 302 to ``path`` on the host the client used, keeping the query string."""
    return RedirectResponse(str(URL(scope=scope).replace(path=path)), status_code=302)
