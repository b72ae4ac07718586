"""The simulated FoxAPI account: tasks, uploads, credits and fault decisions, with no HTTP.

:class:`Backend` is what the routes in :mod:`foxnb.sim.app` call and what tests inspect
(``sim.backend``). It takes a clock ``now`` (wall-clock Unix seconds) and plans each task as
a :class:`~foxnb.sim.states.Timeline` when it is created; :meth:`Backend.pump` (called often
by the server) starts due tasks on a pool of two worker threads, which fetch and check the
input and render the result (see :mod:`foxnb.sim.pipeline`). A task shows ``completed`` at
the later of its planned finish and the end of its render.

Timing: a model's typical duration (:mod:`foxnb.sim.catalog`) is divided by ``speed``; each
task draws its actual duration from 0.7–1.4× that, and spends 5–10 % of it pending.
``task_info.estimated_time`` reports the typical duration in (wall) seconds, at least 1.

Results: by default every distinct (input, prompt, seed, audio) gets its own rendering, about
1–3 s of CPU each on the two workers; with many distinct tasks at a high ``speed`` the renders
fall behind and tasks complete after their planned finish. ``distinct_results=False`` is for
load tests and benchmarks that must not measure that: every task of the same input (and audio
setting) returns one shared rendering, made once with an empty prompt and seed 0. Timelines,
progress, ids, seeds and credits are unchanged.

Credits (simulated figures): creating a task reserves the model's credits; a task that fails
or is cancelled gets them back; a short balance is :class:`InsufficientCredits` (HTTP 402).
"""

from __future__ import annotations

import random
import secrets
import string
import threading
import time
from collections import Counter
from collections.abc import Callable, Container, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from .catalog import MODELS
from .defects import check_defect
from .faults import Decision, FaultInjector, Faults
from .pipeline import RenderCache, run_task
from .signing import sign, valid_signature, window_expiry
from .states import Snapshot, Status, Timeline
from .store import AccountState, Outcome, StateStore, TaskRecord, UploadRecord, write_atomic
from .urls import UploadRef, parse_file_url
from .validate import ExtendParams

__all__ = ["Backend", "InsufficientCredits", "StorageFull", "TaskView", "completed_at"]

_ID_ALPHABET = string.ascii_lowercase + string.digits


class InsufficientCredits(Exception):
    """The balance cannot cover the credits a new task reserves."""

    def __init__(self, needed: int, balance: int) -> None:
        super().__init__(f"this call needs {needed} credits, the balance is {balance}")
        self.needed = needed
        self.balance = balance


class StorageFull(Exception):
    """An upload does not fit the storage quota and may not (or cannot) evict older files."""


@dataclass(frozen=True)
class TaskView:
    """A task as one query reports it: the record, its (possibly lagging) snapshot and,
    once completed, the signed result URL's ``expires`` and ``sig``."""

    record: TaskRecord
    snapshot: Snapshot
    result_expires: int | None = None
    result_sig: str | None = None
    empty_results: bool = False


