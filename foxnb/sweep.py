"""``fx.sweep()``: one experiment over a grid of prompts, seeds or any other request field.

    sweep = fx.sweep("clip.mp4", name="dusk-vs-storm",
                     prompt=["Dusk falls over the valley", "A storm rolls in"], seed=[1, 2, 3])
    sweep.wait()          # all six cells; a failed cell does not raise, its row says why
    sweep.df              # one row per cell, in grid order, axis columns first

Every request field given as a list is an axis. ``mode="product"`` crosses the axes in the
order you gave them (the first varies slowest); ``mode="zip"`` pairs them element-wise.

Every cell is checked before anything is sent, and recorded in the ledger (``experiment``,
``cell``) before any is launched, so after a kernel restart ``fx.resume()`` sends the rest.
Running a sweep again never pays twice for a cell:

- a cell with an explicit seed whose exact request (same fields, same input content or URL)
  already ``completed``, and whose video is still on disk unchanged, becomes a new run with
  ``reused_from`` the old one and ``credits=0`` (``force=True`` resubmits instead);
- a cell of the same experiment still unfinished is re-attached, not resubmitted.

``dry_run=True`` returns a ``SweepPlan`` saying how many cells would be reused, re-attached or
submitted, without recording or sending anything.
"""

from __future__ import annotations

import dataclasses
import html
import itertools
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import media
from .errors import FoxError, JobTimeoutError, ValidationError
from .gate import SweepGate
from .jobs import RESUMABLE, Job
from .models import REQUEST_FIELDS, ExtendRequest, closest_name
from .session import _fit_aspect, _source, _tags

if TYPE_CHECKING:
    from .session import Session

AXIS_FIELDS = ("prompt", *REQUEST_FIELDS)
"""The request fields a sweep accepts, each a single value or a list (an axis)."""
MODES = ("product", "zip")

Key = tuple[Any, ...]


def run_key(run: dict[str, Any]) -> Key:
    """What makes two runs the same work: every request field and the input's content (or URL)."""
    sha = run.get("input_sha256")
    source = ("sha256", sha) if sha else ("url", run.get("video"))
    return (run.get("prompt"), *(run.get(f) for f in REQUEST_FIELDS), source)


@dataclass(frozen=True)
class Cell:
    """One point of the grid: its index, its axis values and its checked request."""

    index: int
    values: dict[str, Any]
    request: ExtendRequest
    action: str  # "submit", "reuse" or "attach"
    run: dict[str, Any] | None  # the earlier run reused or re-attached


def _label(index: int, values: dict[str, Any]) -> str:
    """``cell 4 (prompt='A storm…', seed=3)``, as errors name a cell."""
    shown = ", ".join(f"{k}={_short(v)}" for k, v in values.items())
    return f"cell {index}" + (f" ({shown})" if shown else "")


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) > 24:
        return repr(value[:23] + "…")
    return repr(value)


