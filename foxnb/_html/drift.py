"""A chain's drift as a small static SVG: one panel per score, hop by hop. Pure.

Why not matplotlib: two short line plots do not need a 10 MB plotting stack as a dependency,
and an SVG string renders the same in JupyterLab, in a saved notebook on GitHub or nbviewer,
and in a report opened from disk (``image/svg+xml`` or inline in HTML). ``chain.drift`` is a
DataFrame, so ``chain.drift.plot(x="hop")`` works too where matplotlib is installed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from . import style
from .base import escape

# Fixed colours: the plot is an image with its own white background, the same in light and
# dark themes (theme variables would not resolve in an image anyway).
_TEXT, _MUTED, _FAINT, _GRID = "#1f2328", "#57606a", "#8c959f", "#eaeef2"
PANEL_W = 300
PANEL_H = 170
_MARGIN_L, _MARGIN_R, _MARGIN_T, _MARGIN_B = 44, 26, 28, 30
_COLOURS = (style.RUNNING_HUE, style.WARN_HUE, style.GOOD_HUE, style.BAD_HUE)
HELP = {
    "seam_jump": "≈ 1: as smooth as the clip; ≫ 1: a visible jump",
    "color_shift": "ΔE from the hop's input: < 5 unnoticeable, > 10 a cast",
}


def _ticks(low: float, high: float) -> list[float]:
    """Three or so round values spanning ``low``..``high``."""
    span = high - low
    step = 10 ** math.floor(math.log10(span / 2)) if span > 0 else 1.0
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= 4:
            step *= factor
            break
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value <= high + step / 2:
        ticks.append(round(value, 10))
        value += step
    return ticks


def panel_svg(
    title: str, hops: Sequence[int], values: Sequence[float | None], colour: str, x0: int
) -> str:
    """One score's panel (axes, grid, a line with a dot per hop), drawn at ``x0``."""
    points = [
        (h, v) for h, v in zip(hops, values, strict=True) if v is not None and math.isfinite(v)
    ]
    inner_w = PANEL_W - _MARGIN_L - _MARGIN_R
    inner_h = PANEL_H - _MARGIN_T - _MARGIN_B
    low = min([0.0, *(v for _, v in points)])
    high = max([1.0, *(v for _, v in points)])
    ticks = _ticks(low, high)
    low, high = min(low, ticks[0]), max(high, ticks[-1])
    first, last = (min(hops), max(hops)) if hops else (1, 1)

    def x(hop: float) -> float:
        fraction = 0.5 if last == first else (hop - first) / (last - first)
        return x0 + _MARGIN_L + fraction * inner_w

    def y(value: float) -> float:
        return _MARGIN_T + inner_h - (value - low) / (high - low) * inner_h

    parts = [
        f'<text x="{x0 + _MARGIN_L}" y="16" font-size="12" font-weight="bold" '
        f'fill="{_TEXT}">{escape(title)}</text>'
    ]
    for tick in ticks:
        parts.append(
            f'<line x1="{x0 + _MARGIN_L}" x2="{x0 + PANEL_W - _MARGIN_R}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}" stroke="{_GRID}"/>'
            f'<text x="{x0 + _MARGIN_L - 6}" y="{y(tick) + 4:.1f}" font-size="10" '
            f'text-anchor="end" fill="{_MUTED}">{tick:g}</text>'
        )
    for hop in hops:
        parts.append(
            f'<text x="{x(hop):.1f}" y="{PANEL_H - 12}" font-size="10" text-anchor="middle" '
            f'fill="{_MUTED}">hop {hop}</text>'
        )
    if len(points) > 1:
        path = " ".join(f"{x(h):.1f},{y(v):.1f}" for h, v in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
    for hop, value in points:
        parts.append(
            f'<circle cx="{x(hop):.1f}" cy="{y(value):.1f}" r="3.5" fill="{colour}">'
            f"<title>hop {hop}: {escape(title)} {value:.3g}</title></circle>"
        )
    if not points:
        parts.append(
            f'<text x="{x0 + PANEL_W / 2}" y="{PANEL_H / 2}" font-size="11" text-anchor="middle" '
            f'fill="{_FAINT}">not scored yet</text>'
        )
    return "".join(parts)


def drift_svg(hops: Sequence[int], series: Mapping[str, Sequence[float | None]]) -> str:
    """An ``<svg>`` with one panel per entry of ``series`` (a score's value per hop)."""
    width = PANEL_W * max(1, len(series))
    panels = "".join(
        panel_svg(name, hops, values, _COLOURS[i % len(_COLOURS)], i * PANEL_W)
        for i, (name, values) in enumerate(series.items())
    )
    label = "; ".join(
        f"{name}: " + ", ".join("–" if v is None else f"{v:.3g}" for v in values)
        for name, values in series.items()
    )
    return (
        f'<svg class="foxnb-drift" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{PANEL_H}" viewBox="0 0 {width} {PANEL_H}" role="img" '
        f'aria-label="drift per hop: {escape(label)}" '
        f'style="font-family:system-ui,sans-serif;background:#fff">{panels}</svg>'
    )


class SvgImage:
    """An SVG drawing that a notebook shows as an image (``image/svg+xml``), kept when saved."""

    def __init__(self, svg: str):
        self.svg = svg

    def _repr_svg_(self) -> str:
        return self.svg
