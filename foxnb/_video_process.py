"""One helper process for foxnb's FFmpeg work: checking each downloaded result, scoring runs.

Reading a video means decoding frames: about 10 ms of CPU per result and megabytes of C
allocations. Done on threads of the notebook's own process, that work competed with the
notebook's thread for the GIL: in a 10,000-job sweep, whose results arrive hundreds a minute,
the notebook's thread waited up to 26 ms at a time, with the checking and scoring threads among
those running (``docs/benchmark.md``). In a process of its own the work has its own GIL and its
own C allocator, and an FFmpeg crash on a malformed file ends that process, not the kernel.

- ``run_in_video_process(function, *args, **kwargs)`` runs the call there and returns what it
  returns (or raises what it raised); ``await in_video_process(...)`` does the same without
  blocking an event loop. The function and its arguments must pickle (a function at a
  module's top level, paths, numbers): the process imports the function's module, and runs
  the call in the caller's current folder.
- The process starts on first use, as a fresh interpreter that imports only
  ``foxnb._video_serve`` (with this process's ``sys.path``), and runs one call at a time, in
  the order sent. It is not a ``multiprocessing`` process: started by ``spawn`` or
  ``forkserver``, those import the script that started them again, running whatever it does at
  its top level (a script without an ``if __name__ == "__main__":`` guard would extend its
  videos a second time), and ``fork`` is not safe in a process with threads.
- It runs at a lower CPU priority (``_video_serve.NICENESS``, on POSIX). Sharing no lock with
  the notebook, it only slows itself down: on a busy machine the notebook, the engine and the
  service's answers come first. A thread at a lower priority could not do that: starved of a
  CPU while it held the GIL, it made every other thread wait (``foxnb.runtime.scoring``).
- It ends when the Python that started it ends or is killed (its end of the pipe closes). If it
  dies mid-call (FFmpeg crashed, or it was killed), that call is tried once more in a new
  process; ``VideoProcessCrashed`` says the second one died too. Calls that were only waiting
  go to the new process as they are.
- Where no process can be started (a sandbox that forbids it), the work runs on one thread of
  this process instead, and a warning says so once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import IO, Any, TypeVar

from . import _video_serve
from ._video_serve import read_message, write_message

T = TypeVar("T")

log = logging.getLogger("foxnb")

_Call = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]
_Sent = tuple[_Call, "Future[Any]", int]  # a call, its caller's future, the attempt it is


class VideoProcessCrashed(Exception):
    """The helper process died twice while running the same call (FFmpeg crashed reading
    the file, most likely)."""


_START = "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); import {0}; {0}.serve()"


class _Process:
    """One running helper: its pipes, the calls sent to it and not answered yet (in the order
    sent, which is the order it runs them), and the thread reading its answers."""

    def __init__(self, on_exit: Callable[[_Process, list[_Sent], bool], None]):
        self._on_exit = on_exit
        self.popen = subprocess.Popen(
            [sys.executable, "-c", _START.format(_video_serve.__name__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._lock = threading.Lock()  # the calls waiting for an answer
        self._writing = threading.Lock()  # held while a write blocks on a full pipe; _lock never is
        self._numbers = itertools.count(1)
        self._waiting: dict[int, _Sent] = {}
        self._ended = False
        self.gone = threading.Event()  # set once its end has been dealt with (on_exit returned)
        assert self.popen.stdin is not None and self.popen.stdout is not None
        with contextlib.suppress(OSError):  # it ended at once: its reader says so
            pickle.dump(sys.path, self.popen.stdin)
            self.popen.stdin.flush()
        threading.Thread(
            target=self._read_answers, args=(self.popen.stdout,), name="foxnb-video", daemon=True
        ).start()

    def send(self, call: _Call, outcome: Future[Any], attempt: int) -> bool:
        """Hand ``call`` to the process; False if it has ended (nothing was sent). A call
        that does not pickle raises here, in the caller."""
        data = pickle.dumps((os.getcwd(), call), pickle.HIGHEST_PROTOCOL)
        stdin = self.popen.stdin
        assert stdin is not None
        with self._writing:  # one message at a time, in the order of their numbers
            with self._lock:
                if self._ended:
                    return False
                number = next(self._numbers)
                self._waiting[number] = (call, outcome, attempt)
            with contextlib.suppress(OSError, ValueError):  # ended: its reader hands it on
                write_message(stdin, number, data)
        return True

    def _read_answers(self, stdout: IO[bytes]) -> None:
        started = False
        with contextlib.suppress(OSError, ValueError):
            started = read_message(stdout) is not None  # its hello: it can take calls
            while started and (message := read_message(stdout)) is not None:
                number, data = message
                with self._lock:
                    _, outcome, _ = self._waiting.pop(number)
                try:
                    ok, value = pickle.loads(data)
                except Exception as exc:
                    ok, value = False, RuntimeError(f"its answer did not unpickle: {exc!r}")
                _settle(outcome, ok, value)
        with self._lock:
            self._ended = True
            left = [self._waiting[number] for number in sorted(self._waiting)]
            self._waiting.clear()
        self.popen.wait()
        try:
            self._on_exit(self, left, started)
        finally:
            self.gone.set()

    def drop_pipes(self) -> None:
        """In a forked child: let go of the parent's pipes (so they close with the parent)."""
        for pipe in (self.popen.stdin, self.popen.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    os.close(pipe.fileno())


def _settle(outcome: Future[Any], ok: bool, value: Any) -> None:
    with contextlib.suppress(concurrent.futures.InvalidStateError):  # cancelled
        if ok:
            outcome.set_result(value)
        else:
            outcome.set_exception(value)


class _Helper:
    """The helper process (started when first needed, again after it died), or one thread of
    this process where no process can be started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: _Process | None = None
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None

    def forget(self) -> None:
        """In a forked child: the parent's helper and its reader are not this process's."""
        if self._process is not None:
            self._process.drop_pipes()
        self.__init__()  # type: ignore[misc]

    def submit(
        self, call: _Call, attempt: int = 1, outcome: Future[Any] | None = None
    ) -> Future[Any]:
        """A future of ``call`` run in the helper (``outcome``, when given)."""
        outcome = Future() if outcome is None else outcome
        while True:
            with self._lock:
                if self._thread is None and self._process is None:
                    try:
                        self._process = _Process(self._ended)
                    except OSError as exc:
                        self._use_a_thread(exc)
                process, thread = self._process, self._thread
            if thread is not None:
                function, args, kwargs = call
                running = thread.submit(function, *args, **kwargs)
                running.add_done_callback(lambda done: _copy(done, outcome))
                return outcome
            assert process is not None
            if process.send(call, outcome, attempt):
                return outcome
            process.gone.wait()  # it has just ended: once that is dealt with, try again

    def _use_a_thread(self, why: object) -> None:
        log.warning("foxnb: cannot start its video process (%s); reading videos on a thread", why)
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="foxnb-video")

    def _ended(self, process: _Process, left: list[_Sent], started: bool) -> None:
        """The process ended with ``left`` unanswered. If it never started, the work moves
        to a thread. Else the first call was running: it is tried once more, then fails; the
        others were only waiting and go to the next process as they are."""
        with self._lock:
            if self._process is process:
                self._process = None
                if not started and self._thread is None:
                    self._use_a_thread(f"{sys.executable} exited with {process.popen.returncode}")
        for index, (call, outcome, attempt) in enumerate(left):
            if index == 0 and started and attempt == 2:
                name = getattr(call[0], "__name__", "a call")
                crashed = VideoProcessCrashed(f"foxnb's video process died twice running {name}")
                _settle(outcome, False, crashed)
            else:
                self.submit(call, attempt + 1 if index == 0 and started else attempt, outcome)


def _copy(done: Future[Any], outcome: Future[Any]) -> None:
    exc = done.exception()
    _settle(outcome, exc is None, done.result() if exc is None else exc)


_HELPER = _Helper()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_HELPER.forget)


def run_in_video_process(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` run in foxnb's video process; blocks the calling thread
    (not the GIL) until it is done. See the module docstring."""
    result: T = _HELPER.submit((function, args, kwargs)).result()
    return result


async def in_video_process(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``run_in_video_process`` for an event loop: awaiting it blocks nothing."""
    result: T = await asyncio.wrap_future(_HELPER.submit((function, args, kwargs)))
    return result
