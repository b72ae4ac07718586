"""The work behind one task: get the input video, check it, render the extension (cached).

These steps run in the backend's worker threads and do real I/O (disk, loopback HTTP, PyAV);
they know nothing about the HTTP server. A problem the real service would report as a task
failure is raised as :class:`TaskFailure` carrying FoxAPI-style ``code`` and ``message``.

Failure codes: ``video_fetch_failed`` (input URL unreachable or not 200), ``video_decode_failed``
(not decodable media; an invented code, the docs list none), the input-constraint codes from
:func:`~foxnb.sim.render.check_extend_input` (``video_no_stream``,
``video_resolution_unsupported``, ``video_aspect_ratio_unsupported``),
``aspect_ratio_mismatch`` (``aspect_ratio`` contradicts an input only fetched now; the message
names the field) and ``generation_failed`` (the renderer itself failed).

Failure messages never show the simulator's local paths: the messages are written without
them, and any absolute path that still slips in (from a library's error text) is replaced by
``<file>`` before the message is stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from .probe import displayed_size, probe_video_once
from .render import RenderError, check_extend_input, render_extension
from .states import Status, Timeline
from .store import Outcome, TaskRecord, write_atomic
from .validate import aspect_conflict

__all__ = [
    "SHARED_RENDERS_ENV",
    "RenderCache",
    "TaskFailure",
    "check_input",
    "fetch_input",
    "file_sha256",
    "render_key",
    "run_task",
    "shared_renders_folder",
    "without_local_paths",
]

SHARED_RENDERS_ENV = "FOXNB_SIM_SHARED_RENDERS"
"""A folder of renders that every simulator started with this variable set shares (see
:class:`RenderCache`): the test suite sets it so that the same result, wanted by many tests
and notebooks, is encoded once per run. Clear the folder when the renderer changes."""

_log = logging.getLogger(__name__)

_FETCH_TIMEOUT_S = 10.0
_CHUNK_BYTES = 1 << 20
# An absolute path not inside a URL: it starts after a space, quote or bracket (or at the start),
# where a URL's path follows its host.
_LOCAL_PATH = re.compile(r"(?<![\w:/.\-])/(?:[^\s/'\"]+/)+[^\s'\"),;]*")
_FAULT_MESSAGES = {
    "content_policy_violation": "The request was blocked by the content safety policy. "
    "Change the prompt or input video and submit a new task.",
    "generation_failed": "Video generation failed upstream. Submit the task again.",
}


class TaskFailure(Exception):
    """A task-level failure, reported in the task's ``error`` as ``{code, message}``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def fetch_input(
    url: str,
    *,
    own_file: Callable[[str], Path | None],
    scratch: Path,
    timeout_s: float = _FETCH_TIMEOUT_S,
) -> Path:
    """Return a local path holding the video at ``url``.

    ``own_file(url)`` resolves the simulator's own upload URLs to files on disk (so a restarted
    simulator on another port still finds them); anything else is downloaded with httpx to
    ``scratch``.
    """
    local = own_file(url)
    if local is not None:
        return local
    try:
        with httpx.stream("GET", url, timeout=timeout_s, follow_redirects=True) as response:
            if response.status_code != 200:
                raise TaskFailure(
                    "video_fetch_failed",
                    f"Could not fetch the input video: {url} answered HTTP {response.status_code}.",
                )
            with scratch.open("wb") as handle:
                for chunk in response.iter_bytes(_CHUNK_BYTES):
                    handle.write(chunk)
    except httpx.HTTPError as exc:
        raise TaskFailure(
            "video_fetch_failed", f"Could not fetch the input video from {url}: {exc}."
        ) from exc
    return scratch


def check_input(path: Path) -> None:
    """Probe the input and apply the documented 720p/1080p, 16:9/9:16 constraints."""
    try:
        facts = probe_video_once(path)
    except RenderError as exc:
        raise TaskFailure(
            "video_decode_failed", f"The input is not a decodable video file: {exc}."
        ) from exc
    problem = check_extend_input(facts)
    if problem is not None:
        raise TaskFailure(*problem)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def render_key(
    input_sha256: str,
    *,
    prompt: str,
    seed: int,
    generate_audio: bool,
    defect: str | None = None,
) -> str:
    """The cache key of a render: everything the deterministic renderer's output depends on.

    A clean render's key leaves the defect out, so it is the same key as before defects
    existed and a state folder's earlier renders are still found.
    """
    parts: list[object] = [input_sha256, prompt, seed, generate_audio]
    if defect is not None:
        parts.append(defect)
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


