"""The API key and proxies, and a service that echoes the key back (issue 10).

With ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` pointing at a real recording proxy on
127.0.0.1: requests to this machine (the simulator's plain-http address, which carries the
key) never reach it; https requests do go through it, as a CONNECT tunnel it cannot read. A
hostile edge echoing the request's ``Authorization`` header into error texts, task errors and
answers: the key is scrubbed before anything is stored or shown.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from hostile_edge import Answer, HostileEdge, through
from support import account, connect, finish

import foxnb
from foxnb.sim import Simulator

PROMPT = "The camera keeps panning"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def _pipe(source: socket.socket, sink: socket.socket, log: list[bytes] | None) -> None:
    try:
        while data := source.recv(65536):
            if log is not None:
                log.append(data)
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


class RecordingProxy:
    """A real HTTP proxy on 127.0.0.1 that records every byte clients send it.

    Absolute-form requests (``GET http://host/...``) are forwarded to ``forwards[host]``;
    ``CONNECT host:port`` opens a tunnel to ``tunnels[host]``. Unknown hosts get a 502.
    """

    def __init__(
        self,
        tunnels: dict[str, tuple[str, int]] | None = None,
        forwards: dict[str, tuple[str, int]] | None = None,
    ):
        tunnels, forwards = tunnels or {}, forwards or {}
        self.received: list[bytes] = []
        self.lines: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_CONNECT(self) -> None:
                proxy.note(self)
                host = self.path.rsplit(":", 1)[0]
                if host not in tunnels:
                    self.send_error(502)
                    return
                upstream = socket.create_connection(tunnels[host])
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                back = threading.Thread(target=_pipe, args=(upstream, self.connection, None))
                back.start()
                _pipe(self.connection, upstream, proxy.received)
                back.join()
                self.close_connection = True

            def relay(self) -> None:
                proxy.note(self)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                proxy.received.append(body)
                target = urlsplit(self.path)
                if target.hostname not in forwards:
                    self.send_error(502)
                    return
                host, port = forwards[target.hostname]
                headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
                url = f"http://{host}:{port}{target.path}" + (
                    f"?{target.query}" if target.query else ""
                )
                with httpx.Client(trust_env=False) as direct:  # not through this proxy again
                    answer = direct.request(self.command, url, headers=headers, content=body)
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_HEAD = relay

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def note(self, handler: BaseHTTPRequestHandler) -> None:
        self.lines.append(handler.requestline)
        self.received.append(bytes(str(handler.headers), "latin-1"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def saw(self, text: str) -> bool:
        """Whether ``text`` appears in anything a client sent this proxy."""
        return text.encode() in b"".join(self.received)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A function setting every proxy variable to a URL (and clearing NO_PROXY)."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)

    def point_at(url: str) -> None:
        for name in PROXY_VARS:
            monkeypatch.setenv(name, url)

    yield point_at


def test_requests_to_this_machine_never_go_through_a_proxy(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], proxy_env: Any
) -> None:
    """HTTP_PROXY, HTTPS_PROXY and ALL_PROXY set: a job on the simulator's plain-http loopback
    address (127.0.0.1 and localhost) completes, and the proxy sees not one connection — so
    the key never passes it in clear."""
    with RecordingProxy() as proxy:
        proxy_env(proxy.url)
        fx = connect(sim, tmp_path)
        job = fx.extend(PROMPT, clips["landscape"], seed=1).wait(60)
        local = foxnb.connect(
            api_key=sim.api_key,
            base_url=sim.url.replace("127.0.0.1", "localhost"),
            workdir=tmp_path / "localhost",
            quiet=True,
        )
        other = local.extend(PROMPT, clips["landscape"], seed=2).wait(60)
    assert job.status == other.status == "completed"
    assert proxy.lines == [] and proxy.received == []


class TlsFront:
    """TLS on 127.0.0.1 in front of the simulator, with a self-signed cert for ``host``."""

    def __init__(self, upstream: tuple[str, int], host: str, folder: Path):
        self.cert = folder / "cert.pem"
        key = folder / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-keyout", str(key), "-out", str(self.cert), "-subj", f"/CN={host}",
             "-addext", f"subjectAltName=DNS:{host}"],
            check=True, capture_output=True,
        )  # fmt: skip
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(self.cert, key)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = self._listener.getsockname()
        self._upstream = upstream
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(raw,), daemon=True).start()

    def _relay(self, raw: socket.socket) -> None:
        try:
            secure = self._context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        upstream = socket.create_connection(self._upstream)
        back = threading.Thread(target=_pipe, args=(upstream, secure, None), daemon=True)
        back.start()
        _pipe(secure, upstream, None)

    def close(self) -> None:
        self._listener.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_goes_through_the_proxy_which_never_sees_the_key(
    sim: Simulator,
    tmp_path: Path,
    clips: dict[str, Path],
    proxy_env: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """base_url https://api.foxapi.test through a proxy: every API request is a CONNECT
    tunnel (a full job completes through it), and nothing the proxy received holds the key;
    the public result link (plain http on that name) goes through the proxy without the key."""
    host = "api.foxapi.test"
    plain = ("127.0.0.1", int(urlsplit(sim.url).port or 0))
    front = TlsFront(plain, host, tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(front.cert))
    with RecordingProxy(tunnels={host: front.address}, forwards={host: plain}) as proxy:
        proxy_env(proxy.url)
        fx = foxnb.connect(
            api_key=sim.api_key, base_url=f"https://{host}", workdir=tmp_path / "runs", quiet=True
        )
        job = finish(fx.extend(PROMPT, clips["landscape"], seed=1))
    front.close()
    assert job.status == "completed", (job.error, proxy.lines)
    assert any(line.startswith(f"CONNECT {host}:443") for line in proxy.lines), proxy.lines
    assert any(line.startswith(f"GET http://{host}/files/") for line in proxy.lines)
    assert sim.backend.requests["create"] == 1
    assert not proxy.saw(sim.api_key) and not proxy.saw(quote(sim.api_key))
    assert sim.backend.key_sent_to_files == 0


def echo_key(edge: HostileEdge, where: str) -> Any:
    """A rule echoing the request's ``Authorization`` header into an answer at ``where``."""

    def rule(method: str, path: str, answer: Answer | None) -> Answer | None:
        header = edge.seen[-1][2].get("authorization", "")
        said = f"upstream rejected headers {{Authorization: {header}}}"
        if answer is None and where == "create 500" and path == "/v1/videos/generations":
            return 500, {"content-type": "text/plain"}, said.encode()
        if answer is None and where == "create 400" and path == "/v1/videos/generations":
            error = {"error": {"message": said, "type": "invalid_request_error"}}
            return 400, {"content-type": "application/json"}, json.dumps(error).encode()
        if answer is None and where == "create 200" and path == "/v1/videos/generations":
            error = {"error": {"message": said, "type": "server_error", "code": header}}
            return 200, {"content-type": "application/json"}, json.dumps(error).encode()
        if answer is not None and where == "task" and path.startswith("/v1/tasks/"):
            body = json.loads(answer[2])
            body.update(status="failed", error={"code": header, "message": said})
            return 200, answer[1], json.dumps(body).encode()
        return None

    return rule


@pytest.mark.parametrize("where", ["task", "create 500", "create 400", "create 200"])
def test_a_key_echoed_by_the_service_is_never_stored_or_shown(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], where: str
) -> None:
    """A service echoing the request headers into a task error, a 500 text, a 400 message or a
    200 error body: the key is in none of str(job.error), its attributes and evidence, the
    ledger file, fx.runs().to_csv() or the DEBUG logs; 0 runs lost, 0 duplicates."""
    holder = HostileEdge(sim.url, lambda m, p, a: None)
    holder.rule = echo_key(holder, where)
    with holder as edge:
        fx = through(edge, sim, tmp_path / "runs")
        job = finish(fx.extend(PROMPT, clips["landscape"], seed=1))
    assert job.error is not None and "upstream rejected headers" in str(job.error)
    texts = [
        str(job.error),
        repr(job.error),
        json.dumps({k: str(v) for k, v in vars(job.error).items()}),
        stored_bytes(tmp_path / "runs"),
        fx.runs().to_csv(),
        repr(job),
    ]
    for text in texts:
        assert sim.api_key not in text and quote(sim.api_key) not in text, text[:500]
    assert "sk-" in str(job.error) or where != "task"  # shown masked, as sk-…abcd
    assert account(fx, sim) == (0, 0)


