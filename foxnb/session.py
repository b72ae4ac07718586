"""``connect()`` and the ``Session`` it returns: the object you use in a notebook.

    import foxnb
    fx = foxnb.connect()          # no FOXAPI_API_KEY: starts the built-in simulator, says so
    job = fx.extend("The camera keeps panning left", video="clip.mp4", seed=7)
    job.wait()                    # or carry on working; the job runs in the background
    job.video_path                # the local MP4
    fx.runs()                     # every run in this folder, as a pandas DataFrame

Runs are recorded in ``foxnb-runs/runs.jsonl`` beside your notebook (``workdir=``), results
are saved in ``foxnb-runs/videos/``. After a kernel restart, ``fx.resume()`` picks up every
unfinished run.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd

from . import media
from ._engine import get_engine
from ._wire import Throttle
from .client import AsyncClient
from .config import Config, base_url_from_env, is_loopback, key_from_env, mask_key
from .errors import ValidationError
from .jobs import RESUMABLE, Job
from .ledger import Ledger
from .models import REQUEST_FIELDS, ExtendRequest, closest_name, is_url
from .runner import Runner

if TYPE_CHECKING:
    from .compare import Comparison
    from .gate import SweepGate
    from .report import Report
    from .sim import Simulator
    from .sweep import Sweep, SweepPlan
    from .widgets.form import ExtendForm

OPTIONS = (*REQUEST_FIELDS, "tags")
DEFAULT_SIM_SPEED = 10.0
"""The embedded simulator runs 10x faster than the real service (a ~90 s job takes ~9 s)."""

_embedded: dict[Path, Simulator] = {}


def new_run_id(now_s: float) -> str:
    """A sortable, unique run id such as ``r20261124-035501-3fa9c2``."""
    stamp = datetime.fromtimestamp(now_s, timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"r{stamp}-{secrets.token_hex(3)}"


def _tags(tags: object) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        return [tags]
    if isinstance(tags, list | tuple | set) and all(isinstance(t, str) for t in tags):
        return sorted(tags) if isinstance(tags, set) else list(tags)
    raise ValidationError("tags", f"must be a string or a list of strings, got {tags!r}")


class Session:
    """A connection to FoxAPI (or the simulator) plus this folder's run ledger.

    Make one with ``foxnb.connect()``. ``backend`` is ``"sim"`` or ``"real"``.
    """

    def __init__(
        self,
        config: Config,
        *,
        workdir: str | Path = "foxnb-runs",
        backend: str = "real",
        max_in_flight: int = 8,
        rate_per_s: float = 10.0,
        simulator: Simulator | None = None,
        **client_options: Any,
    ):
        self.config = config
        self.backend = backend
        self.simulator = simulator
        self.workdir = Path(workdir).expanduser().resolve()
        self.ledger = Ledger(self.workdir)
        self.engine = get_engine()
        self._client = AsyncClient(
            config=config,
            max_in_flight=max_in_flight,
            throttle=Throttle(rate_per_s=rate_per_s),
            **client_options,
        )
        self._runner = Runner(self._client, self.ledger, self.workdir / "videos")
        self._jobs: dict[str, Job] = {}

    # ------------------------------------------------------------------ submitting

    def extend(
        self,
        prompt: str,
        video: str | Path,
        *,
        model: str = "veo-3.1-extend",
        aspect_ratio: str | None = None,
        generate_audio: bool = True,
        auto_fix: bool | None = None,
        safety_tolerance: int | None = None,
        negative_prompt: str | None = None,
        seed: int | None = None,
        tags: str | list[str] | None = None,
        **unknown: Any,
    ) -> Job:
        """Extend ``video`` by 7 s following ``prompt``; returns a running ``Job`` at once.

        ``video`` is an http(s) URL or a local file (checked, then uploaded once).
        ``aspect_ratio`` defaults to the local clip's own (16:9 for URLs). Every field is
        checked here, before anything is sent or billed; a bad one raises a
        ``ValidationError`` naming it and what is allowed.

            job = fx.extend("The drone rises over the ridge", "clip.mp4", seed=3, tags="v1")
        """
        if unknown:
            name = sorted(unknown)[0]
            hint = closest_name(name, list(OPTIONS))
            raise ValidationError(
                name,
                "is not an option of extend()" + (f"; did you mean {hint!r}?" if hint else ""),
                OPTIONS,
            )
        request = ExtendRequest(
            prompt=prompt,
            video=_source(video),
            model=model,
            aspect_ratio=aspect_ratio or "16:9",
            generate_audio=generate_audio,
            auto_fix=auto_fix,
            safety_tolerance=safety_tolerance,
            negative_prompt=negative_prompt,
            seed=seed,
        )
        tag_list = _tags(tags)
        input_sha256 = None
        if request.is_local:
            info = media.check_input(request.video)
            request = _fit_aspect(request, aspect_ratio, info, stacklevel=3)
            input_sha256 = media.sha256_file(request.video)
        return self._start(request, tag_list, input_sha256)

    def sweep(
        self,
        video: str | Path,
        *,
        name: str,
        mode: str = "product",
        dry_run: bool = False,
        max_jobs: int | None = None,
        budget_credits: float | None = None,
        force: bool = False,
        tags: str | list[str] | None = None,
        **fields: Any,
    ) -> Sweep | SweepPlan:
        """Extend ``video`` once per cell of a grid of request fields; see ``foxnb.sweep``.

        Any request field given as a list is an axis. ``mode="product"`` crosses the axes
        (the first one given varies slowest), ``mode="zip"`` pairs them. Cells already paid
        for are reused or re-attached, never paid twice; ``dry_run=True`` returns the plan.
        ``max_jobs`` refuses a sweep that would submit more new jobs; ``budget_credits``
        stops sending cells once the experiment's reserved credits would pass it (a 402 or
        401 answer stops it too); cells not sent end ``not_submitted``.

            sweep = fx.sweep("clip.mp4", name="dusk-vs-storm",
                             prompt=["Dusk falls", "A storm rolls in"], seed=[1, 2, 3])
            sweep.wait()
            sweep.df
        """
        from .sweep import start_sweep

        return start_sweep(
            self,
            video,
            name=name,
            mode=mode,
            dry_run=dry_run,
            max_jobs=max_jobs,
            budget_credits=budget_credits,
            force=force,
            tags=tags,
            fields=fields,
        )

    def _start(self, request: ExtendRequest, tags: list[str], input_sha256: str | None) -> Job:
        return self._launch(self._record(request, tags, input_sha256), request, input_sha256)

    def _record(
        self,
        request: ExtendRequest,
        tags: list[str],
        input_sha256: str | None,
        status: str = "queued",
        **extra: Any,
    ) -> str:
        """Write a new run's first ledger line; returns its run id."""
        event = self._first_event(request, tags, input_sha256, status, **extra)
        self.ledger.append_many([event])
        return event[0]

    def _first_event(
        self,
        request: ExtendRequest,
        tags: list[str],
        input_sha256: str | None,
        status: str = "queued",
        **extra: Any,
    ) -> tuple[str, float, dict[str, Any]]:
        """A new run's first ledger event ``(run_id, at, fields)``, not yet written."""
        now = time.time()
        fields = {
            "status": status,
            "backend": self.backend,
            "host": self.config.host,
            "recorded_at": now,
            "tags": tags,
            "input_sha256": input_sha256,
            **_fields(request),
            **extra,
        }
        return new_run_id(now), now, fields

    def _launch(
        self,
        run_id: str,
        request: ExtendRequest,
        input_sha256: str | None,
        gate: SweepGate | None = None,
    ) -> Job:
        job = self._new_job(run_id, request)
        job._gate = gate
        job._future = self.engine.submit(self._runner.run(job, input_sha256))
        return job

    def _new_job(self, run_id: str, request: ExtendRequest) -> Job:
        job = Job(run_id, request, backend=self.backend, detach_hook=self._detach)
        self._jobs[run_id] = job
        return job

    def _detach(self, job: Job) -> None:
        async def detach() -> None:
            job._detach_requested = True
            # A create request in flight is never interrupted: the runner records the task
            # id it gets back, then stops.
            if job.status != "submitting" and job._atask is not None:
                job._atask.cancel()

        self.engine.call(detach())
        print(
            f"foxnb stopped tracking {job.run_id}. FoxAPI has no cancel endpoint: a task "
            "already submitted keeps running and is billed. fx.attach(run_id) tracks it again."
        )

    # ------------------------------------------------------------------ reading

    def runs(self) -> pd.DataFrame:
        """Every run recorded in this folder, one row each (see ``foxnb.ledger.COLUMNS``)."""
        return self.ledger.dataframe()

    def compare(
        self,
        runs: Sweep | pd.DataFrame | list[Job],
        rows: str = "prompt",
        cols: str = "seed",
        *,
        embed_video: bool = False,
        width_px: int = 280,
    ) -> Comparison:
        """Runs side by side: one row per value of ``rows``, one column per ``cols``.

        ``runs`` is a ``Sweep``, a DataFrame of runs (``fx.runs()`` filtered with pandas) or
        a list of jobs; see ``foxnb.compare``. Shows as a static, labelled table of videos.

            fx.compare(sweep, rows="prompt", cols="seed")
        """
        from .compare import compare

        return compare(runs, rows, cols, embed_video=embed_video, width_px=width_px)

    def report(
        self,
        name: str | Sweep | pd.DataFrame,
        path: str | Path,
        *,
        rows: str | None = None,
        cols: str | None = None,
        overwrite: bool = False,
    ) -> Report:
        """Write an experiment as a self-contained folder: page, videos, runs as CSV/Parquet.

        ``name`` is an experiment name (the runs of ``fx.sweep(name=...)``), a ``Sweep`` or a
        DataFrame of runs. ``path/index.html`` shows the grid of videos (axes: what varies,
        or ``rows``/``cols``) and every run; it works opened from disk and after the folder
        is moved. An existing ``path`` is replaced only with ``overwrite=True``. See
        ``foxnb.report``.

            fx.report("dusk-vs-storm", "reports/dusk-vs-storm")
        """
        from .report import write_report

        return write_report(self, name, path, rows=rows, cols=cols, overwrite=overwrite)

    def job(self, run_id: str) -> Job:
        """The live ``Job`` of ``run_id`` (attaching to it if this session has not yet)."""
        return self._jobs.get(run_id) or self.attach(run_id)

    @property
    def jobs(self) -> list[Job]:
        """Jobs started or attached by this session, oldest first."""
        return list(self._jobs.values())

    # ------------------------------------------------------------------ recovering

    def unfinished(self) -> list[dict[str, Any]]:
        """Runs of this backend that a previous session left unfinished."""
        return [
            run
            for run in self.ledger.runs().values()
            if run.get("status") in RESUMABLE
            and self._same_backend(run)
            and not (run["run_id"] in self._jobs and not self._jobs[run["run_id"]].done)
        ]

    def resume(self) -> list[Job]:
        """Re-attach every unfinished run of this backend (after a crash or kernel restart).

        Tracked tasks are polled again and downloaded; runs never sent are sent now. A run
        whose create request was in flight when the process died is marked
        ``submission_unknown``, never resent. Partial downloads left by a dead process are
        deleted.
        """
        from .sweep import sweep_gate

        media.remove_stale_parts(self.workdir / "videos")
        jobs = []
        gates: dict[str, SweepGate] = {}  # one per experiment: its budget, its 402/401 stop
        for run in self.unfinished():
            if run.get("task_id"):
                jobs.append(self.attach(run["run_id"]))
            elif run.get("status") == "queued":
                name = run.get("experiment")
                gate = None
                if name:
                    gate = gates.get(name) or sweep_gate(self, name, run.get("budget_credits"))
                    gates[name] = gate
                job = self._requeue(run, gate)
                if job is not None:
                    jobs.append(job)
            else:
                self._flag_unknown(run)
        return jobs

    def _flag_unknown(self, run: dict[str, Any]) -> None:
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
        live = self._jobs.get(run_id)
        if live is not None and not live.done:
            return live
        fields: dict[str, Any] = {k: run[k] for k in REQUEST_FIELDS if run.get(k) is not None}
        request = ExtendRequest(
            prompt=run["prompt"], video=run.get("video_url") or run["video"], **fields
        )
        job = self._new_job(run_id, request)
        job._update(
            status=run["status"] if run["status"] != "detached" else "processing",
            progress=run.get("progress") or 0,
            task_id=run["task_id"],
            submitted_at=run.get("submitted_at"),
            estimated_time_s=run.get("estimated_time_s"),
            credits=run.get("credits"),
        )
        job._future = self.engine.submit(self._runner.run(job))
        return job

    def _requeue(self, run: dict[str, Any], gate: SweepGate | None = None) -> Job | None:
        fields: dict[str, Any] = {k: run[k] for k in REQUEST_FIELDS if run.get(k) is not None}
        try:
            request = ExtendRequest(prompt=run["prompt"], video=run["video"], **fields)
            same = not request.is_local or media.sha256_file(request.video) == run.get(
                "input_sha256"
            )
        except ValidationError:
            same = False
        if not same:
            self.ledger.append(
                run["run_id"],
                time.time(),
                status="not_submitted",
                error_code="input_changed",
                error_message="the input file is gone or changed since the run was queued; "
                "nothing was sent",
            )
            return None
        job = self._new_job(run["run_id"], request)
        job._gate = gate
        job._future = self.engine.submit(self._runner.run(job, run.get("input_sha256")))
        return job

    def _same_backend(self, run: dict[str, Any]) -> bool:
        if run.get("backend") != self.backend:
            return False
        return self.backend == "sim" or run.get("host") == self.config.host

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Stop this session's HTTP clients (running jobs stop being tracked, stay resumable)."""
        self.engine.call(self._client.aclose())

    def describe(self) -> str:
        """One line saying where requests go."""
        if self.backend == "sim":
            return (
                f"foxnb: using the built-in FoxAPI simulator at {self.config.base_url} — "
                "videos are synthetic and nothing is billed. Set FOXAPI_API_KEY to use the "
                "real service."
            )
        return (
            f"foxnb: using FoxAPI at {self.config.base_url} (key {mask_key(self.config.api_key)})"
        )

    def form(self, from_run: str | None = None) -> ExtendForm:
        """A notebook form for ``extend()``, checked as you type; cards of its jobs appear below.

        ``from_run`` pre-fills the fields of a recorded run. See ``foxnb.widgets.ExtendForm``.

            form = fx.form()
        """
        from .widgets.form import ExtendForm

        return ExtendForm(self, from_run=from_run)

    def _repr_html_(self) -> str:
        from .widgets._html import banner_html

        return banner_html(
            self.backend, self.config.base_url, mask_key(self.config.api_key), str(self.workdir)
        )

    def __repr__(self) -> str:
        return (
            f"<foxnb.Session backend={self.backend} url={self.config.base_url} "
            f"key={mask_key(self.config.api_key)} workdir={self.workdir}>"
        )


