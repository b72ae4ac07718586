"""The pure rules behind issue 10's safety work, without sockets: status words, odd task
shapes, the redirect rule, bodies that are not videos, errors in 200 answers, key scrubbing,
proxies, URL checks, ledger writes that wait, and old ledgers with huge integers."""

from __future__ import annotations

import json
import random
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from foxnb import _wire as W
from foxnb import errors as E
from foxnb._answers import Task, task_status
from foxnb._checks import line_error
from foxnb._inputs import check_video_url
from foxnb.config import scrub, scrub_json, uses_env_proxy
from foxnb.media import container_kind, markup_kind
from foxnb.models import ExtendRequest
from foxnb.runtime.link import StoreLink
from foxnb.runtime.store import Owner, open_store
from foxnb.sample import make_sample_clip

KEY = "sk-test-0123456789abcdef"
NO_WAIT = W.RetryPolicy(sleep_scale=0.0)
REQ = ExtendRequest(prompt="pan", video="https://example.com/in.mp4")


def core() -> W.Core:
    return W.Core(
        secret=KEY,
        policy=NO_WAIT,
        clock=lambda: 1000.0,
        throttle=W.Throttle(rate_per_s=1000, burst=1000),
        rng=random.Random(0),
    )


def drive(flow: Generator[W.Step, W.Outcome, Any], answer: Any) -> tuple[Any, list[W.Step]]:
    """Run a flow, answering each Send/Fetch/Peek with ``answer(step)``."""
    steps: list[W.Step] = []
    reply: W.Outcome = None
    while True:
        try:
            step = flow.send(reply)
        except StopIteration as done:
            return done.value, steps
        steps.append(step)
        reply = answer(step) if isinstance(step, W.Send | W.Fetch | W.Peek) else None


def json_answer(data: dict[str, Any], status: int = 200) -> W.Response:
    return W.Response(status, {}, json.dumps(data).encode())


# ---------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("succeeded", "completed"),
        ("SUCCESS", "completed"),
        ("done", "completed"),
        ("finished", "completed"),
        ("error", "failed"),
        ("failure", "failed"),
        ("timeout", "failed"),
        ("timed_out", "failed"),
        ("Timed-Out", "failed"),
        ("running", "processing"),
        ("in progress", "processing"),
        ("in_progress", "processing"),
        ("queued", "pending"),
        ("canceled", "cancelled"),
        ("paused", "unknown"),
        ("", "unknown"),
    ],
)
def test_status_words_map_to_the_documented_ones(word: str, status: str) -> None:
    """Common synonyms mean the documented status; anything else is unknown."""
    assert task_status(word) == status


def test_odd_but_legal_task_shapes() -> None:
    """A numeric id, a ``data`` wrapper, ``task_id``, progress as text, results as one
    string or one object, ``output`` as a bare URL or a list: all read."""
    cases: list[tuple[dict[str, Any], tuple[str, ...]]] = [
        ({"id": 42, "status": "done", "results": "https://c/a.mp4"}, ("https://c/a.mp4",)),
        ({"data": {"task_id": "t", "results": {"url": "https://c/b.mp4"}}}, ("https://c/b.mp4",)),
        ({"id": "t", "output": "https://c/c.mp4"}, ("https://c/c.mp4",)),
        ({"id": "t", "output": ["https://c/d.mp4", {"video_url": "https://c/e.mp4"}]},
         ("https://c/d.mp4", "https://c/e.mp4")),
        ({"id": "t", "results": [{"url": "https://c/f.mp4"}, "https://c/f.mp4"]},
         ("https://c/f.mp4",)),
    ]  # fmt: skip
    for data, urls in cases:
        assert Task.from_json(data).result_urls == urls
    task = Task.from_json({"id": 42, "status": "Succeeded", "progress": " 45% "})
    assert (task.id, task.status, task.service_status, task.progress) == (
        "42", "completed", "Succeeded", 45,
    )  # fmt: skip
    with pytest.raises(ValueError, match="no id"):
        Task.from_json({"error": {"message": "boom"}})


