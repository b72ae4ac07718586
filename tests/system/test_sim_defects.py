"""Output defects over loopback HTTP: each scripted defect is measurably in the downloaded MP4.

One clean task and one task per defect kind, on a real simulator; the results are decoded with
PyAV and compared with the input, so each defect is shown to be there (and the clean result to
be free of it) by the property it is meant to break.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from numpy.typing import NDArray

from foxnb.sample import make_sample_clip
from foxnb.sim import Simulator
from foxnb.sim.defects import DEFECT_KINDS, SHORT_CONTINUATION_S
from foxnb.sim.pipeline import render_key
from foxnb.sim.render import probe_video, render_extension

CLIP_S = 0.5
CLIP_FPS = 8
INPUT_FRAMES = round(CLIP_S * CLIP_FPS)
Frames = list[NDArray[np.float32]]


def decode(path: Path) -> Frames:
    """Every video frame of ``path`` as a float RGB array."""
    with av.open(str(path)) as container:
        return [
            np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.float32)
            for frame in container.decode(video=0)
        ]


def mean_abs(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    return float(np.mean(np.abs(a - b)))


def psnr_db(a: Frames, b: Frames) -> float:
    mse = float(np.mean([np.mean((x - y) ** 2) for x, y in zip(a, b, strict=True)]))
    return 10 * float(np.log10(255**2 / max(mse, 1e-9)))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("defect-clip")
    return make_sample_clip(folder / "in.mp4", duration_s=CLIP_S, fps=CLIP_FPS)


@pytest.fixture(scope="module")
def results(
    shared_sim: Simulator, clip: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """One clean task ("clean") and one per defect kind, same request; bodies and MP4s."""
    folder = tmp_path_factory.mktemp("defect-results")
    auth = {"Authorization": f"Bearer {shared_sim.api_key}"}
    with httpx.Client(base_url=shared_sim.url, headers=auth, timeout=30) as client:
        upload = client.post(
            "/v1/files/upload/stream", files={"file": ("in.mp4", clip.read_bytes(), "video/mp4")}
        ).json()["url"]
        body = {"model": "veo-3.1-extend", "prompt": "dusk", "video_url": upload, "seed": 3}
        task_ids: dict[str, str] = {}
        for kind in ("clean", *DEFECT_KINDS):
            if kind != "clean":
                shared_sim.inject("create", "defect", defect=kind)
            created = client.post("/v1/videos/generations", json=body)
            assert created.status_code == 200, created.text
            task_ids[kind] = created.json()["id"]
        out: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 120
        for kind, task_id in task_ids.items():
            while True:
                final = client.get(f"/v1/tasks/{task_id}", params={"sync_upstream": "true"})
                if final.json()["status"] == "completed" or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            final_body = final.json()
            assert final_body["status"] == "completed", final_body
            path = folder / f"{kind}.mp4"
            path.write_bytes(httpx.get(final_body["results"][0]["url"]).content)
            out[kind] = {"task_id": task_id, "body": final_body, "path": path}
    return out


def test_the_record_names_the_defect_and_the_api_does_not(
    shared_sim: Simulator, results: dict[str, dict[str, Any]]
) -> None:
    """Ground truth is in the task record; the task JSON looks like any completed task."""
    for kind, result in results.items():
        record = shared_sim.backend.task(result["task_id"])
        assert record is not None
        assert record.defect == (None if kind == "clean" else kind)
        assert "defect" not in str(result["body"])
        assert set(result["body"]) == set(results["clean"]["body"])


def test_a_clean_result_has_none_of_the_defects(
    clip: Path, results: dict[str, dict[str, Any]]
) -> None:
    """Clean: input + 7 s with audio, prefix matches the input, smooth seam, steady brightness."""
    source, out = decode(clip), decode(results["clean"]["path"])
    facts = probe_video(results["clean"]["path"])
    assert facts.duration_s == pytest.approx(CLIP_S + 7.0, abs=0.2) and facts.has_audio
    assert psnr_db(source, out[:INPUT_FRAMES]) > 35
    assert mean_abs(out[INPUT_FRAMES - 1], out[INPUT_FRAMES]) < 3


def test_cut_jumps_at_the_seam(results: dict[str, dict[str, Any]]) -> None:
    """cut: the first new frame differs from the last input frame 10x more than in a clean one."""
    jumps = {}
    for kind in ("clean", "cut"):
        out = decode(results[kind]["path"])
        jumps[kind] = mean_abs(out[INPUT_FRAMES - 1], out[INPUT_FRAMES])
    assert jumps["cut"] > 30 and jumps["cut"] > 10 * jumps["clean"]


def test_prefix_no_longer_matches_the_input(clip: Path, results: dict[str, dict[str, Any]]) -> None:
    """prefix: the input part's PSNR against the input drops below 25 dB; the seam stays smooth."""
    out = decode(results["prefix"]["path"])
    assert psnr_db(decode(clip), out[:INPUT_FRAMES]) < 25
    assert mean_abs(out[INPUT_FRAMES - 1], out[INPUT_FRAMES]) < 3


