"""Pure HTML of how a run turned out: a line of chosen scores, stars, picks, notes, shading.

``values_html`` is what ``fx.compare(..., show=[...])``, the report and the chain's view put
under a video: ``seam_jump 1.02 · color_shift 4.1 · ★★★★☆ · starred`` and the note.
``shade_colour`` turns a value into a background colour on a red → green scale between the
worst and best value of a grid (``better="min"``: lower is better).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from . import style
from .base import escape

SHADE_ALPHA = 0.28
_GOOD_RGB = (26, 127, 55)  # style.GOOD
_BAD_RGB = (207, 34, 46)  # style.BAD
_NEUTRAL_RGB = (234, 238, 242)  # style.TRACK


def stars_text(rating: object) -> str:
    """``★★★★☆`` for a rating of 4; empty when there is none."""
    if isinstance(rating, bool) or not isinstance(rating, int | float) or math.isnan(rating):
        return ""
    whole = max(0, min(5, int(rating)))
    return "★" * whole + "☆" * (5 - whole)


def value_text(name: str, value: object) -> str:
    """One value as shown: numbers to three significant figures, flags as yes/no."""
    if value is None:
        return "–"
    if name == "rating":
        return stars_text(value) or "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def values_html(values: Mapping[str, object], show: Sequence[str]) -> str:
    """The ``show`` values of one run, then your judgement of it, as one small block.

    ``values`` holds the run's fields (missing ones show as ``–``); its ``rating``, ``pick``
    and ``note`` are added when it has them, whether asked for or not.
    """
    parts = []
    # Your judgement always shows (a rating only when given); scores only when asked for.
    names = [n for n in show if n not in ("rating", "pick", "note")]
    if values.get("rating") is not None:
        names.append("rating")
    for name in names:
        text = value_text(name, values.get(name))
        label = "" if name == "rating" else f"{escape(name)} "
        parts.append(
            f'<span class="foxnb-value" data-name="{escape(name)}">{label}{escape(text)}</span>'
        )
    pick = values.get("pick")
    if pick == "star":
        parts.append(f'<b class="foxnb-pick" style="color:{style.GOOD}">★ starred</b>')
    elif pick == "reject":
        parts.append(f'<b class="foxnb-pick" style="color:{style.BAD}">✕ rejected</b>')
    note = values.get("note")
    note_html = ""
    if isinstance(note, str) and note:
        note_html = f'<div class="foxnb-note" style="font-style:italic">“{escape(note)}”</div>'
    if not parts and not note_html:
        return ""
    return f'<div class="foxnb-values" style="{style.MUTED}">{" · ".join(parts)}{note_html}</div>'


def shade_colour(value: object, low: float, high: float, better: str) -> str | None:
    """A translucent background colour for ``value`` between ``low`` and ``high``: green at
    the best end (``better`` is ``"min"`` or ``"max"``), red at the worst; None when
    ``value`` is not a number. All values equal: a neutral grey."""
    if isinstance(value, bool):
        value = float(value)
    if not isinstance(value, int | float) or math.isnan(value):
        return None
    if high <= low:
        red, green, blue = _NEUTRAL_RGB
        return f"rgba({red},{green},{blue},0.6)"
    fraction = (float(value) - low) / (high - low)
    goodness = 1.0 - fraction if better == "min" else fraction
    rgb = [round(b + (g - b) * goodness) for g, b in zip(_GOOD_RGB, _BAD_RGB, strict=True)]
    return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{SHADE_ALPHA})"
