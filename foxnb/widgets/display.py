"""What a ``Job`` looks like when a cell displays it (``job`` as the last line, ``display(job)``).

In a notebook: the live ``JobCard``. Widgets vanish when the kernel stops, so the same
output also carries a static ``text/html`` snapshot, and when the job ends the output is
replaced (``update_display``) by the final snapshot alone — status, parameters, a poster
of the last frame and a ``<video>`` of the local file — which a saved notebook keeps and
GitHub or nbviewer can show. Elsewhere (a script, a terminal IPython): one line of text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._html.job import JobView, snapshot_html
from .._serve import video_block
from ._sync import once_off_thread
from .text import in_kernel, status_line

if TYPE_CHECKING:
    from ..runtime.jobs import Job


def snapshot_bundle(job: Job, *, embed_video: bool | None = None) -> dict[str, str]:
    """The static display of ``job`` as it is now: ``text/html`` and ``text/plain``."""
    view = JobView.of(job)
    media = ""
    if view.status == "completed" and view.video_path is not None:
        media = video_block(view.video_path, embed=embed_video)
    return {"text/html": snapshot_html(view, media), "text/plain": repr(job)}


def show_job(job: Job, *, embed_video: bool | None = None) -> None:
    """Display ``job`` here: a live card that turns into a saved snapshot when the job ends.

    ``embed_video=True`` embeds the finished video in the notebook (capped, see
    ``foxnb.widgets.video``). Outside a notebook this prints the job's status line.

        foxnb.widgets.show_job(job, embed_video=True)
    """
    if not in_kernel():
        print(status_line(job).strip())
        return
    from IPython.display import display

    if job.done:
        display(snapshot_bundle(job, embed_video=embed_video), raw=True)  # type: ignore[no-untyped-call]
        return
    from .card import JobCard

    card = JobCard(job, embed_video=embed_video)
    live = {
        **card._repr_mimebundle_(),
        # Shown by viewers without the widget (an untrusted reopen, GitHub) until replaced.
        "text/html": snapshot_html(JobView.of(job), ""),
        "text/plain": repr(job),
    }
    handle = display(live, raw=True, display_id=True)  # type: ignore[no-untyped-call]

    def replace() -> None:
        handle.update(snapshot_bundle(job, embed_video=embed_video), raw=True)

    fire = once_off_thread(replace, "foxnb-snapshot")

    def replace_when_done(j: Job) -> None:
        if j.done:
            fire()

    job.on_update(replace_when_done)
