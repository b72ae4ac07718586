"""``fx.sweep()``: one experiment over a grid of prompts, seeds or any other request field.

    sweep = fx.sweep("clip.mp4", name="dusk-vs-storm",
                     prompt=["Dusk falls over the valley", "A storm rolls in"], seed=[1, 2, 3])
    sweep.wait()          # all six cells; a failed cell does not raise, its row says why
    sweep.df              # one row per cell, in grid order, axis columns first

Every request field given as a list is an axis. ``mode="product"`` crosses the axes in the
order you gave them (the first varies slowest); ``mode="zip"`` pairs them element-wise.

Every cell is checked before anything is sent, and recorded in the runs store (``experiment``,
``cell``) before any is launched, so after a kernel restart ``fx.resume()`` sends the rest.
Planning and recording happen in one critical section of the store per experiment
(``experiments.cells``): two kernels, scripts or machines starting the same sweep at the same
moment make one set of cells — the second finds the first's cells and watches them. Budgets
and stops are the store's (see ``runtime.sending``), so they hold for every writer.
Running a sweep again never pays twice for a cell:

- a cell with an explicit seed whose exact request (same fields, same input content or URL)
  already ``completed``, and whose video is still on disk unchanged, becomes a new run with
  ``reused_from`` the old one and ``credits=0`` (``force=True`` resubmits instead); this is
  the rule of ``fx.extend()`` too (``foxnb.runtime.reuse``);
- a cell of the same experiment still unfinished is re-attached, not resubmitted.

``dry_run=True`` returns a ``SweepPlan`` saying how many cells would be reused, re-attached or
submitted, without recording or sending anything.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._checks import line_error
from .._inputs import parse_tags, reject_unknown
from ..errors import JobTimeoutError, ValidationError
from ..models import AXIS_FIELDS
from ..runtime.jobs import Job
from ..runtime.reuse import IntactVideos, reuse_fields
from ..runtime.store import STOPPED_CODE, Event, ExperimentState, SendRule
from ..runtime.tracker import Tracker
from .cells import cell_job, planning, record
from .plan import (
    MODES,
    Cell,
    Input,
    SweepPlan,
    cell_requests,
    expected_time,
    grid_cells,
    plan_cells,
)

if TYPE_CHECKING:
    from ..widgets.waiting import WaitLine


WAIT_STEP_S = 0.1
"""How often ``Sweep.wait()`` looks whether every cell has ended."""
STATE_TTL_S = 0.5
"""How long ``Sweep.credits`` and ``Sweep.stopped`` reuse one reading of the store."""
MAX_NAME_CHARS = 200
"""The longest experiment name (it labels tables, report pages and file listings)."""


class Sweep:
    """A running sweep: ``jobs`` (one per cell, grid order), ``wait()``, ``df``."""

    def __init__(
        self, tracker: Tracker, name: str, axes: list[str], cells: list[Cell], rule: SendRule
    ):
        self.name = name
        self.axes = axes
        self.cells = cells
        self.jobs: list[Job] = []
        #: The run of each cell, in grid order.
        self.run_ids: list[str] = []
        self.rule = rule
        self._tracker = tracker
        self._state: tuple[float, ExperimentState] | None = None

    def _experiment(self) -> ExperimentState:
        """The experiment as the store has it (read at most every ``STATE_TTL_S``)."""
        now = time.monotonic()
        if self._state is None or now - self._state[0] > STATE_TTL_S:
            state = self._tracker.store.experiment(
                self.name, time.time(), self._tracker.backend, self.rule.models
            )
            self._state = (now, state)
        return self._state[1]

    @property
    def credits(self) -> float:
        """Credits reserved by this experiment's tasks (by every writer of the store), as the
        service reported them."""
        return self._experiment().spent_credits

    @property
    def stopped(self) -> str | None:
        """Why cells stopped being sent (budget, 402, 401, ``stop_submitting()``, from any
        writer of the store), or None."""
        return self._experiment().stopped

    def stop_submitting(self) -> int:
        """Send no more cells, from this or any other process; returns how many cells of this
        sweep that leaves unsent.

        Cells not yet sent end ``not_submitted`` (nothing created, nothing billed). Cells
        already sent keep running on the service and are billed (FoxAPI has no cancel
        endpoint); foxnb keeps tracking and downloading them.
        """
        tracker = self._tracker
        tracker.store.stop_experiment(self.name, "you called stop_submitting()")
        self._state = None
        tracker.engine.loop.call_soon_threadsafe(tracker.runner.poke, self.name)
        # Counted once the stop is in the store: a run still queued now is never sent (every
        # writer's begin_send refuses it from here on), and a worker may already have been
        # refused one and recorded it not_submitted before this read.
        runs = tracker.store.peek(self.run_ids)
        return sum(_left_unsent(held.run) for held in runs.values())

    def counts(self) -> dict[str, int]:
        """How many cells are in each status, e.g. ``{"completed": 4, "processing": 2}``."""
        return dict(Counter(job.status for job in self.jobs))

    def wait(self, timeout: float | None = None, *, quiet: bool = False) -> Sweep:
        """Block until every cell has ended; a failed cell does not raise (see ``df``).

        Raises ``JobTimeoutError`` if ``timeout`` seconds pass first (the jobs keep running).
        While it blocks, one line says how far the sweep is (cells ended, overall progress,
        time left), rewritten in place; ``quiet=True`` turns it off.
        """
        line = None if quiet or all(job.done for job in self.jobs) else _wait_line(self)
        deadline = None if timeout is None else time.monotonic() + timeout
        note = ""
        try:
            while not all(job.done for job in self.jobs):
                if deadline is not None and time.monotonic() >= deadline:
                    note = "(stopped waiting; the jobs keep running)"
                    raise JobTimeoutError(
                        f"sweep {self.name!r} not finished after {timeout} s "
                        f"({self._summary()}); its jobs keep running in the background"
                    )
                time.sleep(WAIT_STEP_S)
                if line is not None:
                    line.update()
        except KeyboardInterrupt:
            note = "(stopped waiting; the jobs keep running)"
            raise
        finally:
            if line is not None:
                line.close(note)
        return self

    @property
    def df(self) -> pd.DataFrame:
        """This sweep's runs from ``fx.runs()``, one row per cell in grid order."""
        self._tracker.link.flush_blocking()
        runs = self._tracker.store.dataframe().set_index("run_id")
        frame = runs.loc[self.run_ids].reset_index()
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
        # The display hook: the one upward import of the experiments (named in the layer test).
        from ..widgets.sweep_view import show_sweep

        show_sweep(self)