def test_unknown_status_is_polled_at_a_doubling_interval_up_to_the_cap() -> None:
    """Reads of a task saying ``paused`` come 1, 2, 4, … s apart, never more than the cap."""
    policy = W.RetryPolicy(base_delay_s=0.5, unknown_status_max_delay_s=8.0)
    paused = {"id": "t", "status": "paused"}
    flow = W.Core(
        secret=KEY, policy=policy, clock=lambda: 0.0, throttle=W.Throttle(1000, 1000),
        rng=random.Random(0),
    ).wait(Task.from_json(paused), created_s=0.0)  # fmt: skip
    reads = iter([paused] * 6 + [{"id": "t", "status": "completed", "results": ["https://x"]}])
    task, steps = drive(flow, lambda step: json_answer(next(reads)))
    sleeps = [s.seconds for s in steps if isinstance(s, W.Sleep)]
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0] and task.status == "completed"


# ---------------------------------------------------------------------------- errors in 200s


@pytest.mark.parametrize(
    ("error_type", "raised", "creates"),
    [
        ("invalid_request_error", E.BadRequestError, 1),
        ("authentication_error", E.AuthenticationError, 1),
        ("insufficient_quota", E.InsufficientCreditsError, 1),
        ("server_error", E.SubmissionUnknownError, 1),
        ("something_new", E.SubmissionUnknownError, 1),
    ],
)
def test_an_error_in_a_200_create_answer(
    error_type: str, raised: type[Exception], creates: int
) -> None:
    """A refusal type proves no task (not resent, its own error); others may hide one."""
    body = {"error": {"message": f"said {KEY}", "type": error_type}}
    with pytest.raises(raised) as info:
        drive(core().create(REQ, None), lambda step: json_answer(body))
    assert KEY not in str(info.value) and "with an error" in str(info.value)


def test_a_rate_limit_error_in_a_200_create_answer_is_resent() -> None:
    answers = iter([{"error": {"type": "rate_limit_error"}}, {"id": "t", "status": "pending"}])
    task, steps = drive(core().create(REQ, None), lambda step: json_answer(next(answers)))
    assert task.id == "t" and sum(isinstance(s, W.Send) for s in steps) == 2


def test_an_error_in_a_200_read_is_retried_as_a_server_error() -> None:
    answers = iter([{"error": {"message": "busy", "type": "server_error"}}, {"id": "t"}])
    task, _ = drive(core().task("t"), lambda step: json_answer(next(answers)))
    assert task.id == "t"
    with pytest.raises(E.ServerError, match="answered 200 with an error: busy"):
        drive(core().task("t"), lambda step: json_answer({"error": {"message": "busy"}}))


# ---------------------------------------------------------------------------- downloads


def test_the_redirect_rule() -> None:
    """https anywhere and http on this machine are followed; relative locations resolve;
    plain http elsewhere, other schemes and a missing Location are refused."""
    url = "https://cdn.example/a.mp4"
    go = {
        "https://x.example/b": "https://x.example/b",
        "/c": "https://cdn.example/c",
        "http://127.0.0.1:9/d": "http://127.0.0.1:9/d",
        "http://[::1]/e": "http://[::1]/e",
    }
    for location, target in go.items():
        assert W.redirect_target(url, W.Response(302, {"location": location}, b"")) == target
    for location in ("http://cdn.example/x", "ftp://cdn.example/x", "", "http://127.0.0.1.nip.io/"):
        with pytest.raises(W.RedirectRefused) as info:
            W.redirect_target(url, W.Response(302, {"location": location}, b""))
        assert info.value.code == "redirect"


def fetch_script(*answers: W.Outcome) -> Any:
    queue = list(answers)
    return lambda step: queue.pop(0)


