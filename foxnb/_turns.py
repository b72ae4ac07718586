"""Turn-taking: a busy engine thread hands the GIL to the notebook's thread every millisecond.

CPython lets one thread run Python code at a time (the GIL). A thread that wants it back —
the notebook's, after a ``time.sleep`` or a socket read in its own loop — waits one switch
interval (``sys.setswitchinterval``) and then asks the holder to let go. That works against a
thread that only computes. It fails against one that also makes many short system calls, as
an event loop driving thousands of HTTP requests does: each call lets go of the GIL and takes it
back at once, before the waiting thread has woken up; the waiter is woken for nothing and its
interval starts over, so it never gets to ask. This is CPython's "convoy effect": the notebook
waits until the loop runs out of work. At a 2,000-job sweep the loop ran 12–20 ms between two
looks at its sockets, over a thousand times, and the notebook thread's longest wait was 38 ms.

``Turns`` breaks the convoy from the busy side. ``turn_taking_loop()`` makes the engine's event
loop; on its thread, ``take_turn()`` is called between two pieces of work (before each request,
and before each look at the sockets). Once the thread has been running for ``BUSY_S`` since it
last let go for real, it sleeps ``PAUSE_S``, long enough for a waiting thread to wake and take
the GIL. ``waited()`` notes that the thread just let go for real (its loop blocked on the
sockets), so an engine with little to do never pauses. When no other thread wants the GIL (a
busy ``foxnb worker`` process), the pauses cost at most 0.3 ms in every 1.3 ms of work.

Measured with ``benchmarks.memory`` on 2 cores: 2,000 jobs at 1×, a run each, had 936 gaps of
the notebook thread over 10 ms before and 142–286 after, the longest (less CPU wait) 38 ms before
and 20–28 ms after, and all tasks created in 11–15 s either way; ``./dev bench``'s 10,000-job phase
went from 64 to 27 ms, with 606 gaps over 10 ms instead of 5,788.
"""

from __future__ import annotations

import asyncio
import selectors
import threading
import time
from collections.abc import Callable
from typing import Any

BUSY_S = 0.001
"""How long a thread runs before it hands the GIL over."""
PAUSE_S = 0.0003
"""How long it then sleeps: time for a waiting thread to wake (tens of microseconds on an idle
core, more in a virtual machine) and take the GIL."""


_this_thread = threading.local()


def turn_taking_loop() -> asyncio.AbstractEventLoop:
    """A new event loop for the calling thread, which from now on takes turns. It is a selector
    loop on every platform (on Windows too, where asyncio's default is the proactor loop): the
    engine only needs sockets and timers."""
    turns = Turns()
    _this_thread.turns = turns
    return asyncio.SelectorEventLoop(TurnTakingSelector(turns))


def take_turn() -> None:
    """``Turns.take_turn`` on a thread that made a ``turn_taking_loop``; elsewhere nothing."""
    turns: Turns | None = getattr(_this_thread, "turns", None)
    if turns is not None:
        turns.take_turn()


class Turns:
    """One thread's turn-taking (``take_turn``, ``waited``); not shared between threads."""

    def __init__(
        self,
        busy_s: float = BUSY_S,
        pause_s: float = PAUSE_S,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.busy_s, self.pause_s = busy_s, pause_s
        self._clock, self._sleep = clock, sleep
        self._since = clock()

    def take_turn(self) -> None:
        """Sleep ``pause_s`` if this thread has run for ``busy_s`` since it last let go."""
        if self._clock() - self._since >= self.busy_s:
            self._sleep(self.pause_s)
            self._since = self._clock()

    def waited(self) -> None:
        """This thread has just let go of the GIL for a while (it blocked): a new turn starts."""
        self._since = self._clock()


class TurnTakingSelector(selectors.DefaultSelector):
    """The platform's default selector, taking a turn before each look at the sockets and
    starting a new one after a look that blocked (``PAUSE_S`` or longer)."""

    def __init__(self, turns: Turns) -> None:
        super().__init__()
        self.turns = turns

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        self.turns.take_turn()
        started = time.perf_counter()
        ready = super().select(timeout)
        if time.perf_counter() - started >= self.turns.pause_s:
            self.turns.waited()
        return ready
