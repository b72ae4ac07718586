"""The simulator in a process of its own, and the server-side truth it leaves behind.

The benchmark's clients must not share a process (GIL, RSS, main thread) with the server, so
each phase starts ``python -m foxnb.sim`` afresh — the same command a user runs — with

- ``--no-distinct-results``: every task of the clip returns one shared rendering, so what
  is measured is the service's timeline, not the simulator's MP4 encoder;
- ``--state-dir``: the simulator saves every task record there (``state.json``), which is
  where the benchmark reads when each task was created and when a synced query would first
  have shown it completed (:func:`foxnb.sim.backend.completed_at`);
- ``--verbose``: uvicorn's access log (to a file), from which the requests each task
  received are counted.

Nothing here talks to the client under test; the simulator's API key is made here, given to
the simulator on its command line and to the client in its environment, and never printed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from foxnb.sim.backend import completed_at
from foxnb.sim.store import AccountState

from .workload import MODELS, PROMPT

_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 30.0
_CREDITS = 10**9  # enough for any phase: the benchmark is not about the balance
_URL_LINE = "export FOXAPI_BASE_URL="
# An access-log line: `127.0.0.1:40000 - "GET /v1/tasks/<id>?sync_upstream=true HTTP/1.1" 200`
_REQUEST = re.compile(r'"(GET|POST) (/[^ ?"]*)(?:\?[^ "]*)? HTTP/[0-9.]+" (\d{3})')


@dataclass(frozen=True)
class ServerTask:
    """One task as the simulator recorded it, in wall-clock Unix seconds."""

    task_id: str
    model: str
    seed: int
    created_at: float
    completed_at: float | None

    @property
    def duration_s(self) -> float | None:
        """Created → first shown completed, on the server."""
        return None if self.completed_at is None else self.completed_at - self.created_at


@dataclass(frozen=True)
class RequestCounts:
    """Requests the simulator answered, from its access log."""

    task_queries: Counter[str]  # GET /v1/tasks/{id}, per task id
    creates: int
    uploads: int
    downloads: int
    errors: int  # answers with status >= 400


class SimProcess:
    """``python -m foxnb.sim`` on a free loopback port, for one benchmark phase.

    ``renders_from`` copies an earlier state directory's rendered results in first, so the
    one shared rendering is not re-encoded in every phase.
    """

    def __init__(
        self,
        folder: Path,
        *,
        speed: float,
        seed: int,
        keep_state: bool = True,
        renders_from: Path | None = None,
    ) -> None:
        self.folder = folder
        self.speed = speed
        self.seed = seed
        self.state_dir = folder / "sim-state" if keep_state else None
        self.log_path = folder / "sim-access.log"
        self.api_key = "sk-sim-bench-" + secrets.token_hex(12)
        self.url = ""
        self._renders_from = renders_from
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None

    def start(self) -> SimProcess:
        """Start the simulator and return once it serves."""
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "foxnb.sim",
            "--port",
            "0",
            "--speed",
            f"{self.speed:g}",
            "--seed",
            str(self.seed),
            "--no-distinct-results",
            "--verbose",
            "--api-key",
            self.api_key,
            "--balance-credits",
            str(_CREDITS),
        ]
        if self.state_dir is not None:
            if self._renders_from is not None:
                shutil.copytree(self._renders_from / "renders", self.state_dir / "renders")
            command += ["--state-dir", str(self.state_dir)]
        log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop())
        self._log = log
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.url = self._read_url(self._process)
        return self

    def _read_url(self, process: subprocess.Popen[str]) -> str:
        found: list[str] = []

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("  " + _URL_LINE):
                    found.append(line.strip()[len(_URL_LINE) :])
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(_START_TIMEOUT_S)
        if not found:
            self.stop()
            tail = self.log_path.read_text(encoding="utf-8")[-2000:]
            raise RuntimeError(f"the simulator did not start:\n{tail}")
        return found[0]

    def env(self) -> dict[str, str]:
        """The environment a client process needs to use this simulator."""
        return {**os.environ, "FOXAPI_API_KEY": self.api_key, "FOXAPI_BASE_URL": self.url}

    def stop(self) -> None:
        """Stop the simulator (Ctrl-C, as a user would) and wait for it."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(_STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        log, self._log = self._log, None
        if log is not None:
            log.close()

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -------------------------------------------------------------- server-side truth

    def tasks(self) -> list[ServerTask]:
        """Every task the simulator recorded (needs ``keep_state``), oldest first."""
        assert self.state_dir is not None
        state = AccountState.from_json(
            json.loads((self.state_dir / "state.json").read_text(encoding="utf-8"))
        )
        return [
            ServerTask(
                task_id=record.id,
                model=record.params.model,
                seed=record.seed,
                created_at=record.timeline.created_at,
                completed_at=completed_at(record),
            )
            for record in state.tasks.values()
        ]

    def requests(self) -> RequestCounts:
        """What the simulator's access log says it answered."""
        queries: Counter[str] = Counter()
        creates = uploads = downloads = errors = 0
        for line in self.log_path.read_text(encoding="utf-8").splitlines():
            match = _REQUEST.search(line)
            if match is None:
                continue
            method, path, status = match.groups()
            errors += int(status) >= 400
            if method == "GET" and path.startswith("/v1/tasks/"):
                queries[path.rsplit("/", 1)[1]] += 1
            elif path == "/v1/videos/generations":
                creates += 1
            elif path.startswith("/v1/files/upload"):
                uploads += 1
            elif path.startswith("/files/output/"):
                downloads += 1
        return RequestCounts(queries, creates, uploads, downloads, errors)


def warm_up(sim: SimProcess, clip: Path, timeout_s: float = 120.0) -> None:
    """Run one fast-model task to completion so the shared rendering exists before a phase.

    Plain httpx; the simulator encodes its one real MP4 here, not during a measurement.
    """
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    with httpx.Client(base_url=sim.url, headers=headers, timeout=30) as http:
        upload = http.post(
            "/v1/files/upload/stream", files={"file": (clip.name, clip.read_bytes(), "video/mp4")}
        )
        upload.raise_for_status()
        body = {"model": MODELS[1], "prompt": PROMPT, "video_url": upload.json()["url"]}
        created = http.post("/v1/videos/generations", json=body)
        created.raise_for_status()
        task_id = created.json()["id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            task = http.get(f"/v1/tasks/{task_id}", params={"sync_upstream": "true"}).json()
            if task["status"] == "completed":
                return
            if task["status"] in ("failed", "cancelled"):
                raise RuntimeError(f"the warm-up task ended {task['status']}: {task['error']}")
            time.sleep(0.1)
    raise RuntimeError(f"the warm-up task did not complete within {timeout_s} s")
