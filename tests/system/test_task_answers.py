"""Odd answers about tasks (issue 10): other status words, errors in 200 bodies, other shapes.

A service (or a proxy in front of it) may say ``succeeded`` for ``completed``, ``timeout`` for
``failed``, a word nobody documented, or put an error into an HTTP 200. Each test plays one
over real loopback HTTP — the simulator's own faults, or a reverse proxy rewriting its answers
(``hostile_edge``) — and checks foxnb's reading of it, with 0 runs lost and 0 duplicates.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hostile_edge import Answer, HostileEdge, through
from support import account, connect, finish, wait_for

import foxnb
from foxnb import _wire as W
from foxnb.sim import Simulator

PROMPT = "The camera keeps panning"


def rewrite_tasks(change: Any) -> Any:
    """A ``HostileEdge`` rule applying ``change(body) -> body`` to every task read's JSON."""

    def rule(method: str, path: str, answer: Answer | None) -> Answer | None:
        if answer is None or not path.startswith("/v1/tasks/") or answer[0] != 200:
            return None
        body = change(json.loads(answer[2]))
        return answer[0], answer[1], json.dumps(body).encode()

    return rule


def test_a_service_speaking_other_status_words_is_understood(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """``QUEUED``, ``in-progress`` and ``Succeeded`` instead of the documented words: the
    job completes as usual; the service's own word is kept (job.service_status, fx.runs())."""
    words = {"pending": "QUEUED", "processing": "in-progress", "completed": "Succeeded"}
    seen: list[str] = []

    def change(body: dict[str, Any]) -> dict[str, Any]:
        body["status"] = words.get(body["status"], body["status"])
        seen.append(body["status"])
        return body

    with HostileEdge(sim.url, rewrite_tasks(change)) as edge:
        fx = through(edge, sim, tmp_path / "runs")
        job = fx.extend(PROMPT, clips["landscape"], seed=1).wait(60)
    assert job.status == "completed" and job.service_status == "Succeeded"
    assert "Succeeded" in seen and fx.runs().iloc[0]["service_status"] == "Succeeded"
    assert account(fx, sim) == (0, 0)


@pytest.mark.parametrize("word", ["timeout", "error", "FAILURE", "timed_out"])
def test_failure_words_end_the_run_failed_with_the_service_message(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], word: str
) -> None:
    """A failed task reported as ``timeout``/``error``/…: failed, its code and message kept,
    and the service's word named; nothing resent."""

    def change(body: dict[str, Any]) -> dict[str, Any]:
        if body["status"] == "failed":
            body["status"] = word
        return body

    sim.inject("create", "task_failure", code="generation_failed")
    with HostileEdge(sim.url, rewrite_tasks(change)) as edge:
        fx = through(edge, sim, tmp_path / "runs")
        job = finish(fx.extend(PROMPT, clips["landscape"], seed=1))
    assert job.status == "failed" and isinstance(job.error, foxnb.TaskFailedError)
    assert job.error.code == "generation_failed" and f"the service said {word!r}" in str(job.error)
    assert fx.runs().iloc[0]["error_code"] == "generation_failed"
    assert account(fx, sim) == (0, 0) and sim.backend.requests["create"] == 1


