"""The simulator's video renderer: a real, playable stand-in for a veo-3.1-extend result.

The local simulator has no video model, but notebooks still need a genuine MP4 to play, probe
and chain into the next extension. This module makes one with plain signal processing:

* every frame of the input video, re-encoded as H.264, followed by
* `continuation_s` seconds (7 s by default, like the real model) of "continuation": a slow
  camera move (zoom in plus a pan) over the input's true last frame, with a colour cast and a
  vignette that build up gradually, so the new part reads as motion that carries on from the
  input rather than as a freeze frame.

FoxAPI's documentation does not say whether the extend result is the merged clip or only the
new seconds. The simulator returns the merged clip (input + continuation), which is what other
providers' extend endpoints commonly do; code built on it should check durations rather than
assume either shape.

The look of the continuation (pan direction, zoom depth, tint hue, tone pitch) is derived from
the prompt and the seed, so different requests give visibly different results while the same
request (input bytes, prompt, seed, generate_audio) always gives a byte-identical file. Audio
(AAC) is written only when `generate_audio` is true: the input's own sound under the input
part (silence if it had none) and a soft tone under the continuation.

`check_extend_input` holds the model's documented input constraints, so the simulator can
reject what the real service rejects, with the same error codes.

This module is part of the simulator and deliberately imports nothing from the client side of
`foxnb`.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.stream import Disposition
from av.video.stream import VideoStream
from numpy.typing import NDArray

__all__ = [
    "RenderError",
    "RenderResult",
    "VideoFacts",
    "check_extend_input",
    "probe_video",
    "render_extension",
]

#: Sizes veo-3.1-extend accepts: 720p and 1080p, landscape 16:9 or portrait 9:16.
ACCEPTED_SIZES: tuple[tuple[int, int], ...] = ((1280, 720), (1920, 1080), (720, 1280), (1080, 1920))

#: Frame rates above this are reduced by keeping every n-th frame, to keep renders cheap.
MAX_FPS = 30
AUDIO_RATE_HZ = 48_000

# Samples per AAC frame; the encoder wants exactly this many in every frame but the last.
_AAC_FRAME_SAMPLES = 1024
# x264's output depends on its threading layout, so both are pinned: PyAV's default (slice
# threads, count chosen from the CPU count) would make the bytes depend on the machine.
_X264_THREADS = 2
_X264_OPTIONS = {"preset": "veryfast", "crf": "26"}
# A moov atom up front lets a browser start playing before the whole file has arrived.
_MP4_OPTIONS = {"movflags": "+faststart"}
# Every continuation frame scales a differently sized crop, so swscale is set up afresh each
# time; with its default (automatic) threading that set-up, spawning a thread pool, cost several
# times more than the scaling itself.
_SWSCALE_THREADS = 1

# How far one seed step moves the hue, pan direction, zoom depth and note, as fractions of
# their ranges: the golden ratio's fractional part and relatives, which never nearly repeat.
_SEED_STEPS = ((math.sqrt(5) - 1) / 2, (3 - math.sqrt(5)) / 2, math.sqrt(2) - 1, math.sqrt(3) - 1)
# Continuation notes, in semitones above A3: a pentatonic set, so every seed sounds pleasant.
_TONE_SEMITONES = (0, 2, 4, 7, 9, 12, 14)
_TONE_BASE_HZ = 220.0
_TONE_FADE_IN_S = 1.5
_TONE_FADE_OUT_S = 0.25
# Shapes people call by name, for describing near misses in error messages.
_NAMED_RATIOS = ((16, 9), (9, 16), (4, 3), (3, 4), (1, 1), (3, 2), (2, 3), (21, 9))
_TINT_MAX_CHROMA = 20.0
_VIGNETTE_MAX = 0.35

Plane = NDArray[np.uint8]
Audio = NDArray[np.float32]


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


@dataclass(frozen=True)
class RenderResult:
    """The rendered file's shape: frame size, length, frame rate, audio and size on disk."""

    width: int
    height: int
    duration_s: float
    fps: float
    has_audio: bool
    size_bytes: int


@dataclass(frozen=True)
class _Look:
    """The per-request choices that make one continuation differ from another."""

    zoom_end: float
    pan_angle_rad: float
    tint_hue_rad: float
    tone_hz: float


