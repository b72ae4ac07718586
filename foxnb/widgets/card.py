"""``JobCard``: a live view of one job — status, progress, time, errors, then the video.

    card = foxnb.widgets.JobCard(job)      # or just put `job` last in a cell
    card                                   # updates by itself while the job runs

The card listens to ``job.on_update`` (called on foxnb's engine thread) and redraws at most
four times a second, always ending on the final state; between redraws the status line's
time moves by itself in the browser (``clock.StatusClock``). The header says which request
this is (prompt, and the fields set: clip, aspect, audio, seed…). Once the job completes,
the video plays inline from the local file (``foxnb._serve``: Jupyter's ``/files/`` URL, or
embedded where there is none). ``compact=True`` (cards inside a sweep view) leaves out the
task id, the simulator note and the stop button, which the sweep view shows once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .._html.job import (
    STOP_LABEL,
    JobView,
    details_html,
    header_html,
    problem_html,
    reused_html,
    status_html,
)
from .._serve import video_block
from ._sync import Coalescer, StartTimer, hold_sync_all, start_daemon_timer
from .clock import StatusClock

if TYPE_CHECKING:
    from ..runtime.jobs import Job

REDRAW_INTERVAL_S = 0.25
_BAR_STYLES = {
    "completed": "success",
    "detached": "warning",
    "failed": "danger",
    "cancelled": "danger",
    "not_submitted": "danger",
    "submission_unknown": "danger",
    "download_failed": "danger",
}


class JobCard(w.VBox):  # type: ignore[misc]
    """A live card for ``job``; CSS class ``foxnb-card``.

    Parts (attributes): ``status`` (class ``foxnb-status``, text starts with the status
    word), ``progress`` (an ``IntProgress``), ``details`` (task id, simulator note),
    ``problem`` (error box), ``media`` (the ``<video class="foxnb-video">`` once completed)
    and ``stop`` (class ``foxnb-stop``: stops *tracking*; FoxAPI cannot cancel a task).
    ``embed_video=True`` embeds the finished video in the page (up to ``max_embed_bytes``)
    instead of pointing at the file (``False``: never; default: where no server serves it).
    """

    def __init__(
        self,
        job: Job,
        *,
        compact: bool = False,
        embed_video: bool | None = None,
        max_embed_bytes: int | None = None,
        redraw_interval_s: float = REDRAW_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        start_timer: StartTimer = start_daemon_timer,
        **kwargs: Any,
    ):
        self.job = job
        self.embed_video = embed_video
        self.max_embed_bytes = max_embed_bytes
        self.compact = compact
        view = JobView.of(job)
        self.header = w.HTML(
            header_html(job.run_id, job.request.model, job.request.prompt, view.params)
        )
        self.status = StatusClock()
        self.progress = w.IntProgress(value=0, min=0, max=100, layout=w.Layout(width="100%"))
        self.details = w.HTML()
        self.problem = w.HTML()
        self.media = w.HTML()
        self.stop = w.Button(
            description=STOP_LABEL,
            tooltip=STOP_LABEL,
            icon="stop",
            layout=w.Layout(width="auto", max_width="100%"),
        ).add_class("foxnb-stop")
        self.stop.on_click(self._on_stop)
        children = [self.header, self.status, self.progress]
        children += [self.problem, self.media] if compact else [self.details, self.problem]
        children += [] if compact else [self.media, self.stop]
        super().__init__(children=children, **kwargs)
        self.add_class("foxnb-card")
        self._coalescer = Coalescer(
            self._render, redraw_interval_s, clock=clock, start_timer=start_timer
        )
        self._render()
        job.on_update(self._on_update)

    def _on_update(self, job: Job) -> None:
        self._coalescer.poke(final=job.done)

    def _on_stop(self, _button: w.Button) -> None:
        with self.stop.hold_sync():
            self.stop.disabled = True
            self.stop.description = "Stopping tracking…"
        self.job.detach()

    def _render(self) -> None:
        view = JobView.of(self.job)
        media = self.media.value
        if not media and view.status == "completed" and view.video_path is not None:
            media = reused_html(view.reused_from) + video_block(
                view.video_path,
                embed=self.embed_video,
                max_embed_bytes=self.max_embed_bytes,
                with_poster=False,
            )
        parts = (self.status, self.progress, self.details, self.problem, self.media, self.stop)
        with hold_sync_all(*parts, self.stop.layout):
            self.status.value = status_html(
                view.status, view.progress_pct, view.elapsed_s, view.eta_s, done=view.done
            )
            self.status.status = view.status
            self.status.progress_pct = view.progress_pct
            self.status.elapsed_s = -1.0 if view.elapsed_s is None else view.elapsed_s
            self.status.eta_s = -1.0 if view.eta_s is None else view.eta_s
            self.status.done = view.done
            self.progress.value = view.progress_pct
            self.progress.bar_style = _BAR_STYLES.get(view.status, "info")
            self.details.value = details_html(view.task_id, view.backend)
            self.problem.value = problem_html(view)
            self.media.value = media
            if view.done:
                self.stop.layout.display = "none"
