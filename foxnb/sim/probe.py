"""What the simulator learns about an input file, and the model's documented input constraints.

:func:`probe_video` reads a media file's stream headers with PyAV (a few milliseconds);
:func:`check_extend_input` applies veo-3.1-extend's documented input constraints (720p or
1080p, 16:9 or 9:16), so the simulator rejects what the real service rejects, with the same
error codes; :func:`displayed_size` is the size a video shows at, rotation flag included.

Messages never name the file's local path: they end up in task errors a client shows, and the
real service would not reveal its own disk layout.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path

import av
from av.container import InputContainer
from av.stream import Disposition
from av.video.stream import VideoStream

__all__ = [
    "ACCEPTED_SIZES",
    "RenderError",
    "VideoFacts",
    "check_extend_input",
    "displayed_size",
    "ffmpeg_reason",
    "picture_stream",
    "probe_video",
    "probe_video_once",
]

#: Sizes veo-3.1-extend accepts: 720p and 1080p, landscape 16:9 or portrait 9:16.
ACCEPTED_SIZES: tuple[tuple[int, int], ...] = ((1280, 720), (1920, 1080), (720, 1280), (1080, 1920))

# Shapes people call by name, for describing near misses in error messages.
_NAMED_RATIOS = ((16, 9), (9, 16), (4, 3), (3, 4), (1, 1), (3, 2), (2, 3), (21, 9))


class RenderError(Exception):
    """The input can't be read as media, or the renderer can't produce an output from it."""


@dataclass(frozen=True)
class VideoFacts:
    """What `probe_video` learned about a media file.

    `width`, `height` and `fps` are 0 and `video_codec` is None when there is no video stream;
    `duration_s` is the video stream's duration when known, else the container's.
    """

    width: int
    height: int
    duration_s: float
    fps: float
    video_codec: str | None
    has_video: bool
    has_audio: bool
    audio_codec: str | None


def probe_video(path: str | Path) -> VideoFacts:
    """Describe the streams of the media file at `path`.

    Raises RenderError if the file is missing or is not something FFmpeg can demux; its message
    gives FFmpeg's reason without the path.
    """
    try:
        with av.open(str(path)) as container:
            video = picture_stream(container)
            audio = container.streams.audio[0] if container.streams.audio else None
            container_duration_s = (
                container.duration / av.time_base if container.duration is not None else 0.0
            )
            if video is None:
                return VideoFacts(
                    width=0,
                    height=0,
                    duration_s=container_duration_s,
                    fps=0.0,
                    video_codec=None,
                    has_video=False,
                    has_audio=audio is not None,
                    audio_codec=audio.codec_context.name if audio is not None else None,
                )
            video_duration_s = (
                float(video.duration * video.time_base)
                if video.duration is not None and video.time_base is not None
                else container_duration_s
            )
            rate = video.average_rate or video.guessed_rate
            return VideoFacts(
                width=video.codec_context.width,
                height=video.codec_context.height,
                duration_s=video_duration_s,
                fps=float(rate) if rate else 0.0,
                video_codec=video.codec_context.name,
                has_video=True,
                has_audio=audio is not None,
                audio_codec=audio.codec_context.name if audio is not None else None,
            )
    except av.FFmpegError as exc:
        raise RenderError(f"not a readable media file ({ffmpeg_reason(exc)})") from exc


def ffmpeg_reason(exc: av.FFmpegError) -> str:
    """FFmpeg's reason for an error, without the file name PyAV appends to ``str(exc)``."""
    return str(getattr(exc, "strerror", None) or type(exc).__name__)


def picture_stream(container: InputContainer) -> VideoStream | None:
    """The first real video stream, skipping cover art (an attached picture in a music file)."""
    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            return stream
    return None


def probe_video_once(path: str | Path) -> VideoFacts:
    """:func:`probe_video`, cached per file version like :func:`displayed_size`: every task of
    a sweep probes the one input it shares (500 probes were a fifth of a busy simulator's CPU).
    A missing file raises as :func:`probe_video` does."""
    try:
        stat = os.stat(path)
    except OSError:
        return probe_video(path)  # raises the RenderError that says why, without the path
    return _probe_video(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _probe_video(path: str, size_bytes: int, mtime_ns: int) -> VideoFacts:
    """:func:`probe_video` of one version (size, modification time) of a file."""
    return probe_video(path)


def displayed_size(path: str | Path) -> tuple[int, int] | None:
    """The width and height the video at ``path`` shows on screen, or ``None`` if unreadable.

    A rotation flag of 90° or 270° (a phone's portrait clip stored as landscape) swaps the
    stored sides. FFmpeg exposes the flag on decoded frames only, so the first frame is decoded
    (30–60 ms); answers are cached per file version, since every create that sends
    ``aspect_ratio`` asks and load tests send a thousand creates of one input.
    """
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _displayed_size(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _displayed_size(path: str, size_bytes: int, mtime_ns: int) -> tuple[int, int] | None:
    """:func:`displayed_size` of one version (size, modification time) of a file."""
    try:
        with av.open(path) as container:
            stream = picture_stream(container)
            if stream is None:
                return None
            frame = next(container.decode(stream), None)
            if frame is None:
                return None
            width, height = frame.width, frame.height
            if round(frame.rotation) % 180 == 90:
                return height, width
            return width, height
    except av.FFmpegError:
        return None


def check_extend_input(facts: VideoFacts) -> tuple[str, str] | None:
    """Check `facts` against veo-3.1-extend's documented input constraints.

    Returns None when the input is acceptable, else `(error_code, message)` where the code is
    `video_no_stream`, `video_resolution_unsupported` or `video_aspect_ratio_unsupported` and
    the message says what was found and what is required.
    """
    accepted = ", ".join(f"{w}x{h}" for w, h in ACCEPTED_SIZES)
    if not facts.has_video:
        found = f"only audio: {facts.audio_codec}" if facts.has_audio else "no media streams"
        return (
            "video_no_stream",
            f"input file has no video stream (found {found}); "
            "veo-3.1-extend needs a video with a video stream",
        )
    size = f"{facts.width}x{facts.height}"
    shorter_px = min(facts.width, facts.height)
    ratio = _aspect_ratio_label(facts.width, facts.height)
    if shorter_px not in (720, 1080):
        return (
            "video_resolution_unsupported",
            f"input video is {size} ({shorter_px}p, {ratio}); "
            f"veo-3.1-extend accepts 720p or 1080p ({accepted})",
        )
    if (facts.width, facts.height) not in ACCEPTED_SIZES:
        return (
            "video_aspect_ratio_unsupported",
            f"input video is {size} ({ratio}); veo-3.1-extend accepts 16:9 or 9:16 ({accepted})",
        )
    return None


def _aspect_ratio_label(width: int, height: int) -> str:
    """Name a frame shape the way people do: "4:3", or "≈16:9" for near misses like 854x480."""
    divisor = math.gcd(width, height) or 1
    exact_w, exact_h = width // divisor, height // divisor
    if max(exact_w, exact_h) <= 32:
        return f"{exact_w}:{exact_h}"
    # Past the early return the reduced ratio has a side above 32, so height is not zero.
    for named_w, named_h in _NAMED_RATIOS:
        if abs(width / height / (named_w / named_h) - 1) < 0.02:
            return f"≈{named_w}:{named_h}"
    return f"{width / height:.2f}:1"
