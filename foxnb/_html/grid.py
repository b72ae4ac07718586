"""Pure HTML of a comparison grid: a labelled table with one run per cell.

``grid_html`` draws what ``fx.compare`` and ``fx.report`` pick: axis values down and across,
and per cell a ``CellView`` (its video, or the status and error code of a run that did not
complete). Inline styles only, so it renders the same in JupyterLab, on GitHub, on nbviewer
and in a report opened from disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..models import EXTENSION_S
from . import style
from .base import escape
from .grid_script import PLAY_ROWS_SCRIPT
from .video import Transport

__all__ = ["MIN_TILE_PX", "PLAY_ROWS_SCRIPT", "CellView", "cell_html", "grid_html", "label"]

MIN_TILE_PX = 160
"""Tiles shrink to fit the output's width down to this, then the grid scrolls sideways."""
_ROW_HEADER_EM = 10


@dataclass(frozen=True)
class CellView:
    """What one grid cell shows: a run's id and status, its error code, and its media.

    ``media_html`` is trusted HTML (the video built by ``foxnb._serve``); every other
    field is escaped when rendered. It is empty for a run that did not complete.
    ``details_html`` (trusted, e.g. ``_html.outcomes.values_html``) goes under the caption;
    ``background`` is a CSS colour shading the cell (``fx.compare(..., shade=...)``).
    """

    run_id: str
    status: str
    error_code: str | None = None
    media_html: str = ""
    transport: Transport | None = None
    """How its video reaches the browser (``foxnb._serve``), for the line under the grid."""
    details_html: str = ""
    background: str | None = None


def label(value: object) -> str:
    """An axis value as shown in a header: ``None`` for a missing value, else ``str()``."""
    return "None" if value is None else str(value)


def tile_width_css(columns: int) -> str:
    """The width of a tile: what fits the output's width, between the minimum and preferred.

    ``--foxnb-tile`` (the preferred width) and ``--foxnb-tile-min`` are set on the grid's
    wrapper (the tile-size control changes them); ``100cqw`` is the wrapper's width (it is a
    size container). The first declaration is for browsers without container units.
    """
    share = f"(100cqw - {_ROW_HEADER_EM + 1}em) / {max(1, columns)} - 14px"
    return (
        "width:var(--foxnb-tile,280px);"
        f"width:clamp(var(--foxnb-tile-min,{MIN_TILE_PX}px),calc({share}),var(--foxnb-tile,280px))"
    )


def grid_html(
    rows: str,
    cols: str,
    row_values: Sequence[object],
    col_values: Sequence[object],
    cells: Mapping[tuple[int, int], CellView],
    *,
    width_px: int = 280,
    play_rows: bool = False,
) -> str:
    """The comparison table: ``cells[(i, j)]`` is shown at row ``i``, column ``j``.

    Pure: plain values in, one HTML string out (inline styles only, so it renders the same
    in JupyterLab, on GitHub and on nbviewer). A missing ``(i, j)`` is an empty box.
    The table sits in a wrapper as wide as the output: tiles shrink from ``width_px`` to fit
    it, down to ``MIN_TILE_PX``; past that the wrapper scrolls sideways while the row labels
    stay in view. ``play_rows=True`` appends ``PLAY_ROWS_SCRIPT`` (see ``grid_script``):
    play and scrub controls, a tile-size slider, where scripts run.
    """
    sticky = f"position:sticky;left:0;z-index:1;background:{style.BACKGROUND}"
    header_width = f"min-width:{_ROW_HEADER_EM - 3}em;max-width:{_ROW_HEADER_EM}em"
    corner = (
        f'<th style="{style.CELL};{sticky};{header_width}">'
        f'<span style="{style.MUTED}">{escape(rows)} ↓ · {escape(cols)} →</span></th>'
    )
    head = "".join(
        f'<th scope="col" style="{style.CELL}"><span style="{style.MUTED}">{escape(cols)}</span> '
        f"{escape(label(value))}</th>"
        for value in col_values
    )
    tile = tile_width_css(len(col_values))
    body = []
    for i, row_value in enumerate(row_values):
        header = (
            f'<th scope="row" style="{style.CELL};{sticky};{header_width};'
            f'overflow-wrap:anywhere"><div style="{style.MUTED}">{escape(rows)}</div>'
            f"{escape(label(row_value))}</th>"
        )
        tds = "".join(cell_html(cells.get((i, j)), tile_css=tile) for j in range(len(col_values)))
        body.append(f"<tr>{header}{tds}</tr>")
    wrap = (
        f'<div class="foxnb-grid-wrap" style="--foxnb-tile:{int(width_px)}px;max-width:100%;'
        f'overflow-x:auto;container-type:inline-size;color:{style.TEXT}">'
    )
    table = (
        f'<table class="foxnb-grid foxnb-compare" data-foxnb-extension-s="{EXTENSION_S:g}" '
        'style="border-collapse:separate;border-spacing:0;margin:0">'
        f"<thead><tr>{corner}{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
    return f"{wrap}{table}</div>" + (PLAY_ROWS_SCRIPT if play_rows else "")


def cell_html(cell: CellView | None, *, tile_css: str = "width:280px") -> str:
    """One ``<td>``: the media (or the status of a run that did not complete) and a caption."""
    if cell is None:
        return (
            f'<td class="foxnb-compare-cell foxnb-compare-empty" style="{style.CELL}">'
            f'<div style="{tile_css};{style.EMPTY_BOX};text-align:center;box-sizing:border-box">'
            "no run</div></td>"
        )
    if cell.media_html:
        content = cell.media_html
    else:
        code = f" · <code>{escape(cell.error_code)}</code>" if cell.error_code else ""
        content = (
            f'<div class="foxnb-compare-status" style="{style.STATUS_BOX}">'
            f"<b>{escape(cell.status)}</b>{code}</div>"
        )
    caption = (
        f'<div class="foxnb-compare-caption" style="{style.MUTED};overflow-wrap:anywhere">'
        f"<code>{escape(cell.run_id)}</code> · {escape(cell.status)}</div>"
    )
    shade = f";background:{cell.background}" if cell.background else ""
    return (
        f'<td class="foxnb-compare-cell" style="{style.CELL}{shade}">'
        f'<div style="{tile_css}">{content}{caption}{cell.details_html}</div></td>'
    )
