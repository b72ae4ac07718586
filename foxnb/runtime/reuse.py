"""Not paying twice: when an earlier run already answered a request, and its video is still here.

One rule, used by ``fx.extend()`` and ``fx.sweep()`` alike:

    A request with an explicit ``seed`` whose exact request — every request field, and the
    same input content (sha256) or the same input URL — already ``completed``, and whose saved
    video is still on disk with the sha256 recorded for it (and is a video that fits its input:
    an older foxnb could record an error page as a result), is answered with that video: a new
    run with ``reused_from`` (the paid run's id), ``credits=0`` and status ``completed``.
    Nothing is sent. ``force=True`` sends the request anyway.

Without a seed the service picks one, so the same request is not the same video: such a
request is never reused. Only runs of the same backend are considered (a simulator's video is
no answer to a paid request), and only paid runs: ``reused_from`` always names the run that
was billed, never another reuse.

Everything here is a decision on run records (the dicts ``RunStore.runs()`` returns); the only
I/O is hashing a candidate video to check it is unchanged, and reading it with FFmpeg.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._files import sha256_file
from ..media import result_problem
from ..models import EXTENSION_S, REQUEST_FIELDS, ExtendRequest
from .scoring import SCORE_FIELDS

Key = tuple[Any, ...]
"""What makes two runs the same work (see ``run_key``)."""

REUSED_FILES = ("video_path", "video_host", "sha256", "size_bytes")
"""Fields a reused run copies from the run it reuses."""


def run_key(run: dict[str, Any]) -> Key:
    """Every request field of a run and its input's content (or URL, for a URL input)."""
    sha = run.get("input_sha256")
    source = ("sha256", sha) if sha else ("url", run.get("video"))
    return (run.get("prompt"), *(run.get(f) for f in REQUEST_FIELDS), source)


def request_key(request: ExtendRequest, input_sha256: str | None) -> Key:
    """``run_key`` of the run ``request`` would make (``input_sha256`` for a local input)."""
    source = ("sha256", input_sha256) if input_sha256 else ("url", request.video)
    return (request.prompt, *(getattr(request, f) for f in REQUEST_FIELDS), source)


def completed_by_key(runs: Iterable[dict[str, Any]]) -> dict[Key, list[dict[str, Any]]]:
    """Paid, completed runs grouped by ``run_key``, newest first (reuses are left out)."""
    found: dict[Key, list[dict[str, Any]]] = {}
    for run in runs:
        if run.get("status") == "completed" and not run.get("reused_from"):
            found.setdefault(run_key(run), []).insert(0, run)
    return found


class IntactVideos:
    """Whether a run's saved video is still the file it recorded, and a video that fits its
    input (``media.result_problem``); each file checked once.

    ``host`` is this machine's name in the runs store: a video another machine saved (its
    ``video_host``) is trusted as that machine recorded it — ``fx.fetch()`` gets a copy.
    """

    def __init__(self, host: str | None = None) -> None:
        self._seen: dict[str, bool] = {}
        self.host = host

    def __call__(self, run: dict[str, Any]) -> bool:
        """True when the run's video exists with the sha256 recorded for it, and is a video
        lasting its input plus the extension."""
        path, sha = run.get("video_path"), run.get("sha256")
        if not path or not sha:
            return False
        if self.host is not None and run.get("video_host") not in (None, self.host):
            return True
        if path not in self._seen:
            same = Path(path).is_file() and sha256_file(path) == sha
            known_s = run.get("input_duration_s")
            expected_s = known_s + EXTENSION_S if isinstance(known_s, int | float) else None
            self._seen[path] = same and result_problem(path, expected_s) is None
        return self._seen[path]


def reusable(
    completed: dict[Key, list[dict[str, Any]]],
    request: ExtendRequest,
    input_sha256: str | None,
    intact: IntactVideos,
) -> dict[str, Any] | None:
    """The newest completed run answering ``request`` whose video is intact, else None.

    ``completed`` is ``completed_by_key(runs)`` of the runs to consider; a request without a
    seed gets None (the service would pick a seed: not the same video).
    """
    if request.seed is None:
        return None
    candidates = completed.get(request_key(request, input_sha256), [])
    return next((run for run in candidates if intact(run)), None)


def reuse_fields(source: dict[str, Any], now_s: float | None = None) -> dict[str, Any]:
    """The first-event fields of a run that reuses ``source``'s video (free, completed)."""
    return {
        "status": "completed",
        "reused_from": source["run_id"],
        "progress": 100,
        "credits": 0,
        "completed_at": time.time() if now_s is None else now_s,
        **{name: source.get(name) for name in REUSED_FILES},
        # The same video of the same request has the same scores (judgement stays per run).
        **{name: source[name] for name in SCORE_FIELDS if name in source},
    }
