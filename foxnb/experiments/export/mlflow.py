"""``fx.export_mlflow()``: an experiment's runs in MLflow, beside the runs you already track there.

    fx.export_mlflow("dusk-vs-storm")                                 # MLflow's default store
    fx.export_mlflow(sweep, tracking_uri="http://127.0.0.1:5000")     # a tracking server

In the MLflow experiment of the same name (``mlflow_experiment=`` picks another) this makes:

- one parent run for the foxnb experiment, named after it, holding the experiment's
  ``fx.report`` folder under ``report/``: download it and open ``index.html`` for the
  side-by-side grid of videos MLflow has no view for. Metrics: ``runs``, ``completed``,
  ``credits`` (the experiment's total);
- one child run per foxnb run, nested under the parent in MLflow's run list and named by
  what varies (``prompt='Dusk falls', seed=2``). Params are the request fields (``prompt``,
  ``video``, ``model``, ``seed``, ...); tags ``foxnb.run_id``, ``foxnb.task_id``,
  ``foxnb.sha256``, ``foxnb.backend`` (``sim`` or ``real``), ``foxnb.status`` and the error
  code of a failed run; metrics ``credits``, ``duration_s`` and the result scores when the
  runs have them; artifacts ``video.mp4`` and ``poster.jpg`` for a completed run.

Exporting again updates, never duplicates: runs are found by their tags (``foxnb.run_id``
for a child; for the parent, a key made of the experiment's name and first run), metrics and
tags that changed are logged anew, files already there with the same size are not sent again,
and a child whose parent was deleted moves under the new one. MLflow never lets a param
change; a foxnb run's request never changes either, so a param found with another value is
left alone and named in a warning.

``tracking_uri=None`` means MLflow's own choice: ``MLFLOW_TRACKING_URI`` if set, else its
default (in MLflow 3 a ``mlflow.db`` SQLite file in the current folder, artifacts in
``mlruns/``). ``mlflow ui --backend-store-uri sqlite:///mlflow.db`` shows it (the MLflow UI
and server come with the full ``mlflow`` package; ``foxnb[mlflow]`` installs only the client,
``mlflow-skinny``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from ..._version import __version__
from ...errors import FoxnbWarning, ValidationError
from ...models import ACTIVE
from .rows import (
    ExportRun,
    ReportSource,
    export_html,
    export_key,
    export_runs,
    missing,
    report_folder,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

KIND_TAG = "foxnb.kind"
KEY_TAG = "foxnb.export_key"
PARENT_TAG = "mlflow.parentRunId"  # MLflow nests a run under the run this tag names
NOTE_TAG = "mlflow.note.content"  # the run's description in MLflow's UI
_TEXT_LIMIT = 5000  # MLflow keeps params up to 6000 characters and tags up to 8000
_ALWAYS_SENT = ("index.html", "manifest.json", "runs.csv", "runs.parquet")  # change each time


@dataclass(frozen=True)
class MlflowExport:
    """Where an export went: the MLflow experiment, the parent run, and each run's MLflow id.

    ``run_ids`` maps foxnb run ids to MLflow run ids; ``created`` counts runs made by this call
    (0 when exporting again) and ``uploaded`` the files sent.
    """

    tracking_uri: str
    experiment_id: str
    experiment_name: str
    parent_run_id: str
    run_ids: dict[str, str] = field(repr=False)
    created: int
    uploaded: int

    @property
    def url(self) -> str | None:
        """The parent run's page on a tracking server (None for a local store), with no
        user name or password in it."""
        if urlsplit(self.tracking_uri).scheme not in ("http", "https"):
            return None
        base = _shown(self.tracking_uri).rstrip("/")
        return f"{base}/#/experiments/{self.experiment_id}/runs/{self.parent_run_id}"

    def summary(self) -> str:
        """``6 runs under parent 3f2a… in MLflow experiment 'seed-sweep' (6 new, 14 files)``."""
        return (
            f"{len(self.run_ids)} runs under parent {self.parent_run_id} in MLflow experiment "
            f"{self.experiment_name!r} ({self.created} new, {self.uploaded} files sent)"
        )

    def __repr__(self) -> str:
        return f"<MlflowExport {self.summary()} at {_shown(self.tracking_uri)}>"

    def _repr_html_(self) -> str:
        return export_html("MLflow", f"{self.summary()} at {_shown(self.tracking_uri)}", self.url)


def export_mlflow(
    frame: pd.DataFrame,
    experiment: str,
    report: ReportSource,
    workdir: Path,
    *,
    tracking_uri: str | None = None,
    mlflow_experiment: str | None = None,
) -> MlflowExport:
    """Export the runs in ``frame`` as experiment ``experiment`` to MLflow (see the module).

    ``report`` is the experiment's ``fx.report`` folder, or a function writing it at a path
    it is given; ``workdir`` is the runs folder, whose path is never exported.
    """
    client = _client(tracking_uri)
    with report_folder(report, workdir) as folder:
        runs = export_runs(frame, folder, workdir)
        name = mlflow_experiment or experiment
        experiment_id = _experiment_id(client, name)
        parents, children = _existing(client, experiment_id)
        key = export_key(experiment, runs)
        sync = _Sync(client)
        parent_id = sync.parent(experiment_id, experiment, key, runs, parents.get(key))
        sync.upload(parent_id, _report_files(folder), parents.get(key))
        run_ids = {}
        for run in runs:
            old = children.get(run.run_id)
            run_ids[run.run_id] = sync.child(experiment_id, parent_id, run, old)
            files = {"video.mp4": run.video, "poster.jpg": run.poster}
            sync.upload(run_ids[run.run_id], {k: v for k, v in files.items() if v}, old)
    if sync.conflicts:
        warnings.warn(
            "MLflow keeps params as first logged; these differ from the ledger and were left "
            "as they are: " + "; ".join(sync.conflicts),
            FoxnbWarning,
            stacklevel=3,
        )
    return MlflowExport(
        tracking_uri=client.tracking_uri,
        experiment_id=experiment_id,
        experiment_name=name,
        parent_run_id=parent_id,
        run_ids=run_ids,
        created=sync.created,
        uploaded=sync.uploaded,
    )


def _client(tracking_uri: str | None) -> MlflowClient:
    try:
        from mlflow import MlflowClient
    except ImportError as exc:
        raise missing("mlflow", "mlflow", "fx.export_mlflow()") from exc
    return MlflowClient(tracking_uri=tracking_uri)


def _experiment_id(client: MlflowClient, name: str) -> str:
    """The id of MLflow experiment ``name``, created if missing."""
    found = client.get_experiment_by_name(name)
    if found is None:
        return client.create_experiment(name)
    if found.lifecycle_stage == "deleted":
        raise ValidationError(
            "mlflow_experiment",
            f"MLflow experiment {name!r} is deleted; restore it (mlflow experiments restore) "
            "or pass another mlflow_experiment=",
        )
    return str(found.experiment_id)


def _existing(client: MlflowClient, experiment_id: str) -> tuple[dict[str, Run], dict[str, Run]]:
    """foxnb's runs already in the experiment: parents by export key, children by run id."""
    parents: dict[str, Run] = {}
    children: dict[str, Run] = {}
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token)
        for run in page:
            tags = run.data.tags
            if tags.get(KIND_TAG) == "experiment" and KEY_TAG in tags:
                parents.setdefault(tags[KEY_TAG], run)
            elif tags.get(KIND_TAG) == "run" and "foxnb.run_id" in tags:
                children.setdefault(tags["foxnb.run_id"], run)
        token = page.token
        if not token:
            return parents, children


