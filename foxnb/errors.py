"""Every error foxnb raises, in one tree.

Catch ``FoxError`` to catch them all; catch a branch to handle one kind::

    FoxError
    ├── ValidationError (also ValueError)   bad input found locally, before any network call
    │   └── VideoInputError                 a local video breaks the documented input constraints
    ├── APIError                            the server answered with an error status
    │   ├── BadRequestError                 400 / 422: the server rejected the request's fields
    │   ├── AuthenticationError             401: key missing, wrong or expired
    │   ├── InsufficientCreditsError        402: balance too low; top up
    │   ├── PermissionDeniedError           403: storage full, or an edge proxy blocked the call
    │   ├── NotFoundError                   404: no such task
    │   ├── PayloadTooLargeError            413: the upload is too big for the edge proxy
    │   ├── RateLimitError                  429: too many requests (carries ``retry_after_s``)
    │   └── ServerError                     5xx: the service failed; reads are retried
    ├── TransportError                      no usable answer (connect, timeout, dropped, garbled)
    ├── StoreError                          the runs store cannot be used (where, and why)
    ├── SubmissionUnknownError              the create request may or may not have made a paid task
    ├── JobError                            a tracked job did not produce a video (carries ``job``)
    │   ├── TaskFailedError                 the service reported ``failed`` or ``cancelled``
    │   └── DownloadError                   the result could not be saved (expired URL, disk full)
    ├── JobTimeoutError (also TimeoutError) ``wait(timeout=...)`` ran out; the job keeps running
    └── ScoreError                          a result or its input could not be scored (unreadable)

Warnings (something you may want to know, nothing failed) are ``FoxnbWarning``, a
``UserWarning``: ``warnings.simplefilter("error", foxnb.FoxnbWarning)`` turns them into errors.

In IPython and Jupyter a foxnb error shows as its message and the line of your code that
raised it, not as a traceback through foxnb's internals; ``%tb`` in the next cell shows the
full traceback. Plain Python (scripts, pytest) shows the usual traceback.

No message built here ever contains an API key: the client masks it before text reaches an error.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent


class FoxError(Exception):
    """Root of every foxnb error.

    In IPython, the error shows short (``_render_traceback_``); ``%tb`` shows it in full.
    """

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of formatting a traceback itself. The first time: the
        # message and the caller's line. Again for the same error (what %tb does with the
        # last one): the full traceback, as IPython would have shown it.
        if getattr(self, "_foxnb_shown_short", False):
            return full_traceback(self)
        self._foxnb_shown_short = True
        return short_traceback(self)


def short_traceback(exc: BaseException) -> list[str]:
    """The lines IPython shows for a foxnb error: what went wrong, where, and how to see more."""
    red, reset = "\x1b[0;31m", "\x1b[0m"
    lines = [f"{red}{type(exc).__name__}{reset}: {exc}"]
    caller = _caller_frame(exc)
    where = f"at {caller}; " if caller else ""
    lines.append(f"({where}%tb shows the full traceback)")
    return lines


def full_traceback(exc: BaseException) -> list[str]:
    """The traceback IPython would show for ``exc`` (plain Python's outside IPython)."""
    try:
        from IPython import get_ipython  # only ever called by IPython itself

        shell = get_ipython()
        if shell is not None:
            lines: list[str] = shell.InteractiveTB.structured_traceback(
                type(exc), exc, exc.__traceback__
            )
            return lines
    except Exception:  # an IPython without these internals: the plain traceback will do
        pass
    return "".join(traceback.format_exception(exc)).splitlines()


def _caller_frame(exc: BaseException) -> str | None:
    """``line 3 of the cell: fx.extend(...)``: the frame that called into foxnb."""
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<string>" or frame.filename.startswith("<frozen"):
            continue  # generated code (a dataclass's __init__) or the import machinery
        if Path(frame.filename).resolve().is_relative_to(_PACKAGE):
            break
        found = frame
    if found is None:
        return None
    place = f"{Path(found.filename).name} line {found.lineno}"
    if "ipykernel" in found.filename or found.filename.startswith("<ipython-input"):
        place = f"line {found.lineno} of the cell"
    return f"{place}: {found.line}" if found.line else place


class ValidationError(FoxError, ValueError):
    """A request field is invalid; raised locally, before anything is sent or paid for.

    ``field`` names the offending field, ``allowed`` describes what would be accepted. A
    call with several bad fields raises one error naming them all, one per line: its
    ``errors`` lists each field's own error (``fields`` their names; ``field`` is the first).
    """

    def __init__(self, field: str, message: str, allowed: str | Sequence[str] | None = None):
        self.field = field
        self.allowed = allowed
        self.errors: list[ValidationError] = [self]
        if allowed is not None and not isinstance(allowed, str):
            allowed = ", ".join(repr(a) for a in allowed)
        text = f"{field}: {message}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of every bad field this error reports."""
        return tuple(error.field for error in self.errors)

    @staticmethod
    def combine(errors: Sequence[ValidationError]) -> ValidationError:
        """One error for every problem of a call: the error itself when there is one.

        Several make one error of their common type (``VideoInputError`` only if all are)
        whose message has a line per problem.
        """
        found = [each for error in errors for each in error.errors]
        if not found:
            raise ValueError("combine() needs at least one error")
        if len(found) == 1:
            return found[0]
        kind = type(found[0]) if all(type(e) is type(found[0]) for e in found) else ValidationError
        combined = kind(found[0].field, "")
        combined.allowed = None
        combined.errors = found
        listing = "\n".join(f"  {error}" for error in found)
        combined.args = (f"{len(found)} problems, nothing was sent:\n{listing}",)
        return combined


class VideoInputError(ValidationError):
    """A local input video does not meet veo-3.1-extend's documented input constraints."""


class APIError(FoxError):
    """The FoxAPI server (or an edge proxy in front of it) answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        error_type: str | None = None,
        param: str | None = None,
        body_excerpt: str | None = None,
    ):
        self.status_code = status_code
        self.code = code
        self.error_type = error_type
        self.param = param
        self.body_excerpt = body_excerpt
        self.message = message
        super().__init__(message)


class BadRequestError(APIError):
    """400 or 422: the server refused the request's content; no task was created."""


class AuthenticationError(APIError):
    """401: the API key is missing, wrong or expired."""


class InsufficientCreditsError(APIError):
    """402: the account balance cannot pay for this task."""


class PermissionDeniedError(APIError):
    """403: upload storage is full (auto_cleanup off) or an edge proxy blocked the request."""


class NotFoundError(APIError):
    """404: the task id is unknown to the server."""


class PayloadTooLargeError(APIError):
    """413: the body was rejected by the edge proxy for its size."""


class RateLimitError(APIError):
    """429: too many requests. ``retry_after_s`` is the server's hint, if it sent one."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class ServerError(APIError):
    """5xx: the service or its upstream failed."""


class TransportError(FoxError):
    """No usable HTTP answer: connection refused or reset, timeout, or an unreadable body.

    ``request_sent`` is False only when the request provably never reached the server
    (the connection could not be opened), which is what makes a create safe to resend.
    """

    def __init__(self, message: str, *, request_sent: bool):
        self.request_sent = request_sent
        super().__init__(message)


class StoreError(FoxError):
    """The runs store cannot be opened or used safely; the message says where and why (a
    connection string in it never shows a password)."""


class SubmissionUnknownError(FoxError):
    """The create request may have made a paid task, but no answer says so.

    foxnb never resends such a request: it records the run as ``submission_unknown`` with
    ``evidence`` (what was sent, when, and what went wrong) so you can check your FoxAPI
    dashboard before deciding to submit again.
    """

    def __init__(self, message: str, *, evidence: str):
        self.evidence = evidence
        super().__init__(f"{message}\n{evidence}")


class JobError(FoxError):
    """A tracked job ended without a local video. ``job`` is the job itself."""

    def __init__(self, message: str, *, job: Any = None, code: str | None = None):
        self.job = job
        self.code = code
        super().__init__(message)


class TaskFailedError(JobError):
    """The service reported the task ``failed`` or ``cancelled`` (``code`` says why)."""


class DownloadError(JobError):
    """The task completed but its video could not be saved (URL expired, disk full, ...)."""


class JobTimeoutError(FoxError, TimeoutError):
    """``wait()`` gave up; the job itself keeps running in the background."""


class ScoreError(FoxError):
    """A result (or the input it extends) could not be scored.

    The file is missing, is not a video FFmpeg can read, has no video stream or no frame that
    decodes. ``path`` is the file; the message says which one it is and what was wrong.
    """

    def __init__(self, message: str, *, path: str):
        self.path = path
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Scoring runs in foxnb's video process; the error comes back pickled, path and all.
        return (_score_error, (str(self), self.path))


def _score_error(message: str, path: str) -> ScoreError:
    return ScoreError(message, path=path)


class FoxnbWarning(UserWarning):
    """A warning from foxnb: e.g. an aspect ratio that differs from the clip's, or a report
    missing a video whose file changed."""
