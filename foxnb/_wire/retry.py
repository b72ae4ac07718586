"""How hard to try: the retry policy, backoff, the shared rate limiter, and ``call()``.

``call(request)`` is the flow every request goes through. Its rules are foxnb's money rules:

* Reads are retried on 429, 5xx and transport errors, with capped, jittered exponential
  backoff that never waits less than the server's ``Retry-After``. A 429 means "slow down",
  not "failed": it has its own, larger retry budget, so a storm of them delays a job instead of
  ending it.
* The create request (``Request.creates_task``) is resent **only** when the server provably
  did not create the task: the connection could not be opened, or the server said 429. Any
  other failure after the request left this machine ends the flow with
  ``SubmissionUnknownError`` carrying the evidence; a paid task is never duplicated.
* A 2xx answer that holds only an error (``{"error": {...}}``) is that error: a read treats
  it like the status it stands for (a server error is retried); a create refused for its
  content, key, balance or rate ends ``not_submitted`` (a rate limit is retried), any other
  such create answer is ``SubmissionUnknownError`` with the body as evidence.

Every JSON answer is scrubbed of the API key before anyone sees it (``config.scrub_json``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .. import errors as E
from ..config import scrub, scrub_json
from .responses import (
    created_nothing,
    error_envelope,
    error_from_response,
    error_in_body,
    parse_json_object,
)
from .steps import Failure, Outcome, Request, Response, Send, Sleep, Step


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. ``sleep_scale=0`` turns every wait off (for tests).

    ``max_attempts`` bounds tries through 5xx and transport failures; ``max_rate_limited``
    bounds tries through 429 answers (about 10 minutes of backing off at the default delays).
    ``min_poll_interval_s`` is the shortest wait between two status queries of one task;
    ``unknown_status_max_delay_s`` the longest between reads of a task whose status word
    foxnb does not know. ``max_body_attempts`` bounds downloads of a result whose body is
    not the video.
    """

    max_attempts: int = 6
    max_rate_limited: int = 30
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    sleep_scale: float = 1.0
    min_poll_interval_s: float = 0.5
    unknown_status_max_delay_s: float = 60.0
    max_body_attempts: int = 3


def backoff_s(
    attempt: int, policy: RetryPolicy, rng: random.Random, retry_after_s: float | None = None
) -> float:
    """Delay before retry number ``attempt`` (0-based): full jitter, capped, >= Retry-After."""
    ceiling = min(policy.max_delay_s, policy.base_delay_s * (2**attempt))
    delay = rng.uniform(ceiling / 2, ceiling)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, policy.max_delay_s * 4))
    return delay * policy.sleep_scale


