"""Pure HTML of the one line ``job.wait()`` and ``sweep.wait()`` keep rewritten while they block."""

from __future__ import annotations

from . import style
from .base import escape


def wait_line_html(text: str, progress_pct: int, *, ended: bool = False) -> str:
    """A thin bar and the line of text: ``r2026…: processing 40% · 12 s elapsed · ~8 s left``."""
    pct = max(0, min(100, progress_pct))
    colour = style.GOOD if ended and pct == 100 else style.RUNNING
    bar = (
        f'<span style="display:inline-block;width:80px;height:6px;background:{style.TRACK};'
        f'border-radius:3px;vertical-align:middle;margin-right:8px">'
        f'<span style="display:block;width:{pct}%;height:100%;background:{colour};'
        'border-radius:3px"></span></span>'
    )
    return f'<div class="foxnb-wait" style="{style.MUTED}">{bar}{escape(text)}</div>'