def probe_video(path: str | Path) -> VideoFacts:
    """Describe the streams of the media file at `path`.

    Raises RenderError if the file is missing or is not something FFmpeg can demux.
    """
    try:
        with av.open(str(path)) as container:
            video = _picture_stream(container)
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
        raise RenderError(f"{path} is not a readable media file: {exc}") from exc


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


def render_extension(
    src: str | Path,
    dst: str | Path,
    *,
    prompt: str,
    seed: int,
    generate_audio: bool,
    continuation_s: float = 7.0,
) -> RenderResult:
    """Write the merged clip (all of `src`, then `continuation_s` of continuation) to `dst`.

    The output is an H.264 (yuv420p) MP4 with the input's frame size and frame rate (rates
    above MAX_FPS are reduced by dropping frames evenly). It has an AAC track if and only if
    `generate_audio` is true. The same input bytes, prompt, seed and `generate_audio` give a
    byte-identical file. `dst` appears atomically: the file is written next to it with a
    `.part` suffix and renamed into place, so a reader never sees a half-written video.

    Raises RenderError if `src` can't be decoded or has no usable video stream.
    """
    if continuation_s <= 0:
        raise ValueError(f"continuation_s must be positive, got {continuation_s}")
    dst_path = Path(dst)
    part_path = dst_path.with_suffix(".part")
    look = _look_for(prompt, seed)
    try:
        lead_in = _decode_audio(src) if generate_audio else None
        with (
            av.open(str(src)) as source,
            av.open(str(part_path), "w", format="mp4", container_options=_MP4_OPTIONS) as sink,
        ):
            width, height, fps, frame_count = _render_into(
                source, sink, look, lead_in=lead_in, continuation_s=continuation_s
            )
        os.replace(part_path, dst_path)
    except BaseException as exc:
        part_path.unlink(missing_ok=True)
        if isinstance(exc, av.FFmpegError):
            raise RenderError(f"could not render an extension of {src}: {exc}") from exc
        raise
    return RenderResult(
        width=width,
        height=height,
        duration_s=float(frame_count / fps),
        fps=float(fps),
        has_audio=generate_audio,
        size_bytes=dst_path.stat().st_size,
    )


def _render_into(
    source: InputContainer,
    sink: OutputContainer,
    look: _Look,
    *,
    lead_in: Audio | None,
    continuation_s: float,
) -> tuple[int, int, Fraction, int]:
    """Copy the input frames into `sink`, then append the continuation.

    Returns the output's width, height, frame rate and frame count.
    """
    src_video = _picture_stream(source)
    if src_video is None:
        raise RenderError("input has no video stream to extend")
    width, height = src_video.codec_context.width, src_video.codec_context.height
    if width % 2 or height % 2:
        raise RenderError(f"input video is {width}x{height}; H.264 yuv420p needs even sides")
    in_fps = src_video.average_rate or src_video.guessed_rate
    if not in_fps or in_fps <= 0:
        raise RenderError("input video has no usable frame rate")
    # Keeping every n-th frame (rather than resampling in time) keeps the motion evenly spaced.
    keep_every = math.ceil(in_fps / MAX_FPS)
    fps = Fraction(in_fps) / keep_every
    time_base = Fraction(fps.denominator, fps.numerator)

    video = _open_h264_stream(sink, src_video, fps)
    audio = _AudioTrack(sink, lead_in, look.tone_hz) if lead_in is not None else None

    # Decoders are bit-exact, so threading the decode speeds it up without changing output.
    src_video.thread_type = "AUTO"
    written = 0
    last: av.VideoFrame | None = None
    for index, decoded in enumerate(source.decode(src_video)):
        last = _as_yuv420p(decoded, width, height)
        if index % keep_every:
            continue
        _encode(sink, video, _fresh_copy(last), written, time_base)
        written += 1
        if audio is not None:
            audio.write_until(_sample_index(written, fps))
    if last is None:
        raise RenderError("input video stream contains no decodable frames")

    continuation_frames = max(1, round(continuation_s * fps))
    if audio is not None:
        audio.start_continuation(
            at_sample=_sample_index(written, fps),
            length_samples=_sample_index(continuation_frames, fps),
        )
    for step, frame in enumerate(_continuation(last, look, continuation_frames)):
        _encode(sink, video, frame, written + step, time_base)
        if audio is not None:
            audio.write_until(_sample_index(written + step + 1, fps))
    sink.mux(video.encode())
    if audio is not None:
        audio.finish(_sample_index(written + continuation_frames, fps))
    return width, height, fps, written + continuation_frames


