"""score_extension on small real clips with known defects, encoded here with PyAV.

Every clip is painted from one scene (a gradient, drifting stripes, a moving sun), so a clean
"result" is exactly the input followed by more of the same scene; each defective one changes
one thing. Each test checks that a score separates clean from defective by a wide margin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from foxnb._measures import PSNR_CAP_DB, lab, psnr, ssim
from foxnb.errors import ScoreError
from foxnb.sample import make_audio_only_clip
from foxnb.scores import SCORE_COLUMNS, Scores, score_extension

FPS = 12
IN_S = 1.5
EXT_S = 2.0
SIZE = (256, 144)

Image = NDArray[np.uint8]
Painter = Callable[[float], Image]


def scene(t: float, size: tuple[int, int] = SIZE) -> Image:
    """The clip's world at time ``t``: a sky gradient, drifting stripes and a moving sun."""
    width, height = size
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    xs = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    stripes = 22 * np.sin(2 * math.pi * (5 * xs + 3 * ys - 0.3 * t))
    rgb = np.stack(
        [70 + 120 * ys + stripes, 90 + 60 * ys + stripes, 170 - 70 * ys + 0.5 * stripes], axis=-1
    )
    sun = np.hypot((xs - 0.2 - 0.12 * t) * width / height, ys - 0.35) < 0.12
    rgb[sun] = (250, 230, 150)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def other_scene(t: float, size: tuple[int, int] = SIZE) -> Image:
    """Somewhere else entirely: green diagonal bands, for a hard cut."""
    width, height = size
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    xs = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    bands = 0.5 + 0.5 * np.sin(2 * math.pi * (4 * (xs - ys) + 0.2 * t))
    rgb = np.stack([30 + 40 * bands, 90 + 140 * bands, 40 + 30 * bands + 0 * xs], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def write_clip(
    path: Path,
    frames: Iterable[tuple[float, Image]],
    *,
    audio_s: float | None = None,
    fps: int = FPS,
    x264_params: str = "",
) -> Path:
    """Encode ``(time_s, rgb)`` frames as H.264 in an MP4 (times in ms, so any spacing works),
    with a mono AAC tone lasting ``audio_s`` seconds when given."""
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.codec_context.time_base = Fraction(1, 1000)
        video.options = {"preset": "veryfast", "crf": "18", "x264-params": x264_params}
        sound = container.add_stream("aac", rate=48_000, layout="mono") if audio_s else None
        for time_s, image in frames:
            if (video.width, video.height) != (image.shape[1], image.shape[0]):
                video.width, video.height = image.shape[1], image.shape[0]
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            frame.pts = round(time_s * 1000)
            frame.time_base = Fraction(1, 1000)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if sound is not None and audio_s is not None:
            samples = 0.2 * np.sin(2 * math.pi * 330 * np.arange(int(audio_s * 48_000)) / 48_000)
            for start in range(0, samples.size, 1024):
                chunk = samples[None, start : start + 1024].astype(np.float32)
                audio = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                audio.sample_rate, audio.pts = 48_000, start
                audio.time_base = Fraction(1, 48_000)
                container.mux(sound.encode(audio))
            container.mux(sound.encode())
    return path


def timeline(start_s: float, end_s: float, fps: int = FPS) -> list[float]:
    return [i / fps for i in range(round(start_s * fps), round(end_s * fps))]


def result(
    path: Path,
    *,
    prefix: Painter = scene,
    new: Painter = scene,
    ext_s: float = EXT_S,
    audio: bool = True,
    alter: Callable[[int, Image], Image] | None = None,
) -> Path:
    """A merged result: ``prefix`` over the input's span, then ``ext_s`` of ``new``;
    ``alter(step, image)`` changes the new part's frames."""
    frames = [(t, prefix(t)) for t in timeline(0, IN_S)]
    for step, t in enumerate(timeline(IN_S, IN_S + ext_s)):
        image = new(t)
        frames.append((t, alter(step, image) if alter else image))
    return write_clip(path, frames, audio_s=IN_S + ext_s if audio else None)


def score(clip: Path, out: Path, **kw: object) -> Scores:
    return score_extension(clip, out, extension_s=EXT_S, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scores")


@pytest.fixture(scope="module")
def clip(folder: Path) -> Path:
    return write_clip(folder / "in.mp4", [(t, scene(t)) for t in timeline(0, IN_S)], audio_s=IN_S)


@pytest.fixture(scope="module")
def clean(clip: Path, folder: Path) -> Scores:
    return score(clip, result(folder / "clean.mp4"), generate_audio=True)


def test_clean_result_scores_well(clean: Scores) -> None:
    """A true continuation: smooth seam, faithful prefix, steady, right length, sound."""
    assert clean.has_prefix and not clean.cut_at_seam
    assert 0.3 <= clean.seam_jump <= 2.0 and clean.seam_ssim > 0.9
    assert clean.prefix_psnr >= 35
    assert clean.flicker > 0.98 and 0 < clean.motion_mean <= clean.motion_p95 < 10
    assert clean.color_shift < 5
    assert clean.duration_ok and clean.audio_ok is True
    assert clean.seam_s == pytest.approx(IN_S, abs=0.01)
    assert clean.new_s == pytest.approx(EXT_S, abs=0.1)
    assert clean.notes == ()


def test_hard_cut_at_the_seam(clip: Path, folder: Path, clean: Scores) -> None:
    cut = score(clip, result(folder / "cut.mp4", new=other_scene))
    assert cut.seam_jump >= 5 * clean.seam_jump and cut.seam_jump >= 10
    assert cut.seam_ssim < 0.5 < clean.seam_ssim
    assert cut.cut_at_seam and not clean.cut_at_seam
    assert cut.seam_s == pytest.approx(IN_S, abs=0.01)  # the seam is still found by time


def test_altered_prefix(clip: Path, folder: Path, clean: Scores) -> None:
    """A result whose first part is the input mirrored is still read as input + new part."""
    mirrored = result(folder / "mirror.mp4", prefix=lambda t: scene(t)[:, ::-1].copy(),
                      new=lambda t: scene(t)[:, ::-1].copy())  # fmt: skip
    bad = score(clip, mirrored)
    assert bad.has_prefix and bad.prefix_psnr <= 20 and clean.prefix_psnr - bad.prefix_psnr >= 15
    assert any("do not match the input" in note for note in bad.notes)
    assert not bad.cut_at_seam  # the new part carries on from the mirrored frame


def test_flicker(clip: Path, folder: Path, clean: Scores) -> None:
    def darken(step: int, image: Image) -> Image:
        return (image * 0.65).astype(np.uint8) if step % 2 else image

    bad = score(clip, result(folder / "flicker.mp4", alter=darken))
    assert 1 - bad.flicker >= 5 * (1 - clean.flicker)
    assert bad.motion_mean >= 5 * clean.motion_mean
    assert not bad.cut_at_seam  # the first new frame is untouched


def test_colour_drift(clip: Path, folder: Path, clean: Scores) -> None:
    def cast(step: int, image: Image) -> Image:
        shift = 50 * (step + 1) / (EXT_S * FPS)
        return np.clip(image + np.array([shift, 0, -shift]), 0, 255).astype(np.uint8)

    bad = score(clip, result(folder / "drift.mp4", alter=cast))
    assert bad.color_shift >= 15 and bad.color_shift >= 5 * clean.color_shift
    assert bad.seam_jump < 3  # a cast that builds up is not a jump


def test_wrong_duration(clip: Path, folder: Path) -> None:
    bad = score(clip, result(folder / "short.mp4", ext_s=0.75))
    assert bad.has_prefix and not bad.duration_ok
    assert bad.new_s == pytest.approx(0.75, abs=0.1)
    assert any("expected 3.50 s" in note for note in bad.notes)


def test_audio_present_exactly_when_asked(clip: Path, folder: Path, clean: Scores) -> None:
    mute = result(folder / "mute.mp4", audio=False)
    assert score(clip, mute, generate_audio=True).audio_ok is False
    assert score(clip, mute, generate_audio=False).audio_ok is True
    assert score(clip, folder / "clean.mp4", generate_audio=False).audio_ok is False
    assert score(clip, mute).audio_ok is None and clean.audio_ok is True
    cut_short = folder / "sound-stops.mp4"
    write_clip(cut_short, [(t, scene(t)) for t in timeline(0, IN_S + EXT_S)], audio_s=IN_S)
    stops = score(clip, cut_short, generate_audio=True)
    assert stops.audio_ok is False and any("sound track stops" in n for n in stops.notes)


@pytest.fixture(scope="module")
def new_only(folder: Path) -> Path:
    """What a service returning only the new seconds would give."""
    frames = [(t - IN_S, scene(t)) for t in timeline(IN_S, IN_S + EXT_S)]
    return write_clip(folder / "new-only.mp4", frames)


def test_result_with_only_the_new_part(clip: Path, folder: Path, new_only: Path) -> None:
    """A result of only the new seconds: said so, its seam scored against the input."""
    scores = score(clip, new_only)
    assert not scores.has_prefix and math.isnan(scores.prefix_psnr)
    assert scores.duration_ok and scores.seam_s == 0 and not scores.cut_at_seam
    assert scores.seam_jump < 3 and scores.seam_ssim > 0.9
    assert any("holds only new video" in note for note in scores.notes)
    cut = write_clip(
        folder / "new-only-cut.mp4",
        [(t - IN_S, other_scene(t)) for t in timeline(IN_S, IN_S + EXT_S)],
    )
    assert score(clip, cut).cut_at_seam


def test_reencoded_at_another_size_and_frame_rate(clip: Path, folder: Path) -> None:
    """A result at 320x180 and 15 fps still lines up with a 256x144, 12 fps input by time."""
    size = (320, 180)
    frames = [(t, scene(t, size)) for t in timeline(0, IN_S + EXT_S, fps=15)]
    scores = score(clip, write_clip(folder / "resized.mp4", frames, fps=15))
    assert scores.has_prefix and scores.prefix_psnr >= 30
    assert scores.seam_jump < 3 and not scores.cut_at_seam and scores.duration_ok
    assert any("320x180" in note for note in scores.notes)


def test_portrait_clip(folder: Path) -> None:
    size = (144, 256)
    portrait = write_clip(folder / "p-in.mp4", [(t, scene(t, size)) for t in timeline(0, IN_S)])
    smooth = write_clip(
        folder / "p-out.mp4", [(t, scene(t, size)) for t in timeline(0, IN_S + EXT_S)]
    )
    cut = write_clip(
        folder / "p-cut.mp4",
        [(t, (scene if t < IN_S else other_scene)(t, size)) for t in timeline(0, IN_S + EXT_S)],
    )
    good, bad = score(portrait, smooth), score(portrait, cut)
    assert good.prefix_psnr >= 35 and not good.cut_at_seam and good.duration_ok
    assert bad.cut_at_seam and bad.seam_jump >= 5 * good.seam_jump


def test_variable_frame_rate(clip: Path, folder: Path) -> None:
    """Frames spaced unevenly (between 60 and 110 ms) are placed by their timestamps."""
    rng = np.random.default_rng(3)
    times = np.cumsum(rng.uniform(0.06, 0.11, size=60))
    times = np.concatenate([[0.0], times[times < IN_S + EXT_S - 0.06]])
    scores = score(clip, write_clip(folder / "vfr.mp4", [(t, scene(t)) for t in times]))
    assert scores.has_prefix and scores.prefix_psnr >= 25
    assert abs(scores.seam_s - IN_S) <= 0.11 and not scores.cut_at_seam
    assert scores.seam_jump < 3 and scores.flicker > 0.98


def test_seam_found_by_frames_when_time_is_off(clip: Path, folder: Path) -> None:
    """A result that holds its first frame once more runs a frame late; the seam follows."""
    late = [scene(0.0)] + [scene(t) for t in timeline(0, IN_S)]
    late += [scene(t) for t in timeline(IN_S, IN_S + EXT_S - 1 / FPS)]
    scores = score(
        clip, write_clip(folder / "late.mp4", [(i / FPS, f) for i, f in enumerate(late)])
    )
    assert scores.seam_s == pytest.approx(IN_S + 1 / FPS, abs=0.01)
    assert any("found by the input's last frame" in note for note in scores.notes)
    assert scores.seam_jump < 3


def test_sampled_frames_equal_a_full_decode(folder: Path) -> None:
    """Keyframe jumps and skipped frames do not change the frames that are kept."""
    from foxnb._frames import sample_frames

    path = write_clip(
        folder / "gop.mp4",
        [(t, scene(t)) for t in timeline(0, 4)],
        x264_params="keyint=6:min-keyint=6:scenecut=0",
    )
    spans = [(0.9, 1.1), (2.5, 2.6), (3.9, 4.0)]
    some = sample_frames(path, which="input", windows=lambda _: spans)
    every = sample_frames(path, which="input", windows=lambda duration_s: [(0, duration_s)])
    assert len(every.times_s) == 48 and every.duration_s == pytest.approx(4.0, abs=0.01)
    assert 0 < len(some.times_s) < 10
    for time_s, frame in zip(some.times_s, some.frames, strict=True):
        (index,) = np.flatnonzero(every.times_s == time_s)
        assert np.array_equal(frame, every.frames[index])


def test_unreadable_files_raise_a_clear_error(clip: Path, folder: Path) -> None:
    junk = folder / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(ScoreError, match=r"result video junk\.mp4 is not a readable video"):
        score_extension(clip, junk)
    with pytest.raises(ScoreError, match=r"input video gone\.mp4 does not exist") as raised:
        score_extension(folder / "gone.mp4", clip)
    assert raised.value.path.endswith("gone.mp4")
    sound = make_audio_only_clip(folder / "sound.m4a")
    with pytest.raises(ScoreError, match=r"result file sound\.m4a has no video stream"):
        score_extension(clip, sound)
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(ScoreError, match=r"result video empty\.mp4"):
        score_extension(clip, empty)


def test_truncated_result_is_called_cut_short(clip: Path, folder: Path, clean: Scores) -> None:
    """A result missing its end (an interrupted copy) is scored on what it holds, and said so."""
    whole = folder / "faststart.mp4"
    frames = [(t, scene(t)) for t in timeline(0, IN_S + EXT_S)]
    with av.open(str(whole), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=FPS, options={"crf": "10"})
        video.width, video.height = SIZE
        for index, (_, image) in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode())
    cut = folder / "cut-short.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    scores = score(clip, cut)
    assert not scores.duration_ok and scores.new_s < EXT_S - 0.3
    assert any("result file is cut short: its header says 3.50 s" in n for n in scores.notes)
    assert not any("cut short" in n for n in score(clip, whole).notes)


def test_fields_fit_the_declared_columns(clean: Scores, clip: Path, new_only: Path) -> None:
    """as_fields() gives exactly SCORE_COLUMNS, JSON-ready, and casts to their dtypes."""
    rows = [clean.as_fields(), score(clip, new_only).as_fields()]
    names = [name for name, _ in SCORE_COLUMNS]
    assert all(list(row) == names for row in rows)
    assert rows[1]["prefix_psnr"] is None and rows[1]["audio_ok"] is None
    assert isinstance(rows[1]["score_notes"], str) and "only new video" in rows[1]["score_notes"]
    frame = pd.DataFrame(rows).astype(dict(SCORE_COLUMNS))
    assert frame["cut_at_seam"].tolist() == [False, False]
    assert pd.isna(frame.loc[1, "prefix_psnr"]) and frame.loc[0, "prefix_psnr"] >= 35


def test_measures_match_their_textbook_values() -> None:
    """CIELAB of sRGB white and red, PSNR of a uniform error, SSIM of same and unrelated."""
    assert lab(np.array([255.0, 255.0, 255.0])) == pytest.approx([100, 0, 0], abs=0.05)
    assert lab(np.array([255.0, 0.0, 0.0])) == pytest.approx([53.24, 80.09, 67.20], abs=0.1)
    image = scene(0.0)
    assert psnr(image, image) == PSNR_CAP_DB
    brighter = (image.astype(np.int16) + 10).clip(0, 255).astype(np.uint8)
    mask = image.max(axis=-1) < 240  # away from clipping, the error is exactly 10 levels
    assert psnr(image[mask][None], brighter[mask][None]) == pytest.approx(28.13, abs=0.01)
    grey = image.astype(np.float64).mean(axis=-1)
    noise = np.random.default_rng(1).uniform(0, 255, grey.shape)
    assert ssim(grey, grey) == pytest.approx(1.0)
    assert abs(ssim(grey, noise)) < 0.1
