"""Pure HTML of a comparison grid: a labelled table with one run per cell.

``grid_html`` draws what ``fx.compare`` and ``fx.report`` pick: axis values down and across,
and per cell a ``CellView`` (its video, or the status and error code of a run that did not
complete). Inline styles only, so it renders the same in JupyterLab, on GitHub, on nbviewer
and in a report opened from disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from . import style
from .base import escape

# Synchronized playback of a row needs JavaScript, which JupyterLab runs only in trusted
# outputs (and GitHub or nbviewer never). So the button is created by the script itself:
# where scripts do not run, no dead button appears and every video keeps its own controls.
# The script finds its table as its previous sibling; it holds no data from the runs.
PLAY_ROWS_SCRIPT = """<script class="foxnb-play-rows">
(function (script) {
  var table = script && script.previousElementSibling;
  if (!table || !table.classList.contains("foxnb-grid") || table.dataset.foxnbPlayRows) return;
  table.dataset.foxnbPlayRows = "ready";
  function settle(video) {  // resolves once the video can show its first frame (or after 5 s)
    return new Promise(function (done) {
      var timer = setTimeout(finish, 5000);
      function check() { if (!video.seeking && video.readyState >= 2) finish(); }
      function finish() {
        clearTimeout(timer);
        video.removeEventListener("seeked", check);
        video.removeEventListener("canplay", check);
        done();
      }
      video.addEventListener("seeked", check);
      video.addEventListener("canplay", check);
      check();
    });
  }
  Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
    var videos = Array.prototype.slice.call(row.querySelectorAll("video"));
    var header = row.querySelector("th");
    if (!videos.length || !header) return;
    var button = document.createElement("button");
    var starting = false;
    function playing() { return videos.some(function (v) { return !v.paused; }); }
    function label() {
      button.textContent = starting || playing() ? "\u23f8 pause row" : "\u25b6 play row";
    }
    button.type = "button";
    button.className = "foxnb-play-row";
    button.title = "Play this row's videos together from the start (click again to pause)";
    button.style.cssText = "display:block;margin-top:6px;cursor:pointer";
    button.addEventListener("click", function () {
      if (starting) return;
      if (playing()) {
        videos.forEach(function (v) { v.pause(); });
        label();  // "pause" events come a moment later
        return;
      }
      starting = true;
      label();
      videos.forEach(function (v) { v.pause(); v.preload = "auto"; v.currentTime = 0; });
      Promise.all(videos.map(settle)).then(function () {
        starting = false;
        return Promise.all(videos.map(function (v) { return v.play().catch(function () {}); }));
      }).then(label);
    });
    videos.forEach(function (v) {
      v.addEventListener("play", label);
      v.addEventListener("pause", label);
    });
    label();
    header.appendChild(button);
  });
})(document.currentScript);
</script>"""


@dataclass(frozen=True)
class CellView:
    """What one grid cell shows: a run's id and status, its error code, and its media.

    ``media_html`` is trusted HTML (the video block built by ``show_video``); every other
    field is escaped when rendered. It is empty for a run that did not complete.
    ``details_html`` (trusted, e.g. ``_html.outcomes.values_html``) goes under the caption;
    ``background`` is a CSS colour shading the cell (``fx.compare(..., shade=...)``).
    """

    run_id: str
    status: str
    error_code: str | None = None
    media_html: str = ""
    details_html: str = ""
    background: str | None = None


def label(value: object) -> str:
    """An axis value as shown in a header: ``None`` for a missing value, else ``str()``."""
    return "None" if value is None else str(value)


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
    ``play_rows=True`` appends ``PLAY_ROWS_SCRIPT``, which gives each row with videos a
    "▶ play row" button where scripts run.
    """
    corner = f'<th style="{style.CELL};{style.MUTED}">{escape(rows)} ↓ · {escape(cols)} →</th>'
    head = "".join(
        f'<th scope="col" style="{style.CELL}"><span style="{style.MUTED}">{escape(cols)}</span> '
        f"{escape(label(value))}</th>"
        for value in col_values
    )
    body = []
    for i, row_value in enumerate(row_values):
        header = (
            f'<th scope="row" style="{style.CELL};min-width:9em;max-width:16em">'
            f'<div style="{style.MUTED}">{escape(rows)}</div>{escape(label(row_value))}</th>'
        )
        tds = "".join(
            cell_html(cells.get((i, j)), width_px=width_px) for j in range(len(col_values))
        )
        body.append(f"<tr>{header}{tds}</tr>")
    return (
        '<table class="foxnb-grid foxnb-compare" style="border-collapse:collapse">'
        f"<thead><tr>{corner}{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        + (PLAY_ROWS_SCRIPT if play_rows else "")
    )


def cell_html(cell: CellView | None, *, width_px: int = 280) -> str:
    """One ``<td>``: the media (or the status of a run that did not complete) and a caption."""
    box = f"width:{int(width_px)}px"
    if cell is None:
        return (
            f'<td class="foxnb-compare-cell foxnb-compare-empty" style="{style.CELL}">'
            f'<div style="{box};{style.EMPTY_BOX};text-align:center">no run</div></td>'
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
        f'<div class="foxnb-compare-caption" style="{style.MUTED}">'
        f"<code>{escape(cell.run_id)}</code> · {escape(cell.status)}</div>"
    )
    shade = f";background:{cell.background}" if cell.background else ""
    return (
        f'<td class="foxnb-compare-cell" style="{style.CELL}{shade}">'
        f'<div style="{box}">{content}{caption}{cell.details_html}</div></td>'
    )
