"""What a form leaves in the saved notebook: a static record of every job it submitted.

A form is a widget, and widgets die with the kernel ("model not found" after a reload), so
the jobs submitted from it would vanish with it. When a form is displayed in a cell, it
displays a second output right below itself, ``FormResults``, with a ``display_id``: each
time one of its jobs ends, that output is replaced (``update_display``, which reaches the
cell even from a button's callback) by the static snapshots of every ended job, newest
first, each with its parameters and its video. The notebook saves that output like any
other, so after save, shutdown and reload the results are still there and their videos
play (GitHub and nbviewer show them too). While a job runs, its live card is in the form;
when it ends, the card leaves the form and its snapshot appears here.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .display import snapshot_bundle

if TYPE_CHECKING:
    from ..runtime.jobs import Job

PLACEHOLDER = {"text/plain": ""}


class FormResults:
    """The saved output of a form's ended jobs (CSS class ``foxnb-form-results``)."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self._handle: Any = None
        self._lock = threading.Lock()
        self._snapshots: dict[str, str] = {}

    @property
    def shown(self) -> bool:
        """True once ``show()`` put the output in a cell."""
        return self._handle is not None

    def show(self) -> None:
        """Put the (empty) output in the current cell; later updates replace it."""
        from IPython.display import display

        self._handle = display(PLACEHOLDER, raw=True, display_id=True)  # type: ignore[no-untyped-call]

    def ended(self, job: Job) -> None:
        """Record ``job``'s final snapshot and redraw the output (call it off the engine
        thread: the snapshot decodes a poster frame)."""
        html = snapshot_bundle(job)["text/html"]
        with self._lock:
            if job not in self.jobs:
                self.jobs.append(job)
            self._snapshots[job.run_id] = html
            bundle = self.bundle()
        if self._handle is not None:
            self._handle.update(bundle, raw=True)

    def bundle(self) -> dict[str, str]:
        """The output as it stands: every ended job's snapshot, newest first."""
        parts = [self._snapshots[job.run_id] for job in reversed(self.jobs)]
        html = f'<div class="foxnb-form-results">{"".join(parts)}</div>'
        plain = f"{len(parts)} job(s) submitted from the form: " + ", ".join(
            job.run_id for job in reversed(self.jobs)
        )
        return {"text/html": html, "text/plain": plain}
