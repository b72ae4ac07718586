"""Run the simulator: uvicorn on a daemon thread, bound to a pre-opened loopback socket.

:class:`Simulator` opens its listening socket itself (port 0 picks a free one), so ``.url`` is
known before uvicorn starts; it waits for uvicorn's startup to finish before returning from
:meth:`~Simulator.start`, and :meth:`~Simulator.stop` shuts the server down, waits for running
renders and joins the threads.

Dropped connections (the ``drop`` and ``lost_response`` faults) need the socket itself, which
ASGI does not expose: :class:`_ConnectionAborter` finds the uvicorn connection whose peer
address matches the request's ``client`` and aborts its transport. The client then sees the
connection close without a response (httpx: ``RemoteProtocolError`` / ``ReadError``), and
the server logs nothing, because the exchange ends as a client disconnect.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import Scope

from .app import build_app
from .backend import Backend
from .faults import Faults
from .intake import DEFAULT_MAX_FILE_BYTES

__all__ = ["Simulator"]

_PUMP_INTERVAL_S = 0.02
_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 15.0


class _ConnectionAborter:
    """Closes the TCP connection behind an ASGI scope (needs the running uvicorn server).

    By default the transport is aborted: anything still buffered is thrown away. ``graceful``
    closes it after the buffer has gone out, so a response cut short arrives exactly as far
    as it was written.
    """

    def __init__(self) -> None:
        self.server: Any = None

    def __call__(self, scope: Scope, *, graceful: bool = False) -> bool:
        client = scope.get("client")
        if self.server is None or client is None:
            return False
        for connection in list(self.server.server_state.connections):
            if getattr(connection, "client", None) == tuple(client):
                if graceful:
                    connection.transport.close()
                else:
                    connection.transport.abort()
                return True
        return False


class _Server(uvicorn.Server):
    """uvicorn's server with a ready signal and without signal-handler installation."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self._ready.set()


