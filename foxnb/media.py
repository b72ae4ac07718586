"""Reading videos with PyAV: probing inputs before upload, checking results, poster frames.

``probe(path)`` reads a video's facts (its first frame decoded, for the rotation flag a phone
writes: a clip stored 1280x720 and flagged 90° plays, and is judged, as 720x1280);
``check_input(path)`` applies veo-3.1-extend's documented input constraints (720p or 1080p,
16:9 or 9:16) and raises a ``VideoInputError`` that says what it found, so a clip the service
would reject is caught before it is uploaded or paid for. ``probe`` also reads a remote file
through ``RangeReader``, a seekable file over ranged reads, fetching only what FFmpeg asks for.

``result_problem(path, expected_s)`` says why a downloaded file is not the extension it should
be (an error page, a file FFmpeg cannot read, a duration that does not fit), and
``markup_kind(head)`` recognises an HTML/JSON/XML page from its first bytes.
``poster_data_uri(path)`` is a small JPEG of a video's last frame, for notebooks and reports
that must show something without playing the video.
"""

from __future__ import annotations

import base64
import functools
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO

import av

from .errors import VideoInputError
from .models import EXTENSION_S

ALLOWED_SIZES = {(1280, 720), (1920, 1080), (720, 1280), (1080, 1920)}
_VIDEO_FILE = "a video file (MP4, MOV, WebM, …) with a video stream"


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds. ``width`` and ``height`` are the size it plays at: a rotation
    flag of 90° or 270° (``rotation_deg``) swaps the stored sides."""

    width: int
    height: int
    duration_s: float
    fps: float | None
    video_codec: str
    audio_codec: str | None
    rotation_deg: int = 0

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
        """e.g. ``"1280x720 (720p, 16:9)"``; a rotated clip says how it is stored."""
        text = f"{self.width}x{self.height} ({min(self.width, self.height)}p, {self.aspect_ratio}"
        if self.rotation_deg % 180 == 90:
            text += (
                f"; stored {self.height}x{self.width} with a {self.rotation_deg}° rotation flag, "
                "so it plays, and is sent, in this orientation"
            )
        return text + ")"


def probe(source: str | Path | IO[bytes] | io.RawIOBase, name: str | None = None) -> VideoInfo:
    """Read size (as displayed), duration, frame rate and codecs of a video.

    ``source`` is a file path or a seekable binary file (e.g. a ``RangeReader``); ``name`` is
    how messages call it. Raises ``VideoInputError`` when it is not a readable video. Paths
    are cached by size and modification time (the first frame is decoded: 10–50 ms).
    """
    if isinstance(source, str | Path):
        try:
            stat = os.stat(source)
        except OSError as exc:
            raise VideoInputError("video", f"cannot read {source}: {exc.strerror}") from exc
        return _probe_file(str(source), stat.st_size, stat.st_mtime_ns)
    return _probe(source, name or "the video")


@functools.lru_cache(maxsize=256)
def _probe_file(path: str, size_bytes: int, mtime_ns: int) -> VideoInfo:
    del size_bytes, mtime_ns  # part of the cache key only
    return _probe(path, Path(path).name)


def _probe(source: str | IO[bytes] | io.RawIOBase, name: str) -> VideoInfo:
    try:
        with av.open(source) as container:
            if not container.streams.video:
                raise VideoInputError("video", f"{name} has no video stream", _VIDEO_FILE)
            stream = _one_frame_decoder(container.streams.video[0])
            duration_s = _duration_s(container, stream)
            rate = stream.average_rate or stream.guessed_rate
            audio = container.streams.audio
            width, height = int(stream.codec_context.width), int(stream.codec_context.height)
            # FFmpeg exposes the rotation flag on decoded frames only.
            frame = next(container.decode(stream), None)
            rotation_deg = round(frame.rotation) % 360 if frame is not None else 0
            if rotation_deg % 180 == 90:
                width, height = height, width
            return VideoInfo(
                width=width,
                height=height,
                duration_s=duration_s,
                fps=float(rate) if rate else None,
                video_codec=str(stream.codec_context.name),
                audio_codec=str(audio[0].codec_context.name) if audio else None,
                rotation_deg=rotation_deg,
            )
    except av.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise VideoInputError(
            "video", f"{name} is not a readable video file ({reason})", _VIDEO_FILE
        ) from exc


def _duration_s(container: av.container.InputContainer, stream: av.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def check_input(path: str | Path) -> VideoInfo:
    """Probe ``path`` and check veo-3.1-extend's input constraints; return the facts.

    The service documents 720p or 1080p input at 16:9 or 9:16 (as the clip plays: a rotation
    flag counts, and the facts say so).
    """
    return check_info(probe(path), Path(path).name)


def check_info(info: VideoInfo, name: str) -> VideoInfo:
    """``info`` if veo-3.1-extend accepts such a video, else a ``VideoInputError`` naming
    ``name``, what it is and what is needed."""
    if (info.width, info.height) in ALLOWED_SIZES:
        return info
    need = "16:9 or 9:16" if info.aspect_ratio not in ("16:9", "9:16") else "720p or 1080p"
    raise VideoInputError(
        "video",
        f"{name} is {info.label}; veo-3.1-extend needs {need} input",
        "1280x720, 1920x1080, 720x1280, 1080x1920",
    )


class RangeReader(io.RawIOBase):
    """A seekable, read-only file whose bytes come from ``fetch(start, end)`` on demand.

    ``fetch`` returns the bytes ``start`` … ``end`` (inclusive) or fewer at the end of the file;
    ``size_bytes`` is the file's size if known. Reads are made in blocks of ``block_bytes``
    and cached; once ``budget_bytes`` have been fetched, further reads raise ``OSError`` (so
    probing a remote file never downloads much of it).
    """

    def __init__(
        self,
        fetch: Callable[[int, int], bytes],
        size_bytes: int | None,
        *,
        block_bytes: int = 256 * 1024,
        budget_bytes: int = 8 * 1024 * 1024,
    ):
        super().__init__()
        self._fetch = fetch
        self._size = size_bytes
        self._block = block_bytes
        self._budget = budget_bytes
        self._blocks: dict[int, bytes] = {}
        self._pos = 0
        self.fetched_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            if self._size is None:
                raise OSError("the size of the remote file is unknown")
            offset += self._size
        elif whence == io.SEEK_CUR:
            offset += self._pos
        self._pos = max(0, offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        index, skip = divmod(self._pos, self._block)
        block = self._read_block(index)
        chunk = block[skip : skip + len(view)]
        view[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def _read_block(self, index: int) -> bytes:
        if index not in self._blocks:
            start = index * self._block
            if self._size is not None and start >= self._size:
                return b""
            if self.fetched_bytes >= self._budget:
                raise OSError(f"read more than {self._budget:,} bytes of the remote file")
            data = self._fetch(start, start + self._block - 1)
            self.fetched_bytes += len(data)
            self._blocks[index] = data
        return self._blocks[index]


# ---------------------------------------------------------------------------- results

DURATION_TOLERANCE_S = 1.5
"""How far a result's duration may be from the input's plus ``EXTENSION_S`` (frame rounding,
a service trimming or padding a little)."""


def container_kind(head: bytes) -> str | None:
    """The video container a file's first bytes announce (``"MP4/MOV"``, ``"WebM/Matroska"``,
    ``"AVI"``, ``"MPEG-TS"``, ``"FLV"``), or ``None``."""
    if head[4:8] == b"ftyp" or head[4:8] in (b"moov", b"mdat", b"free", b"wide"):
        return "MP4/MOV"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "WebM/Matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[:1] == b"\x47" and head[188:189] in (b"\x47", b""):
        return "MPEG-TS"
    if head[:3] == b"FLV":
        return "FLV"
    return None


def markup_kind(head: bytes) -> str | None:
    """``"an HTML page"``, ``"a JSON document"``, ``"an XML document"`` or ``"text"`` when
    ``head`` (a file's first bytes) is one, else ``None`` (it may be a video)."""
    text = head[:512].removeprefix(b"\xef\xbb\xbf").lstrip()
    if not text:
        return "an empty body"
    if text.lower().startswith(b"<?xml"):
        return "an XML document"
    if text[:1] == b"<":
        return "an HTML page"
    if text[:1] in (b"{", b"["):
        return "a JSON document"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in text):
        return "text"
    return None


