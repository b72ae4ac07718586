"""The simulator's renderer and the sample-clip helpers, on small real media files."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from av.stream import Disposition
from numpy.typing import NDArray

from foxnb.sample import make_audio_only_clip, make_sample_clip
from foxnb.sim.render import (
    RenderError,
    RenderResult,
    VideoFacts,
    check_extend_input,
    probe_video,
    render_extension,
)

# Low frame rates and short inputs keep every render to a few dozen small frames.
FPS = 8
INPUT_S = 0.5
DURATION_TOLERANCE_S = 0.15
PROMPT = "the camera drifts towards the sun"


def rgb_frames(path: Path) -> list[NDArray[np.uint8]]:
    """Decode every video frame of `path` as an RGB array."""
    with av.open(str(path)) as container:
        return [
            np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
            for frame in container.decode(video=0)
        ]


def mean_abs_diff(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("render")


@pytest.fixture(scope="module")
def landscape(workdir: Path) -> Path:
    return make_sample_clip(workdir / "in_720p.mp4", duration_s=INPUT_S, fps=FPS)


@pytest.fixture(scope="module")
def with_audio(workdir: Path, landscape: Path) -> tuple[Path, RenderResult]:
    out = workdir / "out_audio.mp4"
    result = render_extension(landscape, out, prompt=PROMPT, seed=1, generate_audio=True)
    return out, result


@pytest.fixture(scope="module")
def without_audio(workdir: Path, landscape: Path) -> tuple[Path, RenderResult]:
    out = workdir / "out_silent.mp4"
    result = render_extension(landscape, out, prompt=PROMPT, seed=1, generate_audio=False)
    return out, result


def test_output_is_h264_at_input_size_and_seven_seconds_longer(
    landscape: Path, with_audio: tuple[Path, RenderResult]
) -> None:
    """The merged clip is H.264 at the input's size and lasts the input plus 7 s."""
    out, result = with_audio
    facts = probe_video(out)
    source = probe_video(landscape)
    assert facts.video_codec == "h264"
    assert (facts.width, facts.height) == (1280, 720) == (result.width, result.height)
    assert facts.fps == pytest.approx(FPS) == result.fps
    assert facts.duration_s == pytest.approx(source.duration_s + 7.0, abs=DURATION_TOLERANCE_S)
    assert result.duration_s == pytest.approx(facts.duration_s, abs=DURATION_TOLERANCE_S)
    assert result.size_bytes == out.stat().st_size


def test_aac_track_present_only_when_audio_is_requested(
    with_audio: tuple[Path, RenderResult], without_audio: tuple[Path, RenderResult]
) -> None:
    """generate_audio=True gives an AAC track; False gives no audio stream at all."""
    audio_facts = probe_video(with_audio[0])
    assert audio_facts.has_audio and audio_facts.audio_codec == "aac"
    assert with_audio[1].has_audio
    silent_facts = probe_video(without_audio[0])
    assert not silent_facts.has_audio and silent_facts.audio_codec is None
    assert not without_audio[1].has_audio


def test_same_request_gives_byte_identical_file(
    workdir: Path, landscape: Path, with_audio: tuple[Path, RenderResult]
) -> None:
    """Rendering the same input, prompt, seed and audio flag again reproduces every byte."""
    again = workdir / "out_audio_again.mp4"
    render_extension(landscape, again, prompt=PROMPT, seed=1, generate_audio=True)
    data = again.read_bytes()
    assert data == with_audio[0].read_bytes()
    # The movie header's creation time (right after its version and flags) is left at zero,
    # so renders made at different times still match.
    mvhd = data.index(b"mvhd")
    assert data[mvhd + 8 : mvhd + 12] == bytes(4)


def test_different_seed_gives_visibly_different_ending(
    workdir: Path, landscape: Path, without_audio: tuple[Path, RenderResult]
) -> None:
    """Another seed moves the camera and tints the picture differently by the last frame."""
    other = workdir / "out_seed2.mp4"
    render_extension(landscape, other, prompt=PROMPT, seed=2, generate_audio=False)
    last_seed1 = rgb_frames(without_audio[0])[-1]
    last_seed2 = rgb_frames(other)[-1]
    assert mean_abs_diff(last_seed1, last_seed2) > 8.0


