"""The simulated result's sound: the input's own audio, then a soft tone under the new part.

:func:`decode_audio` reads the input's first audio track as stereo float samples;
:class:`AudioTrack` writes the output's AAC track in step with the video frames (so the MP4
stays interleaved): input samples until the continuation starts (silence where they run out),
then a quiet note with a slow swell that fades in and out.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from numpy.typing import NDArray

__all__ = ["AUDIO_RATE_HZ", "Audio", "AudioTrack", "decode_audio", "sample_index"]

AUDIO_RATE_HZ = 48_000

# Samples per AAC frame; the encoder wants exactly this many in every frame but the last.
_AAC_FRAME_SAMPLES = 1024
_TONE_FADE_IN_S = 1.5
_TONE_FADE_OUT_S = 0.25

Audio = NDArray[np.float32]


def sample_index(frame_count: int, fps: Fraction) -> int:
    """The audio sample at which video frame number `frame_count` starts."""
    return int(frame_count * AUDIO_RATE_HZ / fps)


def decode_audio(src: str | Path) -> Audio:
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


class AudioTrack:
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
