"""A hostile edge for the system tests: a real reverse proxy on 127.0.0.1 in front of a
simulator, answering whatever a test's rule says (non-JSON pages, error bodies, echoed keys,
results that are not videos).

    from hostile_edge import Answer, HostileEdge, through

    def rule(method: str, path: str, answer: Answer | None) -> Answer | None: ...
    with HostileEdge(sim.url, rule) as edge:
        fx = through(edge, sim, tmp_path / "runs")
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

import foxnb
from foxnb.sim import Simulator

Answer = tuple[int, dict[str, str], bytes]
Rule = Callable[[str, str, Answer | None], Answer | None]


class HostileEdge:
    """A real reverse proxy on 127.0.0.1 in front of a simulator, misbehaving on demand.

    ``rule(method, path, answer)`` is called twice per request: first with ``answer=None``
    (return an answer to reply without asking the simulator), then with the simulator's
    answer (return a changed one, or ``None`` to pass it on). The ``Host`` header is passed
    through, so the simulator's upload and result URLs point at the proxy. ``chunked=True``
    sends bodies without a ``Content-Length``.
    """

    def __init__(self, upstream: str, rule: Rule, *, chunked: bool = False) -> None:
        self.rule = rule
        self.chunked = chunked
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        edge = self
        forward = httpx.Client(base_url=upstream, timeout=30)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.relay()

            def do_POST(self) -> None:
                self.relay()

            def relay(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                edge.seen.append((self.command, self.path, headers))
                body = self.rfile.read(int(headers.get("content-length") or 0))
                answer = edge.rule(self.command, self.path, None)
                if answer is None:
                    sent = {k: v for k, v in headers.items() if k not in _HOP_BY_HOP}
                    upstream_answer = forward.request(
                        self.command, self.path, headers=sent, content=body
                    )
                    kept = {
                        k.lower(): v
                        for k, v in upstream_answer.headers.items()
                        if k.lower() not in _HOP_BY_HOP
                    }
                    answer = (upstream_answer.status_code, kept, upstream_answer.content)
                    answer = edge.rule(self.command, self.path, answer) or answer
                self.reply(*answer)

            def reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if edge.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(body), 64 * 1024):
                        piece = body[start : start + 64 * 1024]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._forward = forward
        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HostileEdge:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._forward.close()


class _QuietServer(ThreadingHTTPServer):
    """Says nothing when a client hangs up mid-answer (as foxnb does on a refused download)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def through(edge: HostileEdge, sim: Simulator, tmp_path: Path) -> foxnb.Session:
    return foxnb.connect(api_key=sim.api_key, base_url=edge.url, workdir=tmp_path, quiet=True)
