"""``JudgeView``: star, reject, rate and annotate runs from the notebook, video by video.

    fx.judge(sweep)                    # or fx.judge(fx.runs().tail(6)), fx.judge(chain)

Each run shows its video, its run id and chosen scores, and under it: a ★ button (star: the
one to keep; a chain carries on from it), a ✕ button (reject: never chosen), a 1–5 rating and
a note (recorded when you press Enter or leave the box). Every click is one ledger event, as
``fx.star`` / ``fx.reject`` / ``fx.rate`` / ``fx.note`` would record, so it survives restarts
and shows in ``fx.runs()``, ``fx.compare(..., show=["rating"])`` and ``fx.report``. Every
control can be driven from code (``view.tiles[0].star.click()``), as tests do.

The view is live only while the kernel runs; the saved notebook keeps a static grid of the
same runs (``fx.compare`` with the ratings, picks and notes as they were when it was shown).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .._html.base import escape
from .._html.outcomes import values_html
from .._serve import video_media
from ..experiments.compare import compare, plain_value
from ..experiments.runs_like import runs_frame

if TYPE_CHECKING:
    from ..experiments.outcomes import Judgements

DEFAULT_SHOW = ("seam_jump", "color_shift", "rating")
_RATING_OPTIONS: list[tuple[str, int | None]] = [("rate…", None)] + [
    ("★" * n + "☆" * (5 - n), n) for n in range(1, 6)
]


class RunJudge(w.VBox):  # type: ignore[misc]
    """One run's tile: ``media``, ``values`` (scores, pick, note), ``star``, ``reject``
    (toggle buttons), ``rating`` (a dropdown, None = not rated) and ``note`` (a text box)."""

    def __init__(
        self, run: dict[str, Any], judgements: Judgements, show: Sequence[str], width_px: int
    ):
        self.run = dict(run)
        self.run_id = str(run["run_id"])
        self.judgements = judgements
        self.show = list(show)
        path = run.get("video_path")
        media = ""
        if run.get("status") == "completed" and path:
            media, _ = video_media(Path(str(path)), with_poster=False, fill=True)
        else:
            media = f"<div><b>{escape(run.get('status'))}</b></div>"
        self.media = w.HTML(media)
        self.caption = w.HTML(f"<code>{escape(self.run_id)}</code>")
        self.values = w.HTML()
        self.star = w.ToggleButton(description="★ star", tooltip="The one to keep")
        self.reject = w.ToggleButton(description="✕ reject", tooltip="Never choose this one")
        self.rating = w.Dropdown(options=_RATING_OPTIONS, value=None, layout=w.Layout(width="9em"))
        self.note = w.Text(
            placeholder="note (Enter to save)",
            continuous_update=False,
            layout=w.Layout(width="100%"),
        )
        for button in (self.star, self.reject):
            button.layout = w.Layout(width="auto")
        self._syncing = False
        self._apply(run)
        self.star.observe(self._on_star, "value")
        self.reject.observe(self._on_reject, "value")
        self.rating.observe(self._on_rating, "value")
        self.note.observe(self._on_note, "value")
        controls = w.HBox([self.star, self.reject, self.rating])
        super().__init__(
            [self.media, self.caption, self.values, controls, self.note],
            layout=w.Layout(width=f"{int(width_px) + 20}px", padding="4px"),
        )
        self.add_class("foxnb-judge-tile")

    def update(self, fields: dict[str, Any]) -> None:
        """Show judgement ``fields`` recorded for this run (from any source)."""
        self.run.update(fields)
        self._apply(self.run)

    def _apply(self, run: dict[str, Any]) -> None:
        self._syncing = True
        try:
            with self.star.hold_sync(), self.reject.hold_sync(), self.rating.hold_sync():
                self.star.value = run.get("pick") == "star"
                self.reject.value = run.get("pick") == "reject"
                rating = run.get("rating")
                self.rating.value = rating if rating in range(1, 6) else None
                note = run.get("note")
                self.note.value = note if isinstance(note, str) else ""
                self.values.value = values_html(run, self.show)
        finally:
            self._syncing = False

    def _on_star(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self.judgements.pick(self.run_id, "star" if change["new"] else None)

    def _on_reject(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self.judgements.pick(self.run_id, "reject" if change["new"] else None)

    def _on_rating(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self.judgements.rate(self.run_id, change["new"])

    def _on_note(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self.judgements.note(self.run_id, change["new"])


class JudgeView(w.VBox):  # type: ignore[misc]
    """Tiles of ``runs`` (``tiles``, one ``RunJudge`` each) in a grid; see the module docstring.

    ``show`` names the values written under each video.
    """

    def __init__(
        self,
        runs: object,
        judgements: Judgements,
        *,
        show: Sequence[str] = DEFAULT_SHOW,
        width_px: int = 280,
        title: str | None = None,
    ):
        frame = runs_frame(runs)
        self.frame = frame
        self.judgements = judgements
        self.show = [name for name in show if name in frame.columns]
        records = [
            {str(k): plain_value(v) for k, v in record.items()}
            for record in frame.to_dict("records")
        ]
        self.tiles = [RunJudge(run, judgements, self.show, width_px) for run in records]
        self._by_id = {tile.run_id: tile for tile in self.tiles}
        grid = w.GridBox(
            self.tiles,
            layout=w.Layout(
                grid_template_columns=f"repeat(auto-fill, minmax({int(width_px) + 24}px, 1fr))",
                grid_gap="6px",
                width="100%",
            ),
        )
        header = w.HTML(f"<b>{escape(title)}</b>" if title else "")
        super().__init__([header, grid])
        self.add_class("foxnb-judge")
        judgements.on_change(self._on_change)

    def _on_change(self, run_id: str, fields: dict[str, Any]) -> None:
        tile = self._by_id.get(run_id)
        if tile is not None:
            tile.update(fields)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = super()._repr_mimebundle_(**kwargs)
        # What a saved notebook shows without the kernel: the runs with their judgement.
        rows = "experiment" if "experiment" in self.frame else "status"
        try:
            static = compare(self.frame, rows=rows, cols="run_id", show=self.show).html
        except Exception:  # a fallback must never break the live view
            static = ""
        return {**bundle, "text/html": static}