def test_flicker_oscillates_in_the_new_part(results: dict[str, dict[str, Any]]) -> None:
    """flicker: frame-to-frame change in the new part is over 10x a clean result's."""
    changes = {}
    for kind in ("clean", "flicker"):
        new = decode(results[kind]["path"])[INPUT_FRAMES:]
        changes[kind] = float(np.mean([mean_abs(a, b) for a, b in itertools.pairwise(new)]))
    assert changes["flicker"] > 10 * changes["clean"]


def test_color_drift_shifts_the_end_colour_far_more(
    clip: Path, results: dict[str, dict[str, Any]]
) -> None:
    """color_drift: the last second's mean colour moves over 2x as far as a clean result's."""
    last_input = decode(clip)[-1].reshape(-1, 3).mean(axis=0)
    shifts = {}
    for kind in ("clean", "color_drift"):
        last_second = decode(results[kind]["path"])[-CLIP_FPS:]
        mean_rgb = np.mean([frame.reshape(-1, 3).mean(axis=0) for frame in last_second], axis=0)
        shifts[kind] = float(np.abs(mean_rgb - last_input).sum())
    assert shifts["color_drift"] > 2 * shifts["clean"]


def test_short_and_no_audio(results: dict[str, dict[str, Any]]) -> None:
    """short: the new part lasts 3 s; no_audio: no audio track although generate_audio is true."""
    short = probe_video(results["short"]["path"])
    assert short.duration_s == pytest.approx(CLIP_S + SHORT_CONTINUATION_S, abs=0.2)
    silent = probe_video(results["no_audio"]["path"])
    assert silent.has_video and not silent.has_audio
    assert silent.duration_s == pytest.approx(CLIP_S + 7.0, abs=0.2)


@pytest.mark.parametrize("defect", ["cut", "flicker"])
def test_defective_renders_are_deterministic(clip: Path, tmp_path: Path, defect: str) -> None:
    """The same request with the same defect renders to the same bytes, twice over."""
    digests = set()
    for attempt in range(2):
        out = tmp_path / f"{attempt}.mp4"
        render_extension(clip, out, prompt="dusk", seed=3, generate_audio=True, defect=defect)
        digests.add(hashlib.sha256(out.read_bytes()).hexdigest())
    assert len(digests) == 1


def test_clean_cache_keys_are_unchanged() -> None:
    """A clean render's cache key is the pre-defect formula, so stored renders are reused."""
    old = hashlib.sha256(b'["abc", "p", 1, true]').hexdigest()
    assert render_key("abc", prompt="p", seed=1, generate_audio=True) == old
    assert render_key("abc", prompt="p", seed=1, generate_audio=True, defect="cut") != old
