"""The work behind one task: get the input video, check it, render the extension (cached).

These steps run in the backend's worker threads and do real I/O (disk, loopback HTTP, PyAV);
they know nothing about the HTTP server. A problem the real service would report as a task
failure is raised as :class:`TaskFailure` carrying FoxAPI-style ``code`` and ``message``.

Failure codes: ``video_fetch_failed`` (input URL unreachable or not 200), ``video_decode_failed``
(not decodable media; an invented code, the docs list none), the input-constraint codes from
:func:`~foxnb.sim.render.check_extend_input` (``video_no_stream``,
``video_resolution_unsupported``, ``video_aspect_ratio_unsupported``) and ``generation_failed``
(the renderer itself failed).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from .render import RenderError, check_extend_input, probe_video, render_extension

__all__ = ["RenderCache", "TaskFailure", "check_input", "fetch_input", "file_sha256", "render_key"]

_FETCH_TIMEOUT_S = 10.0
_CHUNK_BYTES = 1 << 20


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
        facts = probe_video(path)
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
    """

    def __init__(self, path_for: Callable[[str], Path]) -> None:
        self._path_for = path_for
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
            if not target.exists():
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
                    raise TaskFailure(
                        "generation_failed", f"Video generation failed: {exc}."
                    ) from exc
            return target
