"""The sans-I/O core shared by the sync and async clients.

Nothing here opens a socket or sleeps. A *flow* is a generator that yields steps —
``Send(request)`` or ``Sleep(seconds)`` — and receives what happened to each ``Send`` (a
``Response`` or a ``Failure``). ``client.Client`` drives flows with blocking httpx calls,
``client.AsyncClient`` with ``await``; the request building, response parsing, retry
decisions, backoff, rate limiting and polling schedule exist once, here.

Retry rules (the reason this module exists):

* Reads (task queries) are retried on 429, 5xx, and transport errors, with capped, jittered
  exponential backoff that never waits less than the server's ``Retry-After``. A 429 means
  "slow down", not "failed": it has its own, larger retry budget, so a burst of them (a
  "429 storm") delays a job instead of ending it.
* The create request is resent **only** when the server provably did not create the task:
  the connection could not be opened, or the server said 429. Any other failure after the
  request left this machine (timeout, reset, 5xx, unreadable 200) ends the flow with
  ``SubmissionUnknownError`` carrying the evidence; a paid task is never duplicated.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

from . import errors as E
from .config import scrub
from .models import ExtendRequest, Task, UploadedFile

USER_AGENT = "foxnb/0.1 (+python-httpx)"


# ---------------------------------------------------------------- steps and outcomes


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
    """Stream ``url`` into ``dest`` atomically (no API key is sent: result URLs are public)."""

    url: str
    dest: Path
    max_bytes: int


@dataclass(frozen=True)
class Saved:
    """A ``Fetch`` that worked: where the file is, its sha256 and size."""

    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class Observe:
    """A poll saw the task; drivers pass it to the caller's progress callback."""

    task: Task


Step: TypeAlias = Send | Sleep | Fetch | Observe
Outcome: TypeAlias = Response | Failure | Saved | None
Flow: TypeAlias = Generator[Step, Outcome, Any]


