"""What the service answers, read tolerantly: tasks, their status words, uploaded files.

FoxAPI's pages document four statuses (``pending``, ``processing``, ``completed``, ``failed``;
an older page adds ``cancelled``), but services and the proxies in front of them say the same
things in other words. ``task_status(word)`` maps the common synonyms onto the documented
five::

    >>> task_status("Succeeded"), task_status("in-progress"), task_status("timed_out")
    ('completed', 'processing', 'failed')
    >>> task_status("paused")
    'unknown'

An ``unknown`` word is not an ending: the task is polled on, at a growing interval, and the
word itself is kept (``Task.service_status``) so foxnb can show what the service said.

``Task.from_json`` reads every task shape FoxAPI's docs have shown, and the odd-but-legal
variants of them a service or proxy may send: the id as a number or under ``task_id``; the
task wrapped in ``{"data": {...}}``; ``results`` as objects, plain strings, one object or one
string; the older ``output`` object (or a bare URL, or a list); progress as ``"45%"``; error
codes as numbers or texts. ``UploadedFile.from_json`` finds the URL of an upload wherever the
answer puts it. Both are named by ``foxnb.models`` (and ``Task``, ``UploadedFile`` by
``foxnb``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ._checks import is_int, is_url
from ._json import dumps, loads

TASK_STATUSES = ("pending", "processing", "completed", "failed", "cancelled")
"""The documented task statuses; ``Task.status`` is one of these or ``"unknown"``."""

TERMINAL_TASK_STATUSES = frozenset({"completed", "failed", "cancelled"})

_WORDS = {
    "pending": "pending queued queueing in_queue waiting submitted created accepted new "
    "not_started scheduled",
    "processing": "processing running in_progress inprogress started generating working active "
    "rendering",
    "completed": "completed complete succeeded success successful done finished ready",
    "failed": "failed fail failure error errored timeout timed_out timedout rejected expired",
    "cancelled": "cancelled canceled aborted",
}
_SYNONYMS = {word: status for status, words in _WORDS.items() for word in words.split()}


def task_status(word: object) -> str:
    """The documented status a service's status word means, or ``"unknown"``.

    Case, spaces and hyphens do not matter (``"In Progress"`` is ``in_progress``).
    """
    if not isinstance(word, str):
        return "unknown"
    key = "_".join(word.strip().lower().replace("-", " ").split())
    return _SYNONYMS.get(key, "unknown")


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
            message=str(data.get("message") or data.get("msg") or code or "unknown error"),
            type=None if data.get("type") is None else str(data.get("type")),
        )


@dataclass(frozen=True, kw_only=True)
class Task:
    """A FoxAPI task as last seen. The whole answer, unknown fields included, is in ``raw``.

    ``status`` is one of ``TASK_STATUSES`` or ``"unknown"``; ``service_status`` is the word the
    service actually sent (``"succeeded"``, ``"paused"``…), the same as ``status`` when the
    service speaks FoxAPI's documented words.
    """

    id: str
    status: str
    progress: int = 0
    model: str | None = None
    created: int | None = None
    estimated_time_s: float | None = None
    result_urls: tuple[str, ...] = ()
    error: TaskError | None = None
    credits: float | None = None
    service_status: str = ""
    # The answer as compact JSON text: a sweep holds a task per job while it tracks it, and
    # the text takes under a fifth of the memory of the parsed answer (0.4 against 2.3 KB).
    _raw_json: str = field(default="{}", repr=False, compare=False)

    @property
    def raw(self) -> dict[str, Any]:
        """The answer as the service sent it, with the API key scrubbed from it: a new dict on
        each read."""
        answer: dict[str, Any] = loads(self._raw_json)
        return answer

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_TASK_STATUSES

    @property
    def status_known(self) -> bool:
        """False when the service's status word means nothing foxnb knows."""
        return self.status != "unknown"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        """Read a create or query response, whichever documented shape it has.

        Raises ``ValueError`` when the answer holds no task id.
        """
        data = unwrap_task(data)
        task_id = data.get("id") if data.get("id") is not None else data.get("task_id")
        if is_int(task_id):
            task_id = str(task_id)
        if not isinstance(task_id, str) or not task_id.strip():
            raise ValueError("task response has no id")
        info = _obj(data.get("task_info"))
        usage = _obj(data.get("usage"))
        created = data.get("created")
        raw_status = data.get("status")
        word = "pending" if raw_status is None or raw_status == "" else str(raw_status).strip()
        return cls(
            id=task_id.strip(),
            status=task_status(word),
            service_status=word,
            progress=_progress(data.get("progress")),
            model=data.get("model") if isinstance(data.get("model"), str) else None,
            created=created if is_int(created) else None,
            estimated_time_s=_number(info.get("estimated_time")),
            result_urls=_result_urls(data),
            error=TaskError.from_json(data.get("error")),
            credits=_number(usage.get("credits_consumed", usage.get("credits_reserved"))),
            _raw_json=dumps(data),
        )


def unwrap_task(data: dict[str, Any]) -> dict[str, Any]:
    """The task object of an answer: ``data`` itself, or the object under its ``data`` key
    (``{"code": 0, "data": {...}}``, as some gateways wrap answers)."""
    inner = data.get("data")
    if "id" not in data and "task_id" not in data and isinstance(inner, dict):
        return inner
    return data


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str):
        value = value.strip().removesuffix("%").strip()
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _progress(value: object) -> int:
    number = _number(value)
    return 0 if number is None else int(min(100.0, max(0.0, number)))


def _url_of(item: object) -> str | None:
    if isinstance(item, str):
        return item.strip() or None
    if isinstance(item, dict):
        for key in ("url", "video_url", "uri", "download_url"):
            value = item.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _result_urls(data: dict[str, Any]) -> tuple[str, ...]:
    """URLs from ``results`` (a list of objects or strings, one object, one string) or the
    older ``output`` (an object with ``url``/``urls``, a string, a list)."""
    urls: list[str] = []
    for key in ("results", "output"):
        value = data.get(key)
        items = value if isinstance(value, list) else [value]
        urls.extend(u for u in map(_url_of, items) if u)
        if isinstance(value, dict):
            urls.extend(u for u in map(_url_of, value.get("urls") or []) if u)
        if urls:
            break
    return tuple(dict.fromkeys(urls))


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
