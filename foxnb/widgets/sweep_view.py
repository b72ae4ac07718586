"""``SweepView``: a running sweep at a glance — one overall bar and a grid of its cells.

    sweep = fx.sweep("clip.mp4", name="dusk-vs-storm", prompt=[...], seed=[1, 2, 3])
    sweep                               # the live view; once every cell ended, a saved grid
    foxnb.widgets.show_sweep(sweep)     # the same, explicitly
    foxnb.widgets.SweepView(sweep)      # the live view alone (never replaced)

The header names the experiment, says when it runs on the simulator (nothing billed), counts
the cells per status and gives the time since the first cell was sent. One bar shows the
mean progress of all cells — a cell that has ended counts as 100 % — next to "N of M cells
ended". Below it, every cell labelled with its axis values: up to ``MAX_CARDS`` cells each
get a compact live ``JobCard`` (the task id, simulator note and stop button are the view's,
said once); a bigger sweep shows compact tiles instead (status, a thin bar, the
label), all drawn as one HTML widget at most twice a second, so a 100-cell sweep costs the
browser one small update per redraw rather than a hundred cards.

Jobs report from foxnb's engine thread; redraws are coalesced (``_sync.Coalescer``) and the
final state is drawn at once. Displayed in a cell (``show_sweep``), the view is replaced when
every cell has ended by a static snapshot — the summary line and the ``fx.compare`` grid of
the results — which a saved notebook keeps and GitHub or nbviewer can show. Outside a
notebook, one line of text is printed each time the counts change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .._html.base import escape
from .._html.sweep import (
    CellState,
    card_columns,
    cell_label,
    comparison_axes,
    counts_text,
    ended_html,
    ended_text,
    header_html,
    overall_pct,
    short_cell_label,
    snapshot_html,
    tiles_html,
)
from ..experiments.compare import compare
from ._sync import Coalescer, StartTimer, hold_sync_all, once_off_thread, start_daemon_timer
from .card import JobCard
from .text import in_kernel

if TYPE_CHECKING:
    from ..experiments.sweep import Sweep
    from ..runtime.jobs import Job

MAX_CARDS = 24
"""Sweeps with more cells than this show compact tiles instead of one card per cell."""
REDRAW_INTERVAL_S = 0.25
TILES_REDRAW_INTERVAL_S = 0.5


# ---------------------------------------------------------------------------- reading a sweep


def cell_states(sweep: Sweep) -> list[CellState]:
    """Every cell of ``sweep`` as it is now (any thread)."""
    states = []
    for cell, job in zip(sweep.cells, sweep.jobs, strict=True):
        state = job.snapshot()
        states.append(
            CellState(
                cell_label(cell.values, cell.index),
                state.status,
                state.progress,
                job.done,
                short_cell_label(cell.values, cell.index),
            )
        )
    return states


def started_at_s(jobs: Sequence[Job]) -> float | None:
    """When the first of ``jobs`` was sent (epoch seconds), None if none was."""
    times = [t for t in (job.snapshot().submitted_at for job in jobs) if t is not None]
    return min(times) if times else None


def sweep_header_html(sweep: Sweep, cells: Sequence[CellState], elapsed_s: float | None) -> str:
    """``header_html`` for ``sweep`` as it stands: the credits are this sweep's own (a re-run
    that reuses every cell spent 0, whatever the experiment spent before)."""
    backend = sweep.jobs[0].backend  # every cell runs on the same backend
    spent = sum(job.snapshot().credits or 0.0 for job in sweep.jobs)
    reused = sum(cell.action == "reuse" for cell in sweep.cells)
    return header_html(
        sweep.name, backend, cells, elapsed_s, credits=spent, stopped=sweep.stopped, reused=reused
    )


def snapshot_bundle(sweep: Sweep, elapsed_s: float | None = None) -> dict[str, str]:
    """The static display of a finished ``sweep``: ``text/html`` and ``text/plain``."""
    cells = cell_states(sweep)
    frame, rows, cols = comparison_axes(sweep.df, sweep.axes)
    grid = compare(frame, rows=rows, cols=cols).html
    page = snapshot_html(sweep_header_html(sweep, cells, elapsed_s), ended_html(cells), grid)
    return {"text/html": page, "text/plain": repr(sweep)}


# ---------------------------------------------------------------------------- the widget


class SweepView(w.VBox):  # type: ignore[misc]
    """A live view of ``sweep``; CSS class ``foxnb-sweep``.

    Parts (attributes): ``header`` (class ``foxnb-sweep-header``), ``progress`` (the overall
    ``IntProgress``, class ``foxnb-sweep-progress``), ``ended`` ("N of M cells ended"),
    ``stop`` (class ``foxnb-sweep-stop``, shown while cells are unsent: calls
    ``sweep.stop_submitting()``; cells already sent keep running and are billed),
    ``cards`` (one ``JobCard`` per cell, in grid order; empty for a large sweep) and
    ``grid`` (a ``GridBox`` of labelled cards, or one ``HTML`` of tiles when the sweep has
    more than ``max_cards`` cells).
    """

    def __init__(
        self,
        sweep: Sweep,
        *,
        max_cards: int = MAX_CARDS,
        clock: Callable[[], float] = time.monotonic,
        start_timer: StartTimer = start_daemon_timer,
        **kwargs: Any,
    ):
        self.sweep = sweep
        self.header = w.HTML()
        self.progress = w.IntProgress(value=0, min=0, max=100, layout=w.Layout(width="60%"))
        self.progress.add_class("foxnb-sweep-progress")
        self.ended = w.HTML()
        self.cards: list[JobCard] = []
        self.uses_tiles = len(sweep.jobs) > max_cards
        if self.uses_tiles:
            self.grid: w.Widget = w.HTML().add_class("foxnb-sweep-tiles")
            interval_s = TILES_REDRAW_INTERVAL_S
        else:
            self.cards = [
                JobCard(job, compact=True, clock=clock, start_timer=start_timer)
                for job in sweep.jobs
            ]
            self.grid = w.GridBox(
                children=[
                    w.VBox(
                        [w.HTML(f"<b>{escape(cell_label(cell.values, cell.index))}</b>"), card]
                    ).add_class("foxnb-sweep-cell")
                    for cell, card in zip(sweep.cells, self.cards, strict=True)
                ],
                layout=w.Layout(
                    grid_template_columns=card_columns(sweep.axes, [c.values for c in sweep.cells]),
                    grid_gap="8px",
                    width="100%",
                ),
            )
            interval_s = REDRAW_INTERVAL_S
        self.stop = w.Button(
            description="Stop submitting",
            tooltip="Cells not yet sent are not sent (nothing billed). Cells already sent keep "
            "running and are billed: FoxAPI has no cancel endpoint.",
            icon="stop",
        ).add_class("foxnb-sweep-stop")
        self.stop.on_click(self._on_stop)
        bar = w.HBox([self.progress, self.ended, self.stop], layout=w.Layout(align_items="center"))
        super().__init__(children=(self.header, bar, self.grid), **kwargs)
        self.add_class("foxnb-sweep")
        self._started_at_s: float | None = None
        self._ended_at_s: float | None = None
        self._coalescer = Coalescer(self._render, interval_s, clock=clock, start_timer=start_timer)
        self._render()
        for job in sweep.jobs:
            job.on_update(self._on_update)

    @property
    def elapsed_s(self) -> float | None:
        """Seconds since the first cell was sent; frozen once every cell has ended."""
        if self._started_at_s is None:
            self._started_at_s = started_at_s(self.sweep.jobs)
        if self._started_at_s is None:
            return None
        return (self._ended_at_s or time.time()) - self._started_at_s

    def _on_stop(self, _button: w.Button) -> None:
        self.sweep.stop_submitting()
        self._coalescer.poke(final=True)

    def _on_update(self, _job: Job) -> None:
        self._coalescer.poke(final=all(job.done for job in self.sweep.jobs))

    def _render(self) -> None:
        cells = cell_states(self.sweep)
        if self._ended_at_s is None and all(cell.done for cell in cells):
            self._ended_at_s = time.time()
        parts = [self.header, self.progress, self.ended, self.stop]
        if self.uses_tiles:
            parts.append(self.grid)
        with hold_sync_all(*parts):
            self.header.value = sweep_header_html(self.sweep, cells, self.elapsed_s)
            self.progress.value = overall_pct(cells)
            self.progress.bar_style = "success" if self._ended_at_s is not None else "info"
            self.ended.value = ended_html(cells)
            # Only while some cell is still unsent: that is all the button can affect.
            unsent = any(cell.status == "queued" for cell in cells)
            self.stop.layout.display = None if unsent and not self.sweep.stopped else "none"
            if self.uses_tiles:
                self.grid.value = tiles_html(cells, self.sweep.axes)


# ---------------------------------------------------------------------------- displaying


def show_sweep(sweep: Sweep) -> None:
    """Display ``sweep`` here: a live view that becomes a saved comparison grid at the end.

    Outside a notebook, prints a line each time the cells' counts change.

        foxnb.widgets.show_sweep(sweep)
    """
    if not in_kernel():
        print_sweep_progress(sweep)
        return
    from IPython.display import display

    if all(job.done for job in sweep.jobs):
        elapsed_s = _finished_span_s(sweep.jobs)
        display(snapshot_bundle(sweep, elapsed_s), raw=True)  # type: ignore[no-untyped-call]
        return
    view = SweepView(sweep)
    cells = cell_states(sweep)
    live = {
        **view._repr_mimebundle_(),
        # Shown by viewers without the widget (an untrusted reopen, GitHub) until replaced.
        "text/html": snapshot_html(sweep_header_html(sweep, cells, None), ended_html(cells), ""),
        "text/plain": repr(sweep),
    }
    handle = display(live, raw=True, display_id=True)  # type: ignore[no-untyped-call]

    def replace() -> None:
        handle.update(snapshot_bundle(sweep, view.elapsed_s), raw=True)

    fire = once_off_thread(replace, "foxnb-sweep-snapshot")

    def replace_when_done(_job: Job) -> None:
        if all(job.done for job in sweep.jobs):
            fire()

    for job in sweep.jobs:
        job.on_update(replace_when_done)


def _finished_span_s(jobs: Sequence[Job]) -> float | None:
    """From the first cell sent to the last one completed, for a sweep that already ended."""
    start_s = started_at_s(jobs)
    ends = [t for t in (job.snapshot().completed_at for job in jobs) if t is not None]
    if start_s is None or not ends:
        return None
    return max(ends) - start_s


def print_sweep_progress(sweep: Sweep) -> None:
    """Print a line now and whenever the cells' counts change (plain text, any terminal).

    ``sweep 'dusk-vs-storm': 2 of 6 cells ended (processing 4 · completed 2)``
    """
    last: list[str] = []
    lock = threading.Lock()

    def show(_job: Job | None = None) -> None:
        cells = cell_states(sweep)
        line = f"sweep {sweep.name!r}: {ended_text(cells)} ({counts_text(cells)})"
        with lock:
            if last and last[0] == line:
                return
            last[:] = [line]
            print(line, flush=True)

    show()
    for job in sweep.jobs:
        job.on_update(show)
