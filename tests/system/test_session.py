"""foxnb.connect() end to end over real loopback HTTP against the simulator."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import av
import pytest
from support import connect

import foxnb
from foxnb.sim import Simulator


def test_extend_local_clip_end_to_end(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A local clip is checked, uploaded, extended, downloaded and recorded with its sha256."""
    fx = connect(sim, tmp_path)
    job = fx.extend("The camera keeps panning", clips["landscape"], seed=5, tags=["e2e"])
    assert job.status in ("queued", "submitting", "pending")  # returned before the work is done
    job.wait(timeout=60)
    assert job.status == "completed" and job.video_path is not None
    with av.open(str(job.video_path)) as c:
        video = c.streams.video[0]
        assert video.codec_context.name == "h264"
        assert (video.codec_context.width, video.codec_context.height) == (1280, 720)
        assert c.duration / 1e6 == pytest.approx(8.0, abs=0.25)
        assert [s.codec_context.name for s in c.streams.audio] == ["aac"]
    row = fx.runs().set_index("run_id").loc[job.run_id]
    assert row["status"] == "completed" and row["backend"] == "sim" and row["seed"] == 5
    assert row["sha256"] == foxnb._files.sha256_file(job.video_path)
    assert row["task_id"] == job.task_id and row["duration_s"] > 0 and row["credits"] > 0
    assert row["tags"] == ["e2e"] and row["video_url"].startswith(sim.url)


