"""Pure parts of the sweep view: labels, counts, tiles and the saved snapshot as HTML.

Plain values in, strings out: no widgets, no jobs, no display. ``sweep_view.py`` reads a
running sweep into ``CellState`` values and hands them to these builders; tests check the
strings. Every label, status and name goes through ``escape`` before it lands in markup.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..models import STATUSES
from . import style
from .base import SIM_NOTE, escape, format_duration

if TYPE_CHECKING:
    import pandas as pd

_LABEL_VALUE_CHARS = 40
_SHORT_VALUE_CHARS = 16
_MAX_CARD_COLUMNS = 4
MIN_CARD_PX = 220
"""Cards in a sweep view shrink to this, then wrap to the next line."""
# Lifecycle order (as models.Status lists them), so counts read left to right as cells move.
_STATUS_ORDER = STATUSES


@dataclass(frozen=True)
class CellState:
    """One cell as a view shows it: its labels, status, progress and whether it has ended.

    ``label`` names the axes (``prompt='Dusk falls…' · seed=1``); ``short_label`` gives only
    their values, for tiles (``'Dusk falls…' · 1``).
    """

    label: str
    status: str
    progress_pct: int
    done: bool
    short_label: str = ""


def cell_label(values: Mapping[str, object], index: int) -> str:
    """A cell's axis values as plain text, ``prompt='Dusk falls…' · seed=1``.

    Long values are cut to a readable length; a sweep with no axes labels its cell by index.
    """
    if not values:
        return f"cell {index}"
    return " · ".join(f"{name}={_cut(value, _LABEL_VALUE_CHARS)}" for name, value in values.items())


def short_cell_label(values: Mapping[str, object], index: int) -> str:
    """A cell's axis values without their names, each cut short: ``'Dusk falls…' · 1``."""
    if not values:
        return f"cell {index}"
    return " · ".join(_cut(value, _SHORT_VALUE_CHARS) for value in values.values())


def _cut(value: object, chars: int) -> str:
    text = repr(value)
    return text if len(text) <= chars else text[: chars - 1] + "…"


def overall_pct(cells: Sequence[CellState]) -> int:
    """The mean progress of ``cells`` in percent, an ended cell counting as 100."""
    if not cells:
        return 100
    total = sum(100 if cell.done else cell.progress_pct for cell in cells)
    return total // len(cells)


def counts_text(cells: Sequence[CellState]) -> str:
    """``completed 4 · processing 2``, statuses in lifecycle order."""
    counts = Counter(cell.status for cell in cells)
    order = [s for s in _STATUS_ORDER if s in counts] + sorted(set(counts) - set(_STATUS_ORDER))
    return " · ".join(f"{status} {counts[status]}" for status in order)


def ended_text(cells: Sequence[CellState]) -> str:
    """``3 of 6 cells ended``."""
    return f"{sum(cell.done for cell in cells)} of {len(cells)} cells ended"


def header_html(
    name: str,
    backend: str,
    cells: Sequence[CellState],
    elapsed_s: float | None,
    *,
    credits: float = 0.0,
    stopped: str | None = None,
    reused: int = 0,
) -> str:
    """The experiment's name, the simulator note, counts per status, the time so far, the
    credits this sweep's own tasks reserved (a reused cell spends none: ``reused`` says how
    many were), and why it stopped sending cells (if it did)."""
    parts = [f"<b>Sweep</b> <code>{escape(name)}</code>"]
    if backend == "sim":
        parts.append(f"<b>{SIM_NOTE}</b>")
    parts.append(escape(counts_text(cells)))
    if elapsed_s is not None:
        took = format_duration(elapsed_s)
        ended = all(cell.done for cell in cells)
        parts.append(f"after {took}" if ended else f"{took} elapsed")
    parts.append(f"{credits:g} credits spent")
    if reused:
        parts.append(f"{reused} reused (0 credits)")
    line = " · ".join(parts)
    if stopped:
        line += (
            f'<div class="foxnb-sweep-stopped" style="color:{style.WARN}">Not sending further '
            f"cells: {escape(stopped)}</div>"
        )
    return f'<div class="foxnb-sweep-header">{line}</div>'


def ended_html(cells: Sequence[CellState]) -> str:
    """The "N of M cells ended" line next to the overall bar."""
    return f'<span class="foxnb-sweep-ended" style="{style.MUTED}">{ended_text(cells)}</span>'


