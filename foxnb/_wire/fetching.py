"""Fetching public files: following redirects safely, and downloading a result until it is one.

Result and upload URLs are public links (a CDN's); no API key is ever sent to them (the
drivers fetch them with a client that has none). Two flows:

- ``download(url, dest, …)``: save a result. A redirect (CDNs answer 302) is followed up to
  ``MAX_REDIRECTS`` times, to https anywhere or plain http on this machine only. A body that is
  not the video — an error page however it is labelled, fewer bytes than announced, a file
  FFmpeg cannot read, a duration that does not fit — is tried again, a few times
  (``RetryPolicy.max_body_attempts``), then ends in a ``DownloadError`` whose ``code`` says
  which (``not_a_video``, ``truncated``, ``wrong_duration``, ``redirect``). Nothing is saved
  under the result's name unless it is the video.
- ``peek(url, first_byte, last_byte)``: a ranged read, with the same redirect rule, for
  checking that an input URL (or a reused upload) still answers with a video.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from .. import errors as E
from ..config import is_loopback, scrub
from .retry import RetryPolicy, backoff_s
from .steps import Failure, Fetch, Outcome, Peek, Rejected, Response, Saved, Sleep, Step

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_EXPIRED = frozenset({401, 403, 404, 410})


class RedirectRefused(E.DownloadError):
    """A redirect foxnb will not follow (too many, a loop, plain http off this machine)."""

    def __init__(self, message: str):
        super().__init__(message, code="redirect")


def redirect_target(url: str, response: Response, secret: str | None = None) -> str:
    """Where a redirect answer to ``url`` points, if foxnb may go there.

    Allowed: https anywhere, plain http to this machine only. Raises ``RedirectRefused``.
    """
    location = (response.headers.get("location") or "").strip()
    if not location:
        raise RedirectRefused(f"HTTP {response.status} redirect without a Location header")
    target = urljoin(url, location)
    try:
        parts = urlsplit(target)
        host = parts.hostname
    except ValueError:
        host = None
    if host and (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(target))):
        return target
    shown = scrub(target, secret)[:200]
    raise RedirectRefused(
        f"a redirect to {shown!r}: foxnb follows redirects to https, or to plain http on "
        "this machine only"
    )


def follow(
    make_step: Callable[[str], Fetch | Peek], url: str, secret: str | None
) -> Generator[Step, Outcome, tuple[Outcome, str]]:
    """Perform ``make_step(url)``, following redirect answers; returns the last outcome and
    the URL that gave it. Raises ``RedirectRefused`` past ``MAX_REDIRECTS`` or on a loop."""
    seen = {url}
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        outcome = yield make_step(current)
        if not (isinstance(outcome, Response) and outcome.status in REDIRECT_STATUSES):
            return outcome, current
        if hop == MAX_REDIRECTS:
            break
        current = redirect_target(current, outcome, secret)
        if current in seen:
            raise RedirectRefused(f"a redirect loop (back to {scrub(current, secret)[:200]!r})")
        seen.add(current)
    raise RedirectRefused(f"more than {MAX_REDIRECTS} redirects")


def download(
    url: str,
    dest: Path,
    max_bytes: int,
    expected_s: float | None,
    *,
    policy: RetryPolicy,
    rng: random.Random,
    secret: str | None,
    extension: bool = True,
) -> Generator[Step, Outcome, Saved]:
    """Save the result at ``url`` to ``dest``; see the module docstring for the rules.

    An answer of 401/403/404/410 means the link expired (``code="result_expired"``: the
    caller asks the task for a fresh one); 429, 5xx and transport failures are retried.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise E.DownloadError(
            f"the result URL {scrub(url, secret)[:200]!r} is not an http(s) URL", code="bad_url"
        )
    transient = rejected = 0
    while True:
        try:
            outcome, _ = yield from follow(
                lambda u: Fetch(u, dest, max_bytes, expected_s, extension), url, secret
            )
        except RedirectRefused as exc:
            outcome = Rejected("redirect", str(exc))
        if isinstance(outcome, Saved):
            return outcome
        if isinstance(outcome, Rejected):
            rejected += 1
            if rejected >= policy.max_body_attempts:
                kept = f" The file was kept as {outcome.kept} in case." if outcome.kept else ""
                raise E.DownloadError(
                    f"the result URL did not give the video ({rejected} tries): "
                    f"{outcome.detail}. Nothing was saved as the result; the run stays "
                    f"resumable (fx.resume() tries again).{kept}",
                    code=outcome.code,
                )
            yield Sleep(backoff_s(rejected - 1, policy, rng))
            continue
        if isinstance(outcome, Response) and outcome.status in _EXPIRED:
            raise E.DownloadError(
                f"the result URL answered HTTP {outcome.status}; FoxAPI result links "
                "expire after 24 h. foxnb re-queries the task for a fresh link on resume().",
                code="result_expired",
            )
        retryable = isinstance(outcome, Failure) or (
            isinstance(outcome, Response) and (outcome.status == 429 or outcome.status >= 500)
        )
        if not retryable or transient + 1 >= policy.max_attempts:
            raise E.DownloadError(
                f"downloading the result failed ({_describe(outcome, secret)})", code="download"
            )
        yield Sleep(backoff_s(transient, policy, rng))
        transient += 1


def peek(
    url: str,
    first_byte: int,
    last_byte: int,
    *,
    attempts: int,
    policy: RetryPolicy,
    rng: random.Random,
    secret: str | None,
) -> Generator[Step, Outcome, tuple[Response, str]]:
    """A ranged read of ``url``: the final answer (any status) and the URL that gave it.

    429, 5xx and transport failures are tried up to ``attempts`` times; a transport failure
    on the last one raises ``TransportError``, a redirect foxnb will not follow
    ``RedirectRefused``.
    """
    for attempt in range(attempts):
        outcome, final = yield from follow(lambda u: Peek(u, first_byte, last_byte), url, secret)
        last = attempt + 1 >= attempts
        if isinstance(outcome, Response) and (
            last or not (outcome.status == 429 or outcome.status >= 500)
        ):
            return outcome, final
        if last:
            break
        yield Sleep(backoff_s(attempt, policy, rng))
    raise E.TransportError(
        f"{scrub(url, secret)[:200]} could not be read ({_describe(outcome, secret)})",
        request_sent=isinstance(outcome, Failure) and outcome.request_sent,
    )


def _describe(outcome: Outcome, secret: str | None) -> str:
    if isinstance(outcome, Failure):
        return scrub(f"{outcome.kind}: {outcome.detail}", secret)
    if isinstance(outcome, Response):
        return f"HTTP {outcome.status}"
    return "no answer"