class RenderCache:
    """Renders each distinct key once; concurrent requests for one key wait for one render.

    The renderer is deterministic, so reusing a result for identical inputs is faithful, and
    it keeps load tests cheap. Rendered files are kept at ``path_for(key)``, which may hold
    results from an earlier run on the same state directory.

    The folder named by :data:`SHARED_RENDERS_ENV`, when set, is shared with other
    simulators, in this process or others: a render found there is copied in
    instead of being made again, and one made here is copied there. Files arrive in either
    folder whole (written beside it, then renamed); two simulators wanting a new key at the
    same moment may both render it, to the same bytes. Each state folder keeps its own copy,
    so nothing a simulator does to its files reaches another's.
    """

    def __init__(self, path_for: Callable[[str], Path]) -> None:
        self._path_for = path_for
        self._shared = shared_renders_folder()
        self._guard = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def get_or_render(
        self,
        key: str,
        source: Path,
        *,
        prompt: str,
        seed: int,
        generate_audio: bool,
        defect: str | None = None,
    ) -> Path:
        """Path of the result for ``key``, rendering it from ``source`` if it is not there."""
        with self._guard:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            target = self._path_for(key)
            if target.exists():
                return target
            kept = None if self._shared is None else self._shared / target.name
            if kept is not None and kept.exists():
                write_atomic(target, kept.read_bytes())
                return target
            try:
                render_extension(
                    source,
                    target,
                    prompt=prompt,
                    seed=seed,
                    generate_audio=generate_audio,
                    defect=defect,
                )
            except RenderError as exc:
                raise TaskFailure("generation_failed", f"Video generation failed: {exc}.") from exc
            if kept is not None:
                write_atomic(kept, target.read_bytes())
            return target


def shared_renders_folder() -> Path | None:
    """The folder :data:`SHARED_RENDERS_ENV` names, or ``None`` when it is unset or blank."""
    folder = os.environ.get(SHARED_RENDERS_ENV, "").strip()
    return Path(folder) if folder else None


def run_task(
    record: TaskRecord,
    *,
    own_file: Callable[[str], Path | None],
    scratch: Path,
    cache: RenderCache,
    shared_render: bool,
    now: Callable[[], float],
) -> Outcome:
    """Run one task's work (fetch, check, render) and say how it ended; never raises.

    A planned failure (``record.fail_with``) ends at a seeded instant 30–80 % of the way
    through processing; ``shared_render`` renders with an empty prompt and seed 0 so every
    task of one input shares a rendering (the backend's ``distinct_results=False``).
    """
    params = record.params
    try:
        source = fetch_input(params.video_url, own_file=own_file, scratch=scratch)
        check_input(source)
        size = displayed_size(source) if params.aspect_ratio is not None else None
        if params.aspect_ratio is not None and size is not None:
            problem = aspect_conflict(params.aspect_ratio, *size)
            if problem is not None:
                raise TaskFailure("aspect_ratio_mismatch", problem)
        if record.fail_with is not None:
            code = record.fail_with
            failed_at = max(now(), _planned_failure_at(record.timeline))
            return Outcome(Status.FAILED, failed_at, None, code, _FAULT_MESSAGES[code])
        prompt, seed = ("", 0) if shared_render else (params.prompt, record.seed)
        key = render_key(
            file_sha256(source),
            prompt=prompt,
            seed=seed,
            generate_audio=params.generate_audio,
            defect=record.defect,
        )
        output = cache.get_or_render(
            key,
            source,
            prompt=prompt,
            seed=seed,
            generate_audio=params.generate_audio,
            defect=record.defect,
        )
        return Outcome(Status.COMPLETED, now(), str(output))
    except TaskFailure as failure:
        message = without_local_paths(failure.message)
        return Outcome(Status.FAILED, now(), None, failure.code, message)
    except Exception:
        # A simulator bug should fail the task visibly, not leave it processing forever.
        _log.exception("simulated task %s crashed", record.id)
        message = _FAULT_MESSAGES["generation_failed"]
        return Outcome(Status.FAILED, now(), None, "generation_failed", message)
    finally:
        scratch.unlink(missing_ok=True)


def without_local_paths(message: str) -> str:
    """``message`` with every absolute local path replaced by ``<file>``; URLs are kept.

    >>> without_local_paths("cannot read '/tmp/sim/uploads/a.mp4' from http://h:1/files/a.mp4")
    "cannot read '<file>' from http://h:1/files/a.mp4"
    """
    return _LOCAL_PATH.sub("<file>", message)


def _planned_failure_at(timeline: Timeline) -> float:
    """A seeded instant 30–80 % of the way through processing."""
    fraction = random.Random(timeline.jitter_seed + 1).uniform(0.3, 0.8)
    return timeline.start_at + fraction * (timeline.finish_at - timeline.start_at)
