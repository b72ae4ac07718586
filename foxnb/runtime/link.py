"""``StoreLink``: how the engine loop talks to the runs store without ever waiting on it.

A store call is a database transaction: a few milliseconds when all is well (SQLite fsyncs
each commit), seconds when another writer holds the lock, longer when a PostgreSQL server is
far away or restarting. Made on the engine loop, each would stall every job of the session.
So the loop hands every store call to one writer thread, in order:

- ``append()`` queues an event and returns at once. Events queued while the thread was busy
  are written together, one transaction for all of them (10,000 jobs answering at once make
  a few dozen commits, not 10,000);
- ``await call(fn, ...)`` runs a store method on the thread (a claim, ``begin_send``) after
  everything queued before it, and returns its answer to the loop;
- ``await flush()`` returns once everything queued before it is durable (the runner waits for
  this after recording a task id, and before a job is said to be done);
- every ``lease_s / 3`` the thread renews the leases of this owner; a run whose lease was
  lost (someone took it over) is reported to ``on_lost``.

A write the store refuses (a full disk, a file size limit, a read-only folder, a server that is
down) is retried, with a growing pause, until it succeeds: the events wait in memory, in order
(a task id is never dropped). Meanwhile ``warning`` says so — naming the task ids waiting, so
they are on screen even if the kernel dies — in the log (stderr) and, through ``on_warning``,
on every running job; the runner sends no new create request while it lasts. A second message
says when the store takes writes again. Closing releases every run this owner still holds, so
other processes need not wait for the leases to expire.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .store import Event, Owner, RunStore

log = logging.getLogger("foxnb")

T = TypeVar("T")

MAX_BATCH = 5000
"""Most events written in one transaction."""
RETRY_MAX_S = 5.0
"""Longest pause between two attempts at a write the store refused."""
WARN_EVERY_S = 30.0
"""How often the warning is repeated while the store refuses writes (at once when a new task
id starts waiting)."""
FLUSH_WAIT_S = 10.0
"""How long the runner waits for a write to be durable before carrying on without it."""
CLOSE_WAIT_S = 30.0
"""How long ``close()`` waits for queued writes to reach the store."""


def stored(fields: dict[str, Any]) -> dict[str, Any]:
    """A job's fields as the store keeps them: paths as text, a live exception left out."""
    kept = {k: (str(v) if isinstance(v, Path) else v) for k, v in fields.items()}
    kept.pop("error", None)
    return kept


@dataclass
class _Item:
    """One piece of work for the writer thread (an append, a release, a call or a marker)."""

    kind: str
    event: Event | None = None
    call: Callable[[], Any] | None = None
    future: concurrent.futures.Future[Any] | None = None

    def __post_init__(self) -> None:
        # Only what someone waits for has a future (a Condition each: 10,000 appends would
        # hold 10,000 of them).
        if self.kind in ("call", "flush", "stop"):
            self.future = concurrent.futures.Future()

    @property
    def waited(self) -> concurrent.futures.Future[Any]:
        """The future of an item someone waits for."""
        assert self.future is not None, self.kind
        return self.future


