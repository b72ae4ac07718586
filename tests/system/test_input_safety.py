"""Inputs that cost money or memory (issue 10), refused or fixed before anything is paid.

Seeds outside Veo's 32-bit range; a phone clip whose rotation flag makes it portrait; a clip
too big to upload (refused before sending) and a big one under the limit (streamed in constant
memory, measured in a process of its own); ``video`` URLs that do not answer with a video
(checked before the create request) and ones that do (their real shape sent, not 16:9); an
upload evicted by the service (uploaded again, not sent dead); sweep names and report folder
names that cannot be shown or stored. All over real loopback HTTP against the simulator.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from hostile_edge import Answer, HostileEdge
from support import account, connect, finish

import foxnb
from foxnb import media
from foxnb.models import MAX_UPLOAD_BYTES
from foxnb.sim import Simulator

PROMPT = "The camera keeps panning"
WORKER = Path(__file__).parent.parent / "upload_worker.py"


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clip stored 1280x720 with a 90° rotation flag: it plays portrait, 720x1280."""
    path = tmp_path_factory.mktemp("rotated") / "phone.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.set_display_rotation(90)
        for index in range(8):
            picture = np.full((720, 1280, 3), 30 * index, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode())
    return path


def sparse(path: Path, size_bytes: int) -> Path:
    """A file of ``size_bytes`` that takes no disk space (reads as zeros)."""
    with open(path, "wb") as fh:
        fh.truncate(size_bytes)
    return path


