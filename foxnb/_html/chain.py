"""Pure HTML of a chain: its header line, one line per hop, and the saved snapshot.

``chain_view.py`` reads a running chain into ``HopLine`` values; these builders make the
strings (every name, prompt and reason escaped). The snapshot is the header, a grid of each
hop's candidates (hops down, seeds across; the chosen one shaded and marked) and the drift
plot (``drift.drift_svg``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import style
from .base import SIM_NOTE, escape

CHOSEN_BACKGROUND = "rgba(26,127,55,0.14)"
_PROMPT_CHARS = 60


@dataclass(frozen=True)
class HopLine:
    """One hop as the view shows it: number (1-based), prompt, state, statuses of its
    candidates, the chosen run and why."""

    number: int
    prompt: str
    state: str
    statuses: tuple[str, ...]
    chosen: str | None
    reason: str


def hop_label(number: int, prompt: str) -> str:
    """``1 · Dusk falls over the…`` (the prompt cut to a grid header's width)."""
    short = prompt if len(prompt) <= _PROMPT_CHARS else prompt[: _PROMPT_CHARS - 1] + "…"
    return f"{number} · {short}"


def chain_header_html(
    name: str,
    backend: str,
    hops: Sequence[HopLine],
    *,
    best_of: int,
    rule: str,
    credits: float,
    new_credits: float,
    stopped: str | None,
) -> str:
    """Name, simulator note, hops done, how candidates are chosen (``rule``, e.g. ``the
    lowest seam_jump``), credits, and why it stopped."""
    done = sum(hop.state == "done" for hop in hops)
    parts = [f"<b>Chain</b> <code>{escape(name)}</code>"]
    if backend == "sim":
        parts.append(f"<b>{SIM_NOTE}</b>")
    parts += [
        f"{done} of {len(hops)} hops done",
        f"best of {best_of}, chosen by {escape(rule)}, or your ★",
        f"{credits:g} credits ({new_credits:g} new)",
    ]
    line = " · ".join(parts)
    if stopped:
        line += (
            f'<div class="foxnb-chain-stopped" style="color:{style.WARN}">'
            f"Stopped: {escape(stopped)}</div>"
        )
    return f'<div class="foxnb-chain-header">{line}</div>'


def hops_html(hops: Sequence[HopLine]) -> str:
    """One line per hop: its state, its candidates' statuses, the chosen run and why."""
    rows = []
    for hop in hops:
        colour = {"done": style.GOOD, "stopped": style.BAD, "picking": style.WARN}.get(
            hop.state, style.RUNNING if hop.state != "waiting" else style.QUEUED
        )
        statuses = " · ".join(escape(s) for s in hop.statuses) or "not started"
        chosen = (
            f" → <code>{escape(hop.chosen)}</code> ({escape(hop.reason)})"
            if hop.chosen
            else (f" · {escape(hop.reason)}" if hop.reason else "")
        )
        rows.append(
            f'<div class="foxnb-chain-hop" data-state="{escape(hop.state)}">'
            f'<b>hop {hop.number}</b> <span style="color:{colour}">{escape(hop.state)}</span> · '
            f"{escape(hop_label(hop.number, hop.prompt).split(' · ', 1)[1])} · "
            f'<span style="{style.MUTED}">{statuses}</span>{chosen}</div>'
        )
    return f'<div class="foxnb-chain-hops">{"".join(rows)}</div>'


def chain_snapshot_html(header: str, hops: str, grid: str, drift: str, drift_help: str) -> str:
    """The saved record of a chain: header, hop lines, the candidates' grid, the drift plot."""
    plot = (
        f'<div class="foxnb-chain-drift"><div style="{style.MUTED}">Drift of the chosen '
        f"results, hop by hop — {escape(drift_help)}</div>{drift}</div>"
        if drift
        else ""
    )
    return f'<div class="foxnb-chain-snapshot" style="{style.BOX}">{header}{hops}{grid}{plot}</div>'
