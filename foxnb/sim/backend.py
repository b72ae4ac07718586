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

import logging
import random
import re
import secrets
import string
import threading
import time
from collections import Counter
from collections.abc import Callable, Container
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from .catalog import MODELS
from .defects import check_defect
from .faults import Decision, FaultInjector, Faults
from .pipeline import RenderCache, TaskFailure, check_input, fetch_input, file_sha256, render_key
from .signing import sign, valid_signature, window_expiry
from .states import Snapshot, Status, Timeline, observe
from .store import AccountState, Outcome, StateStore, TaskRecord, UploadRecord, write_atomic
from .validate import ExtendParams

__all__ = ["Backend", "InsufficientCredits", "StorageFull", "TaskView", "completed_at"]

_log = logging.getLogger(__name__)

_ID_ALPHABET = string.ascii_lowercase + string.digits
_OWN_UPLOAD_PATH = re.compile(r"^/files/uploads/(\d{8})/(file-[0-9a-z-]+)/([^/]+)$")
_OWN_RESULT_PATH = re.compile(r"^/files/output/(task-unified-[0-9a-z-]+)\.mp4$")
_FAULT_MESSAGES = {
    "content_policy_violation": "The request was blocked by the content safety policy. "
    "Change the prompt or input video and submit a new task.",
    "generation_failed": "Video generation failed upstream. Submit the task again.",
}


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
        #: Requests seen per endpoint (``create``, ``task``, ``upload``, ``download``).
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
        with self._lock:
            self.requests[endpoint] += 1
        return self.faults.decide(endpoint)

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
            snapshot = _snapshot(record, now if sync_upstream else now - self.lag_s)
            if snapshot.status is not Status.COMPLETED:
                return TaskView(record, snapshot)
            expires = window_expiry(_result_ready_at(record), self.result_ttl_s, now)
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

    def upload_file(self, day: str, file_id: str, filename: str) -> Path | None:
        """The stored file behind an upload URL path, or ``None`` if unknown or evicted."""
        with self._lock:
            record = self._state.uploads.get(file_id)
            if record is None or record.day != day or record.filename != filename:
                return None
            return self._store.upload_path(record)

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

    def _own_file(self, url: str) -> Path | None:
        """The local file behind one of this simulator's upload or (valid) result URLs.

        Any host matches: a restarted simulator answers on another port for the same files.
        Result URLs are checked like a download (signature, expiry), so chaining an extension
        from an expired result URL fails as it would on the real CDN.
        """
        parts = urlsplit(url)
        upload = _OWN_UPLOAD_PATH.match(parts.path)
        if upload is not None:
            day, file_id, name = upload.groups()
            return self.upload_file(day, file_id, unquote(name))
        result = _OWN_RESULT_PATH.match(parts.path)
        query = parse_qs(parts.query)
        expires, sig = query.get("expires", [""])[0], query.get("sig", [""])[0]
        if result is None or not expires.isdigit():
            return None
        verdict, path = self.result_file(result.group(1), int(expires), sig)
        return path if verdict == "ok" else None

    def _process(self, record: TaskRecord) -> None:
        """Worker thread: run one task's pipeline and record how it ended."""
        params = record.params
        scratch = self._store.input_path(record.id)
        try:
            source = fetch_input(params.video_url, own_file=self._own_file, scratch=scratch)
            check_input(source)
            if record.fail_with is not None:
                code = record.fail_with
                failed_at = max(self._now(), _planned_failure_at(record.timeline))
                outcome = Outcome(Status.FAILED, failed_at, None, code, _FAULT_MESSAGES[code])
            else:
                prompt, seed = (params.prompt, record.seed) if self.distinct_results else ("", 0)
                key = render_key(
                    file_sha256(source),
                    prompt=prompt,
                    seed=seed,
                    generate_audio=params.generate_audio,
                    defect=record.defect,
                )
                output = self._cache.get_or_render(
                    key,
                    source,
                    prompt=prompt,
                    seed=seed,
                    generate_audio=params.generate_audio,
                    defect=record.defect,
                )
                outcome = Outcome(Status.COMPLETED, self._now(), self._store.relative(output))
        except TaskFailure as failure:
            outcome = Outcome(Status.FAILED, self._now(), None, failure.code, failure.message)
        except Exception:
            # A simulator bug should fail the task visibly, not leave it processing forever.
            _log.exception("simulated task %s crashed", record.id)
            message = _FAULT_MESSAGES["generation_failed"]
            outcome = Outcome(Status.FAILED, self._now(), None, "generation_failed", message)
        finally:
            scratch.unlink(missing_ok=True)
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


def _snapshot(record: TaskRecord, at: float) -> Snapshot:
    outcome = record.outcome
    ended = {} if outcome is None else {outcome.status: outcome.at}
    return observe(
        record.timeline,
        at,
        done_at=ended.get(Status.COMPLETED),
        failed_at=ended.get(Status.FAILED),
        cancelled_at=ended.get(Status.CANCELLED),
    )


def completed_at(record: TaskRecord) -> float | None:
    """The instant a synced query first shows ``record`` completed (``None``: it did not).

    That is the later of the render's end and the planned finish. Benchmarks read it from a
    ``state_dir``'s saved records as the server-side truth of when a task completed.
    """
    outcome = record.outcome
    if outcome is None or outcome.status is not Status.COMPLETED:
        return None
    return _result_ready_at(record)


def _result_ready_at(record: TaskRecord) -> float:
    assert record.outcome is not None
    return max(record.outcome.at, record.timeline.finish_at)


def _planned_failure_at(timeline: Timeline) -> float:
    """A seeded instant 30–80 % of the way through processing."""
    fraction = random.Random(timeline.jitter_seed + 1).uniform(0.3, 0.8)
    return timeline.start_at + fraction * (timeline.finish_at - timeline.start_at)


def _new_api_key() -> str:
    return "sk-sim-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(24))