def _picture_stream(container: InputContainer) -> VideoStream | None:
    """The first real video stream, skipping cover art (an attached picture in a music file)."""
    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            return stream
    return None


def _open_h264_stream(sink: OutputContainer, template: VideoStream, fps: Fraction) -> VideoStream:
    stream = sink.add_stream("libx264", rate=fps, options=_X264_OPTIONS)
    stream.width = template.codec_context.width
    stream.height = template.codec_context.height
    stream.pix_fmt = "yuv420p"
    stream.codec_context.thread_type = "FRAME"
    stream.codec_context.thread_count = _X264_THREADS
    # Pixels pass through untouched, so the input's colour description still applies to them.
    stream.codec_context.colorspace = template.codec_context.colorspace
    stream.codec_context.color_primaries = template.codec_context.color_primaries
    stream.codec_context.color_trc = template.codec_context.color_trc
    stream.codec_context.color_range = template.codec_context.color_range
    return stream


def _as_yuv420p(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """The frame itself if it is already 8-bit 4:2:0 at the stream's size, else a converted copy."""
    if frame.format.name == "yuv420p" and (frame.width, frame.height) == (width, height):
        return frame
    return frame.reformat(width=width, height=height, format="yuv420p", threads=_SWSCALE_THREADS)


def _fresh_copy(frame: av.VideoFrame) -> av.VideoFrame:
    """A copy of the picture without the decoder's leftovers.

    A decoded frame carries its picture type and side data, which libx264 would honour, for
    instance by forcing a keyframe wherever the input happened to have one.
    """
    return av.VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")


def _plane(frame: av.VideoFrame, index: int) -> Plane:
    """A writable 2-D view of one plane of `frame`, without the row padding."""
    plane = frame.planes[index]
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
    view: Plane = rows[: plane.height, : plane.width]
    return view


def _encode(
    sink: OutputContainer,
    stream: VideoStream,
    frame: av.VideoFrame,
    index: int,
    time_base: Fraction,
) -> None:
    frame.pts = index
    frame.duration = 1
    frame.time_base = time_base
    sink.mux(stream.encode(frame))


def _continuation(still: av.VideoFrame, look: _Look, frame_count: int) -> Iterator[av.VideoFrame]:
    """Frames of a slow zoom and pan over `still`, with a tint and vignette that build up."""
    width, height = still.width, still.height
    luma_src, u_src, v_src = (_plane(still, index) for index in range(3))

    ys = (np.arange(height, dtype=np.float32) - height / 2) / (height / 2)
    xs = (np.arange(width, dtype=np.float32) - width / 2) / (width / 2)
    # Squared distance from the centre in fixed point (256 = a corner), so the per-frame
    # vignette is integer arithmetic on uint16 rather than a float pass over every pixel.
    falloff_q8 = np.rint((ys[:, None] ** 2 + xs[None, :] ** 2) * 128).astype(np.uint16)

    for step in range(frame_count):
        progress = (step + 1) / frame_count
        ease = progress * progress * (3 - 2 * progress)
        zoom = 1 + (look.zoom_end - 1) * ease
        crop_w = 2 * round(width / zoom / 2)
        crop_h = 2 * round(height / zoom / 2)
        # The pan heads towards an edge as the zoom frees up room; 0.9 stops it short of it.
        left = round((width - crop_w) * 0.5 * (1 + 0.9 * math.cos(look.pan_angle_rad)))
        top = round((height - crop_h) * 0.5 * (1 + 0.9 * math.sin(look.pan_angle_rad)))

        crop = av.VideoFrame(crop_w, crop_h, "yuv420p")
        _plane(crop, 0)[:] = luma_src[top : top + crop_h, left : left + crop_w]
        for index, source in ((1, u_src), (2, v_src)):
            _plane(crop, index)[:] = source[
                top // 2 : top // 2 + crop_h // 2, left // 2 : left // 2 + crop_w // 2
            ]
        frame = crop.reformat(
            width=width, height=height, interpolation="BICUBIC", threads=_SWSCALE_THREADS
        )

        luma = _plane(frame, 0)
        gain_q8 = np.multiply(falloff_q8, np.uint16(round(_VIGNETTE_MAX * ease * 256)))
        gain_q8 >>= 8
        np.subtract(np.uint16(256), gain_q8, out=gain_q8)
        gain_q8 *= luma
        gain_q8 >>= 8
        luma[:] = gain_q8

        tint = _TINT_MAX_CHROMA * ease
        for index, shift in ((1, math.cos(look.tint_hue_rad)), (2, math.sin(look.tint_hue_rad))):
            lut = np.clip(np.arange(256) + round(tint * shift), 0, 255).astype(np.uint8)
            chroma = _plane(frame, index)
            chroma[:] = lut[chroma]
        yield frame


# Words a prompt may use to steer the simulated continuation. Hues are angles in the (Cb, Cr)
# chroma plane: 0 pushes towards blue, pi/2 red, pi yellow, 3pi/2 green.
_DIRECTION_WORDS = {
    "right": 0.0,
    "up": math.pi / 2,
    "rise": math.pi / 2,
    "rises": math.pi / 2,
    "sky": math.pi / 2,
    "left": math.pi,
    "down": 3 * math.pi / 2,
    "falls": 3 * math.pi / 2,
    "ground": 3 * math.pi / 2,
}
_HUE_WORDS = {
    "cold": -0.3,
    "storm": -0.3,
    "rain": -0.3,
    "night": 0.2,
    "stars": 0.2,
    "blue": 0.0,
    "fire": 2.0,
    "red": math.pi / 2,
    "warm": 2.4,
    "dusk": 2.4,
    "sunset": 2.4,
    "golden": 2.7,
    "dawn": 2.7,
    "green": 4.0,
    "forest": 4.0,
    "spring": 4.0,
}
# How far the seed may move a choice the prompt made (radians either way).
_STEERED_SPREAD_RAD = 0.9


def _steer(prompt: str, words: dict[str, float]) -> float | None:
    """The angle of the last steering word in ``prompt``, or None if it has none."""
    found = [words[w] for w in re.findall(r"[a-z]+", prompt.lower()) if w in words]
    return found[-1] if found else None


def _look_for(prompt: str, seed: int) -> _Look:
    """Derive the continuation's look from the prompt and seed.

    The prompt hash picks a starting point for each choice and the seed steps away from it by
    an irrational fraction of the range (a different one per choice, so they don't move in
    lockstep), which puts neighbouring seeds (0, 1, 2, ...) far apart rather than on similar
    looks. A prompt that names a direction ("pan left", "rises") or a mood ("storm", "dusk",
    "forest") steers the camera move or the tint that way, and the seed then only varies it
    within ``_STEERED_SPREAD_RAD``, so prompts compared side by side look like what they say.
    """
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    hue_u, pan_u, zoom_u, tone_u = (
        (int.from_bytes(digest[8 * i : 8 * i + 8], "big") / 2**64 + seed * step) % 1.0
        for i, step in enumerate(_SEED_STEPS)
    )
    pan_rad, hue_rad = 2 * math.pi * pan_u, 2 * math.pi * hue_u
    if (steered := _steer(prompt, _DIRECTION_WORDS)) is not None:
        pan_rad = steered + _STEERED_SPREAD_RAD * (2 * pan_u - 1)
    if (steered := _steer(prompt, _HUE_WORDS)) is not None:
        hue_rad = steered + _STEERED_SPREAD_RAD * (2 * hue_u - 1)
    return _Look(
        zoom_end=1.18 + 0.17 * zoom_u,
        pan_angle_rad=pan_rad,
        tint_hue_rad=hue_rad,
        tone_hz=_TONE_BASE_HZ * 2 ** (_TONE_SEMITONES[int(tone_u * len(_TONE_SEMITONES))] / 12),
    )


def _sample_index(frame_count: int, fps: Fraction) -> int:
    """The audio sample at which video frame number `frame_count` starts."""
    return int(frame_count * AUDIO_RATE_HZ / fps)


def _decode_audio(src: str | Path) -> Audio:
    """The input's first audio track as stereo float samples at AUDIO_RATE_HZ (empty if none)."""
    with av.open(str(src)) as container:
        if not container.streams.audio:
            return np.zeros((2, 0), dtype=np.float32)
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE_HZ)
        chunks: list[Audio] = []
        for frame in container.decode(container.streams.audio[0]):
            chunks.extend(_as_float32(part) for part in resampler.resample(frame))
        chunks.extend(_as_float32(part) for part in resampler.resample(None))
    if not chunks:
        return np.zeros((2, 0), dtype=np.float32)
    return np.concatenate(chunks, axis=1)


