"""The progress line of job.wait() / sweep.wait(): one line rewritten in a terminal, nothing
when output is not a terminal, off with quiet=True."""

from __future__ import annotations

import io
import threading
import time

import pytest

from foxnb.errors import JobTimeoutError
from foxnb.models import ExtendRequest
from foxnb.runtime.jobs import Job
from foxnb.widgets.waiting import WaitLine, job_text, wait_line

URL = "https://example.com/in.mp4"


class Terminal(io.StringIO):
    """What a terminal would receive (it says it is one)."""

    def isatty(self) -> bool:
        return True


def job(**state: object) -> Job:
    made = Job("r20260101-000000-abcdef", ExtendRequest(prompt="Pan", video=URL), backend="sim")
    made.set_state(**state)
    return made


def finish_later(target: Job, after_s: float) -> threading.Timer:
    def finish() -> None:
        target.set_state(status="completed", progress=100, completed_at=time.time())
        target.mark_done()

    timer = threading.Timer(after_s, finish)
    timer.start()
    return timer


def test_a_terminal_gets_one_line_rewritten_then_a_newline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In a terminal: carriage returns on one line, a few redraws a second, one newline."""
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    now = time.time()
    running = job(status="processing", progress=40, submitted_at=now - 4, estimated_time_s=9)
    finish_later(running, 1.2)
    running.wait(timeout=10)
    out = terminal.getvalue()
    assert out.count("\n") == 1 and out.endswith("\n") and out.startswith("\r")
    assert 2 <= out.count("\r") <= 5  # every 0.5 s, not every 0.2 s poll
    assert "processing 40% · 4 s elapsed" in out and "completed after" in out.splitlines()[-1]


def test_not_a_terminal_or_quiet_prints_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A script whose output is a file or pipe, or quiet=True: no progress line at all."""
    pipe = io.StringIO()
    monkeypatch.setattr("sys.stdout", pipe)
    running = job(status="processing", progress=10, submitted_at=time.time())
    finish_later(running, 0.5)
    running.wait(timeout=10)
    assert pipe.getvalue() == ""
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    quiet = job(status="processing", progress=10, submitted_at=time.time())
    finish_later(quiet, 0.5)
    quiet.wait(timeout=10, quiet=True)
    assert terminal.getvalue() == ""
    assert wait_line(lambda: ("x", 0), quiet=True) is None


def test_a_timeout_ends_the_line_and_says_the_job_runs_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """JobTimeoutError: the line is finished (with a note), not left half-drawn."""
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    with pytest.raises(JobTimeoutError):
        job(status="pending", submitted_at=time.time(), estimated_time_s=9).wait(timeout=0.3)
    assert terminal.getvalue().endswith("(stopped waiting; the job keeps running)\n")


def test_only_the_main_thread_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wait() in a worker thread (a button callback) stays silent."""
    monkeypatch.setattr("sys.stdout", Terminal())
    found: list[object] = []
    worker = threading.Thread(target=lambda: found.append(wait_line(lambda: ("x", 0))))
    worker.start()
    worker.join()
    assert found == [None] and wait_line(lambda: ("x", 0)) is not None


def test_a_long_line_is_cut_to_the_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """A line wider than the terminal would wrap and break the carriage return: it is cut."""
    monkeypatch.setenv("COLUMNS", "40")
    terminal = Terminal()
    line = WaitLine(lambda: ("x" * 100, 0), stream=terminal, kernel=False)
    line.update()
    line.close()
    first, final = terminal.getvalue().split("\r")[1:]
    assert len(first) == 39 and first.endswith("…") and final == first + "\n"


def test_job_text_says_phase_and_reuse() -> None:
    """The line's words: status, progress, elapsed, the timing phrase; a reuse says so."""
    now = time.time()
    text, pct = job_text(job(status="pending", submitted_at=now - 2, estimated_time_s=9))
    assert pct == 0
    assert text.startswith("r20260101-000000-abcdef: pending 0% · 2 s elapsed · queued at")
    reused = job(status="completed", progress=100, reused_from="r-paid")
    reused.mark_done()
    assert job_text(reused)[0].endswith("completed (reused from r-paid)")


def test_an_overdue_job_says_so() -> None:
    """Past its expected end: eta_s is 0 (a countdown stops), timing says overdue and how long."""
    now = time.time()
    late = job(status="processing", progress=99, submitted_at=now - 30, estimated_time_s=9)
    late.add_progress(4.0, 40)
    late.add_progress(8.0, 99)
    timing = late.timing(now)
    assert late.eta_s == 0.0 and timing.phase == "overdue" and timing.eta_s is None
    assert timing.overdue_s is not None and timing.overdue_s > 20
    assert "overdue by" in job_text(late)[0] and "still processing" in job_text(late)[0]
