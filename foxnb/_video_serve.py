"""The helper process's side of ``foxnb._video_process``: a loop running the calls it is sent.

It imports only what the loop needs (not asyncio, logging or subprocess: a few megabytes less
for a process that lives as long as the session); a call's function brings its own module
(``foxnb.media``, ``foxnb.scores``) when it is first unpickled. Messages both ways are framed:
a call number and a length, then a pickle. Number 0 is the process saying it runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import struct
import sys
from collections.abc import Callable
from typing import IO, Any

NICENESS = 10
"""How much lower than the notebook's the helper process's CPU priority is (POSIX ``nice``)."""

_HEADER = struct.Struct("<QQ")  # call number, length of the pickle that follows


def _malloc_trim() -> Callable[[int], int] | None:
    with contextlib.suppress(OSError, AttributeError):
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
        return trim
    return None


_TRIM = _malloc_trim()


def give_back_free_memory() -> None:
    """Return the C allocator's free pages to the system (glibc's ``malloc_trim(0)``);
    elsewhere than glibc (macOS, musl) nothing. The helper calls it after every call: the frames
    it decoded would otherwise stay in its heap. Not in the notebook's process: it holds the
    allocator's locks while it walks the heap, and a thread holding the GIL that allocates
    meanwhile can keep every thread waiting (calls of up to 21 ms at 10,000 jobs)."""
    if _TRIM is not None:
        _TRIM(0)


def write_message(stream: IO[bytes], number: int, data: bytes) -> None:
    """One framed message: its number, its length, the pickle."""
    stream.write(_HEADER.pack(number, len(data)) + data)
    stream.flush()


def read_message(stream: IO[bytes]) -> tuple[int, bytes] | None:
    """The next framed message (its number and its pickle), or None at the end of the stream."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    number, length = _HEADER.unpack(header)
    data = stream.read(length)
    return (number, data) if len(data) == length else None


def serve() -> None:
    """The helper's loop: read a call from stdin, run it, answer on stdout, until stdin ends.

    What the calls print goes to stderr: stdout carries only the answers."""
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(NICENESS)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        _answer_calls(sys.stdin.buffer, answers)
    except BrokenPipeError:  # the caller has gone: nobody is left to answer
        os._exit(0)


def _answer_calls(calls: IO[bytes], answers: IO[bytes]) -> None:
    write_message(answers, 0, pickle.dumps(os.getpid()))  # started: calls are numbered from 1
    while (message := read_message(calls)) is not None:
        number, data = message
        try:
            folder, (function, args, kwargs) = pickle.loads(data)
            if folder != os.getcwd():  # relative paths mean what they mean to the caller
                os.chdir(folder)
            answer: tuple[bool, Any] = (True, function(*args, **kwargs))
        except Exception as exc:
            answer = (False, _returnable(exc))
        give_back_free_memory()
        try:
            data = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            data = pickle.dumps((False, RuntimeError(f"its answer does not pickle: {exc!r}")))
        write_message(answers, number, data)


def _returnable(exc: Exception) -> Exception:
    """``exc`` if it pickles back whole, else a ``RuntimeError`` naming it."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