def start_sweep(
    tracker: Tracker,
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
    launch: bool = True,
    check_url: bool = True,
) -> Sweep | SweepPlan:
    """``Session.sweep``: check every cell, plan each, then record all and launch.

    ``launch=False`` records the cells for workers (``foxnb worker``) and launches none.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("name", "must be a non-empty text naming the experiment")
    # A name is shown in tables, pages and file listings: the prompt rule, on one line.
    if (problem := line_error("name", name, MAX_NAME_CHARS)) is not None:
        raise problem
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
    reject_unknown(fields, AXIS_FIELDS, "a field of sweep()")
    if "prompt" not in fields:
        raise ValidationError("prompt", "is required (one text, or a list of them)")
    tag_list = parse_tags(tags)
    axes, grid = grid_cells(fields, mode)
    requests, source = cell_requests(
        video,
        axes,
        grid,
        check_url=tracker.check_url if check_url else None,
        max_upload_bytes=tracker.client.max_upload_bytes,
    )
    input_sha256 = source.sha256
    models = frozenset(request.model for request in requests)
    # A first plan outside the critical section reads the videos a reuse relies on, so the
    # plan inside it (which every other writer of the store waits for) reads no file.
    intact = IntactVideos(tracker.owner.host)
    runs = [r for r in tracker.store.runs().values() if tracker.same_backend(r)]
    cells = plan_cells(runs, name, requests, axes, grid, input_sha256, force, intact)
    if dry_run:
        state = tracker.store.experiment(name, time.time(), tracker.backend, models)
        return SweepPlan(
            name,
            axes,
            cells,
            *expected_time(runs, cells),
            price_credits=state.price_credits,
            budget_credits=budget_credits,
            spent_credits=state.spent_credits,
        )
    rule = SendRule(name, backend=tracker.backend, models=models, per_writer=True)
    # Every new cell also records the budget it was sent under.
    extra: dict[str, Any] = {} if budget_credits is None else {"budget_credits": budget_credits}
    if not launch and input_sha256 is not None:
        # Cells recorded for workers, perhaps on machines without this clip: upload it now
        # and record the link with them (a worker sends it as it is; see recovery.requeue).
        url, at = tracker.engine.call(
            tracker.runner.uploads.url_for(Path(requests[0].video), input_sha256)
        )
        extra.update(video_url=url, uploaded_at=at)
    with planning(tracker, name) as (txn, runs):
        cells = plan_cells(runs, name, requests, axes, grid, input_sha256, force, intact)
        new = sum(cell.action == "submit" for cell in cells)
        if max_jobs is not None and new > max_jobs:
            raise ValidationError(
                "max_jobs",
                f"this sweep would submit {new} new jobs, more than {max_jobs}; nothing sent",
            )
        # Calling the sweep is asking for it to run: an earlier stop is lifted, and the budget
        # is this call's (both joined to this transaction: same thread).
        tracker.store.clear_stop(name)
        tracker.store.set_budget(name, budget_credits)
        # Every cell is in the store, in one transaction, before the first is launched: a
        # crash leaves all of them queued for fx.resume() (or this same call again), or none.
        events = [_event(tracker, cell, name, tag_list, source, extra) for cell in cells]
        run_ids, claims = record(tracker, txn, cells, events, launch)
    sweep = Sweep(tracker, name, axes, cells, rule)
    sweep.run_ids = run_ids
    if launch:
        tracker.engine.loop.call_soon_threadsafe(tracker.runner.poke, name)
        with tracker.lock:
            for cell, run_id in zip(cells, run_ids, strict=True):
                job = cell_job(tracker, cell, run_id, source, rule, claims)
                sweep.jobs.append(job)
    return sweep


def _event(
    tracker: Tracker,
    cell: Cell,
    name: str,
    tags: list[str],
    source: Input,
    extra: dict[str, Any],
) -> Event | None:
    """The cell's first event: a new queued or reused run (None: it re-attaches)."""
    if cell.action == "attach":
        return None
    input_sha256 = source.sha256
    known: dict[str, Any] = {}
    if source.duration_s is not None:
        known["input_duration_s"] = source.duration_s
    if cell.action == "submit":
        return tracker.first_event(
            cell.request, tags, input_sha256, experiment=name, cell=cell.index, **extra, **known
        )
    assert cell.run is not None
    return tracker.first_event(
        cell.request,
        tags,
        input_sha256,
        experiment=name,
        cell=cell.index,
        **known,
        **reuse_fields(cell.run),
    )


def _wait_line(sweep: Sweep) -> WaitLine | None:
    # Drawn by the widgets layer: an upward import on use, named in the layer test.
    from ..widgets.waiting import sweep_text, wait_line

    return wait_line(lambda: sweep_text(sweep))


def _left_unsent(run: dict[str, Any]) -> bool:
    """Whether a run of a stopped sweep is one the stop keeps from being sent."""
    status = run.get("status")
    return status == "queued" or (
        status == "not_submitted" and run.get("error_code") == STOPPED_CODE
    )
