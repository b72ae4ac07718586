"""``Tracker``: the runs one session works on — launching, re-attaching, resuming and watching.

A tracker owns the session's connection (an ``AsyncClient`` on the engine loop), its runs
store (``runtime.store``) and its ``Owner`` (host, process, session id), the writer thread
between the two (``StoreLink``), the ``Runner`` that takes each run from upload to saved
video, the ``Watcher`` of runs other owners hold, and the live ``Job`` of every run this
session started, attached or watches. ``Session`` and the experiments (sweeps) use it; users
seldom need it directly.

Ownership is what makes many writers safe. A run is worked on only by the owner holding its
lease: every path here claims first (``start``, ``attach``, ``resume`` and the takeovers in
``continue_run``), in one store transaction per batch. A run held by a live other owner is
watched, never sent, polled or downloaded twice. The order of work makes a crash harmless:
a run is in the store before it is launched; a create request goes out only through
``begin_send`` (see ``runner.py``); a run found ``submitting`` by a new owner had its create
in flight when its owner died, so it becomes ``submission_unknown`` and is never resent.
"""

from __future__ import annotations

import secrets
import threading
import time
import warnings
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from .._files import remove_stale_parts
from .._inputs import check_video_url, request_fields
from .._wire import Throttle
from ..client import AsyncClient
from ..config import Config
from ..errors import FoxError, FoxnbWarning, StoreError
from ..media import VideoInfo
from ..models import ExtendRequest
from . import recovery
from .engine import get_engine
from .eta import PaceBook, progress_total_s
from .jobs import Job
from .link import StoreLink
from .reuse import IntactVideos, Key, completed_by_key, request_key, reusable, reuse_fields
from .runner import Runner
from .scoring import ScoreWorker
from .store import Claim, Event, Held, Owner, SendRule, open_store
from .watch import Watcher, mirror

LEASE_S = 30.0
"""Seconds a claim lasts unless renewed; the session renews its leases every third of it. A run
whose owner vanished (another machine, or a frozen process) is taken over once it lapses; one
whose process on this machine is gone, at once."""


SENT_STATUSES = frozenset({"submitting", "pending", "processing"})
"""Statuses of a job whose create request went out and that has not ended."""