class StoreLink:
    """The writer thread between one owner (a session) and its runs store; see the module doc."""

    def __init__(
        self,
        store: RunStore,
        owner: Owner,
        *,
        lease_s: float,
        clock: Callable[[], float] = time.time,
        on_lost: Callable[[set[str]], None] | None = None,
        on_warning: Callable[[str | None], None] | None = None,
    ):
        self.store = store
        self.owner = owner
        self.lease_s = lease_s
        self.clock = clock
        self.on_lost = on_lost
        self.on_warning = on_warning
        #: Why writes wait in memory (the store refuses them), else None.
        self.warning: str | None = None
        self._warned_at = 0.0
        self._warned_ids: set[str] = set()
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._held: set[str] = set()
        self._unborn: set[str] = set()  # created, held, not yet in the store
        self._held_lock = threading.Lock()
        # Loops' futures set when the store starts refusing writes (``flush`` waits on them).
        self._refusal_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()
        self._closed = False
        self._next_renew = 0.0
        self._thread = threading.Thread(target=self._work, name="foxnb-store", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ from any thread

    def append(self, run_id: str, fields: dict[str, Any]) -> None:
        """Queue one event; it is written soon, in order with everything else."""
        self._put(_Item("append", event=(run_id, self.clock(), fields)))

    def create(self, event: Event) -> None:
        """Queue a new run's first event; the run is held by this owner as it appears (so
        nothing else may take it before this session has)."""
        with self._held_lock:
            self._unborn.add(event[0])
        self.hold([event[0]])
        self._put(_Item("create", event=event))

    def release(self, run_id: str) -> None:
        """Queue the end of this owner's lease on ``run_id`` (after its queued events)."""
        self.forget([run_id])
        self._put(_Item("release", event=(run_id, 0.0, {})))

    def submit(
        self, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        """Run ``fn(*args, **kwargs)`` on the writer thread after what is queued; its future."""
        item = _Item("call", call=lambda: fn(*args, **kwargs))
        self._put(item)
        return item.waited

    def hold(self, run_ids: Iterable[str]) -> None:
        """Note runs this owner has claimed (their leases are renewed until released)."""
        with self._held_lock:
            self._held.update(run_ids)
        self._next_renew = min(self._next_renew or float("inf"), self.clock() + self.lease_s / 3)
        self._put(_Item("wake"))  # so the thread starts counting down to a renewal

    def forget(self, run_ids: Iterable[str]) -> None:
        """Stop counting runs as held (released, or lost to another owner)."""
        with self._held_lock:
            self._held.difference_update(run_ids)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called (nothing more is written)."""
        return self._closed

    def held(self) -> set[str]:
        """The runs this owner holds, as far as this link knows."""
        with self._held_lock:
            return set(self._held)

    def _holding(self) -> bool:
        """Whether this owner holds any run (without copying 10,000 run ids to find out)."""
        with self._held_lock:
            return bool(self._held)

    # ------------------------------------------------------------------ from the engine loop

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the writer thread, awaited without blocking the loop."""
        return await asyncio.wrap_future(self.submit(fn, *args, **kwargs))

    async def flush(self, timeout_s: float | None = None, *, through_refusal: bool = False) -> bool:
        """Wait until everything queued so far is in the store: True once it is.

        False as soon as the store refuses writes (e.g. a full disk: they stay queued, in
        order, and are tried again until it takes them), unless ``through_refusal`` (then
        wait it out), or once ``timeout_s`` has passed. A store that is only busy (10,000
        runs recorded at once) is waited for: slow is not refused. Nothing polls: the writer
        thread wakes the waiters when the writes are in or when the store starts refusing.
        """
        item = _Item("flush")
        self._put(item)
        written = asyncio.wrap_future(item.waited)
        loop = asyncio.get_running_loop()
        refused = loop.create_future()
        waiter = (loop, refused)
        with self._held_lock:
            self._refusal_waiters.add(waiter)
        try:
            if self.warning is not None and not through_refusal:
                return written.done() and written.exception() is None
            awaited = {written} if through_refusal else {written, refused}
            await asyncio.wait(awaited, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
            return written.done() and written.exception() is None
        finally:
            with self._held_lock:
                self._refusal_waiters.discard(waiter)
            if not written.done():
                written.add_done_callback(_retrieved)

    def flush_blocking(self, timeout_s: float = FLUSH_WAIT_S) -> bool:
        """``flush`` for any thread but the writer's own (a notebook reading its runs)."""
        if self._closed:
            return True  # close() wrote what was queued
        item = _Item("flush")
        self._put(item)
        try:
            item.waited.result(timeout_s)
        except concurrent.futures.TimeoutError:
            log.warning("foxnb: the runs store %s is not taking writes", self.store.location)
            return False
        return True

    def close(self, timeout_s: float = CLOSE_WAIT_S) -> None:
        """Write what is queued, release every run still held, and stop the thread."""
        if self._closed:
            return
        self._closed = True
        item = _Item("stop")
        self._queue.put(item)
        try:
            item.waited.result(timeout_s)
        except concurrent.futures.TimeoutError:
            log.warning(
                "foxnb: the runs store %s did not take the last writes", self.store.location
            )
        self._thread.join(timeout_s)

    def _put(self, item: _Item) -> None:
        if self._closed:
            _settle(item.future, exc=RuntimeError("this session's runs store link is closed"))
            if item.kind == "append":
                log.warning("foxnb: not recorded after close: %r", item.event)
            return
        self._queue.put(item)

    # ------------------------------------------------------------------ the writer thread

    def _work(self) -> None:
        while True:
            try:
                if self._step():
                    return
            except Exception:  # this thread must outlive any surprise: it holds the writes
                log.exception("foxnb: the runs store writer hit an error; it carries on")

    def _step(self) -> bool:
        """Wait for work (or the next renewal), then do it; True once stopped."""
        wait_s = None
        if self._holding():
            wait_s = max(0.0, self._next_renew - self.clock())
        try:
            first = self._queue.get(timeout=wait_s)
        except queue.Empty:
            self._renew()
            return False
        items = [first]
        while len(items) < MAX_BATCH:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if self._run(items):
            return True
        if self._holding() and self.clock() >= self._next_renew:
            self._renew()
        return False

    def _run(self, items: list[_Item]) -> bool:
        """Carry out ``items`` in order (runs of appends and releases as one commit); True once
        the stop item was reached."""
        writes: list[_Item] = []
        for item in items:
            if item.kind in ("append", "release", "create"):
                writes.append(item)
                continue
            if item.kind == "wake":  # only woke the thread: no reason to commit early
                continue
            self._commit(writes)
            writes = []
            if item.kind == "call":
                assert item.call is not None
                # A call whose caller gave up (cancelled) is not made: e.g. a begin_send after
                # the job was handed off would mark a run submitting that nobody sends.
                if not item.waited.set_running_or_notify_cancel():
                    continue
                try:
                    _settle(item.waited, item.call())
                except BaseException as exc:  # handed to whoever awaits it
                    _settle(item.waited, exc=exc)
            elif item.kind == "flush":
                _settle(item.waited, None)
            elif item.kind == "stop":
                self._commit([_Item("release", event=(run_id, 0.0, {})) for run_id in self.held()])
                self.forget(self.held())
                _settle(item.waited, None)
                return True
        self._commit(writes)
        return False

    def _commit(self, writes: list[_Item]) -> None:
        """One transaction for ``writes``, tried again until the store takes it."""
        if not writes:
            return
        events = [w.event for w in writes if w.kind != "release" and w.event is not None]
        release = [w.event[0] for w in writes if w.kind == "release" and w.event is not None]
        new = [w.event[0] for w in writes if w.kind == "create" and w.event is not None]
        pause_s = 0.1
        while True:
            try:
                self.store.commit(
                    events, self.owner, release, new=new, lease_s=self.lease_s, now=self.clock()
                )
                break
            except (TypeError, ValueError) as exc:  # a value the store cannot hold: a bug
                log.exception("foxnb: could not record %d events", len(events))
                for write in writes:
                    _settle(write.future, exc=exc)
                return
            except Exception as exc:
                if self._closed and pause_s >= RETRY_MAX_S:
                    log.error("foxnb: gave up recording %r: %s", events, exc)
                    for write in writes:
                        _settle(write.future, exc=exc)
                    return
                self._warn(exc, events, pause_s)
                time.sleep(pause_s)
                pause_s = min(RETRY_MAX_S, pause_s * 2)
        if self.warning is not None:
            log.warning(
                "foxnb: the runs store %s is writable again; %d waiting record(s) written, "
                "the runs carry on.",
                self.store.location,
                len(events),
            )
            self.warning, self._warned_ids = None, set()
            self._tell(None)
        with self._held_lock:
            self._unborn.difference_update(new)
        for write in writes:
            _settle(write.future, None)

    def _warn(self, exc: Exception, events: list[Event], pause_s: float) -> None:
        """Say that ``events`` wait (at once for new task ids, else every ``WARN_EVERY_S``)."""
        ids = {str(f["task_id"]) for _, _, f in events if f.get("task_id")}
        now = time.monotonic()
        repeat = self.warning is not None and ids <= self._warned_ids
        if repeat and now - self._warned_at < WARN_EVERY_S:
            return
        self._warned_at, self._warned_ids = now, ids
        tasks = f", among them task id(s) {', '.join(sorted(ids))} (created, so billed)"
        self.warning = (
            f"foxnb: cannot write the runs store {self.store.location} ({exc}); "
            f"{len(events)} record(s) wait in memory{tasks if ids else ''}. foxnb keeps "
            f"tracking and retries (next in {pause_s:g} s), and sends no new create request "
            "meanwhile. Free space or fix the store, and keep this kernel running until a "
            "message says the store is writable again."
        )
        log.warning(self.warning)
        self._tell(self.warning)
        with self._held_lock:
            waiters = list(self._refusal_waiters)
        for loop, refused in waiters:
            loop.call_soon_threadsafe(_wake, refused)

    def _tell(self, warning: str | None) -> None:
        if self.on_warning is not None:
            try:
                self.on_warning(warning)
            except Exception:
                log.exception("foxnb: showing the store's warning failed")

    def _renew(self) -> None:
        """Extend this owner's leases; report the runs it no longer holds."""
        self._next_renew = self.clock() + self.lease_s / 3
        # Held before the renewal started and already in the store: a run claimed (or
        # created) while it runs is not missing from its answer by loss.
        with self._held_lock:
            before = self._held - self._unborn
        try:
            renewed = self.store.renew(self.owner, self.lease_s, self.clock())
        except Exception as exc:
            log.warning("foxnb: could not renew leases in %s: %s", self.store.location, exc)
            self._next_renew = self.clock() + min(1.0, self.lease_s / 10)
            return
        lost = (before & self.held()) - renewed
        if lost:
            self.forget(lost)
            if self.on_lost is not None:
                try:
                    self.on_lost(lost)
                except Exception:
                    log.exception("foxnb: handling lost leases failed")


def _settle(
    future: concurrent.futures.Future[Any] | None,
    result: Any = None,
    exc: BaseException | None = None,
) -> None:
    """Give ``future`` its outcome unless nobody waits for it (None) or its waiter already
    gave up on it (cancelled)."""
    if future is None or future.done():
        return
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass  # cancelled meanwhile by the waiting side


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a future nobody awaits any more as seen (a late failure is logged elsewhere)."""
    if not future.cancelled():
        future.exception()
