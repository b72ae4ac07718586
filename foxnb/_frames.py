"""Sampled decoding: the frames of a video inside chosen time windows, shrunk to a small grid.

Scoring a result needs a few dozen of its frames, not all of them, and never at full size.
``sample_frames`` reads every packet of the file (cheap: no decoding), then decodes only as
much as the windows need:

* before a window, it jumps to the last keyframe at or before it when there is one ahead of
  the decoder (a video with a keyframe every second decodes little more than the windows);
* between windows, the decoder skips the frames no other frame refers to (H.264's
  non-reference B-frames, about half of a typical stream), which is safe because nothing
  depends on them;
* every kept frame is scaled by swscale straight to a small RGB grid (area averaging),
  which costs less than converting it to RGB at full size.

Times are in seconds from the first frame's presentation time, so files that start at a
non-zero timestamp, have variable frame rates or differ in frame rate line up by time.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from numpy.typing import NDArray

from .errors import ScoreError

__all__ = ["Sampled", "grid_size", "sample_frames"]

#: The longer side of the comparison grid, in pixels. 128x72 keeps the shapes and colours
#: that scores look at while averaging away codec noise, and costs microseconds per frame.
GRID_LONG_PX = 128

# Colour matrix codes (libavutil AVColorSpace): 2 = unspecified, 1 = BT.709.
_UNSPECIFIED = 2
_BT709 = 1
# The first video stream that is a real picture track, not cover art.
_ATTACHED_PIC = 0x0400

if TYPE_CHECKING:
    # The stubs make Packet generic in its stream; the runtime class is not subscriptable.
    VideoPacket: TypeAlias = av.Packet[av.VideoStream]


@dataclass(frozen=True)
class Sampled:
    """What ``sample_frames`` read from one file.

    ``frames`` is an ``(n, grid_h, grid_w, 3)`` uint8 RGB array, one entry per kept frame, in
    display order; ``times_s`` holds their times. ``duration_s`` runs from the first frame's
    start to the last frame's end; ``audio_end_s`` is where the audio track ends on the same
    clock (None without audio). ``bad_packets`` counts packets the decoder rejected;
    ``declared_s`` is the length the file's header gives its video (None if it gives none),
    which is longer than ``duration_s`` when the file was cut short.
    """

    width: int
    height: int
    duration_s: float
    frame_interval_s: float
    times_s: NDArray[np.float64]
    frames: NDArray[np.uint8]
    audio_end_s: float | None
    bad_packets: int
    declared_s: float | None


def grid_size(width: int, height: int, long_px: int = GRID_LONG_PX) -> tuple[int, int]:
    """The ``(width, height)`` of a grid with the frame's shape and ``long_px`` on its long side."""
    scale = long_px / max(width, height)
    return (max(8, round(width * scale)), max(8, round(height * scale)))


class _Windows:
    """A set of time intervals, merged and sorted, with a membership test."""

    def __init__(self, spans: Sequence[tuple[float, float]], slack_s: float):
        merged: list[list[float]] = []
        for start, end in sorted((s - slack_s, e + slack_s) for s, e in spans if e >= s):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._starts = [span[0] for span in merged]
        self._ends = [span[1] for span in merged]

    def __contains__(self, time_s: float) -> bool:
        index = bisect.bisect_right(self._starts, time_s) - 1
        return index >= 0 and time_s <= self._ends[index]


