"""Reading local videos with PyAV: probing inputs before upload, and poster frames.

``probe(path)`` reads a video's facts in a few milliseconds; ``check_input(path)`` applies
veo-3.1-extend's documented input constraints (720p or 1080p, 16:9 or 9:16) and raises a
``VideoInputError`` that says what it found, so a clip the service would reject is caught
before it is uploaded or paid for. ``poster_data_uri(path)`` is a small JPEG of a video's
last frame, for notebooks and reports that must show something without playing the video.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from .errors import VideoInputError

ALLOWED_SIZES = {(1280, 720), (1920, 1080), (720, 1280), (1080, 1920)}
_VIDEO_FILE = "a video file (MP4, MOV, WebM, …) with a video stream"


@dataclass(frozen=True)
class VideoInfo:
    """What a local video file holds."""

    width: int
    height: int
    duration_s: float
    fps: float | None
    video_codec: str
    audio_codec: str | None

    @property
    def aspect_ratio(self) -> str:
        """``"16:9"`` or ``"9:16"`` (within 1 %), else the reduced ratio, e.g. ``"4:3"``."""
        for name, value in (("16:9", 16 / 9), ("9:16", 9 / 16)):
            if abs(self.width / self.height - value) / value < 0.01:
                return name
        ratio = Fraction(self.width, self.height)
        return f"{ratio.numerator}:{ratio.denominator}"

    @property
    def label(self) -> str:
        """e.g. ``"1280x720 (720p, 16:9)"``."""
        return f"{self.width}x{self.height} ({min(self.width, self.height)}p, {self.aspect_ratio})"


def probe(path: str | Path) -> VideoInfo:
    """Read size, duration, frame rate and codecs of a local video file.

    Raises ``VideoInputError`` when the file is not a readable video.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoInputError(
                    "video", f"{Path(path).name} has no video stream", _VIDEO_FILE
                )
            stream = container.streams.video[0]
            duration_s = _duration_s(container, stream)
            rate = stream.average_rate or stream.guessed_rate
            audio = container.streams.audio
            return VideoInfo(
                width=int(stream.codec_context.width),
                height=int(stream.codec_context.height),
                duration_s=duration_s,
                fps=float(rate) if rate else None,
                video_codec=str(stream.codec_context.name),
                audio_codec=str(audio[0].codec_context.name) if audio else None,
            )
    except av.FFmpegError as exc:
        raise VideoInputError(
            "video",
            f"{Path(path).name} is not a readable video file ({exc})",
            _VIDEO_FILE,
        ) from exc


def _duration_s(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def check_input(path: str | Path) -> VideoInfo:
    """Probe ``path`` and check veo-3.1-extend's input constraints; return the facts.

    The service documents 720p or 1080p input at 16:9 or 9:16.
    """
    info = probe(path)
    if (info.width, info.height) in ALLOWED_SIZES:
        return info
    need = "16:9 or 9:16" if info.aspect_ratio not in ("16:9", "9:16") else "720p or 1080p"
    raise VideoInputError(
        "video",
        f"{Path(path).name} is {info.label}; veo-3.1-extend needs {need} input",
        "1280x720, 1920x1080, 720x1280, 1080x1920",
    )


POSTER_MAX_BASE64_CHARS = 20_000
# Long side of the poster in pixels, then JPEG quantiser (2 best .. 31 worst): tried in order
# until the image fits the budget.
_POSTER_ATTEMPTS = ((480, 5), (360, 8), (240, 12), (160, 20))
_LAST_FRAME_WINDOW_S = 1.0


def poster_data_uri(path: str | Path) -> str | None:
    """The last frame of a video as a small ``data:image/jpeg;base64,...`` URI, or None.

    None when the file is missing or not a decodable video. Cached by path, size and mtime.
    """
    file = Path(path)
    try:
        stat = file.stat()
    except OSError:
        return None
    return _poster(str(file.absolute()), stat.st_size, stat.st_mtime_ns, _POSTER_ATTEMPTS)


THUMBNAIL_LONG_SIDE_PX = 96


def thumbnail_data_uri(path: str | Path) -> str | None:
    """The last frame as a tiny JPEG URI (96 px on its long side, a few KB), or None.

    For tables with a row per run; cached like ``poster_data_uri``.
    """
    file = Path(path)
    try:
        stat = file.stat()
    except OSError:
        return None
    attempts = ((THUMBNAIL_LONG_SIDE_PX, 6),)
    return _poster(str(file.absolute()), stat.st_size, stat.st_mtime_ns, attempts)


@functools.lru_cache(maxsize=512)
def _poster(
    path: str, size_bytes: int, mtime_ns: int, attempts: tuple[tuple[int, int], ...]
) -> str | None:
    del size_bytes, mtime_ns  # part of the cache key only: a rewritten file gets a new poster
    try:
        frame = _last_frame(path)
    except (av.FFmpegError, OSError):
        return None
    if frame is None:
        return None
    for long_side_px, quantiser in attempts:
        encoded = base64.b64encode(_jpeg(frame, long_side_px, quantiser)).decode("ascii")
        if len(encoded) <= POSTER_MAX_BASE64_CHARS:
            return f"data:image/jpeg;base64,{encoded}"
    return None


def _last_frame(path: str) -> av.VideoFrame | None:
    with av.open(path) as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # from the last keyframe may be many frames: use the cores
        duration_s = _duration_s(container, stream)
        if duration_s > _LAST_FRAME_WINDOW_S and stream.time_base is not None:
            # Seek to the keyframe before the last second, then decode forward to the end:
            # a few frames instead of the whole clip.
            target = int((duration_s - _LAST_FRAME_WINDOW_S) / stream.time_base)
            container.seek(target, stream=stream, backward=True)
        last = None
        for frame in container.decode(stream):
            last = frame
        return last


def _jpeg(frame: av.VideoFrame, long_side_px: int, quantiser: int) -> bytes:
    scale = long_side_px / max(frame.width, frame.height)
    width = max(2, round(frame.width * scale / 2) * 2)
    height = max(2, round(frame.height * scale / 2) * 2)
    small = frame.reformat(width=width, height=height, format="yuvj420p")
    codec = av.VideoCodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    codec.time_base = Fraction(1, 25)
    codec.options = {"qmin": str(quantiser), "qmax": str(quantiser)}
    return b"".join(bytes(packet) for packet in [*codec.encode(small), *codec.encode(None)])
