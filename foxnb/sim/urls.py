"""The simulator's public file URLs: how they are built and how one is recognised again.

Uploads live at ``/files/uploads/<yyyymmdd>/<file id>/<file name>`` and results at
``/files/output/<task id>.mp4?expires=<unix>&sig=<hmac>`` (see :mod:`foxnb.sim.signing`), on
whatever base URL the request that produced them used. :func:`parse_file_url` reads either
back from a full URL on any host, because a restarted simulator serves the same files on
another port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from .store import UploadRecord

__all__ = ["ResultRef", "UploadRef", "parse_file_url", "result_url", "upload_url"]

_UPLOAD_PATH = re.compile(r"^/files/uploads/(\d{8})/(file-[0-9a-z-]+)/([^/]+)$")
_RESULT_PATH = re.compile(r"^/files/output/(task-unified-[0-9a-z-]+)\.mp4$")


@dataclass(frozen=True)
class UploadRef:
    """What an upload URL names: its day folder, file id and file name."""

    day: str
    file_id: str
    filename: str


@dataclass(frozen=True)
class ResultRef:
    """What a result URL names: the task and the signed expiry it carries."""

    task_id: str
    expires: int
    sig: str


def upload_url(base_url: str, record: UploadRecord) -> str:
    """The public URL of an upload under ``base_url`` (e.g. ``http://127.0.0.1:8765``)."""
    return f"{base_url}/files/uploads/{record.day}/{record.id}/{quote(record.filename)}"


def result_url(base_url: str, task_id: str, expires: int, sig: str) -> str:
    """The signed public URL of a task's result under ``base_url``."""
    query = urlencode({"expires": expires, "sig": sig})
    return f"{base_url}/files/output/{quote(task_id)}.mp4?{query}"


def parse_file_url(url: str) -> UploadRef | ResultRef | None:
    """The upload or result a URL of this simulator names, or ``None`` for anything else.

    >>> parse_file_url("http://h:1/files/uploads/20250101/file-1-abc/a.mp4")
    UploadRef(day='20250101', file_id='file-1-abc', filename='a.mp4')
    """
    parts = urlsplit(url)
    upload = _UPLOAD_PATH.match(parts.path)
    if upload is not None:
        day, file_id, name = upload.groups()
        return UploadRef(day, file_id, unquote(name))
    result = _RESULT_PATH.match(parts.path)
    query = parse_qs(parts.query)
    expires, sig = query.get("expires", [""])[0], query.get("sig", [""])[0]
    if result is None or not expires.isdigit():
        return None
    return ResultRef(result.group(1), int(expires), sig)