def test_prompt_words_steer_the_tint(workdir: Path, landscape: Path) -> None:
    """A 'dusk' prompt ends warmer (red over blue) than a 'storm ... cold' one, same seed."""
    warm, cold = workdir / "warm.mp4", workdir / "cold.mp4"
    render_extension(
        landscape,
        warm,
        prompt="drift over the hills at dusk",
        seed=1,
        generate_audio=False,
        continuation_s=1.0,
    )
    render_extension(
        landscape,
        cold,
        prompt="a storm rolls in, the light turns cold",
        seed=1,
        generate_audio=False,
        continuation_s=1.0,
    )

    def red_minus_blue(path: Path) -> float:
        last = rgb_frames(path)[-1].astype(np.float64)
        return float(last[..., 0].mean() - last[..., 2].mean())

    assert red_minus_blue(warm) > red_minus_blue(cold) + 10


def test_continuation_starts_from_the_inputs_last_frame(
    landscape: Path, without_audio: tuple[Path, RenderResult]
) -> None:
    """The first new frame matches the input's last frame, not an earlier one."""
    source_frames = rgb_frames(landscape)
    output_frames = rgb_frames(without_audio[0])
    first_new = output_frames[len(source_frames)]
    to_last = mean_abs_diff(first_new, source_frames[-1])
    to_previous = mean_abs_diff(first_new, source_frames[-2])
    assert to_last < 3.0
    assert to_last < to_previous / 2


def test_portrait_input_keeps_its_shape_and_gets_a_soundtrack(workdir: Path) -> None:
    """A 9:16 input without audio renders at 720x1280 with generated AAC audio."""
    source = make_sample_clip(
        workdir / "in_portrait.mp4",
        width=720,
        height=1280,
        duration_s=INPUT_S,
        fps=FPS,
        audio=False,
    )
    out = workdir / "out_portrait.mp4"
    result = render_extension(source, out, prompt=PROMPT, seed=5, generate_audio=True)
    facts = probe_video(out)
    assert (facts.width, facts.height) == (720, 1280) == (result.width, result.height)
    assert facts.has_audio and facts.audio_codec == "aac"


def test_high_frame_rate_input_is_capped_at_30_fps(workdir: Path) -> None:
    """A 60 fps input is rendered at 30 fps by keeping every other frame."""
    source = make_sample_clip(workdir / "in_60fps.mp4", duration_s=0.25, fps=60, audio=False)
    out = workdir / "out_60fps.mp4"
    result = render_extension(
        source, out, prompt=PROMPT, seed=0, generate_audio=False, continuation_s=1.0
    )
    facts = probe_video(out)
    assert facts.fps == pytest.approx(30.0) == result.fps
    assert facts.duration_s == pytest.approx(0.25 + 1.0, abs=DURATION_TOLERANCE_S)


def test_write_is_atomic_and_failed_render_leaves_nothing(workdir: Path, landscape: Path) -> None:
    """Success leaves only the target file; a failed render leaves neither it nor a .part."""
    out = workdir / "atomic" / "result.mp4"
    out.parent.mkdir()
    render_extension(
        landscape, out, prompt=PROMPT, seed=3, generate_audio=False, continuation_s=0.5
    )
    assert sorted(p.name for p in out.parent.iterdir()) == ["result.mp4"]

    audio_only = make_audio_only_clip(workdir / "voice.m4a")
    failed = workdir / "atomic" / "failed.mp4"
    with pytest.raises(RenderError, match="no video stream"):
        render_extension(audio_only, failed, prompt=PROMPT, seed=3, generate_audio=True)
    assert sorted(p.name for p in out.parent.iterdir()) == ["result.mp4"]


@pytest.mark.parametrize(
    ("size", "code", "found"),
    [
        ((854, 480), "video_resolution_unsupported", "854x480 (480p"),
        ((960, 720), "video_aspect_ratio_unsupported", "960x720 (4:3)"),
    ],
)
def test_check_extend_input_rejects_bad_sizes(
    workdir: Path, size: tuple[int, int], code: str, found: str
) -> None:
    """480p and 4:3 inputs are refused with their own codes, naming what was found."""
    width, height = size
    clip = make_sample_clip(
        workdir / f"bad_{width}x{height}.mp4",
        width=width,
        height=height,
        duration_s=0.25,
        fps=FPS,
        audio=False,
    )
    problem = check_extend_input(probe_video(clip))
    assert problem is not None
    assert problem[0] == code
    assert found in problem[1]
    assert "veo-3.1-extend accepts" in problem[1]


