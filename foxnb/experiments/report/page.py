"""The page of a report, ``index.html``: pure builders from plain values to one HTML string.

A standalone document whose every link is relative to the report folder and which fetches
nothing from anywhere (its stylesheet and the grid's "play row" script are inline), so it opens
from disk and after the folder is moved. The grid itself is ``foxnb._html.grid.grid_html``, fed
with ``<video>`` elements that point at ``videos/<run_id>.mp4``. Every value that came from a
run goes through ``escape``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from ..._html import style
from ..._html.base import SIM_NOTE, escape, format_duration
from ..._html.grid import CellView, grid_html
from ..._html.outcomes import value_text as outcome_text
from ..._html.outcomes import values_html
from ..._html.video import video_html
from ...models import AXIS_FIELDS
from ..compare import pick_runs, shade_cells, sort_axes
from .runs import value_key, value_text
from .videos import VideoCopy, VideoProblem

_CELL_WIDTH_PX = 280
_STYLE = f"""
{style.THEME_VARIABLES}
body{{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:16px}}
.foxnb-scroll{{max-width:100%;overflow-x:auto}}
h1{{margin-bottom:4px}} h2{{margin-top:28px;font-size:1.2em}}
.foxnb-report-meta{{color:{style.MUTED_TEXT};margin-top:0}}
.foxnb-report-backend{{border-left:4px solid {style.GOOD};padding:4px 10px;
  background:{style.SUBTLE_BACKGROUND}}}
.foxnb-report-backend.real{{border-left-color:{style.WARN}}}
.foxnb-report-problems{{{style.ERROR_BOX}}}
table.foxnb-runs{{border-collapse:collapse;font-size:0.9em}}
table.foxnb-runs th,table.foxnb-runs td{{border-bottom:1px solid {style.BORDER};padding:4px 8px;
  text-align:left;vertical-align:top}}
