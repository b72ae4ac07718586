"""How runs turned out: their scores, and your judgement of them, kept in the ledger.

    fx.score(sweep)                     # waits for (or computes) every run's scores
    fx.rate(run_id, 4)                  # 1..5 stars (None clears)
    fx.star(job); fx.reject(run_id)     # a pick: the one to keep / never choose
    fx.note(row, "seam is clean, sky drifts green")
    fx.runs()[["run_id", "seam_jump", "rating", "pick", "note"]]

A run is named by its run id, its ``Job``, or its row of ``fx.runs()``. Each judgement is
one ledger event on the run (``rating``, ``pick``, ``note`` and ``judged_at``), so it survives
restarts, shows in ``fx.runs()``, ``fx.compare`` and ``fx.report``, and other kernels sharing
the folder see it. Only the latest of each counts: rating again replaces the rating, a new
note replaces the note (``""`` clears it), and ``star``/``reject`` replace each other.

Scores are computed in the background as each run completes (``foxnb.runtime.scoring``);
``score`` is for runs made before that existed, for waiting until a sweep's scores are all
in, and for re-scoring (``force=True``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from ..errors import ValidationError
from ..models import PICKS, RATINGS, closest_name
from ..runtime.jobs import Job
from ..runtime.scoring import ScoreWorker, needs_scores
from ..runtime.store import RunStore
from .runs_like import RunsLike, runs_frame

MAX_NOTE_CHARS = 10_000
RunRef = str | Job | Mapping[str, Any] | pd.Series
"""One run: its id, its ``Job``, or its row of ``fx.runs()`` (anything with ``run_id``)."""


def run_id_of(run: object, field: str = "run") -> str:
    """The run id of a run id, a ``Job`` or a row; a ``ValidationError`` naming ``field``."""
    if isinstance(run, Job):
        return run.run_id
    if isinstance(run, str):
        value: object = run
    elif isinstance(run, pd.Series | Mapping):
        value = run.get("run_id")
    else:
        value = None
    if not isinstance(value, str) or not value:
        raise ValidationError(
            field, f"must be a run id, a Job or a row of fx.runs(), got {type(run).__name__}"
        )
    return value


def run_ids_of(runs: object, field: str = "runs") -> list[str]:
    """The run ids of one run or many (a DataFrame, a Sweep or Chain, a list of runs)."""
    if isinstance(runs, str | Job | pd.Series | Mapping):
        return [run_id_of(runs, field)]
    if isinstance(runs, pd.DataFrame | RunsLike):
        return [str(r) for r in runs_frame(runs, field)["run_id"]]
    if isinstance(runs, Sequence):
        return [run_id_of(run, field) for run in runs]
    raise ValidationError(
        field, "must be a run (id, Job or row), a list of them, a DataFrame of runs or a Sweep"
    )


class Judgements:
    """Records ratings, picks and notes for the runs of one ledger; see the module docstring.

    ``on_change`` callbacks are told ``(run_id, fields)`` after each recorded judgement (the
    widgets use it to redraw); they run on the caller's thread.
    """

    def __init__(self, ledger: RunStore, clock: Callable[[], float] = time.time):
        self.ledger = ledger
        self.clock = clock
        self._listeners: list[Callable[[str, dict[str, Any]], None]] = []

    def on_change(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        """Call ``callback(run_id, fields)`` after every judgement recorded through this object."""
        self._listeners.append(callback)

    def rate(self, run: RunRef, stars: int | None) -> dict[str, Any]:
        """Rate ``run`` 1 (poor) to 5 (excellent); ``None`` clears its rating."""
        if stars is not None and (isinstance(stars, bool) or stars not in RATINGS):
            raise ValidationError("stars", f"must be 1, 2, 3, 4 or 5 (or None), got {stars!r}")
        return self._record(run, rating=stars)

    def pick(self, run: RunRef, pick: str | None) -> dict[str, Any]:
        """Set ``run``'s pick: ``"star"``, ``"reject"``, or ``None`` to clear it."""
        if pick is not None and pick not in PICKS:
            hint = closest_name(str(pick), list(PICKS))
            more = f"; did you mean {hint!r}?" if hint else ""
            raise ValidationError("pick", f"unknown pick {pick!r}{more}", (*PICKS, "None"))
        return self._record(run, pick=pick)

    def note(self, run: RunRef, text: str | None) -> dict[str, Any]:
        """Replace ``run``'s note with ``text`` (``""`` or ``None`` clears it)."""
        if text is not None and not isinstance(text, str):
            raise ValidationError("text", f"must be text, got {type(text).__name__}")
        if text is not None and len(text) > MAX_NOTE_CHARS:
            raise ValidationError(
                "text", f"is {len(text):,} characters long; a note holds {MAX_NOTE_CHARS:,}"
            )
        return self._record(run, note=text or None)

    def of(self, run_id: str) -> dict[str, Any]:
        """The current ``rating``, ``pick`` and ``note`` of ``run_id`` (None when not given)."""
        run = self.ledger.get(run_id) or {}
        return {name: run.get(name) for name in ("rating", "pick", "note")}

    def _record(self, run: RunRef, **fields: Any) -> dict[str, Any]:
        run_id = self._known(run_id_of(run))
        fields["judged_at"] = now = self.clock()
        self.ledger.append(run_id, now, **fields)
        for callback in list(self._listeners):
            callback(run_id, fields)
        return fields

    def _known(self, run_id: str) -> str:
        if self.ledger.get(run_id) is None:
            runs = self.ledger.runs()  # only to suggest a near name
            hint = closest_name(run_id, list(runs))
            more = f"; did you mean {hint!r}?" if hint else ""
            raise ValidationError("run", f"no run {run_id!r} in {self.ledger.location}{more}")
        return run_id


def score_runs(
    ledger: RunStore, scorer: ScoreWorker, runs: object | None, *, force: bool = False
) -> pd.DataFrame:
    """``fx.score``: score ``runs`` (all completed runs when None) that lack current scores,
    or all of them with ``force``; wait for each, and return their rows of ``fx.runs()``.

    Runs still being scored in the background are waited for, not scored twice. Runs that
    did not complete are returned as they are (nothing to score).
    """
    if runs is None:
        recorded = ledger.runs()
        wanted = [r for r, run in recorded.items() if run.get("status") == "completed"]
    else:
        wanted = run_ids_of(runs)
        recorded = {r: held.run for r, held in ledger.peek(wanted).items()}
        unknown = [r for r in wanted if r not in recorded]
        if unknown:
            raise ValidationError("runs", f"no run {unknown[0]!r} in {ledger.location}")
    todo = [r for r in wanted if needs_scores(recorded[r], force) or scorer.pending(r) is not None]
    scorer.score_all(todo, force=force)
    frame = ledger.dataframe().set_index("run_id")
    result: pd.DataFrame = frame.loc[list(dict.fromkeys(wanted))].reset_index()
    return result
