"""Small synthetic clips to try the toolkit without a real video at hand.

`make_sample_clip` paints a little sunset: a gradient sky, a hilly horizon, furrowed fields, a
sun travelling across the sky and a blocky frame counter in the top-left corner. Everything
moves or is textured on purpose, so an extension that continues from the last frame is
visibly meaningful, and the counter makes it obvious which frames came from the input.

`make_audio_only_clip` writes a file with an AAC track and no video stream at all, which is
what a test needs to exercise the "no video stream" input check.

Both functions are deterministic: the same arguments give byte-identical files, because the
picture and sound are pure functions of the arguments and the encoder runs with a fixed
thread layout (see `_open_h264_stream`).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.stream import VideoStream
from numpy.typing import NDArray

__all__ = ["make_audio_only_clip", "make_sample_clip"]

RgbImage = NDArray[np.uint8]

AUDIO_RATE_HZ = 44_100
# Samples per AAC frame; the encoder wants exactly this many in every frame but the last.
_AAC_FRAME_SAMPLES = 1024
# A fixed thread count pins x264's frame-threading layout, which its output depends on; "auto"
# would make the bytes depend on the machine's core count.
_X264_THREADS = 2
_X264_OPTIONS = {"preset": "veryfast", "crf": "20"}
# BT.709 in the libavutil enums (AVCOL_SPC_BT709, AVCOL_PRI_BT709, AVCOL_TRC_BT709) and limited
# ("MPEG") range: what HD players assume, so the colours we paint are the colours they show.
_BT709 = 1
_LIMITED_RANGE = 1

# 3x5 block glyphs for the frame counter, one string per row.
_DIGIT_GLYPHS: dict[str, tuple[str, ...]] = {
    "0": ("###", "#.#", "#.#", "#.#", "###"),
    "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"),
    "3": ("###", "..#", "###", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"),
    "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"),
    "7": ("###", "..#", ".#.", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"),
    "9": ("###", "#.#", "###", "..#", "###"),
}


def make_sample_clip(
    path: str | Path,
    *,
    width: int = 1280,
    height: int = 720,
    duration_s: float = 2.0,
    fps: int = 24,
    audio: bool = True,
    seed: int = 0,
) -> Path:
    """Write a synthetic H.264 (yuv420p) MP4 sunset clip and return its path.

    The clip has `round(duration_s * fps)` frames (at least one) and, when `audio` is true, a
    mono 44.1 kHz AAC track: a soft tone with a tick on every whole second. `seed` changes
    the hills, the sun's path and the tone's pitch. Any even `width` and `height` of at least
    16 pixels work, including sizes veo-3.1-extend rejects, so tests can build bad inputs.
    The file is always MP4, whatever the suffix of `path`.
    """
    _require_even_size(width, height)
    if duration_s <= 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    if fps <= 0:
        raise ValueError(f"fps must be a positive integer, got {fps}")

    out_path = Path(path)
    rng = np.random.default_rng(seed)
    frame_count = max(1, round(duration_s * fps))
    backdrop, sky_mask = _paint_backdrop(width, height, rng)
    sun_y0_frac, sun_travel_frac = rng.uniform(0.18, 0.32), rng.uniform(0.35, 0.6)
    tone_hz = float(rng.choice([220.0, 246.94, 277.18, 329.63]))

    samples = _sample_tone(frame_count / fps, tone_hz) if audio else None
    with av.open(str(out_path), "w", format="mp4") as container:
        video = _open_h264_stream(container, width, height, fps)
        sound = _open_aac_stream(container) if audio else None
        samples_written = 0
        for index in range(frame_count):
            progress = index / max(1, frame_count - 1)
            image = backdrop.copy()
            _draw_sun(
                image,
                sky_mask,
                centre_x=width * (0.5 - sun_travel_frac / 2 + sun_travel_frac * progress),
                centre_y=height * (sun_y0_frac + 0.08 * (2 * progress - 1) ** 2),
                radius=0.07 * min(width, height),
            )
            _draw_counter(image, index)
            # swscale's automatic threading costs more than it saves on a single picture.
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG", threads=1
            )
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
            if sound is not None and samples is not None:
                # Keeping the audio level with the video makes the MP4 interleaved, which
                # players streaming the file over HTTP rely on.
                until = (index + 1) * AUDIO_RATE_HZ // fps
                samples_written = _mux_audio(container, sound, samples, samples_written, until)
        container.mux(video.encode())
        if sound is not None and samples is not None:
            _mux_audio(container, sound, samples, samples_written, samples.shape[0], final=True)
    return out_path


def make_audio_only_clip(path: str | Path, duration_s: float = 1.0) -> Path:
    """Write an MP4/M4A file holding only a mono 44.1 kHz AAC tone, no video stream.

    Useful for checking that inputs without a picture are rejected. The file is always MP4
    (an .m4a file is the same container), whatever the suffix of `path`.
    """
    if duration_s <= 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    out_path = Path(path)
    with av.open(str(out_path), "w", format="mp4") as container:
        sound = _open_aac_stream(container)
        tone = _sample_tone(duration_s, 440.0)
        _mux_audio(container, sound, tone, 0, tone.shape[0], final=True)
    return out_path


def _require_even_size(width: int, height: int) -> None:
    # yuv420p stores one chroma sample per 2x2 block, so H.264 in that format needs even sides.
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ValueError(f"width and height must be even and at least 16, got {width}x{height}")


def _open_h264_stream(container: OutputContainer, width: int, height: int, fps: int) -> VideoStream:
    stream = container.add_stream("libx264", rate=fps, options=_X264_OPTIONS)
    stream.width = width
    stream.height = height
    stream.pix_fmt = "yuv420p"
    # PyAV defaults encoders to slice threading, which libx264 turns into sliced threads whose
    # slice count follows the CPU count; frame threads with a fixed count keep bytes stable.
    stream.codec_context.thread_type = "FRAME"
    stream.codec_context.thread_count = _X264_THREADS
    stream.codec_context.colorspace = _BT709
    stream.codec_context.color_primaries = _BT709
    stream.codec_context.color_trc = _BT709
    stream.codec_context.color_range = _LIMITED_RANGE
    return stream


def _open_aac_stream(container: OutputContainer) -> AudioStream:
    stream = container.add_stream("aac", rate=AUDIO_RATE_HZ, layout="mono")
    stream.bit_rate = 64_000
    return stream


def _paint_backdrop(
    width: int, height: int, rng: np.random.Generator
) -> tuple[RgbImage, NDArray[np.bool_]]:
    """Paint the static part of the scene (sky, hills, fields); return it and the sky mask."""
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]

    phases = rng.uniform(0, 2 * math.pi, size=2)
    hill_line = height * (
        0.62
        + 0.045 * np.sin(xs / width * 2 * math.pi * 1.3 + phases[0])
        + 0.025 * np.sin(xs / width * 2 * math.pi * 3.1 + phases[1])
    )
    sky_mask = np.broadcast_to(ys < hill_line, (height, width))

    sky_top = np.array([18, 36, 104], dtype=np.float32)
    sky_low = np.array([250, 168, 92], dtype=np.float32)
    sky_t = np.clip(ys / (0.66 * height), 0, 1)[..., None]
    sky = sky_top + (sky_low - sky_top) * sky_t**1.6

    # Furrows that bunch up towards the horizon, and crop rows converging on a vanishing
    # point, give a camera move over the last frame something to magnify and slide past.
    depth = np.maximum(ys - 0.55 * height, 1.0) / height
    furrows = 0.5 + 0.5 * np.sin(2.2 / depth)
    crop_rows = 0.5 + 0.5 * np.sin((xs - width / 2) / (depth * height) * 20.0)
    shade = 0.7 + 0.18 * furrows + 0.12 * crop_rows
    field_near = np.array([34, 92, 40], dtype=np.float32)
    field_far = np.array([70, 110, 60], dtype=np.float32)
    far_t = np.clip(1 - (ys - 0.55 * height) / (0.45 * height), 0, 1)[..., None]
    field = (field_near + (field_far - field_near) * far_t) * shade[..., None]

    image = np.where(sky_mask[..., None], sky, field)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), sky_mask


def _draw_sun(
    image: RgbImage,
    sky_mask: NDArray[np.bool_],
    *,
    centre_x: float,
    centre_y: float,
    radius: float,
) -> None:
    """Blend a glowing sun into `image`, hidden wherever the hills are in front of it."""
    height, width = sky_mask.shape
    reach = 2.5 * radius
    top, bottom = max(0, int(centre_y - reach)), min(height, int(centre_y + reach) + 1)
    left, right = max(0, int(centre_x - reach)), min(width, int(centre_x + reach) + 1)
    if top >= bottom or left >= right:
        return
    ys = np.arange(top, bottom, dtype=np.float32)[:, None]
    xs = np.arange(left, right, dtype=np.float32)[None, :]
    distance = np.hypot(xs - centre_x, ys - centre_y) / radius
    # Solid out to 0.8 of the radius, then a soft rim, so the edge doesn't alias.
    disc = np.clip((1.2 - distance) / 0.4, 0, 1)
    glow = 0.45 * np.exp(-((distance - 1) ** 2) * 1.5) * (distance > 1)
    alpha = (np.maximum(disc, glow) * sky_mask[top:bottom, left:right])[..., None]
    sun_rgb = np.array([255, 236, 170], dtype=np.float32)
    patch = image[top:bottom, left:right].astype(np.float32)
    patch += (sun_rgb - patch) * alpha
    image[top:bottom, left:right] = np.rint(patch).astype(np.uint8)


def _draw_counter(image: RgbImage, index: int) -> None:
    """Draw the frame number in blocky white digits near the top-left corner."""
    height, width = image.shape[:2]
    cell = max(2, min(width, height) // 90)
    left = top = 2 * cell
    for char in f"{index:03d}":
        for row, pattern in enumerate(_DIGIT_GLYPHS[char]):
            for col, mark in enumerate(pattern):
                if mark == "#":
                    y, x = top + row * cell, left + col * cell
                    image[y : y + cell, x : x + cell] = 245
        left += 4 * cell


def _sample_tone(duration_s: float, tone_hz: float) -> NDArray[np.float32]:
    """A quiet sine with a short tick on each whole second, faded in and out to avoid clicks."""
    sample_count = max(1, round(duration_s * AUDIO_RATE_HZ))
    t_s = np.arange(sample_count, dtype=np.float64) / AUDIO_RATE_HZ
    tone = 0.18 * np.sin(2 * math.pi * tone_hz * t_s)
    since_tick_s = t_s % 1.0
    tick = 0.3 * np.sin(2 * math.pi * 1760.0 * t_s) * np.exp(-since_tick_s * 60.0)
    edge_s = min(0.05, duration_s / 4)
    envelope = np.clip(np.minimum(t_s, duration_s - t_s) / edge_s, 0, 1)
    return ((tone + tick) * envelope).astype(np.float32)


def _mux_audio(
    container: OutputContainer,
    stream: AudioStream,
    samples: NDArray[np.float32],
    start: int,
    stop: int,
    *,
    final: bool = False,
) -> int:
    """Encode and mux mono `samples[start:stop]`; return the index of the first one left over.

    Only whole AAC frames are written unless `final` is true, in which case the remainder goes
    out as a short last frame and the encoder is flushed.
    """
    end = stop if final else start + (stop - start) // _AAC_FRAME_SAMPLES * _AAC_FRAME_SAMPLES
    for offset in range(start, end, _AAC_FRAME_SAMPLES):
        chunk = samples[None, offset : min(end, offset + _AAC_FRAME_SAMPLES)]
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(chunk), format="fltp", layout="mono"
        )
        frame.sample_rate = AUDIO_RATE_HZ
        frame.pts = offset
        frame.time_base = Fraction(1, AUDIO_RATE_HZ)
        container.mux(stream.encode(frame))
    if final:
        container.mux(stream.encode())
    return end
