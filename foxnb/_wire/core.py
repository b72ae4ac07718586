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
from .polling import poll
from .retry import RetryPolicy, Throttle, backoff_s, call
from .steps import (
    Failure,
    Fetch,
    Outcome,
    Request,
    Response,
    Saved,
    Sleep,
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
            fetch=lambda task_id, sync: self._call(task_request(task_id, sync)),
            clock=self.clock,
            created_s=created_s,
            policy=self.policy,
            deadline_s=deadline_s,
        )

    def download(self, url: str, dest: Path, max_bytes: int) -> Generator[Step, Outcome, Saved]:
        """Fetch a result file, retrying transient failures; an expired URL is final."""
        attempt = 0
        while True:
            outcome = yield Fetch(url, dest, max_bytes)
            if isinstance(outcome, Saved):
                return outcome
            if isinstance(outcome, Response) and outcome.status in (401, 403, 404, 410):
                raise E.DownloadError(
                    f"the result URL answered HTTP {outcome.status}; FoxAPI result links "
                    "expire after 24 h. foxnb re-queries the task for a fresh link on resume().",
                    code="result_expired",
                )
            retryable = isinstance(outcome, Failure) or (
                isinstance(outcome, Response) and (outcome.status == 429 or outcome.status >= 500)
            )
            detail = (
                f"{outcome.kind}: {outcome.detail}"
                if isinstance(outcome, Failure)
                else f"HTTP {outcome.status}"
                if isinstance(outcome, Response)
                else "no answer"
            )
            if not retryable or attempt + 1 >= self.policy.max_attempts:
                raise E.DownloadError(f"downloading the result failed ({detail})", code="download")
            yield Sleep(backoff_s(attempt, self.policy, self.rng))
            attempt += 1


def _task_or_unknown(data: dict[str, Any], secret: str | None) -> Task:
    try:
        return Task.from_json(data)
    except ValueError as exc:
        raise E.SubmissionUnknownError(
            "FoxAPI accepted the create request but its answer holds no task id.",
            evidence=scrub(f"answer: {json.dumps(data)[:300]}", secret),
        ) from exc