# ---------------------------------------------------------------- policy and backoff


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. ``sleep_scale=0`` turns every wait off (for tests).

    ``max_attempts`` bounds tries through 5xx and transport failures; ``max_rate_limited``
    bounds tries through 429 answers (about 10 minutes of backing off at the default delays).
    ``min_poll_interval_s`` is the shortest wait between two status queries of one task.
    """

    max_attempts: int = 6
    max_rate_limited: int = 30
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    sleep_scale: float = 1.0
    min_poll_interval_s: float = 0.5


def backoff_s(
    attempt: int, policy: RetryPolicy, rng: random.Random, retry_after_s: float | None = None
) -> float:
    """Delay before retry number ``attempt`` (0-based): full jitter, capped, >= Retry-After."""
    ceiling = min(policy.max_delay_s, policy.base_delay_s * (2**attempt))
    delay = rng.uniform(ceiling / 2, ceiling)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, policy.max_delay_s * 4))
    return delay * policy.sleep_scale


def parse_retry_after(headers: Mapping[str, str], now_s: float) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), if present."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now_s)
    except (TypeError, ValueError):
        return None


class Throttle:
    """Client-side rate limiter shared by every request of one connection.

    Spaces requests at ``rate_per_s`` (with a small burst), and adapts: a 429 pauses all
    requests until ``Retry-After`` and halves the rate — once per burst of 429s: answers to
    requests sent before the last cut only extend the pause, as they say nothing about the
    new rate. Each success gives back a twentieth of the full rate, so a short storm of 429s
    costs seconds, not minutes, once it is over.
    Thread-safe; it only computes waits, the drivers do the sleeping.
    """

    def __init__(self, rate_per_s: float = 5.0, burst: int = 5, min_rate_per_s: float = 0.2):
        self.max_rate_per_s = rate_per_s
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.min_rate_per_s = min_rate_per_s
        self._tat_s = float("-inf")
        self._paused_until_s = float("-inf")
        self._cut_at_s = float("-inf")
        self._lock = threading.Lock()

    def reserve(self, now_s: float) -> float:
        """Book the next slot; returns how long to wait before sending.

        A generic cell-rate algorithm: ``_tat_s`` is when the bucket would be empty again;
        a request may go ``burst - 1`` intervals ahead of it.
        """
        with self._lock:
            interval_s = 1 / self.rate_per_s
            tolerance_s = (self.burst - 1) * interval_s
            slot = max(now_s, self._tat_s - tolerance_s, self._paused_until_s)
            self._tat_s = max(self._tat_s, slot) + interval_s
            return slot - now_s

    def on_rate_limited(
        self, now_s: float, retry_after_s: float | None, sent_at_s: float | None = None
    ) -> None:
        """A 429 came back for a request sent at ``sent_at_s`` (``None``: unknown)."""
        with self._lock:
            if sent_at_s is None or sent_at_s >= self._cut_at_s:
                self.rate_per_s = max(self.min_rate_per_s, self.rate_per_s / 2)
                self._cut_at_s = now_s
            pause_s = retry_after_s if retry_after_s is not None else 1 / self.rate_per_s
            self._paused_until_s = max(self._paused_until_s, now_s + pause_s)

    def on_success(self) -> None:
        with self._lock:
            step = self.max_rate_per_s / 20
            self.rate_per_s = min(self.max_rate_per_s, self.rate_per_s + step)


# ---------------------------------------------------------------- requests


def create_request(req: ExtendRequest, video_url: str | None = None) -> Request:
    return Request("POST", "/v1/videos/generations", json=req.to_json(video_url), creates_task=True)


def task_request(task_id: str, sync_upstream: bool) -> Request:
    params = {"sync_upstream": "true"} if sync_upstream else {}
    return Request("GET", f"/v1/tasks/{task_id}", params=params)


def upload_request(path: Path, file_name: str | None = None) -> Request:
    return Request("POST", "/v1/files/upload/stream", upload=Upload(path, file_name or path.name))


# ---------------------------------------------------------------- responses -> errors


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _html_title(body: bytes) -> str:
    text = body[:4000].decode("utf-8", "replace")
    lower = text.lower()
    start = lower.find("<title>")
    end = lower.find("</title>")
    if 0 <= start < end:
        return " ".join(text[start + 7 : end].split())[:120]
    return " ".join(text.split())[:120]


_ADVICE = {
    400: "The request body was malformed; this is a foxnb bug, please report it.",
    401: "Set a valid key: export FOXAPI_API_KEY=sk-... or foxnb.connect(api_key=...).",
    402: "Top up your FoxAPI balance, then submit again. No task was created.",
    403: "Upload storage may be full (use auto_cleanup), or an edge proxy blocked the call.",
    404: "Check the task id; tasks from another account or a restarted simulator are gone.",
    413: "The file is too large for FoxAPI's edge proxy; upload a shorter or smaller video.",
    429: "Too many requests; foxnb slows down and retries reads by itself.",
}

_ERROR_CLASSES: dict[int, type[E.APIError]] = {
    400: E.BadRequestError,
    401: E.AuthenticationError,
    402: E.InsufficientCreditsError,
    403: E.PermissionDeniedError,
    404: E.NotFoundError,
    413: E.PayloadTooLargeError,
    422: E.BadRequestError,
    429: E.RateLimitError,
}


def error_from_response(response: Response, secret: str | None, now_s: float) -> E.APIError:
    """Turn an error response — FoxAPI JSON or an edge proxy's HTML — into a foxnb error."""
    status = response.status
    data = _json_or_none(response.body)
    err = data.get("error") if isinstance(data, dict) else None
    code = error_type = param = None
    if isinstance(err, dict):
        message = str(err.get("message") or err.get("type") or "no message")
        code = None if err.get("code") is None else str(err.get("code"))
        error_type = None if err.get("type") is None else str(err.get("type"))
        param = None if err.get("param") is None else str(err.get("param"))
        origin = f"FoxAPI answered {status}"
    elif isinstance(err, str):
        message, origin = err, f"FoxAPI answered {status}"
    else:
        kind = "an HTML page" if b"<" in response.body[:200] else "a non-JSON body"
        message = _html_title(response.body) or "(empty body)"
        origin = f"an edge proxy in front of FoxAPI answered {status} with {kind}"
    labels = ", ".join(x for x in (code, f"field {param!r}" if param else None) if x)
    text = f"{origin}{' (' + labels + ')' if labels else ''}: {message}"
    advice = _ADVICE.get(status) or (
        "The service failed; try again later." if status >= 500 else None
    )
    if advice:
        text += f"\n{advice}"
    text = scrub(text, secret)
    cls = _ERROR_CLASSES.get(status) or (E.ServerError if status >= 500 else E.APIError)
    kw: dict[str, Any] = dict(
        status_code=status,
        code=code,
        error_type=error_type,
        param=param,
        body_excerpt=scrub(response.body[:300].decode("utf-8", "replace"), secret),
    )
    if cls is E.RateLimitError:
        return E.RateLimitError(
            text, retry_after_s=parse_retry_after(response.headers, now_s), **kw
        )
    return cls(text, **kw)


