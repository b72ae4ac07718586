"""``connect()`` and the ``Session`` it returns: the object you use in a notebook.

    import foxnb
    fx = foxnb.connect()          # no FOXAPI_API_KEY: starts the built-in simulator, says so
    job = fx.extend("The camera keeps panning left", video="clip.mp4", seed=7)
    job.wait()                    # or carry on working; the job runs in the background
    job.video_path                # the local MP4
    fx.runs()                     # every run in this folder, as a (compact) DataFrame

Runs are recorded in a runs store — ``foxnb-runs/runs.db`` (SQLite) beside your notebook
(``workdir=``), or the one ``store=`` / ``FOXNB_STORE`` names (a PostgreSQL database a team
shares) — and results saved in ``foxnb-runs/videos/``. Any number of kernels and workers may
share a store: each run is claimed by one of them, never sent twice. After a kernel restart,
``fx.resume()`` picks up every unfinished run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ._files import sha256_file
from ._inputs import extend_request
from ._session_outcomes import OutcomesMixin
from .config import Config, base_url_from_env, is_loopback, key_from_env, mask_key, store_from_env
from .errors import ValidationError
from .experiments.chain import Chain
from .experiments.compare import Comparison, compare
from .experiments.outcomes import Judgements
from .experiments.plan import SweepPlan
from .experiments.report import Report, write_report
from .experiments.runs_like import RunsLike
from .experiments.runs_view import RunsFrame
from .experiments.sweep import Sweep, start_sweep
from .models import REQUEST_FIELDS
from .runtime.jobs import Job
from .runtime.tracker import LEASE_S, Tracker
from .widgets.banner import Banner

if TYPE_CHECKING:
    from .sim import Simulator
    from .widgets.form import ExtendForm

DEFAULT_SIM_SPEED = 10.0
"""The embedded simulator runs 10x faster than the real service (a ~90 s job takes ~9 s)."""

_embedded: dict[Path, Simulator] = {}


class Session(OutcomesMixin):
    """A connection to FoxAPI (or the simulator) plus a runs store (``store``).

    Make one with ``foxnb.connect()``. ``backend`` is ``"sim"`` or ``"real"``. The session is
    a facade: the runs themselves are started, tracked and resumed by its ``tracker``
    (``foxnb.runtime.tracker``); sweeps, comparisons and reports are ``foxnb.experiments``.
    """

    def __init__(
        self,
        config: Config,
        *,
        workdir: str | Path = "foxnb-runs",
        backend: str = "real",
        store: str | Path | None = None,
        videos: str | Path | None = None,
        lease_s: float = LEASE_S,
        max_in_flight: int = 8,
        rate_per_s: float = 10.0,
        simulator: Simulator | None = None,
        **client_options: Any,
    ):
        self.config = config
        self.backend = backend
        self.simulator = simulator
        self.workdir = Path(workdir).expanduser().resolve()
        self.tracker = Tracker(
            config,
            self.workdir,
            backend=backend,
            store=store,
            videos=videos,
            lease_s=lease_s,
            max_in_flight=max_in_flight,
            rate_per_s=rate_per_s,
            **client_options,
        )
        self.store = self.tracker.store
        self.ledger = self.store  # its name before issue 11
        self.engine = self.tracker.engine
        self.banner = Banner(backend, config.base_url, mask_key(config.api_key), str(self.workdir))
        #: Records ratings, picks and notes (``foxnb.experiments.outcomes``).
        self.judgements = Judgements(self.ledger)
        #: The chains this session started or resumed, by name.
        self.chains: dict[str, Chain] = {}
        self.judgements.on_change(lambda _run_id, _fields: self._wake_chains())

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
        force: bool = False,
        check_url: bool = True,
        **unknown: Any,
    ) -> Job:
        """Extend ``video`` by 7 s following ``prompt``; returns a running ``Job`` at once.

        ``video`` is an http(s) URL or a local file (checked, then uploaded once; files over
        the upload limit, 100 MiB unless ``connect(max_upload_bytes=...)``, are refused).
        A URL is checked first with a few ranged reads: one that does not answer with a video
        is refused before the paid request (``check_url=False`` skips the check).
        ``aspect_ratio`` defaults to the video's own shape as it plays (a rotation flag
        counts); for a URL whose header could not be read it is not sent, and the service
        uses the input's. Every field is checked here, before anything is sent or billed: one
        ``ValidationError`` names every bad field (and an input the service would refuse) and
        what is allowed.

        No accidental second payment: with an explicit ``seed``, a request identical to one
        that already completed (same fields, same input content or URL), whose video is
        still on disk unchanged, is not sent again. The job returned is a new run, already
        ``completed``, with ``job.reused_from`` naming the paid run and ``credits`` 0.
        ``force=True`` sends it anyway (``fx.rerun(job)`` does that for a recorded run).

            job = fx.extend("The drone rises over the ridge", "clip.mp4", seed=3, tags="v1")
        """
        fields = {
            "model": model,
            "aspect_ratio": aspect_ratio,
            "generate_audio": generate_audio,
            "auto_fix": auto_fix,
            "safety_tolerance": safety_tolerance,
            "negative_prompt": negative_prompt,
            "seed": seed,
        }
        request, tag_list, info = extend_request(
            prompt,
            video,
            fields,
            tags,
            unknown,
            max_upload_bytes=self.tracker.client.max_upload_bytes,
            check_url=self.tracker.check_url if check_url else None,
        )
        input_sha256 = sha256_file(request.video) if request.is_local else None
        duration_s = None if info is None else info.duration_s
        return self.tracker.start(request, tag_list, input_sha256, duration_s, force=force)

    def rerun(self, run: str | Job, *, force: bool = True) -> Job:
        """Send the request of a recorded run (a run id or a ``Job``) again; returns its job.

        This is "run again anyway" for a result that was reused: with ``force=True`` (the
        default) a new task is sent and billed even if an identical one completed. With
        ``force=False`` it follows ``extend()``'s reuse rule. The same fields, input and tags
        are used; a local input is checked again as it is now.

            job = fx.extend("Dusk falls", "clip.mp4", seed=7)   # reused: job.reused_from
            fresh = fx.rerun(job)                                # sent (and paid) again
        """
        run_id = run.run_id if isinstance(run, Job) else run
        record = self.store.get(run_id)
        if record is None:
            raise ValidationError("run", f"no run {run_id!r} in {self.store.location}")
        options = {name: record[name] for name in REQUEST_FIELDS if record.get(name) is not None}
        return self.extend(
            record["prompt"],
            record["video"],
            tags=record.get("tags") or None,
            force=force,
            **options,
        )

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
        check_url: bool = True,
        launch: bool = True,
        **fields: Any,
    ) -> Sweep | SweepPlan:
        """Extend ``video`` once per cell of a grid of request fields (``experiments.sweep``).

        Any request field given as a list is an axis. ``mode="product"`` crosses the axes
        (the first one given varies slowest), ``mode="zip"`` pairs them. Cells already paid
        for are reused or re-attached, never paid twice; ``dry_run=True`` returns the plan.
        ``max_jobs`` refuses a sweep that would submit more new jobs; ``budget_credits``
        stops sending cells once the experiment's reserved credits would pass it (a 402 or
        401 answer stops it too); cells not sent end ``not_submitted``; budget and stop hold
        for every kernel and worker sharing the store. A ``video`` URL is checked once, as in
        ``extend()`` (``check_url=False`` skips it). ``name`` is one line of text, checked
        like a prompt. ``launch=False`` only records the cells, for ``foxnb worker``.

            sweep = fx.sweep("clip.mp4", name="dusk-vs-storm",
                             prompt=["Dusk falls", "A storm rolls in"], seed=[1, 2, 3])
            sweep.wait()
            sweep.df
        """
        return start_sweep(
            self.tracker,
            video,
            name=name,
            mode=mode,
            dry_run=dry_run,
            max_jobs=max_jobs,
            budget_credits=budget_credits,
            force=force,
            tags=tags,
            check_url=check_url,
            fields=fields,
            launch=launch,
        )

    # ------------------------------------------------------------------ reading

    def runs(self, all: bool = False) -> pd.DataFrame:
        """Every run in the runs store, one row each (see ``foxnb.runtime.store``).

        A ``RunsFrame``: a DataFrame with every column, shown compactly (run id, prompt,
        seed, status, credits, duration, error, a thumbnail); filter it like any DataFrame.
        ``all=True`` returns a plain DataFrame, shown with every column.

            fx.runs()                                   # the compact view
            fx.runs()[lambda df: df.status == "failed"] # still compact, every column there
            fx.runs(all=True)                           # all columns shown
        """
        self.tracker.link.flush_blocking()  # this session's own changes are all in it
        frame = self.store.dataframe()
        return frame if all else RunsFrame(frame)

    def compare(
        self,
        runs: RunsLike | pd.DataFrame | list[Job],
        rows: str = "prompt",
        cols: str = "seed",
        *,
        embed_video: bool | None = None,
        width_px: int = 280,
        show: list[str] | tuple[str, ...] = (),
        sort_by: str | None = None,
        shade: str | None = None,
    ) -> Comparison:
        """Runs side by side: one row per value of ``rows``, one column per ``cols``.

        ``runs`` is a ``Sweep``, a DataFrame of runs (``fx.runs()`` filtered with pandas) or
        a list of jobs; see ``foxnb.experiments.compare``. Shows as a static, labelled table
        of videos. ``show`` lists values to write under each video, ``sort_by`` orders rows
        and columns by a score or rating (best first), ``shade`` colours cells by one.

            fx.compare(sweep, rows="prompt", cols="seed", show=["seam_jump", "rating"])
        """
        return compare(
            runs,
            rows,
            cols,
            embed_video=embed_video,
            width_px=width_px,
            show=show,
            sort_by=sort_by,
            shade=shade,
        )

    def report(
        self,
        name: str | RunsLike | pd.DataFrame,
        path: str | Path,
        *,
        rows: str | None = None,
        cols: str | None = None,
        overwrite: bool = False,
        show: list[str] | None = None,
        sort_by: str | None = None,
        shade: str | None = None,
    ) -> Report:
        """Write an experiment as a self-contained folder: page, videos, runs as CSV/Parquet.

        ``name`` is an experiment name (the runs of ``fx.sweep(name=...)``), a ``Sweep`` or a
        DataFrame of runs. ``path/index.html`` shows the grid of videos (axes: what varies,
        or ``rows``/``cols``) and every run; it works opened from disk and after the folder
        is moved. An existing ``path`` is replaced only with ``overwrite=True``. See
        ``foxnb.experiments.report``. Scores, ratings, picks and notes are in its tables;
        ``show``, ``sort_by`` and ``shade`` work on its grid as in ``compare``.

            fx.report("dusk-vs-storm", "reports/dusk-vs-storm", sort_by="seam_jump")
        """
        return write_report(
            self.store,
            self.workdir,
            name,
            path,
            rows=rows,
            cols=cols,
            overwrite=overwrite,
            show=show,
            sort_by=sort_by,
            shade=shade,
        )

    def job(self, run_id: str) -> Job:
        """The ``Job`` of ``run_id`` (attaching to it if this session has not yet)."""
        return self.tracker.job(run_id) or self.attach(run_id)

    @property
    def jobs(self) -> list[Job]:
        """Jobs started or attached by this session, oldest first."""
        return self.tracker.jobs

    # ------------------------------------------------------------------ recovering

    def unfinished(self) -> list[dict[str, Any]]:
        """Runs of this backend that a previous session left unfinished."""
        return self.tracker.unfinished()

    def resume(self) -> list[Job]:
        """Re-attach every unfinished run of this backend (after a crash or kernel restart).

        Tracked tasks are polled again and downloaded; runs never sent are sent now. A run
        whose create request was in flight when the process died is marked
        ``submission_unknown``, never resent. Partial downloads left by a dead process are
        deleted. Chains a dead process was driving go on (``fx.chains[name]``).
        """
        jobs = self.tracker.resume()
        self._resume_chains()
        return jobs

    def attach(self, run_id: str) -> Job:
        """Track the task of a recorded run again (e.g. after ``detach()`` or a restart)."""
        return self.tracker.attach(run_id)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Stop this session's HTTP clients and give up its runs (running jobs stop being
        tracked, and stay resumable by any process sharing the store)."""
        self.tracker.close()

    def describe(self) -> str:
        """One line saying where requests go."""
        return self.banner.line

    def form(self, from_run: str | None = None) -> ExtendForm:
        """A notebook form for ``extend()``, checked as you type; cards of its jobs appear below.

        ``from_run`` pre-fills the fields of a recorded run. See ``foxnb.widgets.ExtendForm``.

            form = fx.form()
        """
        # Imported on use: importing foxnb must not load ipywidgets.
        from .widgets.form import ExtendForm

        return ExtendForm(self, from_run=from_run)

    # ------------------------------------------------------------------ the banner

    def announce(self) -> None:
        """Say where requests go and whether they are billed: the banner in a notebook, one
        line elsewhere. ``connect()`` does this (unless ``quiet=True``); see
        ``foxnb.widgets.banner`` for how it is shown once per session."""
        self.banner.announce()

    def take_banner(self) -> str:
        """The banner's HTML if it has not been shown yet (then it counts as shown), else "".
        Views that would repeat it (the form) ask this."""
        return self.banner.take()

    def _ipython_display_(self) -> None:
        self.banner.show()

    def _repr_html_(self) -> str:
        return self.banner.html

    def __repr__(self) -> str:
        return (
            f"<foxnb.Session backend={self.backend} url={self.config.base_url} "
            f"key={mask_key(self.config.api_key)} workdir={self.workdir}>"
        )


def connect(
    api_key: str | None = None,
    base_url: str | None = None,
    workdir: str | Path = "foxnb-runs",
    *,
    store: str | Path | None = None,
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
    banner says so. ``resume=True`` re-attaches unfinished runs at once. ``store`` (else
    ``FOXNB_STORE``, else ``<workdir>/runs.db``, an old ``runs.jsonl`` imported) is a SQLite
    file or ``postgresql://…`` (``pip install 'foxnb[postgres]'``); ``videos=`` where results
    go; ``lease_s=`` how long a claim lasts unrenewed (see ``foxnb.runtime.tracker``). Other
    options go to the client (``foxnb.client.AsyncClient``), e.g. ``max_upload_bytes=``.

        fx = foxnb.connect()                       # simulator
        fx = foxnb.connect(api_key="sk-...")       # the real service
        fx = foxnb.connect(store="postgresql://me@db.lab/foxnb")   # a team's store
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
    store = store if store is not None else store_from_env()
    session = Session(
        config, workdir=workdir, backend=backend, simulator=simulator, store=store, **options
    )
    if not quiet:
        session.announce()
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