def test_check_extend_input_rejects_audio_only_file(workdir: Path) -> None:
    """A file with sound but no picture is refused as video_no_stream, naming its audio."""
    facts = probe_video(make_audio_only_clip(workdir / "only_sound.m4a"))
    assert not facts.has_video and facts.has_audio
    problem = check_extend_input(facts)
    assert problem is not None
    assert problem[0] == "video_no_stream"
    assert "no video stream" in problem[1] and "aac" in problem[1]


def test_cover_art_does_not_count_as_a_video_stream(tmp_path: Path) -> None:
    """A music file's attached cover picture is not mistaken for a video to extend."""
    path = tmp_path / "song.m4a"
    with av.open(str(path), "w", format="mp4") as container:
        sound = container.add_stream("aac", rate=44_100, layout="mono")
        cover = container.add_stream("mjpeg", rate=1)
        cover.width = cover.height = 64
        cover.pix_fmt = "yuvj420p"
        cover.disposition = Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
        picture_packets = cover.encode(picture.reformat(format="yuvj420p")) + cover.encode()
        for start in range(0, 44_100, 1024):
            chunk = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            chunk.sample_rate = 44_100
            chunk.pts = start
            container.mux(sound.encode(chunk))
        container.mux(sound.encode())
        container.mux(picture_packets)
    facts = probe_video(path)
    assert not facts.has_video and facts.has_audio
    problem = check_extend_input(facts)
    assert problem is not None and problem[0] == "video_no_stream"


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (720, 1280), (1080, 1920)])
def test_check_extend_input_accepts_documented_sizes(size: tuple[int, int]) -> None:
    """720p and 1080p in 16:9 or 9:16 pass the input check."""
    facts = VideoFacts(
        width=size[0],
        height=size[1],
        duration_s=4.0,
        fps=24.0,
        video_codec="h264",
        has_video=True,
        has_audio=False,
        audio_codec=None,
    )
    assert check_extend_input(facts) is None


def test_probe_video_rejects_text_file(tmp_path: Path) -> None:
    """A text file is reported as RenderError, not as a crash or a zero-sized video."""
    notes = tmp_path / "notes.mp4"
    notes.write_text("these are meeting notes, not a video\n" * 20)
    with pytest.raises(RenderError, match="not a readable media file"):
        probe_video(notes)


@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (1920, 1080), (854, 480), (960, 720)])
def test_make_sample_clip_writes_requested_size(tmp_path: Path, size: tuple[int, int]) -> None:
    """Sample clips come out as H.264 + AAC at exactly the requested size and length."""
    width, height = size
    clip = make_sample_clip(
        tmp_path / "sample.mp4", width=width, height=height, duration_s=0.5, fps=FPS
    )
    facts = probe_video(clip)
    assert (facts.width, facts.height) == size
    assert facts.video_codec == "h264" and facts.audio_codec == "aac"
    assert facts.duration_s == pytest.approx(0.5, abs=DURATION_TOLERANCE_S)
    with av.open(str(clip)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"


def test_make_sample_clip_is_deterministic(tmp_path: Path) -> None:
    """The same arguments give the same bytes; another seed gives a different clip."""
    first = make_sample_clip(tmp_path / "a.mp4", duration_s=0.25, fps=FPS, seed=4)
    second = make_sample_clip(tmp_path / "b.mp4", duration_s=0.25, fps=FPS, seed=4)
    other = make_sample_clip(tmp_path / "c.mp4", duration_s=0.25, fps=FPS, seed=5)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()


@pytest.mark.parametrize("kwargs", [{"width": 853}, {"height": 8}, {"duration_s": 0.0}, {"fps": 0}])
def test_make_sample_clip_rejects_impossible_arguments(
    tmp_path: Path, kwargs: dict[str, float]
) -> None:
    """Odd sizes, tiny sizes, empty durations and zero fps are refused up front."""
    with pytest.raises(ValueError):
        make_sample_clip(tmp_path / "bad.mp4", **kwargs)  # type: ignore[arg-type]