def test_validation_happens_before_any_request(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """Bad fields and bad local videos fail in extend() and nothing reaches the server."""
    fx = connect(sim, tmp_path)
    with pytest.raises(foxnb.ValidationError, match="did you mean 'seed'"):
        fx.extend("pan", clips["landscape"], sed=3)
    with pytest.raises(foxnb.VideoInputError, match=r"854x480 \(480p, 16:9\).*720p or 1080p"):
        fx.extend("pan", clips["480p"])
    with pytest.raises(foxnb.VideoInputError, match=r"960x720 \(720p, 4:3\).*16:9 or 9:16"):
        fx.extend("pan", clips["4x3"])
    with pytest.raises(foxnb.ValidationError, match="safety_tolerance"):
        fx.extend("pan", clips["landscape"], safety_tolerance=True)
    assert sum(sim.backend.requests.values()) == 0
    assert fx.runs().empty


def test_portrait_clip_sends_its_own_aspect_ratio(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """Without aspect_ratio, a 9:16 clip is sent as 9:16 and comes back 720x1280."""
    job = connect(sim, tmp_path).extend("tilt up", clips["portrait"], generate_audio=False).wait(60)
    assert sim.backend.task(job.task_id).params.aspect_ratio == "9:16"  # type: ignore[union-attr]
    with av.open(str(job.video_path)) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (720, 1280)
        assert not c.streams.audio


def test_many_jobs_share_one_upload(sim: Simulator, tmp_path: Path, clips: dict[str, Path]) -> None:
    """Six concurrent jobs on one clip upload it once and all complete."""
    fx = connect(sim, tmp_path)
    jobs = [fx.extend("orbit", clips["landscape"], seed=s) for s in range(6)]
    for job in jobs:
        job.wait(120)
    assert sim.backend.requests["upload"] == 1 and sim.backend.task_count == 6
    assert len({j.sha256 for j in jobs}) == 6  # each seed gives a different video


def test_lost_create_response_is_recorded_not_resent(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """The task is created but its answer lost: submission_unknown, one task, evidence."""
    sim.inject("create", "lost_response")
    fx = connect(sim, tmp_path)
    job = fx.extend("pan", clips["landscape"])
    with pytest.raises(foxnb.SubmissionUnknownError) as info:
        job.wait(30)
    assert job.status == "submission_unknown" and sim.backend.task_count == 1
    assert sim.backend.requests["create"] == 1
    assert "did not resend" in info.value.evidence
    row = fx.runs().iloc[0]
    assert row["status"] == "submission_unknown" and "sent at" in row["evidence"]


def test_rate_limited_create_is_retried_once_created(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """429 (with Retry-After) on create is retried, and exactly one task results."""
    sim.inject("create", "429", count=2, retry_after_s=0.2)
    job = connect(sim, tmp_path).extend("pan", clips["landscape"]).wait(60)
    assert job.status == "completed" and sim.backend.task_count == 1
    assert sim.backend.requests["create"] == 3


def test_server_errors_on_reads_are_ridden_out(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """500 and 503 on task reads are retried; the job still completes."""
    sim.inject("task", "500", count=2)
    sim.inject("task", "503", count=1)
    job = connect(sim, tmp_path).extend("pan", clips["landscape"]).wait(60)
    assert job.status == "completed"


def test_server_error_on_create_is_submission_unknown(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A 500 answer to the create request is ambiguous: recorded, never resent."""
    sim.inject("create", "500")
    job = connect(sim, tmp_path).extend("pan", clips["landscape"])
    with pytest.raises(foxnb.SubmissionUnknownError):
        job.wait(30)
    assert sim.backend.requests["create"] == 1


def test_task_failure_carries_its_code(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A content-policy failure surfaces as TaskFailedError with the service's code."""
    sim.inject("create", "task_failure", code="content_policy_violation")
    fx = connect(sim, tmp_path)
    job = fx.extend("pan", clips["landscape"])
    with pytest.raises(foxnb.TaskFailedError) as info:
        job.wait(60)
    assert info.value.code == "content_policy_violation" and info.value.job is job
    assert fx.runs().iloc[0]["error_code"] == "content_policy_violation"


def test_wrong_key_says_how_to_fix_and_hides_the_key(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """401 ends the run as not_submitted, explains FOXAPI_API_KEY, never shows the key."""
    bad = "sk-wrong-key-1234567890"
    fx = foxnb.connect(api_key=bad, base_url=sim.url, workdir=tmp_path / "runs", quiet=True)
    job = fx.extend("pan", "https://example.com/in.mp4", check_url=False)
    with pytest.raises(foxnb.AuthenticationError) as info:
        job.wait(30)
    assert job.status == "not_submitted" and "FOXAPI_API_KEY" in str(info.value)
    texts = [
        str(info.value),
        repr(fx),
        repr(fx.config),
        fx.runs().to_json(date_format="iso"),
        # The runs store's own files (the database and its write-ahead log), as bytes.
        *(p.read_bytes().decode("latin-1") for p in (tmp_path / "runs").glob("runs.db*")),
    ]
    assert all(bad not in t for t in texts)


def test_out_of_credits_is_not_submitted(tmp_path: Path, clips: dict[str, Path]) -> None:
    """402 ends the run as not_submitted with top-up advice; nothing was created."""
    with Simulator(speed=200, balance_credits=10) as poor:
        job = connect(poor, tmp_path).extend("pan", clips["landscape"])
        with pytest.raises(foxnb.InsufficientCreditsError, match="Top up"):
            job.wait(30)
        assert job.status == "not_submitted" and poor.backend.task_count == 0


def test_expired_result_link_is_refreshed(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A result URL that expired before download is re-queried and the file still arrives."""
    sim.inject("download", "expired")
    job = connect(sim, tmp_path).extend("pan", clips["landscape"]).wait(60)
    assert job.status == "completed" and job.video_path is not None


def test_detach_stops_tracking_but_says_the_task_runs_on(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """detach() stops polling; the server task still completes; attach() gets the video."""
    with Simulator(speed=20, state_dir=tmp_path / "slow") as slow:
        fx = connect(slow, tmp_path)
        job = fx.extend("pan", clips["landscape"])
        while job.task_id is None:
            time.sleep(0.02)
        job.detach()
        assert "keeps running and is billed" in capsys.readouterr().out
        with pytest.raises(foxnb.JobError):
            job.wait(10)
        assert job.status == "detached"
        again = fx.attach(job.run_id).wait(60)
        assert again.status == "completed" and slow.backend.task_count == 1


def test_await_job_in_async_code(sim: Simulator, tmp_path: Path, clips: dict[str, Path]) -> None:
    """A Job is awaitable from any event loop: several at once, one already done, and one
    that fails, which raises as ``wait()`` does."""
    fx = connect(sim, tmp_path)

    async def main() -> list[foxnb.Job]:
        jobs = [fx.extend("pan", clips["landscape"], seed=seed) for seed in (1, 2, 3)]
        done = await asyncio.gather(*jobs)
        assert await jobs[0] is jobs[0]  # done already: at once
        return done

    assert [job.status for job in asyncio.run(main())] == ["completed"] * 3
    sim.inject("create", "task_failure", code="content_policy_violation")
    failing = fx.extend("pan", clips["landscape"], seed=4)

    async def fails() -> None:
        await failing

    with pytest.raises(foxnb.TaskFailedError):
        asyncio.run(fails())
    assert failing.status == "failed"


def test_sync_client_round_trip(sim: Simulator, tmp_path: Path, clips: dict[str, Path]) -> None:
    """The blocking Client uploads, creates, waits and downloads on its own."""
    with foxnb.Client(api_key=sim.api_key, base_url=sim.url) as client:
        up = client.upload(clips["landscape"])
        task = client.create_task(foxnb.ExtendRequest(prompt="pan", video=up.url, seed=1))
        seen: list[str] = []
        done = client.wait(task, on_update=lambda t: seen.append(t.status), timeout_s=60)
        saved = client.download(done.result_urls[0], tmp_path / "out.mp4")
    assert done.status == "completed" and seen[-1] == "completed" and saved.size > 10_000


def test_connect_without_key_starts_simulator_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No FOXAPI_API_KEY: an embedded simulator starts and a banner says results are synthetic."""
    fx = foxnb.connect(workdir=tmp_path / "runs")
    out = capsys.readouterr().out
    assert fx.backend == "sim" and "simulator" in out and "nothing is billed" in out
    assert fx.config.base_url.startswith("http://127.0.0.1:")


def test_ledger_never_holds_the_key(sim: Simulator, tmp_path: Path, clips: dict[str, Path]) -> None:
    """After a full run, the key appears in no file of the work folder and no DataFrame cell."""
    fx = connect(sim, tmp_path)
    fx.extend("pan", clips["landscape"]).wait(60)
    stored = list((tmp_path / "runs").glob("runs.db*"))
    assert stored  # the store, its write-ahead log
    for path in stored:
        assert sim.api_key.encode() not in path.read_bytes()
    assert sim.api_key not in json.dumps(fx.runs().astype(str).to_dict())


def test_uploads_from_another_service_address_are_not_reused(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A new simulator on another port gets its own upload instead of a dead URL."""
    for _ in range(2):
        with Simulator(speed=200) as fresh:
            job = connect(fresh, tmp_path).extend("pan", clips["landscape"]).wait(60)
            assert job.status == "completed" and fresh.backend.requests["upload"] == 1


def test_unknown_task_on_attach_fails_as_not_found(sim: Simulator, tmp_path: Path) -> None:
    """A recorded task the server does not know (404) ends the run as failed: task_not_found."""
    fx = connect(sim, tmp_path)
    fx.ledger.append(
        "r-gone",
        time.time(),
        status="processing",
        task_id="task-unified-1-zzzzzzzz",
        prompt="pan",
        video="https://example.com/x.mp4",
        backend="sim",
        host=fx.config.host,
    )
    job = fx.attach("r-gone")
    with pytest.raises(foxnb.NotFoundError):
        job.wait(30)
    assert fx.ledger.get("r-gone")["status"] == "failed"  # type: ignore[index]


def test_edge_block_and_truncated_answer_on_create(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """An edge HTML 403 means nothing was created; a truncated 200 means it may have been."""
    fx = connect(sim, tmp_path)
    sim.inject("create", "edge_html")
    blocked = fx.extend("pan", clips["landscape"])
    with pytest.raises(foxnb.PermissionDeniedError, match="edge proxy"):
        blocked.wait(30)
    assert blocked.status == "not_submitted"
    sim.inject("create", "truncated")
    cut = fx.extend("pan", clips["landscape"])
    with pytest.raises(foxnb.SubmissionUnknownError, match="unreadable"):
        cut.wait(30)
    assert sim.backend.requests["create"] == 2 and sim.backend.task_count == 1