def sample_frames(
    path: str | Path,
    *,
    which: str,
    windows: Callable[[float], Sequence[tuple[float, float]]],
    grid: tuple[int, int] | None = None,
) -> Sampled:
    """Decode the frames of ``path`` that fall inside ``windows(duration_s)``.

    ``windows`` receives the file's duration (known from its packets before anything is
    decoded) and returns ``(start_s, end_s)`` spans; a span may be empty or reach past
    either end. ``grid`` is the ``(width, height)`` frames are scaled to (default: the file's
    own shape, 128 px on the long side). ``which`` names the file in error messages
    ("input", "result"). Raises ``ScoreError`` when the file cannot be read or no frame in
    the windows decodes.
    """
    name = Path(path).name
    try:
        container = av.open(str(path))
    except FileNotFoundError as exc:
        raise ScoreError(f"the {which} video {name} does not exist", path=str(path)) from exc
    except (av.FFmpegError, OSError) as exc:
        raise ScoreError(
            f"the {which} video {name} is not a readable video file ({exc})", path=str(path)
        ) from exc
    with container:
        streams = [s for s in container.streams.video if not s.disposition & _ATTACHED_PIC]
        if not streams:
            raise ScoreError(f"the {which} file {name} has no video stream", path=str(path))
        video = streams[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        try:
            packets, pts, audio_end = _demux(container, video, audio)
        except av.FFmpegError as exc:
            raise ScoreError(
                f"the {which} video {name} is damaged ({exc})", path=str(path)
            ) from exc
        if not packets:
            raise ScoreError(f"the {which} video {name} holds no frames", path=str(path))
        tb = float(video.time_base or 0) or 1 / 90_000
        start = min(pts)
        times = [(p - start) * tb for p in pts]
        gaps = [b - a for a, b in itertools.pairwise(sorted(times)) if b > a]
        rate = video.average_rate or video.guessed_rate
        interval = statistics.median(gaps) if gaps else (1 / float(rate) if rate else 1 / 24)
        duration = max(
            t + ((p.duration or 0) * tb or interval) for t, p in zip(times, packets, strict=True)
        )
        declared_s = video.duration * tb if video.duration else None
        width, height = video.codec_context.width, video.codec_context.height
        shape = grid or grid_size(width, height)
        wanted = _Windows(windows(duration), slack_s=interval / 2)
        decoder = _Decoder(video, shape, start, tb, wanted)
        decoder.run(packets, times, [t in wanted for t in times])
    if not decoder.times:
        raise ScoreError(f"no frame of the {which} video {name} could be decoded", path=str(path))
    order = np.argsort(decoder.times, kind="stable")
    return Sampled(
        width=width,
        height=height,
        duration_s=duration,
        frame_interval_s=interval,
        times_s=np.asarray(decoder.times, dtype=np.float64)[order],
        frames=np.stack(decoder.frames)[order],
        audio_end_s=None if audio_end is None else audio_end - start * tb,
        bad_packets=decoder.bad_packets,
        declared_s=declared_s,
    )


def _demux(
    container: av.container.InputContainer,
    video: av.VideoStream,
    audio: av.AudioStream | None,
) -> tuple[list[VideoPacket], list[int], float | None]:
    """The video packets that carry a picture with their presentation times (in the
    stream's time base), and the end of the audio track in seconds."""
    packets: list[VideoPacket] = []
    pts: list[int] = []
    audio_end: float | None = None
    for packet in container.demux(*(s for s in (video, audio) if s is not None)):
        if not packet.size:
            continue  # the empty packet that marks the end of a stream
        if packet.stream is video:
            at = packet.pts if packet.pts is not None else packet.dts
            if at is not None:
                packets.append(packet)  # type: ignore[arg-type]  # demux() is not typed per stream
                pts.append(at)
        elif packet.pts is not None and packet.time_base is not None:
            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            audio_end = end if audio_end is None else max(audio_end, end)
    return packets, pts, audio_end


class _Decoder:
    """Feeds packets to the video decoder, keeping the frames whose time is wanted."""

    def __init__(
        self,
        video: av.VideoStream,
        grid: tuple[int, int],
        start_pts: int,
        time_base: float,
        wanted: _Windows,
    ):
        # One thread: the target is CPU time, which frame threads only add to, and the
        # scorer runs beside other work on a worker thread.
        video.thread_type = "NONE"
        self._codec = video.codec_context
        self._grid = grid
        self._start_pts = start_pts
        self._time_base = time_base
        self._wanted = wanted
        self._scaler = VideoReformatter()
        self.times: list[float] = []
        self.frames: list[NDArray[np.uint8]] = []
        self.bad_packets = 0

    def run(self, packets: list[VideoPacket], times: list[float], wanted: list[bool]) -> None:
        """Decode what the wanted packets need, jumping to keyframes across long gaps."""
        count = len(packets)
        next_wanted = [count] * (count + 1)
        for index in range(count - 1, -1, -1):
            next_wanted[index] = index if wanted[index] else next_wanted[index + 1]
        keyframes = [i for i, p in enumerate(packets) if p.is_keyframe]
        skipping: Literal["DEFAULT", "NONREF"] | None = None
        index = 0
        while index < count:
            if not wanted[index]:
                target = next_wanted[index]
                if target == count:
                    break  # nothing wanted from here on
                jump = keyframes[bisect.bisect_right(keyframes, target) - 1] if keyframes else 0
                if jump > index and times[jump] <= times[target]:
                    self._drain()
                    self._codec.flush_buffers()
                    index = jump
                    continue
            # Frames that nothing refers to can be skipped outright between windows.
            mode: Literal["DEFAULT", "NONREF"] = "DEFAULT" if wanted[index] else "NONREF"
            if mode != skipping:
                self._codec.skip_frame = mode
                skipping = mode
            try:
                frames = self._codec.decode(packets[index])
            except av.FFmpegError:
                self.bad_packets += 1
                frames = []
            for frame in frames:
                self._keep(frame)
            index += 1
        self._drain()

    def _drain(self) -> None:
        try:
            for frame in self._codec.decode(None):
                self._keep(frame)
        except av.FFmpegError:
            self.bad_packets += 1

    def _keep(self, frame: av.VideoFrame) -> None:
        if frame.pts is None:
            return
        time_s = (frame.pts - self._start_pts) * self._time_base
        if time_s not in self._wanted:
            return
        colorspace = frame.colorspace
        if colorspace == _UNSPECIFIED and min(frame.width, frame.height) >= 720:
            colorspace = _BT709  # what HD players assume for untagged video
        small = self._scaler.reformat(
            frame,
            width=self._grid[0],
            height=self._grid[1],
            format="rgb24",
            src_colorspace=colorspace,
            src_color_range=frame.color_range or None,
            interpolation="AREA",
            threads=1,
        )
        self.times.append(time_s)
        self.frames.append(np.asarray(small.to_ndarray(), dtype=np.uint8))
