"""What an HTTP answer means: FoxAPI's JSON errors and edge proxies' HTML pages, as foxnb errors.

Also the odd-but-legal ones: an HTTP 200 whose body is an error (``{"error": {...}}`` and no
task), which ``error_in_body`` reads like the error status it stands for, and which
``created_nothing`` judges for a create request: did the service refuse it before making a
task (a bad field, a key, the balance, a rate limit), or can a task exist?
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from .. import errors as E
from ..config import scrub
from .steps import Response


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


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def page_title(body: bytes) -> str:
    """A short text naming an HTML page (its title) or any other body (its first words)."""
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

_REFUSED_TYPES: dict[str, int] = {
    "invalid_request_error": 400,
    "invalid_parameter": 422,
    "authentication_error": 401,
    "insufficient_quota": 402,
    "insufficient_quota_error": 402,
    "permission_error": 403,
    "not_found": 404,
    "not_found_error": 404,
    "request_too_large_error": 413,
    "rate_limit_error": 429,
}
"""Error types FoxAPI (and its twins' docs) pair with a 4xx status: the request was refused as
it arrived, before any task was made. Any other type (``server_error``,
``service_unavailable_error``, one foxnb has never seen) proves nothing."""

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


def error_from_response(
    response: Response, secret: str | None, now_s: float, answered: int | None = None
) -> E.APIError:
    """Turn an error response — FoxAPI JSON or an edge proxy's HTML — into a foxnb error."""
    status = response.status
    said = (
        f"FoxAPI answered {status}"
        if answered is None
        else f"FoxAPI answered {answered} with an error"
    )
    data = _json_or_none(response.body)
    err = data.get("error") if isinstance(data, dict) else None
    code = error_type = param = None
    if isinstance(err, dict):
        message = str(err.get("message") or err.get("type") or "no message")
        code = None if err.get("code") is None else str(err.get("code"))
        error_type = None if err.get("type") is None else str(err.get("type"))
        param = None if err.get("param") is None else str(err.get("param"))
        origin = said
    elif isinstance(err, str):
        message, origin = err, said
    else:
        kind = "an HTML page" if b"<" in response.body[:200] else "a non-JSON body"
        message = page_title(response.body) or "(empty body)"
        origin = f"an edge proxy in front of FoxAPI answered {status} with {kind}"
    labels = ", ".join(x for x in (code, f"field {param!r}" if param else None) if x)
    text = f"{origin}{' (' + labels + ')' if labels else ''}: {message}"
    advice = _ADVICE.get(status) or (
        "The service failed; try again later." if status >= 500 else None
    )
    if 300 <= status < 400:
        where = scrub(response.headers.get("location") or "nowhere", secret)[:200]
        text = (
            f"FoxAPI's address answered {status}, a redirect to {where}; foxnb does not follow "
            "redirects with your key. Check base_url (FOXAPI_BASE_URL)."
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


def error_envelope(data: dict[str, Any]) -> bool:
    """True when a 2xx JSON answer is an error and not a task or upload: it has a non-empty
    ``error`` and no id (a failed task has both)."""
    err = data.get("error")
    if err in (None, "", {}, []):
        return False
    return not any(data.get(k) not in (None, "") for k in ("id", "task_id", "url", "data"))


def error_in_body(response: Response, data: dict[str, Any], secret: str | None) -> E.APIError:
    """The foxnb error a 2xx answer holding only ``{"error": …}`` stands for.

    Its status is the one its ``type`` is documented with (or a numeric ``code`` that is an
    HTTP status), else 500: an unexplained error is the service's.
    """
    err = data.get("error")
    info = err if isinstance(err, dict) else {}
    error_type = str(info.get("type") or "")
    code = info.get("code")
    status = _REFUSED_TYPES.get(error_type, 500)
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 600:
        status = code
    equivalent = Response(status, response.headers, response.body)
    return error_from_response(equivalent, secret, 0.0, answered=response.status)


def created_nothing(error: E.APIError) -> bool:
    """Whether a create request that met ``error`` provably made no task: a 4xx refusal."""
    return 400 <= error.status_code < 500
