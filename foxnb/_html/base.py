"""What every HTML builder needs: escaping, durations as text, and the simulator note."""

from __future__ import annotations

import html

SIM_NOTE = "simulator — synthetic videos, nothing billed"
"""Shown wherever results of the built-in simulator appear (cards, sweeps, grids, reports)."""


def escape(value: object) -> str:
    """``value`` as text that is safe inside HTML elements and quoted attributes."""
    return html.escape(str(value), quote=True)


def format_duration(seconds: float | None) -> str:
    """``"42 s"``, ``"3 min 05 s"``; ``"?"`` when unknown."""
    if seconds is None:
        return "?"
    whole_s = max(0, round(seconds))
    if whole_s < 60:
        return f"{whole_s} s"
    return f"{whole_s // 60} min {whole_s % 60:02d} s"