class Throttle:
    """Client-side rate limiter shared by every request of one connection.

    Spaces requests at ``rate_per_s`` (with a small burst), and adapts: a 429 pauses all
    requests until ``Retry-After`` and halves the rate — once per burst of 429s: answers to
    requests sent before the last cut only extend the pause, as they say nothing about the
    new rate. The requests that waited out a pause leave one interval apart, not as a burst
    (the burst comes back once they have all gone). Each success gives back a twentieth of
    the full rate, so a short storm of 429s costs seconds, not minutes, once it is over.
    While the rate is cut, a request is not booked more than ``recheck_s`` beyond the pause
    (``wait_to_book``): it asks again later, at the rate of then; and a success shortens the
    interval after the last slot booked to the new rate's. Booked at once, the slots of a cut
    rate (one every 5 s at 0.2/s) stayed booked after the rate had recovered: a 3 s storm
    then held the last requests of a 50-job sweep back by 15 s.
    Thread-safe; it only computes waits, the drivers do the sleeping.
    """

    def __init__(
        self,
        rate_per_s: float = 5.0,
        burst: int = 5,
        min_rate_per_s: float = 0.2,
        recheck_s: float = 1.0,
    ):
        self.max_rate_per_s = rate_per_s
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.min_rate_per_s = min_rate_per_s
        self.recheck_s = recheck_s
        self._tat_s = float("-inf")
        self._last_booked_s = float("-inf")  # _tat_s less the interval it was booked with
        self._paused_until_s = float("-inf")
        self._cut_at_s = float("-inf")
        self._burst_spent = False  # since the last pause, until the queue drains
        self._lock = threading.Lock()

    def reserve(self, now_s: float) -> float:
        """Book the next slot; returns how long to wait before sending.

        A generic cell-rate algorithm: ``_tat_s`` is when the bucket would be empty again;
        a request may go ``burst - 1`` intervals ahead of it.
        """
        with self._lock:
            slot = self._slot(now_s)
            self._last_booked_s = max(self._tat_s, slot)
            self._tat_s = self._last_booked_s + 1 / self.rate_per_s
            return slot - now_s

    def wait_to_book(self, now_s: float) -> float:
        """0 when ``reserve`` may book now; else how long to wait before asking again (the
        rate is cut and the slot would come more than ``recheck_s`` after the pause)."""
        with self._lock:
            if self.rate_per_s >= self.max_rate_per_s:
                return 0.0
            beyond_s = self._slot(now_s) - max(now_s, self._paused_until_s) - self.recheck_s
            return 0.0 if beyond_s <= 0 else min(beyond_s, self.recheck_s)

    def _slot(self, now_s: float) -> float:
        """The next free slot (under the lock); books nothing."""
        if now_s >= self._tat_s:
            self._burst_spent = False
        tolerance_s = 0.0 if self._burst_spent else (self.burst - 1) / self.rate_per_s
        return max(now_s, self._tat_s - tolerance_s, self._paused_until_s)

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
            self._tat_s = max(self._tat_s, self._paused_until_s)
            self._burst_spent = True

    def on_success(self) -> None:
        with self._lock:
            step = self.max_rate_per_s / 20
            self.rate_per_s = min(self.max_rate_per_s, self.rate_per_s + step)
            # The slot after the last one booked, one interval of the new rate later; never
            # inside a pause (the queue would look drained and a burst leave when it ends).
            sooner_s = max(self._last_booked_s + 1 / self.rate_per_s, self._paused_until_s)
            self._tat_s = min(self._tat_s, sooner_s)


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
        # Not with every wait turned off (tests): nothing would move the clock on.
        while policy.sleep_scale and (early_s := throttle.wait_to_book(clock())) > 0:
            yield Sleep(early_s * policy.sleep_scale)
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
            if data is not None and not error_envelope(data):
                throttle.on_success()
                return dict(scrub_json(data, secret))
            if data is not None:
                failure = error_in_body(outcome, data, secret)
                if request.creates_task and not created_nothing(failure):
                    raise E.SubmissionUnknownError(
                        f"FoxAPI answered the create request with HTTP {outcome.status} and an "
                        f"error instead of a task: {failure.message.splitlines()[0]}",
                        evidence=scrub(
                            f"{request.describe()} sent at {_utc(sent_at)}; HTTP "
                            f"{outcome.status} with the body "
                            f"{outcome.body[:300].decode('utf-8', 'replace')}. The error "
                            "does not say the request was refused before a task was made, so "
                            "foxnb did not resend it. Check your FoxAPI dashboard before "
                            "submitting again.",
                            secret,
                        ),
                    ) from failure
            elif request.creates_task:
                raise E.SubmissionUnknownError(
                    "FoxAPI accepted the create request but its answer was unreadable.",
                    evidence=scrub(
                        f"{request.describe()} sent at {_utc(sent_at)}; HTTP {outcome.status} "
                        f"with a body that is not a JSON object: {outcome.body[:200]!r}. "
                        "foxnb did not resend it.",
                        secret,
                    ),
                )
            else:
                failure = E.TransportError(
                    f"{request.describe()}: HTTP {outcome.status} with an unreadable body",
                    request_sent=True,
                )
        else:
            assert isinstance(outcome, Response)
            failure = error_from_response(outcome, secret, clock())
            if isinstance(failure, E.ServerError) and request.creates_task:
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
            throttle.on_rate_limited(clock(), failure.retry_after_s, sent_at)
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