def _as_float32(frame: av.AudioFrame) -> Audio:
    return np.asarray(frame.to_ndarray(), dtype=np.float32)


class _AudioTrack:
    """The output's AAC track, written in step with the video so the MP4 stays interleaved.

    Samples before the continuation come from the input's audio (silence where it runs out);
    from `start_continuation` on they are a soft tone that fades in.
    """

    def __init__(self, sink: OutputContainer, lead_in: Audio, tone_hz: float) -> None:
        self._sink = sink
        self._stream: AudioStream = sink.add_stream("aac", rate=AUDIO_RATE_HZ, layout="stereo")
        self._stream.bit_rate = 96_000
        self._lead_in = lead_in
        self._tone_hz = tone_hz
        self._written = 0
        self._join: int | None = None
        self._tone_samples = 0

    def start_continuation(self, *, at_sample: int, length_samples: int) -> None:
        """Switch to the tone from sample `at_sample` on, lasting `length_samples`."""
        self._join = at_sample
        self._tone_samples = length_samples

    def write_until(self, stop: int) -> None:
        """Write every whole AAC frame that ends at or before sample `stop`."""
        while self._written + _AAC_FRAME_SAMPLES <= stop:
            self._write(_AAC_FRAME_SAMPLES)

    def finish(self, stop: int) -> None:
        """Write the rest up to sample `stop` (possibly a short frame) and flush the encoder."""
        self.write_until(stop)
        if stop > self._written:
            self._write(stop - self._written)
        self._sink.mux(self._stream.encode())

    def _write(self, count: int) -> None:
        frame = av.AudioFrame.from_ndarray(
            self._samples(self._written, count), format="fltp", layout="stereo"
        )
        frame.sample_rate = AUDIO_RATE_HZ
        frame.pts = self._written
        frame.time_base = Fraction(1, AUDIO_RATE_HZ)
        self._sink.mux(self._stream.encode(frame))
        self._written += count

    def _samples(self, start: int, count: int) -> Audio:
        out = np.zeros((2, count), dtype=np.float32)
        join = self._join if self._join is not None else start + count
        lead_stop = min(start + count, join, self._lead_in.shape[1])
        if lead_stop > start:
            out[:, : lead_stop - start] = self._lead_in[:, start:lead_stop]
        tone_from = max(start, join)
        if tone_from < start + count:
            t_s = np.arange(tone_from - join, start + count - join) / AUDIO_RATE_HZ
            out[:, tone_from - start :] = self._tone(t_s)
        return out

    def _tone(self, t_s: NDArray[np.float64]) -> Audio:
        """A quiet note with its fifth and octave, a slow swell, and faded ends."""
        phase = 2 * math.pi * self._tone_hz * t_s
        wave = np.sin(phase) + 0.3 * np.sin(1.5 * phase) + 0.2 * np.sin(2 * phase)
        swell = 1 + 0.15 * np.sin(2 * math.pi * 0.5 * t_s)
        length_s = self._tone_samples / AUDIO_RATE_HZ
        fade_in = 0.5 - 0.5 * np.cos(math.pi * np.clip(t_s / _TONE_FADE_IN_S, 0, 1))
        fade_out = np.clip((length_s - t_s) / _TONE_FADE_OUT_S, 0, 1)
        mono = (0.1 * wave * swell * fade_in * fade_out).astype(np.float32)
        return np.stack([mono, mono])


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
