"""Scores for an extension result: how well the new 7 seconds continue the input clip.

``score_extension(input_path, output_path)`` compares the clip you sent with the video the
service returned and gives a ``Scores``: a handful of numbers that make a sweep of dozens of
results sortable, and a chain of extensions' drift visible. Each score is explained on
``Scores``; in short:

=================  ==========================================  =============================
score              what it measures                            good
=================  ==========================================  =============================
``seam_jump``      change across the seam ÷ the clip's own     ≈ 1 (≫ 1: a visible jump)
                   frame-to-frame change
``seam_ssim``      structural similarity across the seam       close to 1
``cut_at_seam``    a hard cut where the new part begins        False
``prefix_psnr``    the result's copy of the input vs the clip  ≥ 30 dB (< 20: not the input)
``flicker``        VBench temporal flicker of the new part     close to 1
``motion_mean``    mean frame-to-frame change, new part        depends on the prompt
``motion_p95``     its 95th percentile (bursts)                close to ``motion_mean``
``color_shift``    colour drift, input end → result end (ΔE)   < 5 (> 10: a visible cast)
``duration_ok``    result lasts input + 7 s (or 7 s)           True
``audio_ok``       audio present exactly when asked for        True
=================  ==========================================  =============================

Only what the scores need is decoded (a window around the seam, short runs of frames across
the clip, its last second), at 128 px on the long side; see ``foxnb._frames``. On the
2-core machine of ``docs/benchmark.md`` a 9 s 720p result takes about 0.11 s of CPU and a
1080p one 0.21 s (``python -m benchmarks.scoring``).

Videos are compared on the same small RGB grid whatever their size, so a result re-encoded at
another size or frame rate still lines up with its input, by time.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._frames import Sampled, sample_frames
from ._measures import PSNR_CAP_DB, change, lab, luma, luma_change, psnr, ssim

__all__ = ["SCORES_VERSION", "SCORE_COLUMNS", "Scores", "score_extension"]

#: Bumped whenever a formula changes, so older stored scores can be recomputed.
SCORES_VERSION = 1
#: How far the result's length may be from the expected one and still be ``duration_ok``:
#: a few frames, enough for encoders' rounding and a different frame rate.
DURATION_TOLERANCE_S = 0.25
#: Below this PSNR (dB) the result's first part is not a copy of the input.
PREFIX_MATCH_DB = 25.0
#: ``cut_at_seam`` needs the seam's change to be this many times both sides' own change...
CUT_JUMP = 5.0
#: ...and the frames either side of the seam to share less structure than this.
CUT_SSIM = 0.6
#: The floor (in 8-bit levels) of "the clip's own change", so a still clip's seam is not a jump.
MIN_CHANGE = 0.5

# Decoding plan, in seconds: a run of consecutive frames every PAIR_EVERY_S gives
# frame-to-frame changes across the clip (a quarter to a third of all pairs); the seam is read
# whole; the mean colour of a last second is taken from COLOR_SAMPLES frames spread over it.
PAIR_EVERY_S = 1.0
PAIR_RUN_S = 0.3
SEAM_WINDOW_S = 0.3
COLOR_WINDOW_S = 1.0
COLOR_SAMPLES = 5


@dataclass(frozen=True)
class Scores:
    """How an extension result turned out, as numbers you can sort and plot.

    Changes between frames are mean absolute differences on a 128 px grid, in 8-bit levels
    (0 = identical, 255 = black to white everywhere).

    - ``seam_jump``: the change from the last frame before the seam to the first new frame,
      divided by the median change between adjacent frames of the clip before it. About 1
      means the seam is as smooth as the clip itself; 3 or more is usually visible; a hard
      cut scores 10 or more. NaN when the result has no new frame.
    - ``seam_ssim``: structural similarity (SSIM, on luma) of the same two frames, -1..1:
      above 0.9 the picture carries on, below 0.6 it has become a different picture.
    - ``cut_at_seam``: True when the seam's change is at least 5 times the change on both
      sides of it and the two frames share little structure (SSIM below 0.6): a hard cut.
    - ``prefix_psnr``: when the result starts with a copy of the input (``has_prefix``),
      how faithful that copy is: the worst peak signal-to-noise ratio, in dB, over frames
      sampled across it, each against the input frame at the same time. 60 (the cap) means
      identical, 30 or more a faithful re-encode, under 20 a different picture. NaN when the
      result holds only new video.
    - ``has_prefix``: True when the result is the input followed by new video, False when it
      holds only the new part (judged from its first frames, then its length).
    - ``flicker``: VBench's temporal flicker over the new part, 1 − mean change / 255: 1 is a
      perfectly steady picture, well-behaved video stays above 0.98; fast motion lowers it
      too, so compare it between results of the same prompt.
    - ``motion_mean``, ``motion_p95``: the mean and 95th percentile of the change between
      adjacent frames of the new part (luma, levels per frame). 0 is a still picture; a p95
      far above the mean means bursts or flashes.
    - ``color_shift``: how far the average colour of the result's last second is from that
      of the input's last second, as CIE76 ΔE in L*a*b*: under 2 unnoticeable, 5–10 a shift
      you can see side by side, over 10 a clear cast. Along a chain it shows drift.
    - ``duration_ok``: the result lasts the input plus ``extension_s`` (only ``extension_s``
      when ``has_prefix`` is False), within 0.25 s. ``new_s`` is how much new video there is
      and ``seam_s`` where it starts in the result.
    - ``audio_ok``: the result has a sound track covering it when ``generate_audio`` was true
      and none when false; None when the request's setting was not given.
    - ``notes``: plain-language remarks about anything unusual found while scoring.
    """

    seam_jump: float
    seam_ssim: float
    cut_at_seam: bool
    prefix_psnr: float
    has_prefix: bool
    flicker: float
    motion_mean: float
    motion_p95: float
    color_shift: float
    duration_ok: bool
    new_s: float
    seam_s: float
    audio_ok: bool | None
    notes: tuple[str, ...] = field(default=())

    def as_fields(self) -> dict[str, Any]:
        """The scores as plain JSON-ready values, keyed by ``SCORE_COLUMNS`` names.

        NaN becomes None (JSON has no NaN) and ``notes`` one string.
        """
        values = asdict(self)
        notes = values.pop("notes")
        fields: dict[str, Any] = {"scores_version": SCORES_VERSION}
        for name, value in values.items():
            if isinstance(value, float):
                value = None if math.isnan(value) else round(value, 4)
            fields[name] = value
        fields["score_notes"] = "; ".join(notes)
        return fields


#: The ledger/DataFrame columns ``Scores.as_fields`` fills, with their pandas dtypes.
SCORE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("scores_version", "Int64"),
    ("seam_jump", "float64"),
    ("seam_ssim", "float64"),
    ("cut_at_seam", "boolean"),
    ("prefix_psnr", "float64"),
    ("has_prefix", "boolean"),
    ("flicker", "float64"),
    ("motion_mean", "float64"),
    ("motion_p95", "float64"),
    ("color_shift", "float64"),
    ("duration_ok", "boolean"),
    ("new_s", "float64"),
    ("seam_s", "float64"),
    ("audio_ok", "boolean"),
    ("score_notes", "string"),
)


def score_extension(
    input_path: str | Path,
    output_path: str | Path,
    *,
    generate_audio: bool | None = None,
    extension_s: float = 7.0,
) -> Scores:
    """Score the result ``output_path`` of extending ``input_path`` (see ``Scores``).

    ``generate_audio`` is the request's setting (None: not known, ``audio_ok`` is None);
    ``extension_s`` how much new video the model adds (7 s for veo-3.1-extend). The result
    may be the input followed by the new part (the seam is then looked for where the
    input's duration puts it, and confirmed against the input's last frame) or the new part
    alone. Raises ``foxnb.ScoreError`` when either file cannot be read as a video.
    """
    # The input is read at the times the result's copy of it will be: the same plan, cut at
    # the input's end, so the two line up frame for frame when their frame rates agree.
    clip = sample_frames(
        input_path, which="input", windows=lambda in_s: _windows(in_s, in_s + extension_s)
    )
    in_s = clip.duration_s
    grid = (clip.frames.shape[2], clip.frames.shape[1])
    result = sample_frames(
        output_path,
        which="result",
        grid=grid,
        windows=lambda out_s: _windows(in_s, out_s),
    )
    return _Scorer(clip, result, generate_audio, extension_s).scores()


def _windows(in_s: float, out_s: float) -> list[tuple[float, float]]:
    """What to decode of a result of ``out_s`` seconds extending an input of ``in_s``.

    Both shapes of result are planned for: the input then new video (seam at ``in_s``) or
    new video only (seam at 0); which one it is shows in the frames, once decoded.
    """
    runs = [(t, t + PAIR_RUN_S) for t in np.arange(0.0, out_s, PAIR_EVERY_S)]
    colour = [(t, t) for end_s in (in_s, out_s) for t in _colour_times(end_s)]
    return [*runs, *colour, (0.0, SEAM_WINDOW_S), (in_s - SEAM_WINDOW_S, in_s + SEAM_WINDOW_S)]


def _colour_times(end_s: float) -> NDArray[np.float64]:
    """COLOR_SAMPLES times spread evenly over the second before ``end_s``."""
    return end_s - COLOR_WINDOW_S * (np.arange(COLOR_SAMPLES) + 0.5) / COLOR_SAMPLES


class _Scorer:
    """The arithmetic of ``score_extension`` on two sampled files."""

    def __init__(self, clip: Sampled, result: Sampled, audio: bool | None, extension_s: float):
        self.clip, self.result = clip, result
        self.generate_audio, self.extension_s = audio, extension_s
        self.notes: list[str] = []

    def scores(self) -> Scores:
        clip, result = self.clip, self.result
        in_s, out_s = clip.duration_s, result.duration_s
        prefix_db = self._prefix_psnr()
        matches = prefix_db >= PREFIX_MATCH_DB
        closer_to_new_only = abs(out_s - self.extension_s) < abs(out_s - in_s - self.extension_s)
        has_prefix = matches or not closer_to_new_only
        if not has_prefix:
            self.notes.append(
                f"the result ({out_s:.2f} s) holds only new video, not the input followed by "
                "it; its seam is scored against the input's last frame"
            )
        elif not matches:
            self.notes.append(
                f"the result's first {in_s:.2f} s do not match the input "
                f"(worst frame {prefix_db:.1f} dB): the input was altered or replaced"
            )
        seam = self._seam_index(matches) if has_prefix else 0
        expected_s = in_s + self.extension_s if has_prefix else self.extension_s
        duration_ok = abs(out_s - expected_s) <= DURATION_TOLERANCE_S
        if not duration_ok:
            self.notes.append(
                f"the result lasts {out_s:.2f} s; expected {expected_s:.2f} s"
                + (f" (input {in_s:.2f} s + {self.extension_s:g} s)" if has_prefix else "")
            )
        for which, sampled in (("input", clip), ("result", result)):
            declared_s = sampled.declared_s
            if declared_s is not None and declared_s > sampled.duration_s + 0.5:
                self.notes.append(
                    f"the {which} file is cut short: its header says {declared_s:.2f} s but it "
                    f"holds {sampled.duration_s:.2f} s of video (an incomplete copy?)"
                )
        if result.bad_packets or clip.bad_packets:
            self.notes.append(
                f"{result.bad_packets + clip.bad_packets} damaged packets were skipped"
            )
        if (clip.width, clip.height) != (result.width, result.height):
            self.notes.append(
                f"the result is {result.width}x{result.height}, the input "
                f"{clip.width}x{clip.height}; both were compared at the same small size"
            )
        seam_s = float(result.times_s[seam]) if seam < len(result.times_s) else out_s
        new = _pair_changes(result, start_s=seam_s)
        before = self._before_seam(seam, has_prefix)
        jump, ssim, cut = self._seam(seam, has_prefix, before, new)
        return Scores(
            seam_jump=jump,
            seam_ssim=ssim,
            cut_at_seam=cut,
            prefix_psnr=prefix_db if has_prefix else math.nan,
            has_prefix=has_prefix,
            flicker=1 - float(np.mean(new[0])) / 255 if new[0].size else math.nan,
            motion_mean=float(np.mean(new[1])) if new[1].size else math.nan,
            motion_p95=float(np.percentile(new[1], 95)) if new[1].size else math.nan,
            color_shift=self._color_shift(),
            duration_ok=duration_ok,
            new_s=max(0.0, out_s - seam_s),
            seam_s=seam_s,
            audio_ok=self._audio_ok(),
            notes=tuple(self.notes),
        )

    def _prefix_psnr(self) -> float:
        """The worst PSNR of the result's frames before the input's end against the input."""
        clip, result = self.clip, self.result
        limit_s = clip.duration_s - clip.frame_interval_s / 2
        worst = PSNR_CAP_DB
        for time_s, frame in zip(result.times_s, result.frames, strict=True):
            if time_s >= limit_s:
                break
            # The input frames either side of this time: with another frame rate the nearest
            # one may be half a frame away, so the better of the two is taken.
            at = int(np.searchsorted(clip.times_s, time_s))
            near = [i for i in (at - 1, at) if 0 <= i < len(clip.times_s)]
            near = [i for i in near if abs(clip.times_s[i] - time_s) <= clip.frame_interval_s]
            if near:
                worst = min(worst, max(psnr(frame, clip.frames[i]) for i in near))
        return worst

    def _seam_index(self, matches: bool) -> int:
        """Index (in the result's frames) of the first new frame.

        By time: the first frame at or after the input's duration. When the result copies
        the input faithfully, that is checked against the input's last frame: if another
        frame near the seam matches it clearly better, the seam follows that frame.
        """
        clip, result = self.clip, self.result
        times = result.times_s
        by_time = int(np.searchsorted(times, clip.duration_s - result.frame_interval_s / 2))
        if not matches or by_time == 0:
            return by_time
        last_input = clip.frames[-1]
        window = np.flatnonzero(np.abs(times - clip.duration_s) <= SEAM_WINDOW_S)
        changes = {int(i): change(result.frames[i], last_input) for i in window}
        best = min(changes, key=changes.__getitem__)
        clearly_better = changes.get(by_time - 1, math.inf) > 1.25 * changes[best] + 1.0
        follows = best + 1 < len(times) and (
            times[best + 1] - times[best] <= 1.5 * result.frame_interval_s
        )
        if clearly_better and follows and psnr(result.frames[best], last_input) >= PREFIX_MATCH_DB:
            self.notes.append(
                f"the new part starts at {times[best + 1]:.2f} s, not where the input's "
                f"length puts it ({clip.duration_s:.2f} s): found by the input's last frame"
            )
            return best + 1
        return by_time

    def _before_seam(self, seam: int, has_prefix: bool) -> NDArray[np.float64]:
        """Adjacent-frame changes (luma) of the clip before the seam, as seen by the viewer."""
        if has_prefix:
            end_s = float(self.result.times_s[seam - 1]) if seam else 0.0
            changes = _pair_changes(self.result, end_s=end_s + 1e-6)[1]
            if changes.size:
                return changes
        return _pair_changes(self.clip)[1]

    def _seam(
        self,
        seam: int,
        has_prefix: bool,
        before: NDArray[np.float64],
        new: tuple[NDArray[np.float64], NDArray[np.float64]],
    ) -> tuple[float, float, bool]:
        """``seam_jump``, ``seam_ssim`` and ``cut_at_seam``.

        A result that starts with the input is judged inside itself, as a viewer sees it
        (one encoder and one frame rate on both sides; a copy that differs from the input is
        ``prefix_psnr``'s business). A result of new video only is judged against the
        input's last frame.
        """
        result = self.result
        if seam >= len(result.times_s):
            self.notes.append("the result has no frame after the input's end")
            return math.nan, math.nan, False
        last = result.frames[seam - 1] if has_prefix and seam > 0 else self.clip.frames[-1]
        first = result.frames[seam]
        own = max(float(np.median(before)) if before.size else 0.0, MIN_CHANGE)
        if not before.size:
            self.notes.append("the input has a single frame: its own motion is unknown")
        seam_change = luma_change(last, first)
        similarity = ssim(luma(last), luma(first))
        after = float(np.median(new[1])) if new[1].size else 0.0
        cut = seam_change >= CUT_JUMP * max(own, after) and similarity < CUT_SSIM
        return seam_change / own, similarity, bool(cut)

    def _color_shift(self) -> float:
        clip, result = self.clip, self.result
        lab_in = lab(_mean_colour(clip, _colour_times(clip.duration_s)))
        lab_out = lab(_mean_colour(result, _colour_times(result.duration_s)))
        return float(np.linalg.norm(lab_in - lab_out))

    def _audio_ok(self) -> bool | None:
        end_s = self.result.audio_end_s
        if end_s is not None and end_s < self.result.duration_s - 0.5:
            self.notes.append(
                f"the sound track stops at {end_s:.2f} s of {self.result.duration_s:.2f} s"
            )
        if self.generate_audio is None:
            return None
        covered = end_s is not None and end_s >= self.result.duration_s - 0.5
        if self.generate_audio and not covered:
            self.notes.append("audio was requested but the result has no sound for its end")
        if not self.generate_audio and end_s is not None:
            self.notes.append("audio was not requested but the result has a sound track")
        return covered if self.generate_audio else end_s is None


# ------------------------------------------------------------------ measures


def _pair_changes(
    sampled: Sampled, *, start_s: float = -math.inf, end_s: float = math.inf
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """RGB and luma changes of every pair of adjacent frames between two times.

    Frames count as adjacent when no more than 1.5 frame intervals apart, so a pair never
    spans frames the decoder skipped.
    """
    times = sampled.times_s
    inside = np.flatnonzero((times >= start_s) & (times <= end_s))
    rgb: list[float] = []
    grey: list[float] = []
    for a, b in itertools.pairwise(inside):
        if b == a + 1 and times[b] - times[a] <= 1.5 * sampled.frame_interval_s:
            rgb.append(change(sampled.frames[a], sampled.frames[b]))
            grey.append(luma_change(sampled.frames[a], sampled.frames[b]))
    return np.asarray(rgb, dtype=np.float64), np.asarray(grey, dtype=np.float64)


def _mean_colour(sampled: Sampled, times_s: NDArray[np.float64]) -> NDArray[np.float64]:
    """The mean RGB of the frames nearest to ``times_s`` (each frame counted once)."""
    nearest = {int(np.argmin(np.abs(sampled.times_s - t))) for t in times_s}
    return np.asarray(sampled.frames[sorted(nearest)].reshape(-1, 3).mean(axis=0))
