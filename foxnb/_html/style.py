"""The one stylesheet of foxnb's HTML: colours and inline styles shared by every view.

Styles are inline because a saved notebook's snapshot, a report opened from disk, GitHub and
nbviewer show foxnb's HTML without loading any stylesheet of foxnb's. Each view builds its
markup from these names, so a colour or a text style is defined once.
"""

from __future__ import annotations

TEXT = "#1f2328"
MUTED_TEXT = "#57606a"
FAINT_TEXT = "#8c959f"
BORDER = "#d0d7de"
SUBTLE_BACKGROUND = "#f6f8fa"
TRACK = "#eaeef2"
GOOD = "#1a7f37"
WARN = "#9a6700"
BAD = "#cf222e"
BAD_TEXT = "#82071e"
BAD_BACKGROUND = "#ffebe9"
RUNNING = "#0969da"

MUTED = f"color:{MUTED_TEXT};font-size:0.9em;line-height:1.4"
"""Secondary text: help lines, captions, labels."""
BOX = f"border:1px solid {BORDER};border-radius:6px;padding:8px 10px;margin:4px 0"
"""The frame around a box of foxnb's output."""
CARD = BOX + ";max-width:760px"
"""The frame of one job's card or snapshot, and of the session banner."""
ERROR_BOX = (
    f"border:1px solid {BAD};background:{BAD_BACKGROUND};color:{BAD_TEXT};border-radius:6px;"
    "padding:6px 10px;margin:4px 0;line-height:1.4"
)
"""A readable error: code and message."""
STATUS_BOX = (
    f"border:1px solid {BORDER};border-radius:6px;background:{SUBTLE_BACKGROUND};padding:8px"
)
"""Where a video would be, for a run that did not complete."""
EMPTY_BOX = f"border:1px dashed {BORDER};border-radius:6px;color:{FAINT_TEXT};padding:8px"
"""A grid cell with no run."""
VIDEO = "max-width:100%;max-height:480px"
CODE_BLOCK = f"margin:2px 0;padding:6px;background:{SUBTLE_BACKGROUND}"
# Left-aligned explicitly: JupyterLab's stylesheet right-aligns table cells.
CELL = "text-align:left;vertical-align:top;padding:4px 6px"

STATUS_COLOURS = {
    "completed": GOOD,
    "detached": WARN,
    "download_failed": WARN,
    "failed": BAD,
    "cancelled": BAD,
    "not_submitted": BAD,
    "submission_unknown": BAD,
    "queued": FAINT_TEXT,
}
"""The colour of a status word; statuses not listed are running (``RUNNING``)."""
