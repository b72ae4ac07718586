"""``fx.export_wandb()``: an experiment as a W&B run holding a table of its runs and videos.

    fx.export_wandb("dusk-vs-storm", project="video-extension")
    fx.export_wandb(sweep, project="video-extension", mode="offline")   # then: wandb sync …

Each foxnb experiment becomes one W&B run, named after it and placed in the W&B group of the
same name (``job_type`` ``foxnb-experiment``). It logs ``runs``, a ``wandb.Table`` with one
row per foxnb run and the same columns as the MLflow export: who the run is (``run_id``,
``task_id``, ``sha256``, ``backend``, ``status``, ...), what was asked for (``prompt``,
``video``, ``model``, ``seed``, ...), what it cost and scored (``credits``, ``duration_s``
and the result scores when the runs have them), then ``result``, the video as a
``wandb.Video`` cell, and ``poster``, its last frame. The run's summary has ``n_runs``,
``completed`` and ``credits``; its config the experiment's name, axes and backends.

Exporting again updates the same W&B run instead of making another: its id is derived from the
experiment's name and first run (``foxnb-<name>-<16 hex digits>``) and the run is resumed. The
table is logged again, so the run's latest ``runs`` table is the current one.

``mode`` and ``dir`` are ``wandb.init``'s (``WANDB_MODE`` / ``WANDB_DIR`` apply as usual; in
offline mode ``wandb sync <dir>/wandb/offline-run-…`` uploads later). What W&B would record
about this machine is turned off: no system metrics, no host or user metadata, no git state,
no code, no console capture, no list of installed packages. While exporting, W&B's staging
copies of the table and videos go to ``<dir>/wandb/foxnb-staging`` (unless ``WANDB_DATA_DIR``
is set), so everything the export writes stays in that one folder and nothing is left in your
home folder for ``wandb sync`` to need.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..._version import __version__
from ..report import varying
from .rows import (
    METRIC_COLUMNS,
    PARAM_COLUMNS,
    TAG_COLUMNS,
    ExportRun,
    ReportSource,
    export_html,
    export_key,
    export_runs,
    missing,
    report_folder,
    slug,
)

if TYPE_CHECKING:
    import wandb

TABLE_KEY = "runs"
JOB_TYPE = "foxnb-experiment"
DATA_DIR_ENV = "WANDB_DATA_DIR"


@dataclass(frozen=True)
class WandbExport:
    """Where an export went: the W&B project and run, and how much it holds.

    ``sync_dir`` is the run's local folder in offline mode (``wandb sync`` it), else None.
    """

    project: str
    run_id: str
    name: str
    mode: str
    rows: int
    videos: int
    url: str | None
    sync_dir: Path | None

    def summary(self) -> str:
        """``6 runs, 6 videos in W&B run foxnb-seed-sweep-… of project 'video-ext'``."""
        text = (
            f"{self.rows} runs, {self.videos} videos in W&B run {self.run_id} "
            f"of project {self.project!r}"
        )
        if self.sync_dir is not None:
            text += f" (offline: wandb sync {self.sync_dir})"
        return text

    def __repr__(self) -> str:
        return f"<WandbExport {self.summary()}>"

    def _repr_html_(self) -> str:
        return export_html("W&B", self.summary(), self.url)


def export_wandb(
    frame: pd.DataFrame,
    experiment: str,
    report: ReportSource,
    workdir: Path,
    *,
    project: str,
    entity: str | None = None,
    mode: str | None = None,
    dir: str | Path | None = None,
) -> WandbExport:
    """Export the runs in ``frame`` as experiment ``experiment`` to W&B (see the module).

    ``report`` is the experiment's ``fx.report`` folder, or a function writing it at a path
    it is given; ``workdir`` is the runs folder, whose path is never exported.
    """
    _require_wandb()
    import wandb

    root = Path(dir or os.environ.get("WANDB_DIR") or os.getcwd())
    with report_folder(report, workdir) as folder:
        runs = export_runs(frame, folder, workdir)
        run_id = f"foxnb-{slug(experiment)}-{export_key(experiment, runs)}"
        columns = _columns(runs)
        with _staging_in(root / "wandb" / "foxnb-staging"):
            run = wandb.init(
                project=project,
                entity=entity,
                id=run_id,
                name=experiment,
                group=experiment,
                job_type=JOB_TYPE,
                tags=["foxnb"],
                config=_config(experiment, runs, frame),
                resume="allow",
                reinit="create_new",  # leave any run of yours in this process alone
                mode=mode,  # type: ignore[arg-type]  # wandb.init names the modes it takes
                dir=str(root),
                settings=_settings(),
            )
            try:
                table = wandb.Table(columns=[*columns, "result", "poster"])
                for item in runs:
                    values = {**item.tags, **item.params, **item.metrics}
                    table.add_data(*[values.get(c) for c in columns], *_media(item))
                run.log({TABLE_KEY: table})
                run.summary.update(
                    {
                        "n_runs": len(runs),
                        "completed": sum(r.status == "completed" for r in runs),
                        "credits": sum(r.metrics.get("credits", 0.0) for r in runs),
                    }
                )
                offline = bool(run.offline)
                url = None if offline else run.url
                sync_dir = Path(run.sync_dir) if offline else None
                shown_mode = str(run.settings.mode)
            finally:
                run.finish()
    return WandbExport(
        project=project,
        run_id=run_id,
        name=experiment,
        mode=shown_mode,
        rows=len(runs),
        videos=sum(r.video is not None for r in runs),
        url=url,
        sync_dir=sync_dir,
    )


def _require_wandb() -> None:
    try:
        import wandb  # noqa: F401
    except ImportError as exc:
        raise missing("wandb", "wandb", "fx.export_wandb()") from exc


def _settings() -> wandb.Settings:
    """Settings that keep this machine out of the run: nothing but what foxnb logs."""
    import wandb

    return wandb.Settings(
        x_disable_meta=True,  # host, user, paths, command line, hardware
        x_disable_stats=True,  # system metrics (and their cloud-metadata probes)
        x_disable_machine_info=True,
        x_save_requirements=False,  # a pip freeze names the folders of editable installs
        save_code=False,
        disable_code=True,
        disable_git=True,
        console="off",  # no capture of what the notebook prints
        program="foxnb",
        host="foxnb",
        silent=True,
    )


def _columns(runs: list[ExportRun]) -> list[str]:
    """The table's columns: every tag and param, and the metrics some run has."""
    metrics = {key for run in runs for key in run.metrics}
    return [*TAG_COLUMNS, *PARAM_COLUMNS, *(c for c in METRIC_COLUMNS if c in metrics)]


def _config(experiment: str, runs: list[ExportRun], frame: pd.DataFrame) -> dict[str, Any]:
    return {
        "foxnb_experiment": experiment,
        "axes": varying(frame),
        "backends": sorted({str(r.tags["backend"]) for r in runs if "backend" in r.tags}),
        "foxnb_version": __version__,
    }


def _media(run: ExportRun) -> tuple[wandb.Video | None, wandb.Image | None]:
    """The ``result`` and ``poster`` cells of a run (None without a video)."""
    import wandb

    video = wandb.Video(str(run.video), caption=run.label) if run.video else None
    poster = wandb.Image(str(run.poster), caption=run.label) if run.poster else None
    return video, poster


@contextmanager
def _staging_in(folder: Path) -> Iterator[None]:
    """Point W&B's staging area at ``folder`` for the export, unless the user chose one."""
    if os.environ.get(DATA_DIR_ENV):
        yield
        return
    os.environ[DATA_DIR_ENV] = str(folder)
    try:
        yield
    finally:
        os.environ.pop(DATA_DIR_ENV, None)
