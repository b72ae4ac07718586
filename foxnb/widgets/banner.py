"""The session banner — where requests go and whether they are billed — shown once per session.

``connect()`` shows it (``Banner.announce``): the HTML box in a notebook, one line elsewhere.
Then it is not repeated by accident: ``fx`` displayed in the same cell adds nothing (the
banner is just above) and the form leaves it out (``Banner.take`` gives it only once). ``fx``
displayed in a later cell shows it again: that is asking for it.
"""

from __future__ import annotations

import sys

from .._html.job import banner_html
from .text import in_kernel


class Banner:
    """One session's banner; ``line`` is its plain-text form."""

    def __init__(self, backend: str, base_url: str, masked_key: str, workdir: str):
        self.html = banner_html(backend, base_url, masked_key, workdir)
        if backend == "sim":
            self.line = (
                f"foxnb: using the built-in FoxAPI simulator at {base_url} — videos are "
                "synthetic and nothing is billed. Set FOXAPI_API_KEY to use the real service."
            )
        else:
            self.line = f"foxnb: using FoxAPI at {base_url} (key {masked_key})"
        self._cell: int | None = None  # the cell it was shown in (0 outside IPython)

    def announce(self) -> None:
        """Show it: the box in a notebook, the line elsewhere."""
        self._cell = cell_number()
        if in_kernel():
            self._display()
        else:
            print(self.line)

    def take(self) -> str:
        """Its HTML if not shown yet (it counts as shown now), else ""."""
        if self._cell is not None:
            return ""
        self._cell = cell_number()
        return self.html

    def show(self) -> None:
        """Show it for ``fx`` displayed in a cell, unless this cell already shows it."""
        if self._cell is not None and self._cell == cell_number():
            return
        self._cell = cell_number()
        self._display()

    def _display(self) -> None:
        from IPython.display import display

        bundle = {"text/html": self.html, "text/plain": self.line}
        display(bundle, raw=True)  # type: ignore[no-untyped-call]


def cell_number() -> int:
    """The running cell's IPython execution count (0 outside IPython)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return int(getattr(shell, "execution_count", 0) or 0)