def test_downloads_follow_five_redirects_and_refuse_a_sixth() -> None:
    dest = Path("/nonexistent/out.mp4")
    hop = W.Response(302, {"location": "https://cdn.example/next"}, b"")
    saved = W.Saved(dest, "0" * 64, 10)
    result, steps = drive(core().download("https://cdn.example/a", dest, 100), fetch_script(
        *[hop] * 5, saved))  # fmt: skip
    assert result == saved and sum(isinstance(s, W.Fetch) for s in steps) == 6
    loop = W.Response(302, {"location": "https://cdn.example/a"}, b"")
    with pytest.raises(E.DownloadError, match="redirect loop") as info:
        drive(core().download("https://cdn.example/a", dest, 100), lambda step: loop)
    assert info.value.code == "redirect"
    many = iter(f"https://cdn.example/{i}" for i in range(100))
    with pytest.raises(E.DownloadError, match="more than 5 redirects"):
        drive(
            core().download("https://cdn.example/a", dest, 100),
            lambda step: W.Response(302, {"location": next(many)}, b""),
        )


def test_a_rejected_body_is_tried_three_times_then_fails_with_its_code() -> None:
    dest = Path("/nonexistent/out.mp4")
    bad = W.Rejected("not_a_video", "it served an HTML page")
    _, steps = drive(
        core().download("https://cdn.example/a", dest, 100),
        fetch_script(bad, W.Saved(dest, "0" * 64, 1)),
    )
    assert sum(isinstance(s, W.Fetch) for s in steps) == 2
    with pytest.raises(E.DownloadError, match="3 tries") as info:
        drive(core().download("https://cdn.example/a", dest, 100), lambda step: bad)
    assert info.value.code == "not_a_video"


def test_pages_and_containers_are_told_apart() -> None:
    assert markup_kind(b"\xef\xbb\xbf  <!DOCTYPE html><html>") == "an HTML page"
    assert markup_kind(b'{"error": 1}') == "a JSON document"
    assert markup_kind(b"<?xml version='1.0'?><Error/>") == "an XML document"
    assert markup_kind(b"") == "an empty body"
    assert markup_kind(b"\x00\x00\x00\x18ftypisom") is None
    assert container_kind(b"\x00\x00\x00\x18ftypisom") == "MP4/MOV"
    assert container_kind(b"\x1a\x45\xdf\xa3") == "WebM/Matroska"
    assert container_kind(b"<html>") is None


# ---------------------------------------------------------------------------- URL checks


def served(data: bytes, ranges: bool = True) -> Any:
    """A ``read`` over ``data``, honouring ranges (206) or not (200, whole file)."""

    def read(first: int, last: int) -> tuple[int, dict[str, str], bytes]:
        if not ranges:
            return 200, {"content-length": str(len(data))}, data[: last - first + 1]
        headers = {"content-range": f"bytes {first}-{last}/{len(data)}"}
        return 206, headers, data[first : last + 1]

    return read


def test_url_checks(tmp_path: Path) -> None:
    """404, HTML and non-video answers are refused; a real clip gives its shape and length;
    a video-looking file the reads cannot parse is let through with its shape unknown."""
    clip = make_sample_clip(tmp_path / "p.mp4", width=720, height=1280, duration_s=1.0, fps=8)
    data = clip.read_bytes()
    info = check_video_url("https://c/p.mp4", served(data))
    assert info is not None and info.aspect_ratio == "9:16" and info.duration_s > 0.5
    big = b"\0\0\0\x10free" + b"\0" * (200 << 10) + data[8:]  # its header past 64 KiB
    assert check_video_url("https://c/p.mp4", served(big, ranges=False)) is None
    odd = b"\x00\x00\x00\x18ftypisom" + b"\x00" * (100 * 1024)
    assert check_video_url("https://c/odd.mp4", served(odd, ranges=False)) is None
    for read, needle in (
        (lambda a, b: (404, {}, b"<Error>NoSuchKey</Error>"), "answered HTTP 404"),
        (served(b"<html><title>Login</title></html>"), "an HTML page"),
        (served(b"\x01\x02 not a video at all \x03" * 10), "does not answer with a video"),
    ):
        with pytest.raises(E.ValidationError, match=needle) as refused:
            check_video_url("https://c/x.mp4", read)
        assert "check_url=False" in str(refused.value)
    small = make_sample_clip(tmp_path / "s.mp4", width=854, height=480, duration_s=0.5, fps=8)
    with pytest.raises(E.VideoInputError, match="720p or 1080p"):
        check_video_url("https://c/s.mp4", served(small.read_bytes()))


