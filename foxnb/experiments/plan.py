"""Planning a sweep: its grid of cells, each cell's checked request, and what to do per cell.

Pure decisions on recorded runs, made before anything is written or sent:

- ``grid_cells`` turns the fields of ``fx.sweep(...)`` into axes and cells (``product`` or
  ``zip``);
- ``cell_requests`` checks every cell's ``ExtendRequest`` (the input clip, or URL, is read
  once);
- ``plan_cells`` decides per cell: re-attach its unfinished run, reuse a completed video
  (``foxnb.runtime.reuse``, the rule ``fx.extend()`` follows too: only a video still on disk,
  unchanged, readable and fitting its input), or submit — so a sweep run again never pays
  twice, and never takes an error page for a result;
- ``SweepPlan`` is what ``dry_run=True`` shows.
"""

from __future__ import annotations

import html
import itertools
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import media
from .._files import sha256_file
from .._inputs import check_upload_size, fit_aspect, source
from ..errors import ValidationError
from ..models import RESUMABLE, ExtendRequest
from ..runtime.reuse import IntactVideos, Key, completed_by_key, request_key, reusable, run_key

MODES = ("product", "zip")


@dataclass(frozen=True)
class Cell:
    """One point of the grid: its index, its axis values and its checked request."""

    index: int
    values: dict[str, Any]
    request: ExtendRequest
    action: str  # "submit", "reuse" or "attach"
    run: dict[str, Any] | None  # the earlier run reused or re-attached


def cell_label(index: int, values: dict[str, Any]) -> str:
    """``cell 4 (prompt='A storm…', seed=3)``, as errors name a cell."""
    shown = ", ".join(f"{k}={_short(v)}" for k, v in values.items())
    return f"cell {index}" + (f" ({shown})" if shown else "")


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) > 24:
        return repr(value[:23] + "…")
    return repr(value)


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


def grid_cells(fields: dict[str, Any], mode: str) -> tuple[list[str], list[dict[str, Any]]]:
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


@dataclass(frozen=True)
class Input:
    """What a sweep knows of its input: content hash (local files) and duration, if known."""

    sha256: str | None
    duration_s: float | None


def cell_requests(
    video: str | Path,
    axes: list[str],
    grid: list[dict[str, Any]],
    *,
    check_url: Callable[[str], media.VideoInfo | None] | None = None,
    max_upload_bytes: int | None = None,
) -> tuple[list[ExtendRequest], Input]:
    """Every cell's checked request, and what is known of the input (read once).

    A local clip is checked (and refused over ``max_upload_bytes``); a URL is checked with
    ``check_url`` when given (``Tracker.check_url``). Cells without an ``aspect_ratio`` take
    the input's shape when it is known.
    """
    video_source = source(video)
    requests = []
    for index, fields in enumerate(grid):
        try:
            requests.append(ExtendRequest(video=video_source, **fields))
        except ValidationError as exc:
            # Keep the error's type and field so `except VideoInputError` etc. still work;
            # only say which cell it was.
            exc.args = (f"{cell_label(index, {a: fields[a] for a in axes})}: {exc}",)
            raise
    sha256 = None
    if requests[0].is_local:
        if max_upload_bytes is not None:
            check_upload_size(video_source, max_upload_bytes)
        info: media.VideoInfo | None = media.check_input(video_source)
        sha256 = sha256_file(video_source)
    else:
        info = check_url(video_source) if check_url is not None else None
    if info is None:
        return requests, Input(None, None)
    for index, fields in enumerate(grid):  # a loop, not a comprehension: warnings' stacklevel
        requests[index] = fit_aspect(requests[index], fields.get("aspect_ratio"), info, 5)
    return requests, Input(sha256, info.duration_s)


def plan_cells(
    runs: Iterable[dict[str, Any]],
    name: str,
    requests: list[ExtendRequest],
    axes: list[str],
    grid: list[dict[str, Any]],
    input_sha256: str | None,
    force: bool,
    intact: IntactVideos | None = None,
) -> list[Cell]:
    """Decide per cell: re-attach its unfinished run, reuse a completed one, or submit.

    ``intact`` remembers which videos were checked, so planning again reads no file twice.
    """
    unfinished: dict[Key, list[dict[str, Any]]] = {}
    runs = list(runs)  # of this backend only: a simulator's video is no answer to a paid one
    for run in runs:
        status = run.get("status")
        # A cell stays bound to its earlier run while that run may still produce (or may
        # already have paid for) a video: resumable runs, and submission_unknown ones,
        # which only force=True sends again.
        bound = status in RESUMABLE or (status == "submission_unknown" and not force)
        if run.get("experiment") == name and bound:
            unfinished.setdefault(run_key(run), []).append(run)
    completed = completed_by_key(runs)
    intact = IntactVideos() if intact is None else intact
    cells = []
    for index, (request, fields) in enumerate(zip(requests, grid, strict=True)):
        key = request_key(request, input_sha256)
        earlier = unfinished[key].pop(0) if unfinished.get(key) else None
        action = "attach"
        if earlier is None and not force:
            earlier = reusable(completed, request, input_sha256, intact)
            action = "reuse"
        values = {a: fields[a] for a in axes}
        cells.append(Cell(index, values, request, action if earlier else "submit", earlier))
    return cells


def expected_time(runs: Iterable[dict[str, Any]], cells: list[Cell]) -> tuple[float | None, str]:
    """A rough time per new job, from this ledger's completed runs of the same model."""
    models = sorted({c.request.model for c in cells if c.action == "submit"})
    if not models:
        return 0.0, "nothing to submit"
    done = [r for r in runs if r.get("status") == "completed" and r.get("duration_s")]
    medians, counts = [], []
    for model in models:
        durations = [float(r["duration_s"]) for r in done if r.get("model") == model]
        if not durations:
            return None, f"no completed {model} runs in this ledger to go by"
        medians.append(statistics.median(durations))
        counts.append(f"{len(durations)} completed {model} runs")
    return max(medians), "median duration of " + ", ".join(counts) + "; cells run concurrently"