class Sweep:
    """A running sweep: ``jobs`` (one per cell, grid order), ``wait()``, ``df``."""

    def __init__(
        self, session: Session, name: str, axes: list[str], cells: list[Cell], gate: SweepGate
    ):
        self.name = name
        self.axes = axes
        self.cells = cells
        self.jobs: list[Job] = []
        self.gate = gate
        self._session = session

    @property
    def credits(self) -> float:
        """Credits reserved by this experiment's tasks, as the service reported them."""
        return self.gate.spent_credits

    @property
    def stopped(self) -> str | None:
        """Why cells stopped being sent (budget, 402, 401, ``stop_submitting()``), or None."""
        return self.gate.stopped

    def stop_submitting(self) -> int:
        """Send no more cells; returns how many cells that leaves unsent.

        Cells not yet sent end ``not_submitted`` (nothing created, nothing billed). Cells
        already sent keep running on the service and are billed (FoxAPI has no cancel
        endpoint); foxnb keeps tracking and downloading them.
        """
        unsent = sum(job.status == "queued" for job in self.jobs)
        self.gate.stop("you called stop_submitting()")
        return unsent

    def counts(self) -> dict[str, int]:
        """How many cells are in each status, e.g. ``{"completed": 4, "processing": 2}``."""
        return dict(Counter(job.status for job in self.jobs))

    def wait(self, timeout: float | None = None) -> Sweep:
        """Block until every cell has ended; a failed cell does not raise (see ``df``).

        Raises ``JobTimeoutError`` if ``timeout`` seconds pass first (the jobs keep running).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for job in self.jobs:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                job.wait(left)
            except JobTimeoutError:
                raise JobTimeoutError(
                    f"sweep {self.name!r} not finished after {timeout} s ({self._summary()}); "
                    "its jobs keep running in the background"
                ) from None
            except FoxError:
                pass  # one cell's failure is a result of the experiment, recorded in df
        return self

    @property
    def df(self) -> pd.DataFrame:
        """This sweep's runs from ``fx.runs()``, one row per cell in grid order."""
        runs = self._session.runs().set_index("run_id")
        frame = runs.loc[[job.run_id for job in self.jobs]].reset_index()
        for column in ("experiment", "reused_from"):  # absent until some run has them
            frame[column] = frame.get(column, pd.Series(None, index=frame.index, dtype=object))
        frame["cell"] = frame["cell"].astype("Int64")
        first = ["run_id", "cell", *self.axes]
        result: pd.DataFrame = frame[first + [c for c in frame.columns if c not in first]]
        return result

    def _summary(self) -> str:
        return ", ".join(f"{status} {n}" for status, n in sorted(self.counts().items()))

    def __repr__(self) -> str:
        stopped = f"; stopped: {self.stopped}" if self.stopped else ""
        return (
            f"<Sweep {self.name!r}: {len(self.jobs)} cells, {self._summary()}; "
            f"{self.credits:g} credits reserved{stopped}>"
        )

    def _ipython_display_(self) -> None:
        """In a notebook, a live view that becomes a saved comparison grid; elsewhere text."""
        # Imported here: importing foxnb must not load ipywidgets or IPython.
        from .widgets.sweep_view import show_sweep

        show_sweep(self)


