"""The vocabulary of the wire: steps a flow yields, outcomes it receives, and the requests.

A *flow* (see ``foxnb._wire``) is a generator that yields ``Send``, ``Fetch``, ``Peek``,
``Sleep`` or ``Observe`` steps and receives what happened to each (a ``Response``, a
``Failure``, a ``Saved`` file, a ``Rejected`` body, or ``None``). ``Request`` describes one
HTTP call without sending it; the builders at the end make FoxAPI's three requests.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

from ..models import ExtendRequest, Task

USER_AGENT = "foxnb/0.2 (+python-httpx)"


@dataclass(frozen=True)
class Upload:
    """A file to send as multipart ``file`` (read by the driver, never held here)."""

    path: Path
    file_name: str


@dataclass(frozen=True)
class Request:
    """One HTTP request, described. ``creates_task`` marks the paid, non-idempotent POST."""

    method: Literal["GET", "POST"]
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    json: Mapping[str, Any] | None = None
    upload: Upload | None = None
    creates_task: bool = False

    def describe(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.method} {self.path}{'?' + query if query else ''}"


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Failure:
    """A transport failure. ``request_sent`` is False only if the server never got it."""

    kind: str  # e.g. "connect", "timeout", "dropped", "protocol"
    detail: str
    request_sent: bool


@dataclass(frozen=True)
class Send:
    request: Request


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Fetch:
    """GET ``url`` (one hop: redirects come back as a ``Response``) and stream a 200 into
    ``dest`` atomically, saving it only if it is a whole, readable video lasting
    ``expected_s`` (when known; see ``media.result_problem``) — of any duration when it is not
    an ``extension`` (an input clip). No API key is sent: result URLs are public."""

    url: str
    dest: Path
    max_bytes: int
    expected_s: float | None = None
    extension: bool = True


@dataclass(frozen=True)
class Peek:
    """GET bytes ``first_byte`` … ``last_byte`` of ``url`` (one hop, no API key); the answer
    is a ``Response`` holding at most that many bytes of the body."""

    url: str
    first_byte: int = 0
    last_byte: int = 0


@dataclass(frozen=True)
class Saved:
    """A ``Fetch`` that worked: where the file is, its sha256 and size."""

    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class Rejected:
    """A ``Fetch`` whose body was not the video: ``code`` (``not_a_video``, ``truncated``,
    ``wrong_duration``) and why. Nothing was saved under the destination's name; ``kept`` is
    where a readable video that did not fit was put aside (it may still be the paid result)."""

    code: str
    detail: str
    kept: Path | None = None


@dataclass(frozen=True)
class Observe:
    """A poll saw the task; drivers pass it to the caller's progress callback."""

    task: Task


Step: TypeAlias = Send | Sleep | Fetch | Peek | Observe
Outcome: TypeAlias = Response | Failure | Saved | Rejected | None
Flow: TypeAlias = Generator[Step, Outcome, Any]


def create_request(req: ExtendRequest, video_url: str | None = None) -> Request:
    return Request("POST", "/v1/videos/generations", json=req.to_json(video_url), creates_task=True)


def task_request(task_id: str, sync_upstream: bool) -> Request:
    params = {"sync_upstream": "true"} if sync_upstream else {}
    return Request("GET", f"/v1/tasks/{task_id}", params=params)


def upload_request(path: Path, file_name: str | None = None) -> Request:
    return Request("POST", "/v1/files/upload/stream", upload=Upload(path, file_name or path.name))