class _Sync:
    """Creates or updates runs and their files, counting what it did."""

    def __init__(self, client: MlflowClient):
        self.client = client
        self.created = 0
        self.uploaded = 0
        self.conflicts: list[str] = []

    def parent(
        self, experiment_id: str, name: str, key: str, runs: list[ExportRun], old: Run | None
    ) -> str:
        """The experiment's parent run, created or brought up to date; its MLflow id."""
        backends = sorted({str(r.tags["backend"]) for r in runs if "backend" in r.tags})
        tags = {
            KIND_TAG: "experiment",
            KEY_TAG: key,
            "foxnb.experiment": name,
            "foxnb.backend": ",".join(backends),
            "foxnb.version": __version__,
            NOTE_TAG: (
                f"foxnb experiment {name!r}: {len(runs)} runs, nested below. The report/ "
                "folder holds the side-by-side grid of their videos: download it and open "
                "report/index.html."
            ),
        }
        metrics = {
            "runs": float(len(runs)),
            "completed": float(sum(r.status == "completed" for r in runs)),
            "credits": sum(r.metrics.get("credits", 0.0) for r in runs),
        }
        starts = [r.started_at_ms for r in runs if r.started_at_ms is not None]
        run_id = self._run(experiment_id, name, min(starts, default=None), tags, old)
        self._log(run_id, old, tags, {}, metrics)
        ended = all(_status(r.status) != "RUNNING" for r in runs)
        ends = [r.ended_at_ms for r in runs if r.ended_at_ms is not None]
        self._status(run_id, old, "FINISHED" if ended else "RUNNING", max(ends, default=None))
        return run_id

    def child(self, experiment_id: str, parent_id: str, run: ExportRun, old: Run | None) -> str:
        """One foxnb run's MLflow run, created or brought up to date; its MLflow id."""
        tags = {KIND_TAG: "run", PARENT_TAG: parent_id}
        tags.update({f"foxnb.{k}": _text(v) for k, v in run.tags.items()})
        run_id = self._run(experiment_id, run.label, run.started_at_ms, tags, old)
        params = {k: _text(v) for k, v in run.params.items()}
        self._log(run_id, old, tags, params, run.metrics)
        self._status(run_id, old, _status(run.status), run.ended_at_ms)
        return run_id

    def upload(self, run_id: str, files: Mapping[str, Path], old: Run | None) -> None:
        """Send ``files`` (artifact path → local file) unless there with the same size."""
        folders = sorted({os.path.dirname(path) for path in files})
        present: dict[str, int | None] = {}
        if old is not None:
            for folder in folders:
                for info in self.client.list_artifacts(run_id, folder or None):
                    present[info.path] = info.file_size
        with tempfile.TemporaryDirectory(prefix="foxnb-mlflow-") as stage:
            for path, source in files.items():
                always = os.path.basename(path) in _ALWAYS_SENT
                if not always and present.get(path) == source.stat().st_size:
                    continue
                # MLflow names an artifact after its file: stage it under the name it gets.
                staged = Path(stage) / path
                staged.parent.mkdir(parents=True, exist_ok=True)
                staged.unlink(missing_ok=True)
                _link_or_copy(source, staged)
                self.client.log_artifact(run_id, str(staged), os.path.dirname(path) or None)
                self.uploaded += 1

    def _run(
        self,
        experiment_id: str,
        name: str,
        start_ms: int | None,
        tags: dict[str, str],
        old: Run | None,
    ) -> str:
        if old is not None:
            if old.info.run_name != name:
                self.client.update_run(old.info.run_id, name=name)
            return str(old.info.run_id)
        self.created += 1
        # The identifying tags go in with the run itself, so a run is never left unfindable.
        made = self.client.create_run(experiment_id, start_time=start_ms, tags=tags, run_name=name)
        return str(made.info.run_id)

    def _log(
        self,
        run_id: str,
        old: Run | None,
        tags: dict[str, str],
        params: dict[str, str],
        metrics: dict[str, float],
    ) -> None:
        """Log what is new or changed (params only when absent: MLflow never changes one)."""
        from mlflow.entities import Metric, Param, RunTag

        data = old.data if old is not None else None
        old_tags = data.tags if data else {}
        old_params = data.params if data else {}
        old_metrics = data.metrics if data else {}
        for key, value in params.items():
            if key in old_params and old_params[key] != value:
                self.conflicts.append(f"{run_id} {key}: {old_params[key]!r} kept, not {value!r}")
        now_ms = int(time.time() * 1000)
        batch_tags = [RunTag(k, v) for k, v in tags.items() if old_tags.get(k) != v]
        batch_params = [Param(k, v) for k, v in params.items() if k not in old_params]
        batch_metrics = [
            Metric(k, v, now_ms, 0) for k, v in metrics.items() if old_metrics.get(k) != v
        ]
        if batch_tags or batch_params or batch_metrics:
            self.client.log_batch(
                run_id, metrics=batch_metrics, params=batch_params, tags=batch_tags
            )

    def _status(self, run_id: str, old: Run | None, status: str, end_ms: int | None) -> None:
        current = old.info.status if old is not None else "RUNNING"
        if status == current:
            return
        if status == "RUNNING":
            self.client.update_run(run_id, status=status)
        else:
            self.client.set_terminated(run_id, status, end_time=end_ms)


def _status(foxnb_status: str) -> str:
    """The MLflow run status standing for a foxnb run's status."""
    if foxnb_status == "completed":
        return "FINISHED"
    if foxnb_status in ACTIVE or foxnb_status == "download_failed":  # may still finish
        return "RUNNING"
    return "KILLED" if foxnb_status == "detached" else "FAILED"


def _report_files(folder: Path) -> dict[str, Path]:
    """The report folder's files by artifact path (``report/...``)."""
    return {
        f"report/{path.relative_to(folder).as_posix()}": path
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or links not allowed
        shutil.copyfile(source, target)


def _shown(uri: str) -> str:
    """``uri`` without a user name or password in it."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))