def parse_json_object(response: Response) -> dict[str, Any] | None:
    data = _json_or_none(response.body)
    return data if isinstance(data, dict) else None


# ---------------------------------------------------------------- the request flow


def _utc(now_s: float) -> str:
    return datetime.fromtimestamp(now_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def call(
    request: Request,
    *,
    policy: RetryPolicy,
    rng: random.Random,
    clock: Callable[[], float],
    throttle: Throttle,
    secret: str | None,
) -> Generator[Step, Outcome, dict[str, Any]]:
    """Send ``request`` until it yields a JSON object, applying the retry rules above."""
    attempt = 0  # failures so far (5xx, transport)
    limited = 0  # 429 answers so far
    while True:
        wait_s = throttle.reserve(clock())
        if wait_s > 0:
            yield Sleep(wait_s * policy.sleep_scale)
        sent_at = clock()
        outcome = yield Send(request)
        if isinstance(outcome, Failure):
            if request.creates_task and outcome.request_sent:
                raise E.SubmissionUnknownError(
                    "The create request may have reached FoxAPI, but no answer came back.",
                    evidence=scrub(
                        f"{request.describe()} sent at {_utc(sent_at)}; {outcome.kind}: "
                        f"{outcome.detail}. No task id was received, so foxnb did not resend "
                        "it. Check your FoxAPI dashboard before submitting again.",
                        secret,
                    ),
                )
            failure: E.FoxError = E.TransportError(
                scrub(f"{request.describe()} failed ({outcome.kind}): {outcome.detail}", secret),
                request_sent=outcome.request_sent,
            )
        elif isinstance(outcome, Response) and 200 <= outcome.status < 300:
            data = parse_json_object(outcome)
            if data is not None:
                throttle.on_success()
                return data
            if request.creates_task:
                raise E.SubmissionUnknownError(
                    "FoxAPI accepted the create request but its answer was unreadable.",
                    evidence=scrub(
                        f"{request.describe()} sent at {_utc(sent_at)}; HTTP {outcome.status} "
                        f"with a body that is not a JSON object: {outcome.body[:200]!r}. "
                        "foxnb did not resend it.",
                        secret,
                    ),
                )
            failure = E.TransportError(
                f"{request.describe()}: HTTP {outcome.status} with an unreadable body",
                request_sent=True,
            )
        else:
            assert isinstance(outcome, Response)
            failure = error_from_response(outcome, secret, clock())
            if isinstance(failure, E.RateLimitError):
                throttle.on_rate_limited(clock(), failure.retry_after_s, sent_at)
            elif isinstance(failure, E.ServerError) and request.creates_task:
                raise E.SubmissionUnknownError(
                    f"FoxAPI answered the create request with HTTP {outcome.status}.",
                    evidence=scrub(
                        f"{request.describe()} sent at {_utc(sent_at)}; {failure}. "
                        "A server error after receiving the request does not prove that no "
                        "task was created, so foxnb did not resend it.",
                        secret,
                    ),
                ) from failure
        if isinstance(failure, E.RateLimitError):
            if limited + 1 >= policy.max_rate_limited:
                raise failure
            yield Sleep(backoff_s(limited, policy, rng, failure.retry_after_s))
            limited += 1
            continue
        if not _retryable(failure) or attempt + 1 >= policy.max_attempts:
            raise failure
        yield Sleep(backoff_s(attempt, policy, rng))
        attempt += 1


def _retryable(failure: E.FoxError) -> bool:
    # Reaching here with a create request means the failure provably created nothing.
    return isinstance(failure, E.RateLimitError | E.ServerError | E.TransportError)


# ---------------------------------------------------------------- polling schedule


def estimate_total_s(
    elapsed_s: float, estimated_s: float | None, history: Sequence[tuple[float, int]]
) -> float | None:
    """Best guess of a task's total duration from its progress history and the server hint.

    ``history`` holds ``(elapsed_s, progress)`` observations. Two rising progress readings
    give a rate (measured over the longest span, so whole-percent rounding matters little);
    one reading gives a straight line from the start; otherwise the server's
    ``estimated_time`` is all there is.
    """
    rising = [(t, p) for t, p in history if 0 < p < 100]
    if len(rising) >= 2:
        (t1, p1), (t2, p2) = rising[0], rising[-1]
        if p2 > p1 and t2 > t1:
            return t2 + (100 - p2) * (t2 - t1) / (p2 - p1)
    if rising and rising[-1][0] > 0:
        t, p = rising[-1]
        return t * 100 / p
    return estimated_s


# Shares of the predicted remaining time that the next poll covers while closing in on the
# end: after a single progress reading (whose rate still includes the queueing time, and can
# overstate the remaining time by half) and after two or more.
_APPROACH_ONE_READING = 0.5
_APPROACH = 0.75
# A single reading taken early (low progress) predicts the end badly, the more so when the
# start of the clock is off (a create request that waited in the rate limiter); after one
# reading the next poll comes within this share of the server's estimate, to measure a rate.
_ONE_READING_MAX_SHARE = 0.25
# Within this share of the predicted total, the next poll lands just past the predicted end,
# by the second share.
_NEAR_END = 0.1
_PAST_END = 0.005


def next_poll_delay_s(
    elapsed_s: float,
    estimated_s: float | None,
    history: Sequence[tuple[float, int]],
    *,
    min_interval_s: float = 0.5,
    max_interval_s: float = 60.0,
    tail_fraction: float = 0.04,
) -> float:
    """Seconds until the next poll: look once early, close in on the predicted end, land on it.

    The first look (at half the estimate) learns the progress rate. Every reading then
    predicts the end again, and the next poll covers most of the way there (half of it after
    one reading, but no more than a quarter of the server's estimate; three quarters after
    more), so the polls converge on the end instead of overshooting it while the prediction
    is still coarse. Within 10 % of the predicted end, the next poll lands just past it.
    Once the prediction has passed, polls are
    ``tail_fraction`` of the elapsed time apart, so a finished task is seen within about that
    fraction of its duration. Against progress that wobbles ±25 % around a straight line (the
    simulator's) this sees a task done within about 3 % of its duration, in about 4 queries.
    """
    total_s = estimate_total_s(elapsed_s, estimated_s, history)
    if total_s is None:  # no hint at all: grow the interval geometrically
        return min(max_interval_s, max(min_interval_s, elapsed_s * 0.5))
    rising = sum(1 for _, p in history if 0 < p < 100)
    remaining_s = total_s - elapsed_s
    if remaining_s <= 0:
        delay = tail_fraction * elapsed_s
    elif rising == 0:
        delay = min(remaining_s, 0.5 * total_s - elapsed_s)
        delay = delay if delay > 0 else remaining_s + _PAST_END * total_s
    elif remaining_s > _NEAR_END * total_s:
        share = _APPROACH_ONE_READING if rising == 1 else _APPROACH
        delay = share * remaining_s
        if rising == 1 and estimated_s is not None:
            delay = min(delay, _ONE_READING_MAX_SHARE * estimated_s)
    else:
        delay = remaining_s + _PAST_END * total_s
    return min(max_interval_s, max(min_interval_s, delay))


def poll(
    task: Task,
    *,
    fetch: Callable[[str, bool], Generator[Step, Outcome, dict[str, Any]]],
    clock: Callable[[], float],
    created_s: float,
    policy: RetryPolicy,
    deadline_s: float | None = None,
) -> Generator[Step, Outcome, Task]:
    """Poll ``task`` until it is terminal, yielding an ``Observe`` for every reading.

    A ``completed`` task without result URLs is re-read without ``sync_upstream``, which
    public clients report fills them in.
    """
    history: list[tuple[float, int]] = []
    estimated_s = task.estimated_time_s
    empty_reads = 0
    while True:
        elapsed_s = clock() - created_s
        if task.status in ("processing", "pending"):
            history.append((elapsed_s, task.progress))
        if task.estimated_time_s is not None:
            estimated_s = task.estimated_time_s
        if task.is_terminal and not (task.status == "completed" and not task.result_urls):
            return task
        if task.status == "completed":
            empty_reads += 1
            if empty_reads > policy.max_attempts:
                return task
            delay_s = min(policy.max_delay_s, policy.base_delay_s * empty_reads)
        else:
            delay_s = next_poll_delay_s(
                elapsed_s, estimated_s, history, min_interval_s=policy.min_poll_interval_s
            )
        if deadline_s is not None and clock() + delay_s > deadline_s:
            return task
        yield Sleep(delay_s * policy.sleep_scale)
        data = yield from fetch(task.id, empty_reads == 0)
        task = Task.from_json(data)
        yield Observe(task)


# ---------------------------------------------------------------- the flows, bundled


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
