"""Response bodies, built from the API documentation by pure functions.

JSON shapes follow SPEC §1c (create), §2a (task query) and §4 (uploads). Choices where the
documentation is silent or split:

* ``model`` echoes the requested model name (SPEC open question 11).
* The task query includes ``task_info`` (the older page shows it, the newer one does not say);
  ``can_cancel`` turns false once the task is terminal.
* ``usage`` is ``{billing_rule, credits_reserved, user_group}`` plus ``credits_consumed`` once
  completed (the newer page shows ``credits_reserved`` and ``user_group``; the twin API adds
  ``billing_rule``).
* ``result_shape`` selects how a completed task's URL is reported: ``"results"`` (current
  docs, ``[{"url": ...}]``), ``"strings"`` (``["..."]``, as the twin API does) or ``"output"``
  (the older ``output: {url, urls}`` object, with no ``results`` key).

The non-JSON bodies imitate what sits in front of the real API: an HTML block page and an
HTML 413 from the edge, and S3-style XML errors from the CDN for file URLs.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from .states import TERMINAL, Status
from .store import TaskRecord, UploadRecord

__all__ = [
    "RESULT_SHAPES",
    "cdn_error_html",
    "cdn_error_xml",
    "create_json",
    "edge_block_html",
    "edge_too_large_html",
    "task_json",
    "upload_json",
]

RESULT_SHAPES = ("results", "strings", "output")


def create_json(record: TaskRecord) -> dict[str, Any]:
    """The 200 body of ``POST /v1/videos/generations`` (SPEC §1c)."""
    return {
        "created": record.created,
        "id": record.id,
        "model": record.params.model,
        "object": "video.generation.task",
        "progress": 0,
        "status": Status.PENDING.value,
        "task_info": {"can_cancel": True, "estimated_time": record.estimated_time_s},
        "type": "video",
    }


def task_json(
    record: TaskRecord,
    status: Status,
    progress: int,
    *,
    result_url: str | None,
    result_shape: str = "results",
) -> dict[str, Any]:
    """The 200 body of ``GET /v1/tasks/{id}`` (SPEC §2a) for a task seen as ``status``.

    ``result_url`` is the signed download URL when completed, and ``None`` for an unfinished
    task or a completed one reported with empty results.
    """
    usage: dict[str, Any] = {
        "billing_rule": "per_call",
        "credits_reserved": record.credits,
        "user_group": "default",
    }
    if status is Status.COMPLETED:
        usage["credits_consumed"] = record.credits
    body: dict[str, Any] = {
        "id": record.id,
        "object": "video.generation.task",
        "type": "video",
        "model": record.params.model,
        "status": status.value,
        "progress": progress,
        "created": record.created,
        "error": _task_error(record, status),
        "usage": usage,
        "task_info": {
            "can_cancel": status not in TERMINAL,
            "estimated_time": record.estimated_time_s,
        },
    }
    urls = [] if result_url is None else [result_url]
    completed = status is Status.COMPLETED
    if result_shape == "output":
        body["output"] = {"url": result_url, "urls": urls} if completed else None
    elif result_shape == "strings":
        body["results"] = urls if completed else None
    else:
        body["results"] = [{"url": url} for url in urls] if completed else None
    return body


def _task_error(record: TaskRecord, status: Status) -> dict[str, str] | None:
    outcome = record.outcome
    if outcome is None or status is not Status.FAILED:
        return None
    return {
        "code": outcome.error_code or "generation_failed",
        "message": outcome.error_message or "Video generation failed.",
        "type": "task_error",
    }


def upload_json(record: UploadRecord, url: str) -> dict[str, Any]:
    """The 200 body of the upload endpoints (SPEC §4)."""
    return {
        "id": record.id,
        "filename": record.filename,
        "url": url,
        "size": record.size,
        "created": int(record.created_at),
    }


def edge_block_html(ray_id: str) -> str:
    """An HTML 403 page like the one a CDN edge shows when it blocks a client."""
    return (
        "<!DOCTYPE html>\n<html><head><title>Attention Required! | Edge</title></head>\n"
        "<body><h1>Sorry, you have been blocked</h1>\n"
        "<p>You are unable to access api.foxapi.cc. error code: 1010</p>\n"
        f"<p>Ray ID: {escape(ray_id)}</p></body></html>\n"
    )


def edge_too_large_html() -> str:
    """An HTML 413 page like the one a CDN edge returns for an oversized request body."""
    return (
        "<html>\n<head><title>413 Request Entity Too Large</title></head>\n"
        "<body>\n<center><h1>413 Request Entity Too Large</h1></center>\n"
        "<hr><center>edge</center>\n</body>\n</html>\n"
    )


def cdn_error_html() -> str:
    """An HTML error page a CDN might send in place of a file (served with a 200 by faults)."""
    return (
        "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
        "<body><center><h1>502 Bad Gateway</h1></center>\n"
        "<p>The origin did not answer in time. Please try again later.</p>\n"
        "<hr><center>cdn</center></body></html>\n"
    )


def cdn_error_xml(code: str, message: str) -> str:
    """An S3-style XML error, as object storage behind a CDN answers bad file URLs."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>\n"
    )