@dataclass(frozen=True)
class SweepPlan:
    """What ``fx.sweep(...)`` would do (``dry_run=True``); nothing was recorded or sent.

    ``expected_s`` is a rough time per new job: the median ``duration_s`` of completed runs of
    the same model in this ledger (FoxAPI publishes no figure), ``None`` when unknown.
    """

    name: str
    axes: list[str]
    cells: list[Cell]
    expected_s: float | None
    expected_note: str
    price_credits: float | None = None
    budget_credits: float | None = None
    spent_credits: float = 0.0

    @property
    def cost_credits(self) -> float | None:
        """Credits the new cells would reserve, from the price seen in this ledger."""
        return None if self.price_credits is None else self.submitted * self.price_credits

    @property
    def within_budget(self) -> int:
        """How many of the new cells the budget lets through (all of them without one)."""
        if self.budget_credits is None:
            return self.submitted
        if self.price_credits is None:
            return min(self.submitted, 1 if self.spent_credits < self.budget_credits else 0)
        room = self.budget_credits - self.spent_credits
        return max(0, min(self.submitted, int(room // self.price_credits)))

    @property
    def submitted(self) -> int:
        """Cells that would be newly submitted, and paid for."""
        return sum(cell.action == "submit" for cell in self.cells)

    @property
    def reused(self) -> int:
        """Cells whose completed video would be reused for free."""
        return sum(cell.action == "reuse" for cell in self.cells)

    @property
    def reattached(self) -> int:
        """Cells still running from an earlier call, which would be tracked again."""
        return sum(cell.action == "attach" for cell in self.cells)

    def __repr__(self) -> str:
        time_s = "unknown" if self.expected_s is None else f"~{self.expected_s:.0f} s per job"
        return (
            f"<SweepPlan {self.name!r}: {len(self.cells)} cells — {self.submitted} to submit, "
            f"{self.reused} reused, {self.reattached} re-attached; expected time {time_s} "
            f"({self.expected_note}); {self._cost_text()}>"
        )

    def _cost_text(self) -> str:
        if self.cost_credits is None:
            cost = "cost unknown (no credits figure in this ledger yet)"
        else:
            cost = f"~{self.cost_credits:g} credits ({self.price_credits:g} per job)"
        if self.budget_credits is None:
            return cost
        return (
            f"{cost}; budget {self.budget_credits:g} ({self.spent_credits:g} already reserved) "
            f"lets {self.within_budget} of {self.submitted} through"
        )

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in ["cell", *self.axes, "action"])
        rows = "".join(
            f"<tr><td>{c.index}</td>"
            + "".join(f"<td>{html.escape(str(c.values[a]))}</td>" for a in self.axes)
            + f"<td>{_ACTION_TEXT[c.action]}</td></tr>"
            for c in self.cells
        )
        return (
            f"<p><b>Sweep {html.escape(self.name)}</b> (dry run): {html.escape(repr(self)[11:-1])}"
            f"</p><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        )


_ACTION_TEXT = {"submit": "submit (paid)", "reuse": "reuse (free)", "attach": "re-attach"}


def start_sweep(
    session: Session,
    video: str | Path,
    *,
    name: str,
    mode: str,
    dry_run: bool,
    max_jobs: int | None,
    budget_credits: float | None,
    force: bool,
    tags: str | list[str] | None,
    fields: dict[str, Any],
) -> Sweep | SweepPlan:
    """``Session.sweep``: check every cell, plan each, then record all and launch."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("name", "must be a non-empty text naming the experiment")
    if mode not in MODES:
        raise ValidationError("mode", f"unknown mode {mode!r}", MODES)
    if max_jobs is not None and (isinstance(max_jobs, bool) or not isinstance(max_jobs, int)):
        raise ValidationError("max_jobs", f"must be an integer or None, got {max_jobs!r}")
    budget_ok = isinstance(budget_credits, int | float) and not isinstance(budget_credits, bool)
    if budget_credits is not None and not (budget_ok and budget_credits > 0):
        raise ValidationError(
            "budget_credits",
            f"must be a positive number of credits or None, got {budget_credits!r}",
        )
    for field in fields:
        if field not in AXIS_FIELDS:
            hint = closest_name(field, list(AXIS_FIELDS))
            more = f"; did you mean {hint!r}?" if hint else ""
            raise ValidationError(field, "is not a field of sweep()" + more, AXIS_FIELDS)
    if "prompt" not in fields:
        raise ValidationError("prompt", "is required (one text, or a list of them)")
    tag_list = _tags(tags)
    axes, grid = _grid(fields, mode)
    requests, input_sha256 = _requests(video, axes, grid)
    cells = _plan(session, name, requests, axes, grid, input_sha256, force)
    gate = sweep_gate(session, name, budget_credits, {c.request.model for c in cells})
    if dry_run:
        return SweepPlan(
            name,
            axes,
            cells,
            *_expected(session, cells),
            price_credits=gate.price_credits,
            budget_credits=budget_credits,
            spent_credits=gate.spent_credits,
        )
    new = sum(cell.action == "submit" for cell in cells)
    if max_jobs is not None and new > max_jobs:
        raise ValidationError(
            "max_jobs",
            f"this sweep would submit {new} new jobs, more than {max_jobs}; nothing sent",
        )
    sweep = Sweep(session, name, axes, cells, gate)
    # Every cell is in the ledger, in one write, before the first is launched: a crash
    # leaves all of them queued for fx.resume() (or this same call again), or none.
    budget: dict[str, Any] = {} if budget_credits is None else {"budget_credits": budget_credits}
    events = [_event(session, cell, name, tag_list, input_sha256, budget) for cell in cells]
    session.ledger.append_many([e for e in events if e is not None])
    run_ids = [
        event[0] if event else str((cell.run or {})["run_id"])  # a re-attached cell's own run
        for cell, event in zip(cells, events, strict=True)
    ]
    for cell, run_id in zip(cells, run_ids, strict=True):
        if cell.action == "submit":
            sweep.jobs.append(session._launch(run_id, cell.request, input_sha256, gate))
        elif cell.action == "reuse":
            sweep.jobs.append(_settled(session, run_id, cell.request, session.ledger.get(run_id)))
        else:
            sweep.jobs.append(_reattach(session, cell, gate))
    return sweep


def sweep_gate(
    session: Session,
    name: str,
    budget_credits: float | None,
    models: set[str] | None = None,
) -> SweepGate:
    """The gate for experiment ``name``: what its tasks reserved so far, and a job's price.

    The price is the largest credits figure this ledger holds for a task of the same backend
    and one of ``models`` (all models of the experiment when not given).
    """
    runs = [r for r in session.ledger.runs().values() if session._same_backend(r)]
    mine = [r for r in runs if r.get("experiment") == name]
    models = models or {r["model"] for r in mine if r.get("model")}
    prices = [
        float(r["credits"])
        for r in runs
        if r.get("credits") is not None and r.get("model") in models and r.get("task_id")
    ]
    price = max(prices) if prices else None
    spent = 0.0
    for run in mine:
        if run.get("task_id") and not run.get("reused_from"):
            spent += float(run.get("credits") or price or 0.0)
        elif run.get("status") == "submission_unknown":
            spent += price or 0.0  # perhaps created: count it, the safe side of a budget
    return SweepGate(name, budget_credits=budget_credits, spent_credits=spent, price_credits=price)


def _grid(fields: dict[str, Any], mode: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The axis names, and every cell's full set of fields in grid order."""
    axes = {k: list(v) for k, v in fields.items() if isinstance(v, list | tuple)}
    for field, values in axes.items():
        if not values:
            raise ValidationError(field, "an axis needs at least one value")
    if mode == "zip" and len({len(v) for v in axes.values()}) > 1:
        lengths = ", ".join(f"{k} has {len(v)}" for k, v in axes.items())
        raise ValidationError("mode", f"'zip' needs axes of equal length; {lengths}")
    if mode == "zip" and axes:
        combos: list[tuple[Any, ...]] = list(zip(*axes.values(), strict=True))
    else:
        combos = list(itertools.product(*axes.values()))  # no axes: one cell
    return list(axes), [{**fields, **dict(zip(axes, combo, strict=True))} for combo in combos]


def _requests(
    video: str | Path, axes: list[str], grid: list[dict[str, Any]]
) -> tuple[list[ExtendRequest], str | None]:
    """Every cell's checked request, and the input's sha256 (the clip is read once)."""
    source = _source(video)
    requests = []
    for index, fields in enumerate(grid):
        try:
            requests.append(
                ExtendRequest(
                    video=source, **{**fields, "aspect_ratio": fields.get("aspect_ratio") or "16:9"}
                )
            )
        except ValidationError as exc:
            # Keep the error's type and field so `except VideoInputError` etc. still work;
            # only say which cell it was.
            exc.args = (f"{_label(index, {a: fields[a] for a in axes})}: {exc}",)
            raise
    if not requests[0].is_local:
        return requests, None
    info = media.check_input(source)
    for index, fields in enumerate(grid):  # a loop, not a comprehension: warnings' stacklevel
        requests[index] = _fit_aspect(requests[index], fields.get("aspect_ratio"), info, 5)
    return requests, media.sha256_file(source)


def _plan(
    session: Session,
    name: str,
    requests: list[ExtendRequest],
    axes: list[str],
    grid: list[dict[str, Any]],
    input_sha256: str | None,
    force: bool,
) -> list[Cell]:
    """Decide per cell: re-attach its unfinished run, reuse a completed one, or submit."""
    unfinished: dict[Key, list[dict[str, Any]]] = {}
    completed: dict[Key, list[dict[str, Any]]] = {}
    for run in session.ledger.runs().values():
        if not session._same_backend(run):
            continue  # a simulator's video is no answer to a paid request, and vice versa
        status = run.get("status")
        # A cell stays bound to its earlier run while that run may still produce (or may
        # already have paid for) a video: resumable runs, and submission_unknown ones,
        # which only force=True sends again.
        bound = status in RESUMABLE or (status == "submission_unknown" and not force)
        if run.get("experiment") == name and bound:
            unfinished.setdefault(run_key(run), []).append(run)
        elif run.get("status") == "completed" and not run.get("reused_from"):
            completed.setdefault(run_key(run), []).insert(0, run)  # newest first
    intact: dict[str, bool] = {}
    cells = []
    for index, (request, fields) in enumerate(zip(requests, grid, strict=True)):
        key = run_key({**dataclasses.asdict(request), "input_sha256": input_sha256})
        earlier = unfinished[key].pop(0) if unfinished.get(key) else None
        action = "attach"
        # Without an explicit seed the service picks one, so the same request is not the
        # same video: only seeded requests are reused.
        if earlier is None and not force and request.seed is not None:
            earlier = next((r for r in completed.get(key, []) if _intact(r, intact)), None)
            action = "reuse"
        values = {a: fields[a] for a in axes}
        cells.append(Cell(index, values, request, action if earlier else "submit", earlier))
    return cells


def _intact(run: dict[str, Any], seen: dict[str, bool]) -> bool:
    """True when the run's video file still exists with the sha256 recorded for it."""
    path = run.get("video_path")
    if not path or not run.get("sha256"):
        return False
    if path not in seen:
        seen[path] = Path(path).is_file() and media.sha256_file(path) == run["sha256"]
    return seen[path]


def _event(
    session: Session,
    cell: Cell,
    name: str,
    tags: list[str],
    input_sha256: str | None,
    budget: dict[str, Any],
) -> tuple[str, float, dict[str, Any]] | None:
    """The cell's first ledger event: a new queued or reused run (None: it re-attaches)."""
    if cell.action == "attach":
        return None
    if cell.action == "submit":
        return session._first_event(
            cell.request, tags, input_sha256, experiment=name, cell=cell.index, **budget
        )
    source = cell.run
    assert source is not None
    return session._first_event(
        cell.request,
        tags,
        input_sha256,
        status="completed",
        experiment=name,
        cell=cell.index,
        reused_from=source["run_id"],
        progress=100,
        credits=0,
        completed_at=time.time(),
        **{k: source.get(k) for k in ("video_path", "sha256", "size_bytes")},
    )


def _settled(
    session: Session, run_id: str, request: ExtendRequest, run: dict[str, Any] | None
) -> Job:
    """A Job that has already ended, showing what the ledger says of ``run_id``."""
    run = run or {}
    job = session._new_job(run_id, request)
    job._update(
        status=run.get("status", "not_submitted"),
        progress=run.get("progress") or 0,
        task_id=run.get("task_id"),
        credits=run.get("credits"),
        sha256=run.get("sha256"),
        video_path=Path(run["video_path"]) if run.get("video_path") else None,
        completed_at=run.get("completed_at"),
    )
    job._finish()
    return job


def _reattach(session: Session, cell: Cell, gate: SweepGate) -> Job:
    """The live job of an unfinished cell: this session's, or attached, or sent if queued."""
    assert cell.run is not None
    run_id = cell.run["run_id"]
    live = session._jobs.get(run_id)
    if live is not None and not live.done:
        return live
    if cell.run.get("task_id"):
        return session.attach(run_id)
    if cell.run.get("status") == "queued":
        job = session._requeue(cell.run, gate)
        if job is not None:
            return job
    # A create request in flight when an earlier kernel died: never resent; recorded as
    # submission_unknown with the evidence, as fx.resume() does.
    if cell.run.get("status") == "submitting":
        session._flag_unknown(cell.run)
    return _settled(session, run_id, cell.request, session.ledger.get(run_id))


def _expected(session: Session, cells: list[Cell]) -> tuple[float | None, str]:
    """A rough time per new job, from this ledger's completed runs of the same model."""
    models = sorted({c.request.model for c in cells if c.action == "submit"})
    if not models:
        return 0.0, "nothing to submit"
    runs = [
        r
        for r in session.ledger.runs().values()
        if r.get("status") == "completed" and r.get("duration_s") and session._same_backend(r)
    ]
    medians, counts = [], []
    for model in models:
        durations = [float(r["duration_s"]) for r in runs if r.get("model") == model]
        if not durations:
            return None, f"no completed {model} runs in this ledger to go by"
        medians.append(statistics.median(durations))
        counts.append(f"{len(durations)} completed {model} runs")
    return max(medians), "median duration of " + ", ".join(counts) + "; cells run concurrently"