def test_seeds_outside_32_bits_are_refused_before_any_request(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """seed=2**32 and 2**63 are refused locally (nothing sent, nothing recorded); the largest
    valid seed, 4,294,967,295, reaches the service unchanged."""
    fx = connect(sim, tmp_path)
    for seed in (2**32, 2**63, -1):
        with pytest.raises(foxnb.ValidationError, match="4,294,967,295"):
            fx.extend(PROMPT, clips["landscape"], seed=seed)
    assert sum(sim.backend.requests.values()) == 0 and len(fx.runs()) == 0
    job = fx.extend(PROMPT, clips["landscape"], seed=2**32 - 1).wait(60)
    assert sim.backend.tasks()[0].params.seed == 2**32 - 1 and job.status == "completed"


def test_a_rotated_clip_is_sent_as_it_plays(sim: Simulator, tmp_path: Path, rotated: Path) -> None:
    """Stored 1280x720, flagged 90°: checked and sent as 9:16 (the simulator, like the service,
    refuses 16:9 for it); the check's description says why."""
    info = media.check_input(rotated)
    assert (info.width, info.height, info.aspect_ratio) == (720, 1280, "9:16")
    assert "stored 1280x720 with a 90° rotation flag" in info.label
    fx = connect(sim, tmp_path)
    job = fx.extend(PROMPT, rotated, seed=1).wait(60)
    assert job.status == "completed" and sim.backend.tasks()[0].params.aspect_ratio == "9:16"
    assert fx.runs().iloc[0]["aspect_ratio"] == "9:16"


def test_a_file_over_the_upload_limit_is_refused_before_sending(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """101 MiB and 4 GiB files (the default limit is 100 MiB), and a clip over a configured
    limit: refused at once naming the size and the limit — nothing read into memory, nothing
    sent, nothing recorded."""
    fx = connect(sim, tmp_path)
    for size in (MAX_UPLOAD_BYTES + 1024**2, 4 * 1024**3):
        big = sparse(tmp_path / f"big-{size}.mp4", size)
        with pytest.raises(foxnb.VideoInputError) as info:
            fx.extend(PROMPT, big)
        assert f"{size:,} bytes" in str(info.value) and "104,857,600 bytes" in str(info.value)
    small = connect(sim, tmp_path / "small", max_upload_bytes=1000)
    with pytest.raises(foxnb.VideoInputError, match="over the upload limit of 1,000 bytes"):
        small.extend(PROMPT, clips["landscape"])
    with pytest.raises(foxnb.VideoInputError, match="upload limit"):
        small.sweep(clips["landscape"], name="s", prompt=PROMPT)
    client = foxnb.Client(api_key=sim.api_key, base_url=sim.url)
    with pytest.raises(foxnb.VideoInputError, match="upload limit"):
        client.upload(tmp_path / f"big-{4 * 1024**3}.mp4")
    client.close()
    assert sum(sim.backend.requests.values()) == 0 and len(fx.runs()) == 0


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["async", "sync"])
def test_a_400_mb_upload_streams_in_constant_memory(tmp_path: Path, mode: str) -> None:
    """A 400 MB file (limit raised to 500 MB on both sides) uploads from a process whose peak
    memory grows by less than 40 MB (it grew 1.6 GB before), and arrives whole."""
    size = 400 * 1000**2
    big = tmp_path / "big.mp4"
    with open(big, "wb") as fh:  # real bytes, so the simulator's copy can be checked
        block = np.random.default_rng(1).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
        for _ in range(size // len(block)):
            fh.write(block)
        fh.write(block[: size % len(block)])
    with Simulator(speed=200, max_file_bytes=500 * 1000**2, state_dir=tmp_path / "s") as sim:
        args = [sys.executable, str(WORKER), mode, str(big), sim.url, sim.api_key, "500000000"]
        done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(done.stdout.splitlines()[-1])
        stored = sim.backend.local_file(report["url"])
        assert report["size"] == size and stored is not None and stored.stat().st_size == size
    growth_mb = (report["peak_kib"] - report["baseline_kib"]) / 1024
    print(f"{mode} upload of 400 MB: peak RSS grew {growth_mb:.1f} MB")
    assert growth_mb < 40, report


def test_a_video_url_is_checked_before_the_paid_request(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A URL answering 404 and one answering an HTML page are refused before any create (the
    message names the URL, the status and check_url=False); check_url=False sends it as is.
    A URL that does answer with a portrait video is sent with aspect_ratio 9:16 (its real
    shape, read with a few ranged requests), not the 16:9 the service would refuse."""
    fx = connect(sim, tmp_path)
    with foxnb.Client(api_key=sim.api_key, base_url=sim.url) as client:
        portrait = client.upload(clips["portrait"]).url
    gone = portrait.replace(".mp4", "-missing.mp4")
    with pytest.raises(foxnb.ValidationError, match="answered HTTP 404") as info:
        fx.extend(PROMPT, gone)
    assert "check_url=False" in str(info.value) and info.value.field == "video"

    def page(method: str, path: str, answer: Answer | None) -> Answer | None:
        if answer is None and path.endswith("page.mp4"):
            return 200, {"content-type": "video/mp4"}, b"<!doctype html><title>Login</title>"
        return None

    html = pytest.raises(foxnb.ValidationError, match="answers with an HTML page")
    with HostileEdge(sim.url, page) as edge, html:
        fx.extend(PROMPT, f"{edge.url}/files/page.mp4")
    assert sim.backend.requests["create"] == 0 and len(fx.runs()) == 0
    unchecked = finish(fx.extend(PROMPT, gone, check_url=False))
    assert sim.backend.requests["create"] == 1 and unchecked.status == "failed"
    job = fx.extend(PROMPT, portrait, seed=1).wait(60)
    assert job.status == "completed" and sim.backend.tasks()[-1].params.aspect_ratio == "9:16"
    assert fx.runs().set_index("run_id").loc[job.run_id, "input_duration_s"] > 0
    assert sim.backend.key_sent_to_files == 0


def test_a_url_check_that_cannot_read_the_shape_leaves_the_field_out(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A server that ignores ranges and serves a video whose header sits past the first
    64 KiB: the URL is a video, so it is sent, without an aspect_ratio (the service then uses
    the input's own shape) rather than a guessed 16:9."""
    head = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * (70 * 1024)

    def no_ranges(method: str, path: str, answer: Answer | None) -> Answer | None:
        if answer is None and path.endswith("odd.mp4"):
            return 200, {"content-type": "video/mp4"}, head
        return None

    fx = connect(sim, tmp_path)
    with HostileEdge(sim.url, no_ranges) as edge:
        job = finish(fx.extend(PROMPT, f"{edge.url}/files/odd.mp4"))
    (task,) = sim.backend.tasks()
    assert task.params.aspect_ratio is None and job.task_id == task.id


def test_an_evicted_upload_is_uploaded_again_not_sent_dead(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A later session reuses the upload recorded in the ledger only after a ranged read shows
    it still answers; once the service evicted it, the clip is uploaded again and the job
    completes (it failed video_fetch_failed, paid, before)."""
    connect(sim, tmp_path).extend(PROMPT, clips["landscape"], seed=1).wait(60)
    again = connect(sim, tmp_path).extend(PROMPT, clips["landscape"], seed=2).wait(60)
    assert again.status == "completed" and sim.backend.requests["upload"] == 1
    assert sim.backend.evict_uploads()
    fx = connect(sim, tmp_path)
    job = fx.extend(PROMPT, clips["landscape"], seed=3).wait(60)
    assert job.status == "completed" and sim.backend.requests["upload"] == 2
    urls = fx.runs()["video_url"].tolist()
    assert urls[0] == urls[1] != urls[2]
    assert account(fx, sim) == (0, 0)


@pytest.mark.parametrize(
    "name",
    ["a\x00b", "left\u202eright", "two\nlines", "\x1b[31mred\x1b[0m", "x" * 201, "tab\there"],
    ids=["NUL", "RLO", "newline", "ANSI", "201 chars", "tab"],
)
def test_sweep_names_follow_the_prompt_rule(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], name: str
) -> None:
    """A sweep name holding NUL, U+202E, a line break, an ANSI escape or 201 characters is
    refused naming ``name`` and what is allowed; nothing is sent or recorded."""
    fx = connect(sim, tmp_path)
    with pytest.raises(foxnb.ValidationError) as info:
        fx.sweep(clips["landscape"], name=name, prompt=PROMPT)
    assert info.value.field == "name" and "(allowed: " in str(info.value)
    assert sum(sim.backend.requests.values()) == 0 and len(fx.runs()) == 0


def test_report_folder_names_the_file_system_cannot_hold_are_refused(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A 300-byte folder name is refused with a clear message (no raw OSError naming a hidden
    folder); a 240-character one, which used to fail, is written."""
    fx = connect(sim, tmp_path)
    fx.sweep(clips["landscape"], name="n", prompt=PROMPT, seed=[1]).wait(60)  # type: ignore[union-attr]
    with pytest.raises(foxnb.ValidationError, match="is 300 bytes long") as info:
        fx.report("n", tmp_path / ("r" * 300))
    assert info.value.field == "path" and ".building" not in str(info.value)
    report = fx.report("n", tmp_path / ("r" * 240))
    assert report.index.is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