def _one_frame_decoder(stream: av.VideoStream) -> av.VideoStream:
    """``stream``, set to decode on the calling thread only: for the one frame a check reads.

    By default FFmpeg starts decoder threads when the first packet is decoded and joins them
    when the file is closed, and PyAV holds the GIL for both. On a busy machine that held it
    for up to 80 ms at a time while the 10,000-job benchmark's results were checked, and
    every other thread, the notebook's among them, waited (``docs/benchmark.md``).
    """
    stream.thread_type = "NONE"
    return stream


def result_problem(
    path: str | Path, expected_s: float | None, *, extension: bool = True
) -> tuple[str, str] | None:
    """Why the file at ``path`` is not a video extension, as ``(code, reason)``; ``None`` if
    it is one.

    ``not_a_video``: FFmpeg cannot read it, or it has no video stream or no frame that
    decodes. ``wrong_duration``: it does not last ``expected_s`` (the input's duration plus
    7 s) within ``DURATION_TOLERANCE_S``, or, with no input known, less than the 7 s every
    extension adds. ``extension=False`` asks only for a readable video (an input clip).
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return "not_a_video", "it has no video stream"
            stream = _one_frame_decoder(container.streams.video[0])
            if next(container.decode(stream), None) is None:
                return "not_a_video", "no frame of it decodes"
            duration_s = _duration_s(container, stream)
    except av.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        return "not_a_video", f"FFmpeg cannot read it ({reason})"
    if not extension:
        return None
    if expected_s is not None and abs(duration_s - expected_s) > DURATION_TOLERANCE_S:
        return "wrong_duration", (
            f"it lasts {duration_s:.1f} s, but the input plus the {EXTENSION_S:g} s extension "
            f"is {expected_s:.1f} s"
        )
    if expected_s is None and duration_s < EXTENSION_S - DURATION_TOLERANCE_S:
        return "wrong_duration", (
            f"it lasts {duration_s:.1f} s, shorter than the {EXTENSION_S:g} s extension alone"
        )
    return None


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