def test_an_unknown_status_is_polled_ever_more_slowly_shown_raw_and_resumable(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """``paused`` (undocumented) for as long as it lasts: polled at a doubling interval up to
    the cap (not 36 GETs in 20 s), shown raw on the job and in fx.runs(), the run resumable:
    a new session's resume() picks it up and completes it once the word is gone."""
    saying = threading.Event()
    saying.set()
    reads: list[float] = []

    def change(body: dict[str, Any]) -> dict[str, Any]:
        if saying.is_set():
            reads.append(time.monotonic())
            body["status"] = "paused"
        return body

    policy = W.RetryPolicy(base_delay_s=0.25, unknown_status_max_delay_s=1.0)
    with HostileEdge(sim.url, rewrite_tasks(change)) as edge:
        fx = foxnb.connect(
            api_key=sim.api_key,
            base_url=edge.url,
            workdir=tmp_path / "runs",
            quiet=True,
            policy=policy,
        )
        job = fx.extend(PROMPT, clips["landscape"], seed=1)
        wait_for(lambda: len(reads) >= 6, 30, what="six reads saying 'paused'")
        gaps = [b - a for a, b in itertools.pairwise(reads)]
        assert gaps[0] < gaps[2] and all(g < 1.0 + 0.6 for g in gaps), gaps
        assert job.status in ("pending", "processing") and job.service_status == "paused"
        assert "service says 'paused'" in repr(job)
        row = fx.runs().iloc[0]
        assert row["service_status"] == "paused" and row["status"] in ("pending", "processing")
        fx.close()  # the kernel goes away while the service still says "paused"
        later = through(edge, sim, tmp_path / "runs")
        assert [r["run_id"] for r in later.unfinished()] == [job.run_id]
        saying.clear()
        (resumed,) = later.resume()
        assert resumed.wait(60).status == "completed" and resumed.service_status is None
    assert account(later, sim) == (0, 0)


def test_the_default_cap_keeps_an_unknown_status_from_flooding_the_service(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """With the default policy, 8 s of an unknown word cost at most 5 reads (1, 2, 4 s apart)."""
    reads: list[float] = []

    def change(body: dict[str, Any]) -> dict[str, Any]:
        reads.append(time.monotonic())
        body["status"] = "done-ish"
        return body

    with HostileEdge(sim.url, rewrite_tasks(change)) as edge:
        fx = through(edge, sim, tmp_path / "runs")
        job = fx.extend(PROMPT, clips["landscape"], seed=1)
        wait_for(lambda: reads, 30, what="the first read")
        time.sleep(8.0)
        assert len(reads) <= 5 and not job.done
        fx.close()


def test_an_error_in_a_200_task_read_is_that_error(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """``{"error": {"type": "server_error"}}`` with HTTP 200 on task reads: a server error,
    retried; past the retries tracking stops with that error and its message (no "internal
    error"), the run resumable; resume() completes it."""
    fx = connect(sim, tmp_path, policy=W.RetryPolicy(base_delay_s=0.05, max_attempts=3))
    sim.inject("task", "error_200", count=1)
    assert fx.extend(PROMPT, clips["landscape"], seed=1).wait(60).status == "completed"
    sim.inject("task", "error_200", count=30)
    job = finish(fx.extend(PROMPT, clips["landscape"], seed=2))
    assert isinstance(job.error, foxnb.ServerError) and job.status in ("pending", "processing")
    text = str(job.error)
    assert "answered 200 with an error" in text and "internal error while" not in text, text
    assert fx.runs().set_index("run_id").loc[job.run_id, "error_code"] == "ServerError"
    while sim.backend.faults.scripted_left("task"):  # the service recovers
        sim.backend.decide("task")
    (resumed,) = fx.resume()
    assert resumed.wait(60).status == "completed"
    assert account(fx, sim) == (0, 0)


@pytest.mark.parametrize(
    ("error_type", "status", "error"),
    [
        ("server_error", "submission_unknown", foxnb.SubmissionUnknownError),
        ("service_unavailable_error", "submission_unknown", foxnb.SubmissionUnknownError),
        ("invalid_request_error", "not_submitted", foxnb.BadRequestError),
        ("authentication_error", "not_submitted", foxnb.AuthenticationError),
        ("insufficient_quota", "not_submitted", foxnb.InsufficientCreditsError),
    ],
)
def test_an_error_in_a_200_create_answer_is_judged_from_its_body(
    sim: Simulator,
    tmp_path: Path,
    clips: dict[str, Path],
    error_type: str,
    status: str,
    error: type[Exception],
) -> None:
    """HTTP 200 whose body is only an error, on create: a refusal type (bad request, key,
    balance) proves no task exists → not_submitted with that error; anything else may have
    made one → submission_unknown with the body as evidence. Never resent."""
    fx = connect(sim, tmp_path)
    sim.inject("create", "error_200", error_type=error_type)
    job = finish(fx.extend(PROMPT, clips["landscape"], seed=1))
    assert job.status == status and isinstance(job.error, error), job.error
    assert "FoxAPI accepted" not in str(job.error)
    assert "with an error" in str(job.error)
    if status == "submission_unknown":
        assert error_type in fx.runs().iloc[0]["evidence"]
    assert sim.backend.requests["create"] == 1 and account(fx, sim) == (0, 0)


def test_a_rate_limit_error_in_a_200_create_answer_is_retried(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """``rate_limit_error`` in a 200 means "slow down", as a 429: no task, resent, completed."""
    fx = connect(sim, tmp_path)
    sim.inject("create", "error_200", error_type="rate_limit_error")
    job = fx.extend(PROMPT, clips["landscape"], seed=1).wait(60)
    assert job.status == "completed" and sim.backend.requests["create"] == 2
    assert account(fx, sim) == (0, 0)


def test_odd_but_legal_task_shapes_are_read(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """Task answers wrapped in ``{"code": 0, "data": {...}}``, the id under ``task_id``,
    progress as ``"40%"``, the result as a bare string: read as the task they describe."""

    def change(body: dict[str, Any]) -> dict[str, Any]:
        body["task_id"] = body.pop("id")
        body["progress"] = f"{body['progress']}%"
        if body.get("results"):
            body["results"] = body["results"][0]["url"]
        return {"code": 0, "msg": "ok", "data": body}

    with HostileEdge(sim.url, rewrite_tasks(change)) as edge:
        fx = through(edge, sim, tmp_path / "runs")
        job = fx.extend(PROMPT, clips["landscape"], seed=1).wait(60)
    assert job.status == "completed" and job.video_path is not None
    assert account(fx, sim) == (0, 0)