def _source(video: str | Path) -> str:
    """``video`` as recorded: URLs as given, local paths made absolute.

    Anything with a URL scheme (``ftp://…``, ``javascript:…``, ``data:…``) that is not an
    existing file stays as given, so the check names its scheme instead of a missing file.
    """
    source = str(video) if isinstance(video, Path) else video
    if isinstance(source, str) and source and not is_url(source) and not _has_scheme(source):
        source = str(Path(source).expanduser().absolute())  # resume() may run elsewhere
    return source


def _has_scheme(text: str) -> bool:
    try:
        scheme = urlsplit(text).scheme
    except ValueError:  # e.g. an unbalanced "[" in a file name
        return False
    return len(scheme) > 1 and not Path(text).exists()


def _fit_aspect(
    request: ExtendRequest, aspect_ratio: str | None, info: media.VideoInfo, stacklevel: int
) -> ExtendRequest:
    """The clip's own aspect ratio unless one was asked for (then warn if they differ)."""
    if aspect_ratio is None:
        return dataclasses.replace(request, aspect_ratio=info.aspect_ratio)
    if aspect_ratio != info.aspect_ratio:
        warnings.warn(
            f"aspect_ratio={aspect_ratio!r} differs from the input clip's "
            f"{info.aspect_ratio}; the service decides how to fit it",
            stacklevel=stacklevel,
        )
    return request


