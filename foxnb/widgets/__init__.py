"""Notebook views of foxnb: a request form, live job cards, inline videos.

    fx = foxnb.connect()
    fx                         # a banner: simulator (nothing billed) or FoxAPI (real, billed)
    form = fx.form()           # fill in, watch the checks, Submit; cards appear below
    job = fx.extend("The camera keeps panning", "clip.mp4")
    job                        # a live card; once done, a static snapshot saved with the notebook
    foxnb.widgets.show_video(job.video_path)

- ``ExtendForm(session, from_run=None)``: every field of ``fx.extend()`` with its default and
  help, checked as you type; ``from_run`` pre-fills a recorded run. See ``form.py``.
- ``JobCard(job, embed_video=False)``: status, progress, time, task id, errors, then the
  video; "Stop tracking" stops foxnb polling (FoxAPI has no cancel: the task runs on and is
  billed).
- ``show_job(job, embed_video=False)``: what displaying a ``Job`` does.
- ``SweepView(sweep)``: a sweep's overall bar and its cells (a card each, or compact tiles
  beyond 24); ``show_sweep(sweep)`` is what displaying a ``Sweep`` does: the live view,
  replaced by the ``fx.compare`` grid once every cell has ended. See ``sweep_view.py``.
- ``show_video(path, embed=False)``: a local video, served by the Jupyter server (not copied
  into the notebook unless ``embed=True``).
- Outside a notebook, displays and progress become plain text lines (``text.py``).

Videos are shown through Jupyter's ``/files/`` URL; how foxnb finds it is explained in
``foxnb._serve``. Nothing here ever sees the API key.

Importing this package does not import ipywidgets; the widgets load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .card import JobCard
    from .display import show_job
    from .form import ExtendForm
    from .sweep_view import SweepView, show_sweep
    from .video import show_video

__all__ = ["ExtendForm", "JobCard", "SweepView", "show_job", "show_sweep", "show_video"]

_HOMES = {
    "ExtendForm": "form",
    "JobCard": "card",
    "SweepView": "sweep_view",
    "show_job": "display",
    "show_sweep": "sweep_view",
    "show_video": "video",
}


def __getattr__(name: str) -> Any:
    # Loaded on first use so that `import foxnb` (and the CLI) never pull in ipywidgets.
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module 'foxnb.widgets' has no attribute {name!r}")
