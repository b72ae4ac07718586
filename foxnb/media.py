"""Local video files: probing inputs before upload, and writing results safely.

``probe(path)`` reads a video's facts with PyAV in a few milliseconds;
``check_input(path)`` applies veo-3.1-extend's documented input constraints (720p or 1080p,
16:9 or 9:16) and raises a ``VideoInputError`` that says what it found, so a clip the
service would reject is caught before it is uploaded or paid for.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av

from .errors import DownloadError, VideoInputError

ALLOWED_SIZES = {(1280, 720), (1920, 1080), (720, 1280), (1080, 1920)}


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
                    "video", f"{Path(path).name} has no video stream", "a video file"
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
            "video", f"{Path(path).name} is not a readable video file ({exc})"
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


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


class AtomicWriter:
    """Write a file so readers see either nothing or the whole of it.

    Bytes go to ``<dest>.part`` beside the target, hashed on the way; ``commit()`` flushes,
    fsyncs and renames. Leaving the ``with`` block without ``commit()`` (an error, a size
    cap, a full disk) removes the partial file.
    """

    def __init__(self, dest: Path, max_bytes: int | None = None):
        self.dest = dest
        self.max_bytes = max_bytes
        self.size = 0
        self._tmp = dest.with_name(dest.name + ".part")
        self._digest = hashlib.sha256()

    def __enter__(self) -> AtomicWriter:
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self._tmp, "wb")
        return self

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise DownloadError(
                f"the result is larger than the {self.max_bytes:,}-byte cap; not saved",
                code="too_large",
            )
        self._digest.update(chunk)
        try:
            self._fh.write(chunk)
        except OSError as exc:
            raise DownloadError(
                f"could not write {self.dest.name}: {exc.strerror or exc}", code="disk"
            ) from exc

    def commit(self) -> str:
        """Make the file visible under its final name; returns its sha256."""
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            os.replace(self._tmp, self.dest)
        except OSError as exc:
            raise DownloadError(
                f"could not save {self.dest.name}: {exc.strerror or exc}", code="disk"
            ) from exc
        return self._digest.hexdigest()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._fh.closed:
            self._fh.close()
        if self._tmp.exists():
            self._tmp.unlink()