class Simulator:
    """A local FoxAPI simulator serving real HTTP on ``host:port`` (default 127.0.0.1, any port).

    >>> with Simulator(speed=100) as sim:  # doctest: +SKIP
    ...     auth = {"Authorization": f"Bearer {sim.api_key}"}
    ...     httpx.get(f"{sim.url}/v1/tasks/nope", headers=auth)
    <Response [404 Not Found]>

    ``speed`` divides every simulated duration (render timelines, the 24 h URL validity, the
    ``upstream_lag_s`` of queries without ``sync_upstream=true``). ``faults``/``fault_seed``
    configure random faults; :meth:`inject` scripts one-shot ones. ``seed`` fixes ids,
    durations and seeds drawn for requests without one. ``state_dir`` keeps tasks, uploads and
    results across restarts (also on another port). ``result_ttl_s`` overrides the wall
    seconds a result URL is valid. ``max_file_bytes`` (100 MiB) is the upload file-size limit,
    answered with a JSON 413; ``max_upload_bytes`` (off) is the edge's body limit, answered
    with an HTML 413 page. ``fetch_remote_uploads=True`` lets ``/v1/files/upload/url`` fetch
    from hosts other than loopback. ``distinct_results=False`` (for load tests and benchmarks)
    gives every task of the same input one shared rendering, so the simulator's own renderer
    is not what gets measured; timelines are unchanged. ``quiet=False`` shows uvicorn's
    access log.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        speed: float = 1.0,
        faults: Faults | None = None,
        fault_seed: int = 0,
        seed: int = 0,
        state_dir: Path | None = None,
        balance_credits: int = 10_000,
        result_shape: str = "results",
        upstream_lag_s: float = 2.0,
        result_ttl_s: float | None = None,
        upload_quota_bytes: int = 2 * 1024**3,
        max_upload_bytes: int | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        fetch_remote_uploads: bool = False,
        distinct_results: bool = True,
        quiet: bool = True,
    ) -> None:
        self._host = host
        self._port = port
        self._quiet = quiet
        self.speed = speed
        self.backend = Backend(
            seed=seed,
            speed=speed,
            state_dir=state_dir,
            api_key=api_key,
            balance_credits=balance_credits,
            upload_quota_bytes=upload_quota_bytes,
            result_ttl_s=result_ttl_s,
            upstream_lag_s=upstream_lag_s,
            faults=faults,
            fault_seed=fault_seed,
            distinct_results=distinct_results,
        )
        self._aborter = _ConnectionAborter()
        self._app = build_app(
            self.backend,
            drop=self._aborter,
            result_shape=result_shape,
            max_upload_bytes=max_upload_bytes,
            max_file_bytes=max_file_bytes,
            fetch_remote_uploads=fetch_remote_uploads,
        )
        self._socket: socket.socket | None = None
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._stopped = False

    @property
    def api_key(self) -> str:
        """The bearer key the simulator accepts (generated as ``sk-sim-…`` unless given)."""
        return self.backend.api_key

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (known once started)."""
        if self._socket is None:
            raise RuntimeError("the simulator is not running; call start() or use `with`")
        host, port = self._socket.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._server is not None

    def inject(
        self,
        endpoint: str,
        kind: str,
        *,
        count: int = 1,
        retry_after_s: float | None = None,
        latency_s: float = 1.0,
        code: str = "content_policy_violation",
        defect: str | None = None,
        hops: int = 1,
        status: str | None = None,
        error_type: str | None = None,
        location: str | None = None,
    ) -> None:
        """Script one-shot faults for the next requests to ``endpoint``, consumed in order.

        ``sim.inject("task", "500", count=3)``, ``sim.inject("create", "429",
        retry_after_s=1.5)``, ``sim.inject("create", "task_failure", code="generation_failed")``,
        ``sim.inject("create", "defect", defect="cut")`` (the task completes with a flawed
        result; ``sim.backend.task(task_id).defect`` says which flaw),
        ``sim.inject("download", "redirect", hops=3)``, ``sim.inject("task", "status",
        status="succeeded", count=5)``, ``sim.inject("create", "error_200",
        error_type="insufficient_quota")``. Endpoints, kinds and which option goes with which
        kind are listed in :mod:`foxnb.sim.faults`.
        """
        self.backend.faults.inject(
            endpoint,
            kind,
            count=count,
            retry_after_s=retry_after_s,
            latency_s=latency_s,
            code=code,
            defect=defect,
            hops=hops,
            status=status,
            error_type=error_type,
            location=location,
        )

    def set_faults(self, faults: Faults) -> None:
        """Replace the random fault rates while running."""
        self.backend.faults.set_faults(faults)

    def start(self) -> Simulator:
        """Bind, start serving on a daemon thread, and return once requests are accepted."""
        if self._server is not None:
            return self
        if self._stopped:
            raise RuntimeError(
                "a stopped Simulator cannot restart; make a new one (same state_dir)"
            )
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # An explicit IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted connections; with
        # proto 0 it skips that, and Nagle plus delayed ACKs add ~40 ms to every response.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        config = uvicorn.Config(
            self._app,
            http="h11",
            lifespan="off",
            # Forwarded headers would rewrite the scope's client address, which the
            # connection aborter matches against.
            proxy_headers=False,
            log_config=None,
            log_level="warning" if self._quiet else "info",
            access_log=not self._quiet,
            timeout_graceful_shutdown=2,
            # Servers keep an idle connection open longer than clients do (nginx: 75 s), so a
            # client's pool drops it first. At uvicorn's default of 5 s, equal to httpx's pool
            # expiry, a busy machine saw the server close a connection as a create arrived on
            # it: the client got ReadError, and the create ended submission_unknown.
            timeout_keep_alive=75,
        )
        ready = threading.Event()
        server = _Server(config, ready)
        self._aborter.server = server
        self._socket, self._server = sock, server
        self._stopping.clear()
        serve = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="foxnb-sim-http", daemon=True
        )
        pump = threading.Thread(target=self._pump_loop, name="foxnb-sim-pump", daemon=True)
        self._threads = [serve, pump]
        serve.start()
        pump.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not ready.wait(0.01):
            if not serve.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the simulator's HTTP server failed to start")
        return self

    def stop(self) -> None:
        """Stop serving, finish running renders, release the port and temporary files.

        Final: to serve the same tasks again, start a new Simulator on the same ``state_dir``.
        """
        self._stopped = True
        if self._server is not None:
            self._server.should_exit = True
        self._stopping.set()
        for thread in self._threads:
            thread.join(_STOP_TIMEOUT_S)
        self._threads = []
        self.backend.close()
        if self._socket is not None:
            self._socket.close()
        self._socket = self._server = None
        self._aborter.server = None

    def _pump_loop(self) -> None:
        while not self._stopping.wait(_PUMP_INTERVAL_S):
            self.backend.pump()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        key = self.api_key
        prefix = "sk-sim-" if key.startswith("sk-sim-") else ""
        masked = f"{prefix}…{key[-4:]}" if len(key) >= len(prefix) + 8 else "…"
        where = self.url if self.running else "stopped"
        return f"Simulator({where}, api_key={masked!r}, speed={self.speed:g})"
