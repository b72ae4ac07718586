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
the prompt and the seed (:mod:`foxnb.sim.look`), so different requests give visibly different
results while the same request (input bytes, prompt, seed, generate_audio) always gives a
byte-identical file. Audio (AAC) is written only when `generate_audio` is true: the input's
own sound under the input part (silence if it had none) and a soft tone under the continuation
(:mod:`foxnb.sim.soundtrack`). A `defect` makes the result flawed in a known way
(:mod:`foxnb.sim.defects`); without one the output is exactly the clean render.

`check_extend_input` (from :mod:`foxnb.sim.probe`) holds the model's documented input
constraints, so the simulator can reject what the real service rejects, with the same codes.

This module is part of the simulator and deliberately imports nothing from the client side of
`foxnb`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.container import InputContainer, OutputContainer
from av.video.stream import VideoStream

from .defects import alter_new_frame, check_defect, continuation_s_for, mirrored, unrelated_still
from .frames import SWSCALE_THREADS, as_yuv420p, fresh_copy, plane
from .look import Look, look_for
from .probe import (
    ACCEPTED_SIZES,
    RenderError,
    VideoFacts,
    check_extend_input,
    ffmpeg_reason,
    picture_stream,
    probe_video,
)
from .soundtrack import Audio, AudioTrack, decode_audio, sample_index

__all__ = [
    "ACCEPTED_SIZES",
    "MAX_FPS",
    "RenderError",
    "RenderResult",
    "VideoFacts",
    "check_extend_input",
    "probe_video",
    "render_extension",
]

#: Frame rates above this are reduced by keeping every n-th frame, to keep renders cheap.
MAX_FPS = 30

# x264's output depends on its threading layout, so both are pinned: PyAV's default (slice
# threads, count chosen from the CPU count) would make the bytes depend on the machine. Two
# frame threads gave identical bytes run after run for landscape inputs, but not for portrait
# ones (720x1280 and 1080x1920 differed in about half of the runs, from the middle of the new
# part on), so portrait frames are encoded on one thread; landscape keeps two.
_X264_THREADS = 2
_X264_THREADS_PORTRAIT = 1
# "ultrafast" encodes in 0.6x the CPU time of "veryfast" (a 1 s 720p input: 0.80 s instead of
# 1.29 s per result) for files about 2.4x larger; a simulator's results are for checking and
# demos, and every test and demo renders many of them. Still bit-exact run after run.
_X264_OPTIONS = {"preset": "ultrafast", "crf": "26"}
# A moov atom up front lets a browser start playing before the whole file has arrived.
_MP4_OPTIONS = {"movflags": "+faststart"}
_TINT_MAX_CHROMA = 20.0
_VIGNETTE_MAX = 0.35


@dataclass(frozen=True)
class RenderResult:
    """The rendered file's shape: frame size, length, frame rate, audio and size on disk."""

    width: int
    height: int
    duration_s: float
    fps: float
    has_audio: bool
    size_bytes: int


def render_extension(
    src: str | Path,
    dst: str | Path,
    *,
    prompt: str,
    seed: int,
    generate_audio: bool,
    continuation_s: float = 7.0,
    defect: str | None = None,
) -> RenderResult:
    """Write the merged clip (all of `src`, then `continuation_s` of continuation) to `dst`.

    The output is an H.264 (yuv420p) MP4 with the input's frame size and frame rate (rates
    above MAX_FPS are reduced by dropping frames evenly). It has an AAC track if and only if
    `generate_audio` is true. The same input bytes, prompt, seed, `generate_audio` and
    `defect` give a byte-identical file. `dst` appears atomically: the file is written next to
    it with a `.part` suffix and renamed into place, so a reader never sees a half-written video.

    `defect` (one of :data:`foxnb.sim.defects.DEFECT_KINDS`) makes the result flawed in that
    way, e.g. ``defect="short"`` ends the new part after 3 s; ``None`` is a clean result.

    Raises RenderError if `src` can't be decoded or has no usable video stream.
    """
    if continuation_s <= 0:
        raise ValueError(f"continuation_s must be positive, got {continuation_s}")
    check_defect(defect)
    dst_path = Path(dst)
    part_path = dst_path.with_suffix(".part")
    look = look_for(prompt, seed)
    with_audio = generate_audio and defect != "no_audio"
    try:
        lead_in = decode_audio(src) if with_audio else None
        with (
            av.open(str(src)) as source,
            av.open(str(part_path), "w", format="mp4", container_options=_MP4_OPTIONS) as sink,
        ):
            width, height, fps, frame_count = _render_into(
                source,
                sink,
                look,
                lead_in=lead_in,
                continuation_s=continuation_s_for(defect, continuation_s),
                defect=defect,
                seed=seed,
            )
        os.replace(part_path, dst_path)
    except BaseException as exc:
        part_path.unlink(missing_ok=True)
        if isinstance(exc, av.FFmpegError):
            raise RenderError(f"could not render an extension: {ffmpeg_reason(exc)}") from exc
        raise
    return RenderResult(
        width=width,
        height=height,
        duration_s=float(frame_count / fps),
        fps=float(fps),
        has_audio=with_audio,
        size_bytes=dst_path.stat().st_size,
    )