# ---------------------------------------------------------------------------- secrets


def test_scrubbing_covers_every_string_of_an_answer() -> None:
    answer = {"error": {"message": f"Bearer {KEY}", "code": KEY}, KEY: [f"x{KEY}y", 3, None]}
    clean = json.dumps(scrub_json(answer, KEY), ensure_ascii=False)
    assert KEY not in clean and "sk-…cdef" in clean
    assert scrub(f"token=sk%2D{KEY[3:]}", "sk+/" + KEY) == f"token=sk%2D{KEY[3:]}"
    assert scrub("a%2Bb", "a+b") == "…"  # percent-encoded forms too


def test_no_proxy_for_this_machine() -> None:
    for url in ("http://127.0.0.1:8", "http://localhost:9", "http://[::1]:1", "http://127.9.9.9"):
        assert not uses_env_proxy(url)
    for url in ("https://api.foxapi.cc", "http://cdn.example", "http://127.0.0.1.nip.io"):
        assert uses_env_proxy(url)


# ---------------------------------------------------------------------------- ledger


def test_refused_writes_wait_in_order_and_the_warning_names_the_task_ids(
    tmp_path: Path,
) -> None:
    """The runs store refuses writes (a file size limit): the events wait in order, the
    warning names the task id waiting (and is told to the session), then all land."""
    store = open_store(None, tmp_path)
    commit, broken = store.commit, [True]

    def flaky(*args: Any, **kwargs: Any) -> None:
        if broken[0]:
            raise OSError(27, "File too large")
        commit(*args, **kwargs)

    store.commit = flaky  # type: ignore[method-assign]
    told: list[str | None] = []
    link = StoreLink(store, Owner.here("s"), lease_s=30, on_warning=told.append)
    link.append("r1", {"status": "submitting"})
    link.append("r1", {"task_id": "task-unified-1-abc"})
    assert not link.flush_blocking(0.5)
    assert link.warning is not None and "task-unified-1-abc" in link.warning
    assert "File too large" in link.warning and told and told[-1] == link.warning
    broken[0] = False
    link.append("r1", {"status": "completed"})
    assert link.flush_blocking(10.0) and link.warning is None and told[-1] is None
    assert [e.get("status") for e in store.events()] == ["submitting", None, "completed"]
    link.close()
    store.close()


def test_an_old_ledger_with_huge_integers_loads_exactly(tmp_path: Path) -> None:
    lines = [{"run_id": "a", "at": 1, "seed": 2**63}, {"run_id": "b", "at": 1, "seed": 2**70},
             {"run_id": "c", "at": 1, "seed": 5, "progress": "lots"}]  # fmt: skip
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    frame = open_store(None, tmp_path).dataframe()  # the old ledger, imported
    assert frame["seed"].tolist() == [2**63, 2**70, 5]
    assert frame["progress"].tolist()[2] == "lots"


def test_names_are_one_line_texts() -> None:
    assert line_error("name", "dusk vs storm — ☔", 200) is None
    for bad in ("a\nb", "a\tb", "a\x1b[31m", "a\u202eb", "a\x00b", "x" * 201):
        error = line_error("name", bad, 200)
        assert error is not None and error.field == "name"