table.foxnb-runs td.foxnb-message{{max-width:28em;overflow-wrap:anywhere}}
table.foxnb-runs code{{white-space:nowrap}}
table.foxnb-runs th[data-sort]{{cursor:pointer}}
"""
OUTCOME_COLUMNS: tuple[str, ...] = (
    *("seam_jump", "seam_ssim", "cut_at_seam", "prefix_psnr", "flicker", "motion_mean"),
    *("color_shift", "duration_ok", "audio_ok", "rating", "pick"),
)
"""Columns of the runs table about how each result turned out (those some run has)."""
# Clicking a header of the runs table sorts it by that column (numbers as numbers, empty
# cells last); a second click reverses. Where scripts do not run the table stays as written.
SORT_SCRIPT = """<script class="foxnb-sort-runs">
(function (script) {
  var table = script && script.previousElementSibling;
  if (!table || !table.tHead) return;
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
    th.dataset.sort = "";
    th.title = "Sort by " + th.textContent;
    th.addEventListener("click", function () {
      var down = th.dataset.sort !== "asc";
      th.dataset.sort = down ? "asc" : "desc";
      var rows = Array.prototype.slice.call(table.tBodies[0].rows);
      function key(row) {
        var cell = row.cells[column];
        var text = cell ? (cell.dataset.value || cell.textContent).trim() : "";
        var number = parseFloat(text);
        return text === "" ? null : (isNaN(number) ? text : number);
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === null || y === null) return x === null ? (y === null ? 0 : 1) : -1;
        var order = x < y ? -1 : x > y ? 1 : 0;
        return down ? order : -order;
      });
      rows.forEach(function (row) { table.tBodies[0].appendChild(row); });
    });
  });
})(document.currentScript);
</script>"""


def page_html(
    title: str,
    table: pd.DataFrame,
    rows: str,
    cols: str,
    axes: Sequence[str],
    copies: dict[str, VideoCopy],
    problems: Sequence[VideoProblem],
    *,
    created_at: datetime,
    version: str,
    show: Sequence[str] = (),
    sort_by: str | None = None,
    shade: str | None = None,
) -> str:
    """The whole ``index.html``: pure, every value escaped, every link relative.

    ``show`` values go under each video; ``sort_by`` orders the grid's rows and columns
    (best first), ``shade`` colours its cells (see ``foxnb.experiments.compare``).
    """
    reused = reuse_map(table)
    again = {r for runs in reused.values() for r in runs}
    own = table[~table["run_id"].astype(str).isin(again)]
    row_values, col_values, chosen = pick_runs(own, rows, cols)
    if sort_by is not None:
        row_values, col_values = sort_axes(row_values, col_values, chosen, sort_by)
    shades = shade_cells(chosen, shade)
    missing = {p.run_id: p.reason for p in problems}
    cells = {
        (row_values.index(r), col_values.index(c)): _cell(
            run, copies, missing, values_html(run, show), shades.get((r, c))
        )
        for (r, c), run in chosen.items()
    }
    grid = grid_html(
        rows, cols, row_values, col_values, cells, width_px=_CELL_WIDTH_PX, play_rows=True
    )
    hidden = len(own) - len(chosen)
    grid_note = f"{escape(rows)} in rows, {escape(cols)} in columns."
    if sort_by is not None:
        grid_note += f" Rows and columns sorted by {escape(sort_by)}, best first."
    if shade is not None:
        grid_note += f" Cells shaded by {escape(shade)}: green the best, red the worst."
    if hidden:
        grid_note += (
            f" Each cell shows one run (the newest completed); the {hidden} other run(s) are "
            "in the table below."
        )
    shown = list(dict.fromkeys([rows, cols, *axes]))
    when = created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="generator" content="foxnb {escape(version)}">'
        f"<title>{escape(title)} · foxnb report</title><style>{_STYLE}</style></head>\n"
        '<body class="foxnb-report">'
        f'<h1>{escape(title)}</h1><p class="foxnb-report-meta">Made {when} with foxnb '
        f"{escape(version)} · {escape(_status_counts(table, reused))} · "
        f"{escape(_spent_text(table))}</p>"
        f"{_backend_html(table)}{_problems_html(problems)}"
        f"<h2>Videos</h2><p>{grid_note}</p>{grid}"
        f"{_shared_html(table, shown)}"
        f"<h2>All runs</h2>{_runs_html(table, shown, copies, missing, reused)}"
        '<p class="foxnb-report-files">The same runs as data: <a href="runs.csv">runs.csv</a> · '
        '<a href="runs.parquet">runs.parquet</a> (pandas dtypes kept) · '
        '<a href="manifest.json">manifest.json</a> (every file with its sha256).</p>'
        "</body></html>\n"
    )


def _cell(
    run: dict[str, Any],
    copies: dict[str, VideoCopy],
    missing: dict[str, str],
    details: str = "",
    background: str | None = None,
) -> CellView:
    run_id = str(run["run_id"])
    status = str(run.get("status") or "unknown")
    copy = copies.get(run_id)
    if copy is not None:
        media = video_html(copy.src, copy.poster, fill=True)
    elif run_id in missing:
        media = (
            f'<div class="foxnb-report-missing" style="{style.ERROR_BOX}">video not included: '
            f"{escape(missing[run_id])}</div>"
        )
    else:
        media = ""
    code = run.get("error_code")
    return CellView(
        run_id,
        status,
        None if code is None else str(code),
        media,
        details_html=details,
        background=background,
    )


def reuse_map(table: pd.DataFrame) -> dict[str, list[str]]:
    """For each run another run reused (``reused_from``), the ids of the runs reusing it.

    A reused run is the same request answered from an earlier result at 0 credits: the page
    lists it once, under the run it reused, instead of as another row of the same video.
    """
    if "reused_from" not in table:
        return {}
    present = set(table["run_id"].astype(str))
    found: dict[str, list[str]] = {}
    for run_id, source in zip(table["run_id"], table["reused_from"], strict=True):
        text = value_text(source)
        if text is not None and text in present:
            found.setdefault(text, []).append(str(run_id))
    return found


def _status_counts(table: pd.DataFrame, reused: dict[str, list[str]]) -> str:
    again = {r for runs in reused.values() for r in runs}
    own = table[~table["run_id"].astype(str).isin(again)]
    counts = own["status"].astype("string").fillna("unknown").value_counts()
    parts = ", ".join(f"{n} {status}" for status, n in counts.items())
    text = f"{len(own)} runs: {parts}" if len(own) else "no runs"
    if again:
        text += f" (and {len(again)} re-run(s) that reused them at 0 credits)"
    return text


def _spent_text(table: pd.DataFrame) -> str:
    """The credits the runs actually cost: a reused run cost nothing."""
    if "credits" not in table:
        return "0 credits spent"
    costs = pd.to_numeric(table["credits"], errors="coerce").fillna(0)
    if "reused_from" in table:
        costs = costs[table["reused_from"].isna()]
    return f"{float(costs.sum()):g} credits spent"


def _backend_html(table: pd.DataFrame) -> str:
    backends = set(table["backend"].dropna().astype(str)) if "backend" in table else set()
    parts = []
    if "sim" in backends:
        parts.append(
            f'<p class="foxnb-report-backend"><b>{SIM_NOTE}</b>: these runs were made '
            "by foxnb's built-in FoxAPI simulator.</p>"
        )
    if "real" in backends:
        real = table[table["backend"] == "real"]
        credits = float(real["credits"].fillna(0).sum()) if "credits" in real else 0.0
        hosts = ", ".join(sorted(set(real["host"].dropna().astype(str)))) or "FoxAPI"
        parts.append(
            f'<p class="foxnb-report-backend real"><b>FoxAPI, the real service (billed)</b>: '
            f"{escape(hosts)}, {credits:g} credits in total.</p>"
        )
    return "".join(parts)


def _problems_html(problems: Sequence[VideoProblem]) -> str:
    if not problems:
        return ""
    items = "".join(
        f"<li><code>{escape(p.run_id)}</code>: {escape(p.reason)}</li>" for p in problems
    )
    return (
        f'<div class="foxnb-report-problems"><b>{len(problems)} completed run(s) without '
        f"their video in this report</b><ul>{items}</ul></div>"
    )


def _shared_html(table: pd.DataFrame, shown: Sequence[str]) -> str:
    """The request fields every run has in common, in one line."""
    same = []
    for column in ("model", "aspect_ratio", "generate_audio", *AXIS_FIELDS, "video"):
        if column in shown or column not in table or not len(table):
            continue
        values = {value_key(v) for v in table[column]}
        if len(values) == 1 and (value := values.pop()) is not None:
            name = "input clip" if column == "video" else column
            same.append(f"{escape(name)} <code>{escape(value)}</code>")
    same = list(dict.fromkeys(same))
    return f"<p>Every run: {' · '.join(same)}.</p>" if same else ""


def _runs_html(
    table: pd.DataFrame,
    shown: Sequence[str],
    copies: dict[str, VideoCopy],
    missing: dict[str, str],
    reused: dict[str, list[str]],
) -> str:
    columns = [c for c in dict.fromkeys(("cell", "hop", "candidate", *shown)) if c in table]
    outcomes = [c for c in OUTCOME_COLUMNS if c in table and table[c].notna().any()]
    if "note" in table and table["note"].notna().any():
        outcomes.append("note")
    head = "".join(
        f"<th>{escape(h)}</th>"
        for h in ("run", *columns, *outcomes, "status", "error", "credits", "took", "video")
    )
    body = []
    again = {r for runs in reused.values() for r in runs}
    for run in table.to_dict(orient="records"):
        run_id = str(run["run_id"])
        if run_id in again:
            continue
        values = "".join(f"<td>{escape(_shown(run.get(c)))}</td>" for c in columns)
        values += "".join(_outcome_td(c, run.get(c)) for c in outcomes)
        code, message = value_text(run.get("error_code")), value_text(run.get("error_message"))
        error = (f"<code>{escape(code)}</code> " if code else "") + escape(message or "")
        credits = _number(run.get("credits"))
        took = _number(run.get("duration_s"))
        copy = copies.get(run_id)
        if copy is not None:
            video = f'<a href="{escape(copy.src)}">{escape(copy.src)}</a>'
        else:
            video = escape(f"missing: {missing[run_id]}") if run_id in missing else ""
        body.append(
            f'<tr id="{escape(run_id)}"><td><code>{escape(run_id)}</code></td>{values}'
            f"<td>{escape(_shown(run.get('status')))}{_reused_note(reused.get(run_id, []))}</td>"
            f'<td class="foxnb-message">{error}</td>'
            f"<td>{'' if credits is None else f'{credits:g}'}</td>"
            f"<td>{escape(format_duration(took) if took is not None else '')}</td>"
            f"<td>{video}</td></tr>"
        )
    return (
        f'<div class="foxnb-scroll"><table class="foxnb-runs"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>{SORT_SCRIPT}</div>"
    )


def _reused_note(by: Sequence[str]) -> str:
    """``reused 3× at 0 credits`` with the re-runs' ids in a tooltip (nothing if never)."""
    if not by:
        return ""
    return (
        f'<div style="{style.MUTED}" title="{escape(", ".join(by))}">'
        f"reused {len(by)}× at 0 credits</div>"
    )


def _outcome_td(column: str, value: Any) -> str:
    """A score or judgement cell: shown rounded (stars for a rating), sorted by its value."""
    key = value_key(value)
    if key is None:
        return "<td></td>"
    sort_value = f' data-value="{escape(key)}"' if isinstance(key, int | float) else ""
    shown = outcome_text(column, key)
    if column == "note":
        return f'<td class="foxnb-message">{escape(shown)}</td>'
    return f"<td{sort_value}>{escape(shown)}</td>"


def _shown(value: Any) -> str:
    key = value_key(value)
    return "" if key is None else str(key)


def _number(value: Any) -> float | None:
    key = value_key(value)
    if isinstance(key, int | float) and not isinstance(key, bool) and math.isfinite(key):
        return float(key)
    return None
