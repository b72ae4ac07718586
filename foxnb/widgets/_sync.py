"""Keeping widget traffic small: rate-limited redraws and batched trait changes.

A job reports every poll, upload and download step from the engine thread; redrawing a card
on each would flood the websocket when many jobs run. ``Coalescer`` turns any burst of
reports into at most one redraw per interval, always drawing the latest state, and draws
the final state at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Protocol

log = logging.getLogger("foxnb")


def once_off_thread(action: Callable[[], None], name: str) -> Callable[[], None]:
    """A function that runs ``action`` on a new daemon thread the first time it is called, and
    does nothing after: of several threads seeing a job end, exactly one replaces its output,
    and not on the engine thread (a snapshot decodes poster frames and reads the store)."""
    once = threading.Lock()  # acquired once, never released

    def fire() -> None:
        if once.acquire(blocking=False):
            threading.Thread(target=action, name=name, daemon=True).start()

    return fire


class Cancellable(Protocol):
    """A scheduled call that can be called off (``threading.Timer`` is one)."""

    def cancel(self) -> None: ...


StartTimer = Callable[[float, Callable[[], None]], Cancellable]


def start_daemon_timer(delay_s: float, action: Callable[[], None]) -> Cancellable:
    """Run ``action`` once after ``delay_s`` on a daemon thread."""
    timer = threading.Timer(delay_s, action)
    timer.daemon = True
    timer.start()
    return timer


class Coalescer:
    """Call ``flush`` at most once every ``interval_s``, and never leave a change undrawn.

    ``poke()`` flushes now if the last flush is old enough, otherwise schedules one flush at
    the end of the interval (further pokes until then ride along with it).
    ``poke(final=True)`` cancels any scheduled flush and flushes now. Flushes never overlap.
    """

    def __init__(
        self,
        flush: Callable[[], None],
        interval_s: float = 0.25,
        *,
        clock: Callable[[], float] = time.monotonic,
        start_timer: StartTimer = start_daemon_timer,
    ):
        self._flush = flush
        self._interval_s = interval_s
        self._clock = clock
        self._start_timer = start_timer
        self._lock = threading.Lock()
        self._last_flush_s = -float("inf")
        self._pending: Cancellable | None = None

    def poke(self, *, final: bool = False) -> None:
        """Report a change; see the class docstring for when ``flush`` runs."""
        with self._lock:
            if final:
                if self._pending is not None:
                    self._pending.cancel()
                    self._pending = None
            elif self._pending is not None:
                return
            else:
                wait_s = self._last_flush_s + self._interval_s - self._clock()
                if wait_s > 0:
                    self._pending = self._start_timer(wait_s, self._fire)
                    return
            self._last_flush_s = self._clock()
            self._flush()

    def _fire(self) -> None:
        with self._lock:
            if self._pending is None:  # a final flush came first and already drew everything
                return
            self._pending = None
            self._last_flush_s = self._clock()
            try:
                self._flush()
            except Exception:  # on a timer thread nobody else would report it
                log.exception("foxnb: a widget redraw failed")


@contextmanager
def hold_sync_all(*widgets: Any) -> Iterator[None]:
    """``hold_sync()`` on several widgets at once: each sends one message with all its changes."""
    with ExitStack() as stack:
        for widget in widgets:
            stack.enter_context(widget.hold_sync())
        yield
