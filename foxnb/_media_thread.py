"""One background thread for FFmpeg work (checking each downloaded result), and the C
allocator's free memory given back to the system whenever that work runs out.

Decoding a 720p frame allocates megabytes in C (FFmpeg, PyAV). Done on whichever thread
asyncio's default executor picks, those allocations spread over several of glibc's malloc
arenas, and glibc keeps what is freed inside them: a process that checked thousands of results
stayed tens of megabytes larger than it needed to be (``docs/benchmark.md``, memory). One
thread keeps that work in one arena, and ``malloc_trim`` hands its free pages back once the
queue is empty. ``give_back_free_memory()`` does the same for other threads that decode (the
scorer). Elsewhere than glibc (macOS, musl) it does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _malloc_trim() -> Callable[[int], int] | None:
    with contextlib.suppress(OSError, AttributeError):
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
        return trim
    return None


_TRIM = _malloc_trim()


def give_back_free_memory() -> None:
    """Return the C allocator's free pages to the system (glibc's ``malloc_trim(0)``)."""
    if _TRIM is not None:
        _TRIM(0)


_Work = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class _MediaThread:
    """A daemon thread, started on first use, running queued calls one at a time."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Work] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def forget_thread(self) -> None:
        """In a forked child: the parent's thread is not there; the next call starts one."""
        self._lock = threading.Lock()
        self._thread = None

    def put(self, work: _Work) -> None:
        with self._lock:
            self._queue.put(work)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="foxnb-media", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            call, loop, future = self._queue.get()
            if not future.cancelled():
                try:
                    outcome: tuple[bool, Any] = (True, call())
                except BaseException as exc:  # handed to the caller, whatever it is
                    outcome = (False, exc)
                with contextlib.suppress(RuntimeError):  # the caller's loop has closed
                    loop.call_soon_threadsafe(_settle, future, outcome)
            if self._queue.empty():
                give_back_free_memory()


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.cancelled():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


_MEDIA = _MediaThread()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_MEDIA.forget_thread)


async def on_media_thread(call: Callable[[], T]) -> T:
    """Run ``call()`` on foxnb's media thread and return what it returns (or raise what it
    raised), without blocking the event loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    _MEDIA.put((call, loop, future))
    return await future
