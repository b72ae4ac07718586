"""``Core``: FoxAPI's calls as flows (create, read, upload, wait, download) for one connection."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from .. import errors as E
from ..config import scrub
from ..models import ExtendRequest, Task, UploadedFile
from .fetching import download, peek
from .polling import Finishers, poll
from .retry import RetryPolicy, Throttle, call
from .steps import (
    Outcome,
    Request,
    Response,
    Saved,
    Step,
    create_request,
    task_request,
    upload_request,
)


class Core:
    """The flows of one connection, with its retry policy, clock, rate limiter and secret.

    Both clients hold one ``Core`` and differ only in how they perform steps.
    """

    def __init__(
        self,
        *,
        secret: str | None,
        policy: RetryPolicy,
        clock: Callable[[], float],
        throttle: Throttle,
        rng: random.Random,
    ):
        self.secret = secret
        self.policy = policy
        self.clock = clock
        self.throttle = throttle
        self.rng = rng
        #: The predicted ends of the tasks this connection polls (see ``polling.Finishers``).
        self.finishers = Finishers()

    def _call(self, request: Request) -> Generator[Step, Outcome, dict[str, Any]]:
        return call(
            request,
            policy=self.policy,
            rng=self.rng,
            clock=self.clock,
            throttle=self.throttle,
            secret=self.secret,
        )

    def create(self, req: ExtendRequest, video_url: str | None) -> Generator[Step, Outcome, Task]:
        data = yield from self._call(create_request(req, video_url))
        return _task_or_unknown(data, self.secret)

    def task(self, task_id: str, sync_upstream: bool = True) -> Generator[Step, Outcome, Task]:
        data = yield from self._call(task_request(task_id, sync_upstream))
        try:
            return Task.from_json(data)
        except ValueError as exc:
            raise E.TransportError(f"task {task_id}: {exc}", request_sent=True) from exc

    def upload(self, path: Path) -> Generator[Step, Outcome, UploadedFile]:
        data = yield from self._call(upload_request(path))
        try:
            return UploadedFile.from_json(data)
        except ValueError as exc:
            raise E.TransportError(f"upload of {path.name}: {exc}", request_sent=True) from exc

    def wait(
        self, task: Task, created_s: float, deadline_s: float | None = None
    ) -> Generator[Step, Outcome, Task]:
        return poll(
            task,
            fetch=self.task,
            clock=self.clock,
            created_s=created_s,
            policy=self.policy,
            deadline_s=deadline_s,
            finishers=self.finishers,
        )

    def download(
        self,
        url: str,
        dest: Path,
        max_bytes: int,
        expected_s: float | None = None,
        extension: bool = True,
    ) -> Generator[Step, Outcome, Saved]:
        """Save a result file (see ``fetching.download``: redirects, bodies that are not the
        video, expired links); ``extension=False`` for any video (an input clip)."""
        return download(
            url,
            dest,
            max_bytes,
            expected_s,
            policy=self.policy,
            rng=self.rng,
            secret=self.secret,
            extension=extension,
        )

    def peek(
        self, url: str, first_byte: int, last_byte: int, attempts: int = 2
    ) -> Generator[Step, Outcome, tuple[Response, str]]:
        """A ranged read of a public file (see ``fetching.peek``)."""
        return peek(
            url,
            first_byte,
            last_byte,
            attempts=attempts,
            policy=self.policy,
            rng=self.rng,
            secret=self.secret,
        )


def _task_or_unknown(data: dict[str, Any], secret: str | None) -> Task:
    try:
        return Task.from_json(data)
    except ValueError as exc:
        raise E.SubmissionUnknownError(
            "FoxAPI answered the create request with HTTP 200, but its answer holds no task "
            "id; a task may exist.",
            evidence=scrub(
                f"answer: {json.dumps(data)[:300]}. foxnb did not resend the request; check "
                "your FoxAPI dashboard before submitting again.",
                secret,
            ),
        ) from exc
