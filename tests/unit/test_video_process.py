"""foxnb's video process: FFmpeg work runs in a child process at a lower priority, errors come
back as raised, a crash is retried once, and the process ends with its parent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from foxnb import ScoreError
from foxnb._http import ResultSave
from foxnb._video_process import VideoProcessCrashed, in_video_process, run_in_video_process


def fails_to_score(path: str) -> None:
    raise ScoreError(f"{Path(path).name} has no video stream", path=path)


class Unpicklable(Exception):
    def __init__(self, a: int, b: int):
        super().__init__(f"{a} and {b}")


def raises_unpicklable() -> None:
    raise Unpicklable(1, 2)


def dies() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def dies_once(marker: str) -> int:
    """Dies the first time it is called for ``marker``; then answers its process id."""
    if not os.path.exists(marker):
        Path(marker).touch()
        dies()
    return os.getpid()


def test_calls_run_in_another_process_at_a_lower_priority() -> None:
    helper = run_in_video_process(os.getpid)
    assert helper != os.getpid()
    assert run_in_video_process(os.getpid) == helper  # one process, kept
    assert run_in_video_process(os.nice, 0) == min(os.nice(0) + 10, 19)


def test_errors_come_back_as_raised() -> None:
    with pytest.raises(ScoreError, match=r"clip\.mp4 has no video stream") as raised:
        run_in_video_process(fails_to_score, "/videos/clip.mp4")
    assert raised.value.path == "/videos/clip.mp4"
    with pytest.raises(RuntimeError, match=r"Unpicklable: 1 and 2"):
        run_in_video_process(raises_unpicklable)
    assert run_in_video_process(len, "still working") == 13


def test_a_crash_is_tried_once_more_in_a_new_process(tmp_path: Path) -> None:
    before = run_in_video_process(os.getpid)
    after = run_in_video_process(dies_once, str(tmp_path / "died"))
    assert after != before
    with pytest.raises(VideoProcessCrashed, match="died twice running dies"):
        run_in_video_process(dies)
    assert run_in_video_process(len, "again") == 5


def test_relative_paths_mean_what_they_mean_to_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_in_video_process(os.getpid)  # started here
    (tmp_path / "clip.mp4").write_bytes(b"12345")
    monkeypatch.chdir(tmp_path)
    assert run_in_video_process(os.path.getsize, "clip.mp4") == 5


def test_awaiting_a_call_blocks_no_event_loop() -> None:
    async def main() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        await in_video_process(os.getpid)  # started
        await in_video_process(time.sleep, 0.5)
        ticker.cancel()
        return ticks

    assert asyncio.run(main()) >= 20


def _script(body: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(body)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_script_without_a_main_guard_runs_once(tmp_path: Path) -> None:
    """The process does not import the script that started it (as ``multiprocessing``'s
    spawn does): its top level, which may pay for videos, runs once."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            """
            import os
            from foxnb._video_process import run_in_video_process
            with open("ran.txt", "a") as ran:
                ran.write(f"{os.getpid()}\\n")
            print(run_in_video_process(os.getpid) != os.getpid())
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["True"], done.stderr
    assert len((tmp_path / "ran.txt").read_text().split()) == 1


def test_the_process_ends_when_its_parent_is_killed() -> None:
    parent = _script(
        """
        import os, time
        from foxnb._video_process import run_in_video_process
        print(run_in_video_process(os.getpid), flush=True)
        time.sleep(60)
        """
    )
    assert parent.stdout is not None
    helper = int(parent.stdout.readline())
    os.kill(helper, 0)  # alive
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(helper, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(helper, signal.SIGKILL)
        pytest.fail("the video process outlived its killed parent by 5 s")


def test_a_caller_that_leaves_mid_call_leaves_no_noise() -> None:
    """The process finishes the call it is on, finds nobody to answer, and leaves quietly."""
    script = _script(
        """
        import threading, time
        from foxnb._video_process import run_in_video_process
        run_in_video_process(len, "started")
        threading.Thread(target=run_in_video_process, args=(time.sleep, 1), daemon=True).start()
        time.sleep(0.3)
        """
    )
    _, err = script.communicate(timeout=30)  # until the process, which shares stderr, ends
    assert (script.returncode, err) == (0, "")


@pytest.mark.parametrize(
    ("setup", "why"),
    [
        (
            "import subprocess\n"
            "def refused(*args, **kwargs):\n"
            "    raise PermissionError(1, 'Operation not permitted')\n"
            "subprocess.Popen = refused",
            "([Errno 1] Operation not permitted)",
        ),
        ("import sys; sys.executable = '/bin/false'", "(/bin/false exited with 1)"),
    ],
    ids=["not-allowed", "not-python"],
)
def test_without_a_process_the_work_runs_on_a_thread(setup: str, why: str) -> None:
    script = _script(
        setup
        + """
import os, threading
from foxnb._video_process import run_in_video_process
print(run_in_video_process(os.getpid) == os.getpid(),
      run_in_video_process(lambda: threading.current_thread().name))
"""
    )
    out, err = script.communicate(timeout=60)
    assert out.split() == ["True", "foxnb-video_0"], err
    assert f"cannot start its video process {why}; reading videos on a thread" in err


def test_a_result_that_crashes_ffmpeg_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that kills the video process twice is not the video: rejected, nothing kept."""
    import foxnb._http
    from foxnb import _wire as W

    monkeypatch.setattr(foxnb._http, "result_problem", dies_wherever)
    step = W.Fetch("http://127.0.0.1/x.mp4", tmp_path / "result.mp4", 1 << 20, expected_s=8.0)
    saved = _save_bytes(step, b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4096)
    assert isinstance(saved, W.Rejected) and saved.code == "not_a_video"
    assert "FFmpeg crashed reading it" in saved.detail
    assert list(tmp_path.iterdir()) == []


def dies_wherever(*args: object, **kwargs: object) -> None:
    dies()


def _save_bytes(step: object, body: bytes) -> object:
    import httpx

    response = httpx.Response(200, headers={"content-length": str(len(body))}, content=body)
    with ResultSave(step, response, None) as save:  # type: ignore[arg-type]
        assert save.write(body) is None
        assert save.body_problem(len(body)) is None
        return save.finish()
