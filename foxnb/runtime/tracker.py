"""``Tracker``: the runs one session works on — launching, re-attaching and resuming them.

A tracker owns the session's connection (an ``AsyncClient`` on the engine loop), its ledger,
the ``Runner`` that takes each run from upload to saved video, and the live ``Job`` of every
run this session started or attached. ``Session`` (what ``foxnb.connect()`` returns) and the
experiments (sweeps) use it; users seldom need it directly.

The order of work is what makes a crash harmless: a run is written to the ledger
(``record``) before it is launched, and ``resume`` finds every run a dead process left
unfinished — polling and downloading tracked tasks, sending runs that were never sent, and
marking a create request that was in flight ``submission_unknown`` instead of resending it.
Opening a tracker removes the partial files (``videos/*.part``, ``inputs/*.part``) that a
killed process left behind.
"""

from __future__ import annotations

import secrets
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._files import remove_stale_parts, sha256_file
from .._inputs import check_video_url, request_fields
from .._wire import Throttle
from ..client import AsyncClient
from ..config import Config
from ..errors import FoxError, FoxnbWarning, ValidationError
from ..media import VideoInfo
from ..models import RESUMABLE, ExtendRequest
from .engine import get_engine
from .eta import PaceBook, progress_total_s
from .gate import SweepGate, gate_from_runs
from .jobs import Job
from .ledger import Ledger
from .records import recorded_float, recorded_options, recorded_request
from .reuse import IntactVideos, Key, completed_by_key, request_key, reusable, reuse_fields
from .runner import Runner
from .scoring import ScoreWorker

Event = tuple[str, float, dict[str, Any]]
"""A ledger event: ``(run_id, at, fields)``."""