def _fields(request: ExtendRequest) -> dict[str, Any]:
    names = ("prompt", "video", *REQUEST_FIELDS)
    return {k: getattr(request, k) for k in names}


def connect(
    api_key: str | None = None,
    base_url: str | None = None,
    workdir: str | Path = "foxnb-runs",
    *,
    resume: bool = False,
    simulator: Simulator | None = None,
    sim_speed: float = DEFAULT_SIM_SPEED,
    quiet: bool = False,
    **options: Any,
) -> Session:
    """Connect to FoxAPI, or to the built-in simulator when no key is set.

    The key comes from ``api_key`` or ``FOXAPI_API_KEY``; the address from ``base_url`` or
    ``FOXAPI_BASE_URL`` (default https://api.foxapi.cc). Without a key, a simulator is
    started on 127.0.0.1 (state kept in ``<workdir>/.sim`` so it survives restarts) and a
    banner says so. ``resume=True`` re-attaches unfinished runs at once.

        fx = foxnb.connect()                       # simulator
        fx = foxnb.connect(api_key="sk-...")       # the real service
    """
    workdir = Path(workdir).expanduser().resolve()
    key = api_key or key_from_env()
    if simulator is None and key is None:
        simulator = _embedded_simulator(workdir / ".sim", sim_speed)
    if simulator is not None:
        config = Config(api_key=simulator.api_key, base_url=simulator.url)
        backend = "sim"
    else:
        assert key is not None
        config = Config(api_key=key, base_url=base_url or base_url_from_env())
        backend = "sim" if is_loopback(config.base_url) else "real"
    session = Session(config, workdir=workdir, backend=backend, simulator=simulator, **options)
    if not quiet:
        print(session.describe())
    if resume:
        session.resume()
    elif not quiet and (left := session.unfinished()):
        print(f"foxnb: {len(left)} unfinished run(s) in {workdir}; fx.resume() picks them up.")
    return session


def _embedded_simulator(state_dir: Path, speed: float) -> Simulator:
    from .sim import Simulator

    sim = _embedded.get(state_dir)
    if sim is None:
        sim = Simulator(speed=speed, state_dir=state_dir)
        sim.start()
        _embedded[state_dir] = sim
    return sim
