"""What the service answers, read into plain values: tasks and uploaded files.

``Task.from_json`` reads every task shape FoxAPI's docs have shown (``results`` as objects or
plain strings, the older ``output`` object, numeric or string error codes);
``UploadedFile.from_json`` finds the URL of an upload wherever the answer puts it. Both are
named by ``foxnb.models`` (and ``Task``, ``UploadedFile`` by ``foxnb``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ._checks import is_int, is_url

TERMINAL_TASK_STATUSES = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True, kw_only=True)
class TaskError:
    """Why a task failed: ``code`` (e.g. ``content_policy_violation``) and a message."""

    code: str | None
    message: str
    type: str | None = None

    @classmethod
    def from_json(cls, data: object) -> TaskError | None:
        if data is None or data == {} or data == "":
            return None
        if isinstance(data, str):
            return cls(code=None, message=data)
        if not isinstance(data, dict):
            return cls(code=None, message=str(data))
        code = data.get("code")
        return cls(
            code=None if code is None else str(code),
            message=str(data.get("message") or code or "unknown error"),
            type=None if data.get("type") is None else str(data.get("type")),
        )


@dataclass(frozen=True, kw_only=True)
class Task:
    """A FoxAPI task as last seen. Unknown fields are kept in ``raw``."""

    id: str
    status: str
    progress: int = 0
    model: str | None = None
    created: int | None = None
    estimated_time_s: float | None = None
    result_urls: tuple[str, ...] = ()
    error: TaskError | None = None
    credits: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_TASK_STATUSES

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        """Read a create or query response, whichever documented shape it has."""
        task_id = data.get("id") or data.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise ValueError("task response has no id")
        info = _obj(data.get("task_info"))
        usage = _obj(data.get("usage"))
        created = data.get("created")
        return cls(
            id=task_id,
            status=str(data.get("status") or "pending").strip().lower(),
            progress=_progress(data.get("progress")),
            model=data.get("model") if isinstance(data.get("model"), str) else None,
            created=created if is_int(created) else None,
            estimated_time_s=_number(info.get("estimated_time")),
            result_urls=_result_urls(data),
            error=TaskError.from_json(data.get("error")),
            credits=_number(usage.get("credits_consumed", usage.get("credits_reserved"))),
            raw=data,
        )


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _progress(value: object) -> int:
    number = _number(value)
    return 0 if number is None else int(min(100.0, max(0.0, number)))


def _result_urls(data: dict[str, Any]) -> tuple[str, ...]:
    """URLs from ``results`` (objects or strings) or the older ``output`` object."""
    urls: list[str] = []
    results = data.get("results")
    if isinstance(results, list):
        for item in results:
            if isinstance(item, str):
                urls.append(item)
            elif isinstance(item, dict) and isinstance(item.get("url"), str):
                urls.append(item["url"])
    output = data.get("output")
    if not urls and isinstance(output, dict):
        if isinstance(output.get("url"), str):
            urls.append(output["url"])
        urls.extend(u for u in output.get("urls") or [] if isinstance(u, str) and u not in urls)
    return tuple(u for u in urls if u)


@dataclass(frozen=True, kw_only=True)
class UploadedFile:
    """A file stored by ``/v1/files/upload/*``; ``url`` is what to send as ``video_url``."""

    id: str
    url: str
    size: int | None = None
    filename: str | None = None
    created: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UploadedFile:
        """Read the upload response; the URL may sit at the top level or under ``data``."""
        body = _obj(data.get("data")) or data
        url = body.get("url") or body.get("file_url")
        if not isinstance(url, str) or not is_url(url):
            raise ValueError("upload response has no usable url")
        size = body.get("size")
        created = body.get("created")
        return cls(
            id=str(body.get("id") or body.get("file_id") or ""),
            url=url,
            size=size if is_int(size) else None,
            filename=body.get("filename") if isinstance(body.get("filename"), str) else None,
            created=created if is_int(created) else None,
        )