def new_run_id(now_s: float) -> str:
    """A sortable, unique run id such as ``r20261124-035501-3fa9c2``."""
    stamp = datetime.fromtimestamp(now_s, timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"r{stamp}-{secrets.token_hex(3)}"


class Tracker:
    """Starts, re-attaches and resumes the runs of one connection and one work folder."""

    def __init__(
        self,
        config: Config,
        workdir: Path,
        *,
        backend: str,
        max_in_flight: int = 8,
        rate_per_s: float = 10.0,
        **client_options: Any,
    ):
        self.config = config
        self.backend = backend
        self.workdir = workdir
        self.ledger = Ledger(workdir)
        self.engine = get_engine()
        self.client = AsyncClient(
            config=config,
            max_in_flight=max_in_flight,
            throttle=Throttle(rate_per_s=rate_per_s),
            **client_options,
        )
        #: Scores every run whose video is saved, on its own thread (``runtime.scoring``).
        self.scorer = ScoreWorker(self.ledger, workdir / "inputs", fetch=self._fetch_input)
        self.runner = Runner(
            self.client,
            self.ledger,
            workdir / "videos",
            in_flight=self.in_flight,
            on_completed=self.scorer.submit,
        )
        #: How long runs of this backend really took; every job's estimate asks it.
        self.pace = PaceBook(
            load=lambda: [r for r in self.ledger.runs().values() if self.same_backend(r)],
            in_flight_now=self.in_flight,
        )
        self._jobs: dict[str, Job] = {}
        self._keys: dict[str, Key] = {}  # run id -> request key, of the runs launched here
        for folder in ("videos", "inputs"):  # what a process killed mid-write left
            remove_stale_parts(workdir / folder)

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
        """A new run's first ledger event, not yet written."""
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
        """Write a new run's first ledger event (``queued`` unless ``status=`` says otherwise);
        returns its run id. Nothing is sent."""
        run_id, at, fields = self.first_event(request, tags, input_sha256, **extra)
        self.write_first([(run_id, at, fields)])
        return run_id

    def write_first(self, events: list[Event]) -> None:
        """Write new runs' first events in one append; a ledger that cannot take them is a
        ``FoxError`` saying so (nothing was sent: a run is recorded before it is sent)."""
        try:
            self.ledger.append_many(events)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise FoxError(
                f"cannot record the run(s) in {self.ledger.path} ({reason}); nothing was sent. "
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
        """Record a new run, then launch it; returns its ``Job``.

        Unless ``force``, a seeded request is not paid for twice (``foxnb.runtime.reuse``):
        one already answered becomes a new completed run reusing that video (``reused_from``,
        no credits, nothing sent), and one still running in this session returns that run's
        job (with a ``FoxnbWarning`` saying so). ``input_duration_s`` (when known) is recorded
        for the check of the result's duration.
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
            runs = (r for r in self.ledger.runs().values() if self.same_backend(r))
            source = reusable(completed_by_key(runs), request, input_sha256, IntactVideos())
            if source is not None:
                fields = {**known, **reuse_fields(source)}
                run_id = self.record(request, tags, input_sha256, **fields)
                self.scorer.submit(run_id)  # records scores only if the source had none
                return self.settled(run_id, request)
        run_id = self.record(request, tags, input_sha256, **known)
        return self.launch(run_id, request, input_sha256, input_duration_s=input_duration_s)

    # ------------------------------------------------------------------ jobs

    def launch(
        self,
        run_id: str,
        request: ExtendRequest,
        input_sha256: str | None,
        gate: SweepGate | None = None,
        *,
        input_duration_s: float | None = None,
    ) -> Job:
        """Run a recorded run on the engine; ``gate`` is its sweep's say on sending it.

        ``input_duration_s`` (when known) lets the download check the result's duration.
        """
        job = self._new_job(run_id, request)
        job.set_state(queued_at=time.time(), input_duration_s=input_duration_s)
        self._keys[run_id] = request_key(request, input_sha256)
        job.bind(self.engine.submit(self.runner.run(job, input_sha256, gate)))
        return job

    def settled(self, run_id: str, request: ExtendRequest) -> Job:
        """A ``Job`` that has already ended, showing what the ledger says of ``run_id``."""
        run = self.ledger.get(run_id) or {}
        job = self._new_job(run_id, request)
        job.set_state(
            status=run.get("status", "not_submitted"),
            progress=run.get("progress") or 0,
            task_id=run.get("task_id"),
            credits=run.get("credits"),
            sha256=run.get("sha256"),
            video_path=Path(run["video_path"]) if run.get("video_path") else None,
            completed_at=run.get("completed_at"),
            reused_from=run.get("reused_from"),
            queued_at=run.get("recorded_at"),
            submitted_at=run.get("submitted_at"),
        )
        job.mark_done()
        return job

    def live(self, run_id: str) -> Job | None:
        """This session's job of ``run_id`` while it is still running, else None."""
        job = self._jobs.get(run_id)
        return job if job is not None and not job.done else None

    def job(self, run_id: str) -> Job | None:
        """This session's job of ``run_id``, running or ended, else None."""
        return self._jobs.get(run_id)

    @property
    def jobs(self) -> list[Job]:
        """Jobs started or attached by this session, oldest first."""
        return list(self._jobs.values())

    def _new_job(self, run_id: str, request: ExtendRequest) -> Job:
        job = Job(run_id, request, backend=self.backend, detach_hook=self.detach, pace=self.pace)
        self._jobs[run_id] = job
        job.on_update(self._learn_pace)
        return job

    def in_flight(self) -> int:
        """How many of this session's jobs are sent and not yet done."""
        sent = ("submitting", "pending", "processing")
        return sum(job.status in sent for job in list(self._jobs.values()))

    def _learn_pace(self, job: Job) -> None:
        """Tell the pace book how long a job took, once its result is ready."""
        if job.status not in ("downloading", "completed"):
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
        """Runs of this backend that a previous session left unfinished."""
        return [
            run
            for run in self.ledger.runs().values()
            if run.get("status") in RESUMABLE
            and self.same_backend(run)
            and self.live(run["run_id"]) is None
        ]

    def gate_for(
        self, name: str, budget_credits: float | None, models: set[str] | None = None
    ) -> SweepGate:
        """The budget / stop gate of experiment ``name`` from what this ledger records."""
        runs = (r for r in self.ledger.runs().values() if self.same_backend(r))
        return gate_from_runs(runs, name, budget_credits, models)

    def resume(self) -> list[Job]:
        """Re-attach every unfinished run of this backend; see ``Session.resume``."""
        remove_stale_parts(self.workdir / "videos")
        jobs = []
        gates: dict[str, SweepGate] = {}  # one per experiment: its budget, its 402/401 stop
        for run in self.unfinished():
            if run.get("task_id"):
                jobs.append(self.attach(run["run_id"]))
            elif run.get("status") == "queued":
                name = run.get("experiment")
                gate = None
                if name:
                    gate = gates.get(name) or self.gate_for(name, run.get("budget_credits"))
                    gates[name] = gate
                job = self.requeue(run, gate)
                if job is not None:
                    jobs.append(job)
            else:
                self.flag_unknown(run)
        return jobs

    def flag_unknown(self, run: dict[str, Any]) -> None:
        """Record submission_unknown for a run whose process died mid-create."""
        sent = run.get("create_sent_at")
        when = datetime.fromtimestamp(sent, timezone.utc).isoformat() if sent else "?"
        evidence = (
            f"the process ended while the create request sent at {when} was in flight; "
            "no task id was recorded, so foxnb will not resend it. Check your FoxAPI "
            "dashboard before submitting again."
        )
        self.ledger.append(
            run["run_id"],
            time.time(),
            status="submission_unknown",
            error_code="submission_unknown",
            error_message=evidence,
            evidence=evidence,
        )

    def attach(self, run_id: str) -> Job:
        """Track the task of a recorded run again (e.g. after ``detach()`` or a restart)."""
        run = self.ledger.get(run_id)
        if run is None:
            raise ValidationError("run_id", f"no run {run_id!r} in {self.ledger.path}")
        if not run.get("task_id"):
            raise ValidationError("run_id", f"{run_id} has no task id (status {run['status']})")
        live = self.live(run_id)
        if live is not None:
            return live
        request = recorded_request(run, run.get("video_url") or run["video"])
        job = self._new_job(run_id, request)
        job.set_state(
            status=run["status"] if run["status"] != "detached" else "processing",
            progress=run.get("progress") or 0,
            task_id=run["task_id"],
            submitted_at=run.get("submitted_at"),
            accepted_at=run.get("accepted_at"),
            estimated_time_s=run.get("estimated_time_s"),
            credits=run.get("credits"),
            queued_at=run.get("recorded_at"),
            started_at=run.get("started_at"),
            in_flight=run.get("in_flight"),
            input_duration_s=recorded_float(run.get("input_duration_s")),
        )
        job.bind(self.engine.submit(self.runner.run(job)))
        return job

    def requeue(self, run: dict[str, Any], gate: SweepGate | None = None) -> Job | None:
        """Launch a recorded run that was never sent, if its input is still the same file."""
        code, message = (
            "input_changed",
            ("the input file is gone or changed since the run was queued; nothing was sent"),
        )
        try:
            request = ExtendRequest(
                prompt=run["prompt"], video=run["video"], **recorded_options(run)
            )
            same = not request.is_local or sha256_file(request.video) == run.get("input_sha256")
        except ValidationError as exc:
            same = False
            if "video" not in {e.field for e in exc.errors}:  # an older foxnb let it through
                code, message = "invalid_request", f"{exc}; nothing was sent"
        except OSError:
            same = False
        if not same:
            self.ledger.append(
                run["run_id"],
                time.time(),
                status="not_submitted",
                error_code=code,
                error_message=message,
            )
            return None
        duration_s = recorded_float(run.get("input_duration_s"))
        return self.launch(
            run["run_id"], request, run.get("input_sha256"), gate, input_duration_s=duration_s
        )

    def _fetch_input(self, url: str, dest: Path) -> None:
        """Save an input clip given as a URL (for scoring; no API key is sent with it)."""
        self.engine.call(self.client.download(url, dest, extension=False))

    def close(self) -> None:
        """Stop tracking running jobs (they stay resumable as recorded; a create in flight
        records its task id first), then the HTTP clients."""
        self.engine.call(self.runner.stop())
        self.engine.call(self.client.aclose())