# Shared by every tile, sent once per redraw: a tile itself carries only what differs.
_TILES_STYLE = (
    "<style>"
    ".foxnb-tiles{display:grid;gap:4px;grid-template-columns:repeat(auto-fill,minmax(150px,1fr))}"
    f".foxnb-tile{{border:1px solid {style.BORDER};border-radius:4px;padding:3px 5px;"
    f"min-width:0;font-size:0.85em;color:{style.TEXT}}}"
    f".foxnb-tile-bar{{height:3px;background:{style.TRACK};margin:2px 0}}"
    ".foxnb-tile-bar div{height:3px}"
    f".foxnb-tile-label{{color:{style.MUTED_TEXT};font-size:0.9em;white-space:nowrap;"
    "overflow:hidden;text-overflow:ellipsis}"
    "</style>"
)


def tile_html(cell: CellState) -> str:
    """One compact tile: the status word, a thin bar and the cell's label."""
    colour = style.STATUS_COLOURS.get(cell.status, style.RUNNING)
    pct = 100 if cell.status == "completed" else max(0, min(100, cell.progress_pct))
    status = escape(cell.status)
    return (
        f'<div class="foxnb-tile" data-status="{status}" title="{escape(cell.label)}">'
        f'<b style="color:{colour}">{status}</b> {cell.progress_pct}%'
        f'<div class="foxnb-tile-bar"><div style="width:{pct}%;background:{colour}"></div></div>'
        f'<div class="foxnb-tile-label">{escape(cell.short_label or cell.label)}</div></div>'
    )


def tiles_html(cells: Sequence[CellState], axes: Sequence[str]) -> str:
    """Every cell as a tile, in grid order, wrapped to the width of the output.

    Tiles show their axis values without names; a line above says which axes they are.
    """
    legend = f"each tile: {' · '.join(axes)}" if axes else ""
    return (
        f'{_TILES_STYLE}<div class="foxnb-tile-label">{escape(legend)}</div>'
        f'<div class="foxnb-tiles">{"".join(map(tile_html, cells))}</div>'
    )


def snapshot_html(header: str, ended: str, grid: str) -> str:
    """The static record of a finished sweep: the summary line, then the comparison grid.

    ``header`` and ``ended`` come from ``header_html``/``ended_html``; ``grid`` is the
    (trusted) HTML of ``fx.compare``.
    """
    box = f'<div class="foxnb-sweep-snapshot" style="{style.BOX}">'
    return f"{box}{header}<div>{ended}</div>{grid}</div>"


def card_columns(axes: Sequence[str], values: Sequence[Mapping[str, object]]) -> str:
    """The CSS columns of the cards: as many as fit the output's width, each at least
    ``MIN_CARD_PX``; with two or more axes, no more than the saved grid will have (one per
    value of the second axis, see ``comparison_axes``) up to ``_MAX_CARD_COLUMNS``."""
    fit = f"repeat(auto-fill, minmax({MIN_CARD_PX}px, 1fr))"
    if len(axes) >= 2:
        across = len({repr([cell[a] for a in axes[1:]]) for cell in values})
        if across <= _MAX_CARD_COLUMNS:
            # auto-fit never makes more columns than fit; the max caps them at `across`.
            share = f"max({MIN_CARD_PX}px, (100% - {across - 1} * 8px) / {across})"
            return f"repeat(auto-fill, minmax({share}, 1fr))"
    return fit


def comparison_axes(frame: pd.DataFrame, axes: Sequence[str]) -> tuple[pd.DataFrame, str, str]:
    """The runs and the two columns a sweep's grid is drawn with.

    Two axes: the first down, the second across. One axis: one row (the experiment) with a
    column per value. No axis: the single cell. Three or more: the first down, the others
    joined into one label across, so every cell keeps its own box.
    """
    if not axes:
        return frame, "experiment", "cell"
    if len(axes) == 1:
        return frame, "experiment", axes[0]
    if len(axes) == 2:
        return frame, axes[0], axes[1]
    across = " · ".join(axes[1:])
    joined = frame.copy()
    joined[across] = [
        " · ".join(f"{a}={row[a]!r}" for a in axes[1:]) for row in frame.to_dict("records")
    ]
    return joined, axes[0], across
