"""The session's methods about what runs gave: chains, scores, judgement, exports.

``Session`` (``foxnb.session``) inherits them; they are thin delegations to
``foxnb.experiments`` (``chain``, ``outcomes``, ``export``), kept here so the session's own
module stays about connecting, submitting, comparing and recovering.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .errors import FoxError, FoxnbWarning, ValidationError
from .experiments.chain import Chain, start_chain
from .experiments.chain_spec import load_specs, make_spec
from .experiments.export import (
    Export,
    MlflowExport,
    WandbExport,
    export_mlflow,
    export_runs,
    export_wandb,
    select_runs,
)
from .experiments.fetching import fetch_all
from .experiments.outcomes import Judgements, RunRef, score_runs
from .experiments.runs_like import RunsLike
from .runtime.jobs import Job
from .runtime.store import RunStore
from .runtime.tracker import Tracker

if TYPE_CHECKING:
    from .experiments.report import Report
    from .widgets.judge import JudgeView


class OutcomesMixin:
    """``fx.chain``, ``fx.score``, ``fx.rate`` / ``star`` / ``reject`` / ``note``,
    ``fx.judge``, ``fx.export``, ``fx.export_mlflow`` and ``fx.export_wandb`` (mixed into
    ``Session``, which provides ``runs()`` and ``report()``)."""

    tracker: Tracker
    ledger: RunStore
    workdir: Path
    judgements: Judgements
    chains: dict[str, Chain]

    if TYPE_CHECKING:  # provided by Session

        def runs(self) -> pd.DataFrame: ...

        def report(self, name: str | RunsLike | pd.DataFrame, path: str | Path) -> Report: ...

    def fetch(self, runs: RunsLike | pd.DataFrame | list[Job] | str) -> pd.DataFrame:
        """Local copies of the videos of ``runs``, wherever they were saved.

        A video this machine cannot read (a worker elsewhere saved it) is downloaded again
        into this session's videos folder while the service still serves it (the task is
        asked for a fresh link). Returns the runs with ``video_path`` pointing at the local
        files; a run whose video cannot be fetched keeps no path, and a ``FoxnbWarning``
        says where its video is and why. See ``foxnb.experiments.fetching``.

            local = fx.fetch(fx.runs().query("experiment == 'dusk-vs-storm'"))
        """
        return fetch_all(self.tracker, runs)

    def chain(
        self,
        video: str | Path,
        prompts: list[str],
        *,
        seed: int = 1,
        best_of: int = 1,
        pick: str = "seam_jump",
        budget_credits: float | None = None,
        name: str | None = None,
        tags: str | list[str] | None = None,
        **fields: Any,
    ) -> Chain:
        """Extend ``video`` once per prompt, each hop extending the last hop's chosen result.

        Each hop runs ``best_of`` seeds (``seed``, ``seed + 1``, …) and carries on from the
        candidate you starred, else the best by ``pick`` (``"seam_jump"``, ``"color_shift"``,
        ``"seam_ssim"``, ``"flicker"``, ``"prefix_psnr"``, ``"rating"``), or waits for your
        star (``pick="manual"``). Completed hops are reused when you run it again (changing
        hop k's prompt re-runs hops k…); ``budget_credits`` caps what its runs may reserve.
        ``name`` defaults to ``chain-<clip name>``; ``fields`` are the other request fields
        of every run. Returns at once; see ``foxnb.experiments.chain``.

            chain = fx.chain("clip.mp4", ["Dusk falls", "Night comes"], seed=1, best_of=3)
            chain.wait().video_path
        """
        spec = make_spec(
            video,
            name=name,
            prompts=prompts,
            seed=seed,
            best_of=best_of,
            pick=pick,
            budget_credits=budget_credits,
            tags=tags,
            fields=fields,
        )
        running = self.chains.get(spec.name)
        if running is not None and not running.done:
            raise ValidationError(
                "name",
                f"chain {spec.name!r} is still running in this session; wait for it or call "
                "its stop() first",
            )
        self.chains[spec.name] = chain = start_chain(self.tracker, spec, self.judgements)
        return chain

    # ------------------------------------------------------------------ judging

    def score(self, runs: object | None = None, *, force: bool = False) -> pd.DataFrame:
        """Score runs (default: every completed run) that have no scores yet, wait for them,
        and return their ``fx.runs()`` rows; ``force=True`` scores them again.

        Runs are scored by themselves as they complete; this is for older runs, or to wait
        until a sweep's scores are all in: ``fx.score(sweep)``. See ``foxnb.scores``.
        """
        return score_runs(self.ledger, self.tracker.scorer, runs, force=force)

    def rate(self, run: RunRef, stars: int | None) -> None:
        """Rate a run (its id, ``Job`` or ``fx.runs()`` row) 1–5; ``None`` clears it."""
        self.judgements.rate(run, stars)

    def star(self, run: RunRef, on: bool = True) -> None:
        """Star a run: the one to keep (a chain carries on from it); ``on=False`` un-stars."""
        self.judgements.pick(run, "star" if on else None)

    def reject(self, run: RunRef, on: bool = True) -> None:
        """Reject a run: a chain never chooses it; ``on=False`` takes that back."""
        self.judgements.pick(run, "reject" if on else None)

    def note(self, run: RunRef, text: str | None) -> None:
        """Write a note on a run (replacing its note; ``""`` clears it)."""
        self.judgements.note(run, text)

    def judge(self, runs: RunsLike | pd.DataFrame | list[Job]) -> JudgeView:
        """A view of ``runs`` with ★ / ✕ buttons, a 1–5 rating and a note under each video;
        what you click is recorded as ``fx.star`` / ``fx.rate`` / ``fx.note`` would.

            fx.judge(sweep)
        """
        from .widgets.judge import JudgeView

        return JudgeView(runs, self.judgements)

    def _wake_chains(self) -> None:
        for chain in self.chains.values():
            chain.wake()

    def export(self, runs: object, folder: str | Path, *, overwrite: bool = False) -> Export:
        """Copy the chosen runs' MP4s to ``folder/videos/`` with ``folder/runs.json``: each
        run's parameters, scores, rating, pick and note. ``runs`` is anything
        ``fx.compare`` takes (a chain: its chosen result per hop). See
        ``foxnb.experiments.export.files``.

            fx.export(fx.runs().query("pick == 'star'"), "keep")
        """
        return export_runs(runs, folder, self.workdir, overwrite=overwrite)

    # MLflow and W&B (issue 14): thin delegations to foxnb.experiments.export.

    def export_mlflow(
        self,
        experiment: str | RunsLike | pd.DataFrame,
        tracking_uri: str | None = None,
        *,
        mlflow_experiment: str | None = None,
        name: str | None = None,
    ) -> MlflowExport:
        """Export an experiment to MLflow: a parent run with the report, a child run per run.

        ``experiment`` is a name, a ``Sweep`` or a DataFrame of runs (``name=`` labels one
        holding several experiments or none). Children carry the request fields as params,
        run id, task id, sha256 and backend as tags, credits, duration and scores as metrics,
        and the video and its poster. Exporting again updates the same runs.
        ``tracking_uri=None`` is MLflow's default. Needs ``pip install 'foxnb[mlflow]'``;
        see ``foxnb.experiments.export.mlflow``.

            fx.export_mlflow("dusk-vs-storm")
            fx.export_mlflow(sweep, tracking_uri="http://127.0.0.1:5000")
        """
        title, frame = select_runs(self.runs(), experiment, name)
        return export_mlflow(
            frame,
            title,
            lambda dest: self.report(frame, dest).path,
            self.workdir,
            tracking_uri=tracking_uri,
            mlflow_experiment=mlflow_experiment,
        )

    def export_wandb(
        self,
        experiment: str | RunsLike | pd.DataFrame,
        project: str,
        *,
        entity: str | None = None,
        mode: str | None = None,
        dir: str | Path | None = None,
        name: str | None = None,
    ) -> WandbExport:
        """Export an experiment to Weights & Biases: one run, grouped by the experiment's name,
        with a ``wandb.Table`` of its runs (the MLflow export's columns plus a video cell).

        ``experiment`` is as for ``export_mlflow``; ``mode``/``dir`` go to ``wandb.init``
        (``mode="offline"``, then ``wandb sync``). Exporting again resumes the same W&B run.
        Needs ``pip install 'foxnb[wandb]'``; see ``foxnb.experiments.export.wandb``.

            fx.export_wandb("dusk-vs-storm", project="video-extension")
        """
        title, frame = select_runs(self.runs(), experiment, name)
        return export_wandb(
            frame,
            title,
            lambda dest: self.report(frame, dest).path,
            self.workdir,
            project=project,
            entity=entity,
            mode=mode,
            dir=dir,
        )

    def _resume_chains(self) -> None:
        """Continue every chain whose driving process died (its file still says running)."""
        for spec in load_specs(self.workdir):
            known = self.chains.get(spec.name)
            if spec.state == "running" and (known is None or known.done):
                try:
                    self.chains[spec.name] = start_chain(self.tracker, spec, self.judgements)
                except FoxError as exc:  # e.g. its input clip is gone: say so, resume the rest
                    warnings.warn(
                        f"cannot continue chain {spec.name!r}: {exc}", FoxnbWarning, stacklevel=3
                    )
