"""One background thread that owns an asyncio event loop and runs every job.

Why a thread of our own instead of the notebook's loop: a task on the kernel's loop freezes
while any cell blocks (``time.sleep``, ``job.wait()``), and patching the loop to nest
(``nest_asyncio``) is unsafe on ipykernel 7. A private loop on a daemon thread keeps cells
non-blocking, lets ``wait()`` block safely, and works the same in scripts.

When the engine starts it calls ``gc.freeze()`` once. CPython's full garbage collection stops
every thread, the notebook's included, and its cost grows with every object alive — some
80,000 after importing pandas and httpx, 40–70 ms per pass on a small machine, triggered now
and then by the allocations of tracking jobs (measured: a 70 ms stall of the main thread during
the benchmark's 100-job sweep). Freezing moves the objects that exist at that moment (mostly
modules, classes and functions, which live as long as the process) out of the collector's
sight; objects made later are collected as before. ``gc.unfreeze()`` undoes it.

A big sweep adds hundreds of thousands of long-lived objects of its own (each tracked job holds
its coroutine, task, timers and state): 10,000 jobs made a full collection stall every thread
for 270 ms. So while ``BUSY_JOBS`` or more jobs run on the engine, the objects that survive any
collection are frozen right after it, and the next collection walks only what came since.
Freezing after full collections alone still let a quarter of the live objects pile up between
two of them (CPython collects in full when the objects promoted since the last full collection
reach 25 % of those it left): 10,000 jobs still stalled every thread for 110-130 ms. Freezing
after generation-1 collections too left those walking the survivors of ten young collections,
14,000-20,000 objects at about 1 µs each: 20-37 ms pauses, the longest stalls left. Freezing
after every collection leaves each with what was made since the last one: at 10,000 jobs no
collection of the two older generations took over 5 ms, and RSS grew as much as before (187 and
195 MB in two runs, 190-195 MB before). What that costs: an object in a reference cycle that
outlives one young collection is freed only when the sweep ends (objects in no cycle are freed
with their last reference, frozen or not).
While busy, the engine also collects the youngest generation itself every
``YOUNG_COLLECTION_EVERY_S``. CPython starts a young collection when the objects made since the
last one outnumber those freed by 700, and it counts every object freed, frozen ones included.
In a big sweep old objects (each request's, frozen by an earlier collection) die about as fast as
new ones are made, so young collections came seconds apart and each walked the 20,000-30,000
objects made since: 58 collections of 5-31 ms in a 10,000-job run, on whichever thread made the
object that tipped the count, every other thread stopped. Collected every 100 ms, 7-12 took over
5 ms in four such runs, the longest 7.0-9.2 ms past the first 2 s (the submission), and RSS grew
168-174 MB.
When the last job ends everything is thawed (``gc.unfreeze()``), so nothing a finished sweep
leaves behind escapes the collector for good, and the survivors of the next full collection are
frozen again, as at the start.

While busy, the interpreter's thread switch interval is also shortened from CPython's 5 ms to
``BUSY_SWITCH_INTERVAL_S`` (``sys.setswitchinterval``), and put back when the last job ends. A
thread coming back from anything that lets go of the GIL (a database statement, a file write, a
socket read, ``time.sleep`` in the notebook's own loop) waits for a thread running Python code
to hand it over, up to one interval each time. At 10,000 jobs the engine runs Python code about
half the time, and the runs store's writer thread, which takes the GIL back after every
statement, made creating the 10,000 tasks take 651–689 s; with 1 ms, 247 s. A switch
interval the user chose (anything but the default) is left alone.

A short interval is not enough on its own: a loop making many short system calls keeps every
other thread waiting whatever the interval (``foxnb._turns`` explains why), so the engine's loop
hands the GIL over every millisecond it runs (``turn_taking_loop``).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import gc
import logging
import sys
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from .._turns import turn_taking_loop

T = TypeVar("T")
log = logging.getLogger("foxnb")


#: While this many coroutines or more run on the engine, full collections freeze their
#: survivors (see the module docstring).
BUSY_JOBS = 500
#: While busy, the engine collects the youngest generation this often (see the module docstring).
YOUNG_COLLECTION_EVERY_S = 0.1
#: The thread switch interval while busy (see the module docstring), and CPython's default,
#: the only one changed.
BUSY_SWITCH_INTERVAL_S = 0.001
DEFAULT_SWITCH_INTERVAL_S = 0.005


class Engine:
    """A daemon thread running one asyncio loop; ``start`` and ``submit`` schedule coroutines
    on it."""

    def __init__(self, name: str = "foxnb-engine"):
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = 0
        self._busy = False
        self._freeze_next = False
        self._switched = False  # whether being busy shortened the switch interval
        self._collecting_young = False  # whether _collect_young is scheduled
        self._count_lock = threading.Lock()
        gc.callbacks.append(self._after_collection)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        loop = turn_taking_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the engine loop; returns a thread-safe future at once."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        self._count(+1)
        future.add_done_callback(self._uncount)
        return future

    def start(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` on the engine loop, with no future to wait on: what a job's work
        uses (it reports through its ``Job``). A thread-safe future and its lock cost
        2.6 kB a job, 26 MB for a 10,000-job sweep. An exception escaping ``coro`` is logged."""
        self._count(+1)
        try:
            self.loop.call_soon_threadsafe(self._start, coro)
        except RuntimeError:  # the loop is closed
            self._uncount(None)
            coro.close()
            raise

    def _start(self, coro: Coroutine[Any, Any, None]) -> None:
        self.loop.create_task(coro).add_done_callback(self._started_ended)

    def _started_ended(self, task: asyncio.Task[None]) -> None:
        self._uncount(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("foxnb: a background job failed", exc_info=exc)

    def _uncount(self, _: object) -> None:
        self._count(-1)

    def _count(self, change: int) -> None:
        """Keep count of the coroutines running here; see the module docstring."""
        with self._count_lock:
            self._running += change
            if not self._busy and self._running >= BUSY_JOBS:
                self._busy = self._freeze_next = True
                if not self._collecting_young:
                    self._collecting_young = True
                    with contextlib.suppress(RuntimeError):  # the loop is closed
                        self.loop.call_soon_threadsafe(self._collect_young)
                gc.freeze()  # the jobs just made: their objects live as long as they run
                self._switched = sys.getswitchinterval() == DEFAULT_SWITCH_INTERVAL_S
                if self._switched:
                    sys.setswitchinterval(BUSY_SWITCH_INTERVAL_S)
            elif self._busy and self._running == 0:
                self._busy = False
                gc.unfreeze()  # the next full collection sees everything once more
                if self._switched and sys.getswitchinterval() == BUSY_SWITCH_INTERVAL_S:
                    sys.setswitchinterval(DEFAULT_SWITCH_INTERVAL_S)
                self._switched = False

    def _collect_young(self) -> None:
        """While busy, collect the youngest generation every ``YOUNG_COLLECTION_EVERY_S`` (unless
        the user turned automatic collection off); see the module docstring."""
        with self._count_lock:
            if not self._busy:
                self._collecting_young = False
                return
        if gc.isenabled():
            gc.collect(0)
        self.loop.call_later(YOUNG_COLLECTION_EVERY_S, self._collect_young)

    def _after_collection(self, phase: str, info: dict[str, int]) -> None:
        """A ``gc.callbacks`` entry: while busy, freeze what any collection left alive (so the
        next walks only what came since); once idle, freeze after the next full collection
        only."""
        if phase != "stop" or not self._freeze_next:
            return
        if info["generation"] == 2 or self._busy:
            gc.freeze()
            self._freeze_next = self._busy

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run ``coro`` on the engine loop and block until it returns (not from the loop)."""
        if self.in_engine_thread():
            coro.close()
            raise RuntimeError("Engine.call() would deadlock when called from the engine loop")
        return self.submit(coro).result(timeout_s)

    def in_engine_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def stop(self) -> None:
        """Stop the loop after cancelling what still runs (used at interpreter exit)."""
        if not self._thread.is_alive():
            return

        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            self.submit(_cancel_all()).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    """The process-wide engine, started on first use."""
    global _engine
    with _engine_lock:
        if _engine is None or not _engine._thread.is_alive():
            if _engine is None:
                gc.freeze()  # see the module docstring
            _engine = Engine()
            atexit.register(_engine.stop)
        return _engine
