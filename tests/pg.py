"""A real PostgreSQL server for tests, started from Debian's ``postgresql`` package.

``start_server()`` runs ``initdb`` into a fresh temporary folder and ``pg_ctl start`` on a free
loopback port, with the server's socket inside that folder, so it touches nothing of the
machine's own clusters. PostgreSQL refuses to run as root: when the tests run as root the
server runs as the ``postgres`` user the package created (through ``runuser``).

Fixtures (imported by ``tests/conftest.py``):

- ``pg_server``: one server per test session (per xdist worker), stopped and deleted at the end.
  Missing binaries skip the tests that need it — ``./dev test`` installs the package — except
  with ``CI`` set, where they fail.
- ``pg_dsn``: a fresh, empty database on it for one test, as a ``postgresql://`` URL.

The benchmark (``benchmarks/store_benchmark.py``) uses ``start_server(durable=True)``: tests
turn ``fsync`` off for speed, a benchmark must not.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"  # who runs the server when the tests run as root
DB_USER = "foxnb"


def pg_bin() -> Path | None:
    """The ``bin`` folder of the newest installed PostgreSQL, if any."""
    found = sorted(
        (p for p in PG_ROOT.glob("*/bin") if (p / "initdb").exists() and (p / "pg_ctl").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


def missing_reason() -> str | None:
    """Why no server can be started here, or ``None``."""
    if os.environ.get("FOXNB_NO_POSTGRES"):
        return os.environ["FOXNB_NO_POSTGRES"]
    if pg_bin() is None:
        return f"no PostgreSQL under {PG_ROOT}; ./dev test installs Debian's postgresql package"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root, and there is no {SERVER_USER!r} user to run the server"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Stops the server and deletes its folder once the test process is gone, however it ended
# (a kill -9 or a timeout runs no fixture teardown): argv = parent pid, then the stop command.
_WATCHDOG = """
import os, shutil, subprocess, sys, time
parent, root, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
while True:
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        break
    time.sleep(1)
subprocess.run(stop, capture_output=True, timeout=120)
shutil.rmtree(root, ignore_errors=True)
"""


@dataclass
class PgServer:
    """A running server; ``dsn(db)`` connects to database ``db`` on it."""

    bin: Path
    root: Path
    port: int
    watchdog: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE / DROP DATABASE)."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]  # test-made text, no user input

    def create_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        self.admin(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop_command(self) -> list[str]:
        return _as_server_user(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]
        )

    def stop(self) -> None:
        if self.watchdog is not None:
            self.watchdog.kill()
            self.watchdog.wait()
        subprocess.run(self.stop_command(), capture_output=True, timeout=120)
        shutil.rmtree(self.root, ignore_errors=True)


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *cmd] if os.geteuid() == 0 else cmd


def _run_server_cmd(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_as_server_user(cmd), capture_output=True, text=True, timeout=120)


def start_server(durable: bool = False, attempts: int = 3) -> PgServer:
    """initdb + pg_ctl start in a new temporary folder on a free loopback port.

    ``durable=False`` turns fsync and synchronous commits off (fast tests; a crash of the test
    machine loses nothing that matters).
    """
    binary = pg_bin()
    if binary is None:
        raise RuntimeError(missing_reason() or "no PostgreSQL")
    root = Path(tempfile.mkdtemp(prefix="foxnb-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam(SERVER_USER)
        os.chown(root, user.pw_uid, user.pw_gid)
    init = _run_server_cmd(
        [str(binary / "initdb"), "-D", str(root / "data"), "-U", DB_USER, "--auth=trust",
         "-E", "UTF8", "--no-locale", "--no-sync"]
    )  # fmt: skip
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
    options = ["-c listen_addresses=127.0.0.1", f"-c unix_socket_directories={root}"]
    options += ["-c max_connections=200"]
    if not durable:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    for _ in range(attempts):
        port = _free_port()
        started = _run_server_cmd(
            [str(binary / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "server.log"),
             "-w", "-t", "60", "-o", " ".join([*options, f"-c port={port}"]), "start"]
        )  # fmt: skip
        if started.returncode == 0:
            server = PgServer(binary, root, port)
            watch = [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(root)]
            server.watchdog = subprocess.Popen(
                [*watch, *server.stop_command()],
                start_new_session=True,  # outlives a kill of the test process's group
            )
            return server
    log = (root / "server.log").read_text(errors="replace")[-2000:]
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()}\n{log}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the session (see the module docstring)."""
    reason = missing_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL tests must run on CI, but: {reason}")
        pytest.skip(reason)
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> Iterator[str]:
    """A fresh database for one test."""
    name = pg_server.create_database()
    try:
        yield pg_server.dsn(name)
    finally:
        pg_server.drop_database(name)