def _render_into(
    source: InputContainer,
    sink: OutputContainer,
    look: Look,
    *,
    lead_in: Audio | None,
    continuation_s: float,
    defect: str | None,
    seed: int,
) -> tuple[int, int, Fraction, int]:
    """Copy the input frames into `sink`, then append the continuation.

    Returns the output's width, height, frame rate and frame count.
    """
    src_video = picture_stream(source)
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
    audio = AudioTrack(sink, lead_in, look.tone_hz) if lead_in is not None else None

    # Decoders are bit-exact, so threading the decode speeds it up without changing output.
    src_video.thread_type = "AUTO"
    written = 0
    last: av.VideoFrame | None = None
    for index, decoded in enumerate(source.decode(src_video)):
        last = as_yuv420p(decoded, width, height)
        if index % keep_every:
            continue
        picture = mirrored(last) if defect == "prefix" else fresh_copy(last)
        _encode(sink, video, picture, written, time_base)
        written += 1
        if audio is not None:
            audio.write_until(sample_index(written, fps))
    if last is None:
        raise RenderError("input video stream contains no decodable frames")

    still = last
    if defect == "prefix":
        still = mirrored(last)
    elif defect == "cut":
        still = unrelated_still(last, seed)
    continuation_frames = max(1, round(continuation_s * fps))
    if audio is not None:
        audio.start_continuation(
            at_sample=sample_index(written, fps),
            length_samples=sample_index(continuation_frames, fps),
        )
    for step, frame in enumerate(_continuation(still, look, continuation_frames)):
        alter_new_frame(frame, defect, step=step, frame_count=continuation_frames, look=look)
        _encode(sink, video, frame, written + step, time_base)
        if audio is not None:
            audio.write_until(sample_index(written + step + 1, fps))
    sink.mux(video.encode())
    if audio is not None:
        audio.finish(sample_index(written + continuation_frames, fps))
    return width, height, fps, written + continuation_frames


def _open_h264_stream(sink: OutputContainer, template: VideoStream, fps: Fraction) -> VideoStream:
    stream = sink.add_stream("libx264", rate=fps, options=_X264_OPTIONS)
    stream.width = template.codec_context.width
    stream.height = template.codec_context.height
    stream.pix_fmt = "yuv420p"
    stream.codec_context.thread_type = "FRAME"
    portrait = stream.height > stream.width
    stream.codec_context.thread_count = _X264_THREADS_PORTRAIT if portrait else _X264_THREADS
    # Pixels pass through untouched, so the input's colour description still applies to them.
    stream.codec_context.colorspace = template.codec_context.colorspace
    stream.codec_context.color_primaries = template.codec_context.color_primaries
    stream.codec_context.color_trc = template.codec_context.color_trc
    stream.codec_context.color_range = template.codec_context.color_range
    return stream


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


def _continuation(still: av.VideoFrame, look: Look, frame_count: int) -> Iterator[av.VideoFrame]:
    """Frames of a slow zoom and pan over `still`, with a tint and vignette that build up."""
    width, height = still.width, still.height
    luma_src, u_src, v_src = (plane(still, index) for index in range(3))

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
        plane(crop, 0)[:] = luma_src[top : top + crop_h, left : left + crop_w]
        for index, source in ((1, u_src), (2, v_src)):
            plane(crop, index)[:] = source[
                top // 2 : top // 2 + crop_h // 2, left // 2 : left // 2 + crop_w // 2
            ]
        frame = crop.reformat(
            width=width, height=height, interpolation="BICUBIC", threads=SWSCALE_THREADS
        )

        luma = plane(frame, 0)
        gain_q8 = np.multiply(falloff_q8, np.uint16(round(_VIGNETTE_MAX * ease * 256)))
        gain_q8 >>= 8
        np.subtract(np.uint16(256), gain_q8, out=gain_q8)
        gain_q8 *= luma
        gain_q8 >>= 8
        luma[:] = gain_q8

        tint = _TINT_MAX_CHROMA * ease
        for index, shift in ((1, math.cos(look.tint_hue_rad)), (2, math.sin(look.tint_hue_rad))):
            lut = np.clip(np.arange(256) + round(tint * shift), 0, 255).astype(np.uint8)
            chroma = plane(frame, index)
            chroma[:] = lut[chroma]
        yield frame