def stored_bytes(workdir: Path) -> str:
    """Everything the runs store holds on disk (the database and its write-ahead log)."""
    fx_files = sorted(workdir.glob("runs.db*"))
    assert fx_files
    return "".join(path.read_bytes().decode("latin-1") for path in fx_files)


def test_a_key_echoed_in_a_result_link_is_not_followed(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A task whose result URL carries the key (``?token=<key>``): the key is scrubbed from the
    answer before use, so it is neither stored nor sent to the file host."""
    holder = HostileEdge(sim.url, lambda m, p, a: None)

    def rule(method: str, path: str, answer: Answer | None) -> Answer | None:
        if answer is None or not path.startswith("/v1/tasks/"):
            return None
        body = json.loads(answer[2])
        if body.get("results"):
            token = holder.seen[-1][2]["authorization"].removeprefix("Bearer ")
            body["results"][0]["url"] += f"&token={token}"
        return answer[0], answer[1], json.dumps(body).encode()

    holder.rule = rule
    with holder as edge:
        fx = through(edge, sim, tmp_path / "runs")
        job = finish(fx.extend(PROMPT, clips["landscape"], seed=1))
    assert sim.api_key not in stored_bytes(tmp_path / "runs")
    assert all(sim.api_key not in path for _, path, _ in holder.seen)
    assert sim.backend.key_sent_to_files == 0 and job.task_id is not None
