"""What ``job.wait()`` and ``sweep.wait()`` show while they block: one line, rewritten in place.

    job.wait()              # r2026…: processing 40% · 12 s elapsed · ~8 s left
    job.wait(quiet=True)    # nothing shown

- In a notebook: one output, updated twice a second (``update_display``), that ends showing
  the final state, e.g. ``completed after 14 s``; never a flood of lines.
- In a terminal: one line rewritten with a carriage return, cut to the terminal's width,
  ended with a newline.
- Anywhere else (a script whose output goes to a file or a pipe, a log): nothing, so logs
  stay clean. ``quiet=True`` turns the line off everywhere.

Only the thread that runs the cell (the main thread) draws: a ``wait()`` inside a callback
or a worker thread stays silent.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from .._html.base import format_duration
from .._html.waiting import wait_line_html
from .text import in_kernel

if TYPE_CHECKING:
    from IPython.display import DisplayHandle

    from ..experiments.sweep import Sweep
    from ..runtime.jobs import Job

UPDATE_INTERVAL_S = 0.5
"""How often the line is redrawn (the final state is always drawn)."""

Render = Callable[[], tuple[str, int]]
"""Returns the line's text and a progress percentage for the bar."""


class WaitLine:
    """One line of progress that ``update()`` rewrites and ``close()`` leaves in place."""

    def __init__(
        self,
        render: Render,
        *,
        stream: TextIO | None = None,
        kernel: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._render = render
        self._stream = stream if stream is not None else sys.stdout
        self._kernel = in_kernel() if kernel is None else kernel
        self._clock = clock
        self._last_s = -float("inf")
        self._width = 0
        self._handle: DisplayHandle | None = None

    def update(self, *, force: bool = False) -> None:
        """Redraw if ``UPDATE_INTERVAL_S`` has passed since the last time (or ``force``)."""
        now = self._clock()
        if not force and now - self._last_s < UPDATE_INTERVAL_S:
            return
        self._last_s = now
        self._draw(*self._render(), final=False)

    def close(self, note: str = "") -> None:
        """Draw the final state (and ``note``, kept whole if the line is cut) and end it."""
        text, pct = self._render()
        self._draw(text, pct, final=True, note=note)

    def _draw(self, text: str, pct: int, *, final: bool, note: str = "") -> None:
        if self._kernel:
            text = f"{text} {note}".strip()
            from IPython.display import display

            bundle = {"text/plain": text, "text/html": wait_line_html(text, pct, ended=final)}
            if self._handle is None:
                self._handle = display(bundle, raw=True, display_id=True)  # type: ignore[no-untyped-call]
            else:
                self._handle.update(bundle, raw=True)  # type: ignore[no-untyped-call]
            return
        columns = shutil.get_terminal_size().columns - 1 - (len(note) + 1 if note else 0)
        text = text if len(text) <= columns else text[: max(1, columns - 1)] + "…"
        text = f"{text} {note}" if note else text
        # Pad over what the previous, longer line left on screen.
        self._stream.write("\r" + text.ljust(self._width) + ("\n" if final else ""))
        self._stream.flush()
        self._width = len(text)


def wait_line(render: Render, *, quiet: bool = False) -> WaitLine | None:
    """A ``WaitLine`` where one can be shown (see the module docstring), else None."""
    if quiet or threading.current_thread() is not threading.main_thread():
        return None
    if in_kernel():
        return WaitLine(render, kernel=True)
    stream = sys.stdout
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return None
    return WaitLine(render, stream=stream, kernel=False)


def job_text(job: Job) -> tuple[str, int]:
    """``r…: processing 40% · 12 s elapsed · ~8 s left``, and the progress."""
    timing = job.timing()
    if job.done:
        took = f" after {format_duration(timing.elapsed_s)}" if timing.elapsed_s else ""
        reused = f" (reused from {job.reused_from})" if job.reused_from else ""
        return f"{job.run_id}: {job.status}{took}{reused}", job.progress
    parts = [f"{job.run_id}: {job.status} {job.progress}%"]
    if timing.elapsed_s is not None:
        parts.append(f"{format_duration(timing.elapsed_s)} elapsed")
    if timing.phrase:
        parts.append(timing.phrase)
    return " · ".join(parts), job.progress


def sweep_text(sweep: Sweep) -> tuple[str, int]:
    """``sweep 'dusk': 4 of 6 ended (completed 4) · 63% · ~6 s left``, and the mean progress."""
    jobs = sweep.jobs
    ended = [job for job in jobs if job.done]
    pct = round(sum(100 if job.done else job.progress for job in jobs) / max(1, len(jobs)))
    counts = Counter(job.status for job in ended)
    summary = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
    parts = [f"sweep {sweep.name!r}: {len(ended)} of {len(jobs)} ended"]
    if summary:
        parts[0] += f" ({summary})"
    running = [job.timing() for job in jobs if not job.done]
    if running:
        parts.append(f"{pct}%")
        left = [t.eta_s for t in running if t.eta_s is not None]
        overdue = sum(t.phase == "overdue" for t in running)
        if left:
            parts.append(f"~{format_duration(max(left))} left")
        if overdue:
            parts.append(f"{overdue} overdue, still processing")
    return " · ".join(parts), pct
