"""The videos of a report: each completed run's result, copied only if it is still intact.

A result is copied into ``videos/<run_id>.mp4`` while its sha256 is computed, and kept only if
that matches the sha256 the ledger recorded at download; a small JPEG of its last frame goes
beside it as ``<run_id>.jpg``. Runs recorded with the same sha256 (a re-run sweep reuses its
earlier videos) share one copy. A missing or changed file becomes a ``VideoProblem`` saying why.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from ...media import poster_data_uri
from .runs import value_text

_COPY_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class VideoCopy:
    """A video copied into the report: its file and its poster, as paths relative to it."""

    src: str
    poster: str | None


@dataclass(frozen=True)
class VideoProblem:
    """A completed run whose video is not in the report, and why."""

    run_id: str
    reason: str


def copy_videos(
    frame: pd.DataFrame, folder: Path
) -> tuple[dict[str, VideoCopy], list[VideoProblem]]:
    """Copy each completed run's video whose bytes match its recorded sha256, with a poster.

    Runs recorded with the same sha256 share the first copy.
    """
    folder.mkdir()
    copies: dict[str, VideoCopy] = {}
    by_sha: dict[str, VideoCopy] = {}
    problems: list[VideoProblem] = []
    for run in frame.to_dict(orient="records"):
        if run.get("status") != "completed":
            continue
        run_id = str(run["run_id"])
        source, expected = value_text(run.get("video_path")), value_text(run.get("sha256"))
        if expected is not None and expected in by_sha:
            copies[run_id] = by_sha[expected]
            continue
        target = folder / f"{run_id}.mp4"
        reason = _copy_checked(source, expected, target)
        if reason is not None:
            problems.append(VideoProblem(run_id, reason))
            continue
        assert source is not None and expected is not None
        # The source's poster: the same bytes, and often cached from fx.compare() already.
        poster = poster_data_uri(source)
        poster_src = None
        if poster is not None:
            (folder / f"{run_id}.jpg").write_bytes(base64.b64decode(poster.split(",", 1)[1]))
            poster_src = f"videos/{quote(run_id)}.jpg"
        copies[run_id] = by_sha[expected] = VideoCopy(f"videos/{quote(run_id)}.mp4", poster_src)
    return copies, problems


def _copy_checked(source: str | None, expected: str | None, target: Path) -> str | None:
    """Copy ``source`` to ``target`` hashing it on the way; None, or why it was left out."""
    if source is None:
        return "no video file was recorded for it"
    if expected is None:
        return "no sha256 was recorded to check its video against"
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as src, open(target, "wb") as out:
            while chunk := src.read(_COPY_CHUNK_BYTES):
                digest.update(chunk)
                out.write(chunk)
    except FileNotFoundError:
        target.unlink(missing_ok=True)
        return f"its video {Path(source).name} no longer exists"
    except OSError as exc:
        target.unlink(missing_ok=True)
        return f"its video {Path(source).name} could not be read ({exc.strerror or exc})"
    if digest.hexdigest() != expected:
        target.unlink()
        return (
            f"its video {Path(source).name} changed since it was downloaded "
            "(its sha256 no longer matches the ledger)"
        )
    return None