def new_run_id(now_s: float) -> str:
    """A sortable, unique run id such as ``r20261124-035501-3fa9c2d41b07``.

    48 random bits after the second: a 10,000-cell sweep recorded within one second has
    about one chance in 5 million of two equal ids (24 bits made ~3 collisions, two cells
    silently sharing one run).
    """
    stamp = datetime.fromtimestamp(now_s, timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"r{stamp}-{secrets.token_hex(6)}"


class Tracker:
    """Starts, re-attaches, resumes and watches the runs of one session; see the module doc."""

    def __init__(
        self,
        config: Config,
        workdir: Path,
        *,
        backend: str,
        store: str | Path | None = None,
        videos: str | Path | None = None,
        lease_s: float = LEASE_S,
        max_in_flight: int = 8,
        rate_per_s: float = 10.0,
        **client_options: Any,
    ):
        self.config = config
        self.backend = backend
        self.workdir = workdir
        self.store = open_store(store, workdir)
        self.owner = Owner.here(secrets.token_hex(4))
        self.lease_s = lease_s
        self.engine = get_engine()
        self.client = AsyncClient(
            config=config,
            max_in_flight=max_in_flight,
            throttle=Throttle(rate_per_s=rate_per_s),
            **client_options,
        )
        self.link = StoreLink(
            self.store,
            self.owner,
            lease_s=lease_s,
            on_lost=partial(recovery.leases_lost, self),
            on_warning=lambda warning: self.runner.warn(warning),
        )
        self.videos_dir = Path(videos).expanduser().resolve() if videos else workdir / "videos"
        #: Scores every run whose video is saved, on its own thread (``runtime.scoring``).
        self.scorer = ScoreWorker(self.store, workdir / "inputs", fetch=self._fetch_input)
        self.runner = Runner(
            self.client,
            self.link,
            self.videos_dir,
            host=self.owner.host,
            on_lost=partial(recovery.watch_job, self),
            in_flight=self.in_flight,
            on_completed=self.scorer.submit,
        )
        #: How long runs of this backend really took; every job's estimate asks it.
        self.pace = PaceBook(
            load=lambda: [r for r in self.store.runs().values() if self.same_backend(r)],
            in_flight_now=self.in_flight,
        )
        self.watcher = Watcher(
            self.store,
            self.owner,
            self.engine.loop,
            partial(recovery.take_over, self),
            clock=time.time,
            on_ended=partial(recovery.watched_ended, self),
        )
        self._jobs: dict[str, Job] = {}
        self._sent: set[str] = set()  # run ids of jobs whose create went out, not yet ended
        self._keys: dict[str, Key] = {}  # run id -> request key, of the runs launched here
        for folder in (self.videos_dir, workdir / "inputs"):  # what a killed process left
            remove_stale_parts(folder)
        # One decision at a time about which runs this session works on (two threads may
        # call resume() at once: each run is launched once).
        self.lock = threading.RLock()
        self.budgets_checked: set[str] = set()

    def check_url(self, url: str) -> VideoInfo | None:
        """Check a ``video`` URL before it is sent (``_inputs.check_video_url``), with ranged
        reads made by this connection's file client (no key, proxies as configured)."""

        def read(first: int, last: int) -> tuple[int, Any, bytes]:
            answer, _ = self.engine.call(self.client.read_range(url, first, last))
            return answer.status, answer.headers, answer.body

        return check_video_url(url, read)

    # ------------------------------------------------------------------ recording

    def first_event(
        self,
        request: ExtendRequest,
        tags: list[str],
        input_sha256: str | None,
        status: str = "queued",
        **extra: Any,
    ) -> Event:
        """A new run's first event, not yet written."""
        now = time.time()
        fields = {
            "status": status,
            "backend": self.backend,
            "host": self.config.host,
            "recorded_at": now,
            "tags": tags,
            "input_sha256": input_sha256,
            **request_fields(request),
            **extra,
        }
        return new_run_id(now), now, fields

    def record(
        self, request: ExtendRequest, tags: list[str], input_sha256: str | None, **extra: Any
    ) -> str:
        """Write a new run's first event (``queued`` unless ``status=`` says otherwise), held by
        nobody; returns its run id. Nothing is sent."""
        event = self.first_event(request, tags, input_sha256, **extra)
        self.write_first([event])
        return event[0]

    def write_first(self, events: list[Event]) -> None:
        """Write new runs' first events in one transaction; a store that cannot take them is
        a ``FoxError`` saying so (nothing was sent: a run is recorded before it is sent)."""
        try:
            self.store.append_many(events)
        except (OSError, StoreError) as exc:
            raise FoxError(
                f"cannot record the run(s) in {self.store.location} ({exc}); nothing was sent. "
                "Free space or fix the folder, then try again."
            ) from exc

    def start(
        self,
        request: ExtendRequest,
        tags: list[str],
        input_sha256: str | None,
        input_duration_s: float | None = None,
        *,
        force: bool = False,
    ) -> Job:
        """Record a new run held by this session, then launch it; returns its ``Job`` at once.

        Unless ``force``, a seeded request is not paid for twice (``foxnb.runtime.reuse``):
        one already answered becomes a new completed run reusing that video (``reused_from``,
        no credits, nothing sent), and one still running in this session returns that run's
        job (with a ``FoxnbWarning`` saying so). ``input_duration_s`` (when known) is recorded
        for the check of the result's duration.

        The record goes through the writer thread (``StoreLink.create``): 1,000 calls in a row
        make a few transactions, not 1,000. Nothing can be sent before it is durable: the
        run's ``begin_send`` is queued behind it, and a crash before then sent nothing.
        """
        known = {} if input_duration_s is None else {"input_duration_s": input_duration_s}
        if not force and request.seed is not None:
            key = request_key(request, input_sha256)
            running = next(
                (
                    job
                    for run_id, job in self._jobs.items()
                    if self._keys.get(run_id) == key and not job.done
                ),
                None,
            )
            if running is not None:
                warnings.warn(
                    f"an identical request (seed {request.seed}) is still running as "
                    f"{running.run_id}: this returns its job instead of paying again; "
                    "force=True sends another",
                    FoxnbWarning,
                    stacklevel=3,
                )
                return running
            # This session's runs not yet in the store are live: found just above.
            runs = (r for r in self.store.runs().values() if self.same_backend(r))
            intact = IntactVideos(self.owner.host)
            source = reusable(completed_by_key(runs), request, input_sha256, intact)
            if source is not None:
                fields = {**known, **reuse_fields(source)}
                run_id = self.record(request, tags, input_sha256, **fields)
                self.scorer.submit(run_id)  # records scores only if the source had none
                return self.settled(run_id, request)
        event = self.first_event(request, tags, input_sha256, "queued", **known)
        self.link.create(event)
        return self.launch(event[0], request, input_sha256, input_duration_s=input_duration_s)

    def claimed(self, claims: dict[str, Claim]) -> dict[str, Claim]:
        """Note the runs ``claims`` gave this session (their leases are renewed from now on)."""
        self.link.hold(run_id for run_id, claim in claims.items() if claim.ok)
        return claims

    def claim(self, run_ids: list[str]) -> dict[str, Claim]:
        """Claim runs for this session in one transaction."""
        return self.claimed(self.store.claim_many(run_ids, self.owner, self.lease_s, time.time()))

    def release(self, run_id: str, *events: Event) -> None:
        """Record ``events`` and give the run up, in one transaction (from any thread)."""
        self.link.forget([run_id])
        self.store.commit(events, self.owner, [run_id])

    # ------------------------------------------------------------------ jobs

    def launch(
        self,
        run_id: str,
        request: ExtendRequest,
        input_sha256: str | None,
        rule: SendRule | None = None,
        job: Job | None = None,
        *,
        input_duration_s: float | None = None,
    ) -> Job:
        """Run a claimed run on the engine; ``rule`` is its experiment's guard on sending.
        ``input_duration_s`` (when known) lets the download check the result's duration."""
        job = job or self.new_job(run_id, request)
        duration_s = job.state.input_duration_s if input_duration_s is None else input_duration_s
        job.set_state(
            watching=None,
            queued_at=job.state.queued_at or time.time(),
            input_duration_s=duration_s,
        )
        with self.lock:
            self._jobs[run_id] = job
            self._keys[run_id] = request_key(job.request, input_sha256)
        self.engine.start(self.runner.run(job, input_sha256, rule))
        return job

    def settled(self, run_id: str, request: ExtendRequest, job: Job | None = None) -> Job:
        """A ``Job`` that has already ended, showing what the store says of ``run_id``."""
        run = self.store.get(run_id) or {}
        job = job or self.new_job(run_id, request)
        mirror(job, Held(run, None, None))
        job.set_state(
            status=run.get("status", "not_submitted"),
            watching=None,
            reused_from=run.get("reused_from"),
            queued_at=run.get("recorded_at"),
        )
        job.mark_done()
        return job

    def watch(self, held: Held, job: Job | None = None) -> Job:
        """A read-only job mirroring a run another owner works on (``runtime.watch``)."""
        job = job or self.new_job(held.run["run_id"], recovery.request_of(held.run))
        return self.watcher.watch(job, held)

    def live(self, run_id: str) -> Job | None:
        """This session's job of ``run_id`` while it is still running or watched, else None."""
        job = self._jobs.get(run_id)
        return job if job is not None and not job.done else None

    def job(self, run_id: str) -> Job | None:
        """This session's job of ``run_id``, running or ended, else None."""
        return self._jobs.get(run_id)

    @property
    def jobs(self) -> list[Job]:
        """Jobs started, attached or watched by this session, oldest first."""
        return list(self._jobs.values())

    def new_job(self, run_id: str, request: ExtendRequest) -> Job:
        """A new ``Job`` of this session for ``run_id`` (not launched)."""
        job = Job(run_id, request, backend=self.backend, detach_hook=self.detach, pace=self.pace)
        with self.lock:
            self._jobs[run_id] = job
        job.on_update(self._learn_pace)
        job.on_update(self._count_sent)
        return job

    def in_flight(self) -> int:
        """How many of this session's jobs are sent and not yet done."""
        return len(self._sent)

    def _count_sent(self, job: Job) -> None:
        """Keep ``in_flight`` a count, not a scan of every job (each job's ETA asks for it)."""
        if job.status in SENT_STATUSES:
            self._sent.add(job.run_id)
        else:
            self._sent.discard(job.run_id)

    def _learn_pace(self, job: Job) -> None:
        """Tell the pace book how long a job took, once its result is ready."""
        if job.status not in ("downloading", "completed") or job.state.watching:
            return
        state = job.state
        self.pace.add_run(
            {
                "run_id": job.run_id,
                "model": job.request.model,
                "in_flight": state.in_flight,
                "submitted_at": state.submitted_at,
                "accepted_at": state.accepted_at,
                "completed_at": state.completed_at,
                "estimated_time_s": state.estimated_time_s,
                "reused_from": state.reused_from,
                "predicted_s": progress_total_s(state.history, state.estimated_time_s),
            }
        )

    def detach(self, job: Job) -> None:
        """Stop tracking ``job`` (what ``job.detach()`` does); says what that means."""
        if self.watcher.unwatch(job.run_id) is not None:
            job.mark_done()
            print(f"foxnb stopped watching {job.run_id}; {job.state.watching} still runs it.")
            return
        self.engine.call(self.runner.detach(job))
        print(
            f"foxnb stopped tracking {job.run_id}. FoxAPI has no cancel endpoint: a task "
            "already submitted keeps running and is billed. fx.attach(run_id) tracks it again."
        )

    # ------------------------------------------------------------------ recovering

    def same_backend(self, run: dict[str, Any]) -> bool:
        """True when ``run`` was made through this tracker's kind of service (and address)."""
        if run.get("backend") != self.backend:
            return False
        return self.backend == "sim" or run.get("host") == self.config.host

    def unfinished(self) -> list[dict[str, Any]]:
        """Runs of this backend with work left that this session is not working on."""
        return [held.run for held in self.unfinished_held().values()]

    def unfinished_held(self) -> dict[str, Held]:
        return {
            run_id: held
            for run_id, held in self.store.unfinished(backend=self.backend).items()
            if self.same_backend(held.run) and self.live(run_id) is None
        }

    # Recovering — resume, attach, takeovers — is in ``recovery.py``; these delegate.

    def rule(self, run: dict[str, Any]) -> SendRule | None:
        """The send rule of ``run``'s experiment (see ``recovery.rule``)."""
        return recovery.rule(self, run)

    def resume(self) -> list[Job]:
        """Carry on with every unfinished run of this backend; see ``recovery.resume``."""
        return recovery.resume(self)

    def continue_run(self, run: dict[str, Any], job: Job | None = None) -> Job | None:
        """Carry on with a run just claimed; see ``recovery.continue_run``."""
        return recovery.continue_run(self, run, job)

    def attach(self, run_id: str) -> Job:
        """Track the task of a recorded run again; see ``recovery.attach``."""
        return recovery.attach(self, run_id)

    def requeue(
        self, run: dict[str, Any], rule: SendRule | None = None, job: Job | None = None
    ) -> Job | None:
        """Launch a claimed run never sent; see ``recovery.requeue``."""
        return recovery.requeue(self, run, rule, job)

    def flag_unknown(self, run: dict[str, Any]) -> None:
        """Record submission_unknown for a run whose owner died mid-create, and release it."""
        recovery.flag_unknown(self, run)

    def _fetch_input(self, url: str, dest: Path) -> None:
        """Save an input clip given as a URL (for scoring; no API key is sent with it)."""
        self.engine.call(self.client.download(url, dest, extension=False))

    def close(self) -> None:
        """Stop tracking running jobs (they stay resumable as recorded; a create in flight
        records its task id first), then the HTTP clients; give up every run this session
        holds, so this or any other process may resume them at once."""
        self.watcher.stop()
        try:
            self.engine.call(self.runner.stop())
            self.engine.call(self.client.aclose())
        finally:
            self.link.close()