class Backend:
    """Tasks, uploads, credits and faults of one simulated account (thread-safe)."""

    def __init__(
        self,
        *,
        now: Callable[[], float] = time.time,
        seed: int = 0,
        speed: float = 1.0,
        state_dir: Path | None = None,
        api_key: str | None = None,
        balance_credits: int = 10_000,
        upload_quota_bytes: int = 2 * 1024**3,
        result_ttl_s: float | None = None,
        upstream_lag_s: float = 2.0,
        faults: Faults | None = None,
        fault_seed: int = 0,
        workers: int = 2,
        distinct_results: bool = True,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self._now = now
        self.speed = speed
        self.upload_quota_bytes = upload_quota_bytes
        #: Wall seconds a result URL stays valid (FoxAPI: 24 h, scaled by ``speed``).
        self.result_ttl_s = 24 * 3600 / speed if result_ttl_s is None else result_ttl_s
        #: Wall seconds by which a query without ``sync_upstream=true`` lags reality.
        self.lag_s = upstream_lag_s / speed
        self.faults = FaultInjector(faults or Faults(), seed=fault_seed, now=now)
        #: False: tasks of the same input share one rendering (see the module docstring).
        self.distinct_results = distinct_results
        #: Requests seen per endpoint (``create``, ``task``, ``upload``, ``download``), plus
        #: ``redirect_hop`` (requests on a redirect chain) and ``key_sent_to_files``.
        self.requests: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._store = StateStore(state_dir)
        self._state = self._store.load() or AccountState(
            api_key="", secret_hex=secrets.token_hex(32), balance_credits=balance_credits
        )
        self._state.api_key = api_key or self._state.api_key or _new_api_key()
        self._store.save(self._state)
        # Mixing in what is already stored keeps a restarted simulator from replaying the ids
        # and durations it handed out before the restart.
        self._rng = random.Random(f"{seed}:{len(self._state.tasks)}:{len(self._state.uploads)}")
        self._cache = RenderCache(self._store.render_path)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="foxnb-sim-render")
        # Tasks not yet handed to a worker; pump() only looks at these.
        self._waiting = {t.id for t in self._state.tasks.values() if t.outcome is None}
        self._closed = False

    # -- account --------------------------------------------------------------------------

    @property
    def api_key(self) -> str:
        """The one API key this account accepts."""
        return self._state.api_key

    @property
    def balance_credits(self) -> int:
        """Credits left."""
        with self._lock:
            return self._state.balance_credits

    def revoke_api_key(self) -> str:
        """Replace the account's key, as revoking it in a dashboard would; returns the new one.

        Requests still carrying the old key get 401 from then on.
        """
        with self._lock:
            self._state.api_key = _new_api_key()
            self._store.save(self._state)
            return self._state.api_key

    def decide(self, endpoint: str) -> Decision:
        """Count a request to ``endpoint`` and decide its faults."""
        self.count(endpoint)
        return self.faults.decide(endpoint)

    def count(self, name: str) -> None:
        """Add one to ``requests[name]``."""
        with self._lock:
            self.requests[name] += 1

    @property
    def key_sent_to_files(self) -> int:
        """How many requests to file URLs (uploads, results, redirect hops) carried the API key.

        File URLs are public, like a CDN's; a client that sends its key there would send it to
        whatever host a result URL or a redirect names.
        """
        with self._lock:
            return self.requests["key_sent_to_files"]

    # -- tasks ----------------------------------------------------------------------------

    @property
    def task_count(self) -> int:
        """How many tasks exist (including ones whose create response was lost)."""
        with self._lock:
            return len(self._state.tasks)

    def tasks(self) -> list[TaskRecord]:
        """All task records, oldest first."""
        with self._lock:
            return list(self._state.tasks.values())

    def task(self, task_id: str) -> TaskRecord | None:
        """One task record, or ``None``."""
        with self._lock:
            return self._state.tasks.get(task_id)

    def create_task(
        self, params: ExtendParams, *, fail_with: str | None = None, defect: str | None = None
    ) -> TaskRecord:
        """Reserve credits and plan a new task.

        ``fail_with`` plans a mid-processing failure with that code; ``defect`` plans a result
        with that output defect (:mod:`foxnb.sim.defects`), kept in the record as ground truth.
        """
        spec = MODELS[params.model]
        with self._lock:
            balance = self._state.balance_credits
            if balance < spec.credits:
                raise InsufficientCredits(spec.credits, balance)
            now = self._now()
            typical_s = spec.estimated_time_s / self.speed
            total_s = typical_s * self._rng.uniform(0.7, 1.4)
            pending_s = total_s * self._rng.uniform(0.05, 0.10)
            record = TaskRecord(
                id=self._new_id("task-unified", now, 8, self._state.tasks),
                params=params,
                seed=params.seed if params.seed is not None else self._rng.randrange(2**31),
                created=int(now),
                timeline=Timeline(now, now + pending_s, now + total_s, self._rng.randrange(2**31)),
                estimated_time_s=max(1, round(typical_s)),
                credits=spec.credits,
                fail_with=fail_with,
                defect=check_defect(defect),
            )
            self._state.balance_credits -= spec.credits
            self._state.tasks[record.id] = record
            self._waiting.add(record.id)
            self._store.save(self._state)
        return record

    def view_task(
        self, task_id: str, *, sync_upstream: bool, empty_results: bool = False
    ) -> TaskView | None:
        """The task as a query reports it now; without ``sync_upstream`` the status lags."""
        self.pump()
        with self._lock:
            record = self._state.tasks.get(task_id)
            if record is None:
                return None
            now = self._now()
            snapshot = record.snapshot(now if sync_upstream else now - self.lag_s)
            if snapshot.status is not Status.COMPLETED:
                return TaskView(record, snapshot)
            expires = window_expiry(record.ready_at, self.result_ttl_s, now)
            return TaskView(
                record,
                snapshot,
                result_expires=expires,
                result_sig=sign(self._secret, task_id, expires),
                empty_results=empty_results and sync_upstream,
            )

    def cancel_task(self, task_id: str) -> None:
        """Cancel a task now and refund it. No endpoint does this (none is documented); tests
        call it to produce the ``cancelled`` status."""
        with self._lock:
            self._finish(task_id, Outcome(Status.CANCELLED, at=self._now()))

    def result_file(self, task_id: str, expires: int, sig: str) -> tuple[str, Path | None]:
        """Check a result download: ``("ok", path)``, or ``("missing" | "forbidden" |
        "expired", None)``."""
        with self._lock:
            record = self._state.tasks.get(task_id)
            outcome = record.outcome if record else None
            if record is None or outcome is None or outcome.output is None:
                return ("missing", None)
            if not valid_signature(self._secret, task_id, expires, sig):
                return ("forbidden", None)
            if self._now() > expires:
                return ("expired", None)
            return ("ok", self._store.resolve(outcome.output))

    def pump(self) -> None:
        """Start every task whose pending phase is over on the worker pool."""
        with self._lock:
            if self._closed:
                return
            now = self._now()
            due = [self._state.tasks[task_id] for task_id in self._waiting]
            for record in due:
                if record.timeline.start_at <= now:
                    self._waiting.discard(record.id)
                    self._pool.submit(self._process, record)

    # -- uploads --------------------------------------------------------------------------

    def add_upload(self, data: bytes, filename: str, *, auto_cleanup: bool) -> UploadRecord:
        """Store an upload, evicting the oldest ones if allowed and needed."""
        with self._lock:
            uploads = self._state.uploads
            overflow = sum(u.size for u in uploads.values()) + len(data) - self.upload_quota_bytes
            if overflow > 0 and (not auto_cleanup or len(data) > self.upload_quota_bytes):
                raise StorageFull(
                    f"storage quota of {self.upload_quota_bytes} bytes is full; delete files or "
                    "upload with auto_cleanup=true"
                )
            for oldest in sorted(uploads.values(), key=lambda u: u.created_at):
                if overflow <= 0:
                    break
                self._store.upload_path(oldest).unlink(missing_ok=True)
                del uploads[oldest.id]
                overflow -= oldest.size
            now = self._now()
            record = UploadRecord(
                id=self._new_id("file", now, 6, uploads),
                filename=filename,
                size=len(data),
                created_at=now,
                day=datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y%m%d"),
                auto_cleanup=auto_cleanup,
            )
            write_atomic(self._store.upload_path(record), data)
            uploads[record.id] = record
            self._store.save(self._state)
        return record

    def evict_uploads(self, file_ids: Iterable[str] | None = None) -> list[str]:
        """Delete uploads as the service's storage clean-up would; their URLs then answer 404.

        ``file_ids`` names the uploads (``None``: all of them); unknown ids are skipped.
        Returns the ids evicted.
        """
        with self._lock:
            uploads = self._state.uploads
            wanted = list(uploads) if file_ids is None else [i for i in file_ids if i in uploads]
            for file_id in wanted:
                self._store.upload_path(uploads.pop(file_id)).unlink(missing_ok=True)
            self._store.save(self._state)
        return wanted

    def upload_file(self, day: str, file_id: str, filename: str) -> Path | None:
        """The stored file behind an upload URL path, or ``None`` if unknown or evicted."""
        with self._lock:
            record = self._state.uploads.get(file_id)
            if record is None or record.day != day or record.filename != filename:
                return None
            return self._store.upload_path(record)

    def local_file(self, url: str) -> Path | None:
        """The local file behind one of this simulator's upload or (valid) result URLs.

        Any host matches: a restarted simulator answers on another port for the same files.
        Result URLs are checked like a download (signature, expiry), so chaining an extension
        from an expired result URL fails as it would on the real CDN.
        """
        ref = parse_file_url(url)
        if isinstance(ref, UploadRef):
            return self.upload_file(ref.day, ref.file_id, ref.filename)
        if ref is None:
            return None
        verdict, path = self.result_file(ref.task_id, ref.expires, ref.sig)
        return path if verdict == "ok" else None

    def close(self) -> None:
        """Stop starting work, wait for running renders, and remove temporary files."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._store.close()

    # -- internals ------------------------------------------------------------------------

    @property
    def _secret(self) -> bytes:
        return bytes.fromhex(self._state.secret_hex)

    def _new_id(self, prefix: str, now: float, length: int, taken: Container[str]) -> str:
        while True:
            suffix = "".join(self._rng.choices(_ID_ALPHABET, k=length))
            candidate = f"{prefix}-{int(now)}-{suffix}"
            if candidate not in taken:
                return candidate

    def _process(self, record: TaskRecord) -> None:
        """Worker thread: run one task's pipeline and record how it ended."""
        outcome = run_task(
            record,
            own_file=self.local_file,
            scratch=self._store.input_path(record.id),
            cache=self._cache,
            shared_render=not self.distinct_results,
            now=self._now,
        )
        if outcome.output is not None:  # records keep paths relative to the state folder
            outcome = replace(outcome, output=self._store.relative(Path(outcome.output)))
        with self._lock:
            self._finish(record.id, outcome)

    def _finish(self, task_id: str, outcome: Outcome) -> None:
        """Record an outcome (first one wins), refund failures, save. Caller holds the lock."""
        record = self._state.tasks[task_id]
        if record.outcome is not None:
            return
        self._waiting.discard(task_id)
        self._state.tasks[task_id] = replace(record, outcome=outcome)
        if outcome.status is not Status.COMPLETED:
            self._state.balance_credits += record.credits
        self._store.save(self._state)


def completed_at(record: TaskRecord) -> float | None:
    """The instant a synced query first shows ``record`` completed (``None``: it did not).

    That is the later of the render's end and the planned finish. Benchmarks read it from a
    ``state_dir``'s saved records as the server-side truth of when a task completed.
    """
    outcome = record.outcome
    if outcome is None or outcome.status is not Status.COMPLETED:
        return None
    return record.ready_at


def _new_api_key() -> str:
    return "sk-sim-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))
