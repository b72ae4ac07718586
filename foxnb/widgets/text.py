"""Plain-text progress for places without a notebook frontend (scripts, terminals, the CLI).

``in_kernel()`` tells the two worlds apart: widgets need a Jupyter kernel to talk to a
browser; anywhere else foxnb prints lines such as::

      r20261124-035505-95b8df31c4a0: processing 71%, ~2 s left
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..runtime.jobs import Job


def in_kernel() -> bool:
    """True inside a Jupyter kernel, where a frontend can show widgets and HTML."""
    ipython = sys.modules.get("IPython")  # never imported here: a script has no use for it
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def status_line(job: Job) -> str:
    """``  <run_id>: <status> <progress>%[, ~N s left | overdue by N s, still processing]``."""
    phrase = job.timing().phrase
    return f"  {job.run_id}: {job.status} {job.progress}%" + (f", {phrase}" if phrase else "")


def print_progress(job: Job) -> None:
    """Print one line per status change or 10 % of progress (plain text, any terminal)."""
    last: dict[str, object] = {}
    lock = threading.Lock()

    def show(j: Job) -> None:
        key = (j.status, j.progress // 10)
        with lock:
            if last.get("key") == key:
                return
            last["key"] = key
        print(status_line(j), flush=True)

    job.on_update(show)
