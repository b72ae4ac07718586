"""A chain in the notebook: hop by hop while it runs, then a saved grid and drift plot.

    chain = fx.chain("clip.mp4", prompts=[...], best_of=3)
    chain                          # show_chain(chain)
    chain.drift_plot()             # the drift alone, as a static SVG image

While it runs, the view redraws its header and one line per hop (state, candidates'
statuses, the chosen run and why). When a hop waits for your pick (``pick="manual"``, or no
candidate could be scored) its candidates appear with ★ / ✕ / rating / note controls
(``JudgeView``); starring one lets the chain go on. When the chain ends, the output is
replaced by a static snapshot — every hop's candidates in a grid (the chosen ones shaded,
``seam_jump`` and ``color_shift`` under each) and the drift plot — which a saved notebook,
GitHub and nbviewer show without a kernel. Outside a notebook, a line per change is printed.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .._html.chain import (
    CHOSEN_BACKGROUND,
    HopLine,
    chain_header_html,
    chain_snapshot_html,
    hop_label,
    hops_html,
)
from .._html.drift import HELP
from .._html.grid import CellView, grid_html
from .._html.outcomes import values_html
from .._serve import video_media
from ..experiments.choose import PICK_RULES
from ..experiments.compare import plain_value
from ._sync import Coalescer, hold_sync_all, once_off_thread
from .judge import JudgeView
from .text import in_kernel

if TYPE_CHECKING:
    from ..experiments.chain import Chain

DRIFT_SCORES = ("seam_jump", "color_shift")
SHOWN_SCORES = ("seam_jump", "color_shift", "rating")


def hop_lines(chain: Chain) -> list[HopLine]:
    """Every hop of ``chain`` as it is now (any thread)."""
    return [
        HopLine(
            hop.index + 1,
            hop.prompt,
            hop.state,
            tuple(job.status for job in list(hop.jobs)),
            hop.chosen,
            hop.reason,
        )
        for hop in chain.hops
    ]


def pick_rule(pick: str) -> str:
    """``the lowest seam_jump``; ``you`` for a manual pick."""
    if pick not in PICK_RULES:
        return "you"
    return f"the {'lowest' if PICK_RULES[pick] == 'min' else 'highest'} {pick}"


def header(chain: Chain) -> str:
    """The chain's header line as it stands."""
    credits, new_credits = chain.credit_totals()
    return chain_header_html(
        chain.name,
        chain.backend,
        hop_lines(chain),
        best_of=chain.spec.best_of,
        rule=pick_rule(chain.pick),
        credits=credits,
        new_credits=new_credits,
        stopped=chain.stopped,
    )


def snapshot_bundle(chain: Chain) -> dict[str, str]:
    """The static display of ``chain``: ``text/html`` (grid and drift) and ``text/plain``."""
    frame = chain.df
    rows, cols = [], []
    cells: dict[tuple[int, int], CellView] = {}
    for run in frame.to_dict("records"):
        label = hop_label(int(run["hop"]), str(run["prompt"]))
        if label not in rows:
            rows.append(label)
        if run["seed"] not in cols:
            cols.append(run["seed"])
        media = ""
        if run.get("status") == "completed" and isinstance(run.get("video_path"), str):
            media, _ = video_media(Path(run["video_path"]), fill=True)
        chosen = bool(run["chosen"])
        mark = "<div><b>★ chosen</b></div>" if chosen else ""
        cells[(rows.index(label), cols.index(run["seed"]))] = CellView(
            run_id=str(run["run_id"]),
            status=str(run.get("status")),
            error_code=run.get("error_code") if isinstance(run.get("error_code"), str) else None,
            media_html=media,
            details_html=mark
            + values_html({str(k): plain_value(v) for k, v in run.items()}, SHOWN_SCORES),
            background=CHOSEN_BACKGROUND if chosen else None,
        )
    grid = grid_html("hop", "seed", rows, cols, cells, width_px=240, play_rows=True) if rows else ""
    drift = chain.drift_plot(DRIFT_SCORES).svg if any(h.chosen for h in chain.hops) else ""
    helps = "; ".join(f"{name}: {HELP[name]}" for name in DRIFT_SCORES)
    page = chain_snapshot_html(header(chain), hops_html(hop_lines(chain)), grid, drift, helps)
    return {"text/html": page, "text/plain": repr(chain)}


class ChainView(w.VBox):  # type: ignore[misc]
    """A live view of ``chain``: ``header``, ``hops`` (one line each) and ``picker`` (the
    candidates of a hop waiting for your star, as a ``JudgeView``; empty otherwise)."""

    def __init__(self, chain: Chain, **kwargs: Any):
        self.chain = chain
        self.header = w.HTML()
        self.hops = w.HTML()
        self.picker = w.VBox()
        self._picking: int | None = None
        super().__init__([self.header, self.hops, self.picker], **kwargs)
        self.add_class("foxnb-chain")
        self._coalescer = Coalescer(self._render, 0.25)
        self._render()
        chain.on_update(lambda _chain: self._coalescer.poke(final=_chain.done))

    def _render(self) -> None:
        chain = self.chain
        with hold_sync_all(self.header, self.hops):
            self.header.value = header(chain)
            self.hops.value = hops_html(hop_lines(chain))
        waiting = chain.needs_pick
        number = None if waiting is None else waiting.index
        if number != self._picking:
            self._picking = number
            if waiting is None:
                self.picker.children = ()
            else:
                title = f"hop {waiting.index + 1}: star the candidate to carry on from"
                if chain.judgements is not None:
                    frame = chain.df  # the ledger's rows: with the candidates' scores
                    rows = frame[frame["hop"] == waiting.index + 1]
                    self.picker.children = (JudgeView(rows, chain.judgements, title=title),)


def show_chain(chain: Chain) -> None:
    """Display ``chain``: a live view, replaced by the saved snapshot when it ends."""
    if not in_kernel():
        _print_progress(chain)
        return
    from IPython.display import display

    if chain.done:
        display(snapshot_bundle(chain), raw=True)  # type: ignore[no-untyped-call]
        return
    view = ChainView(chain)
    live = {
        **view._repr_mimebundle_(),
        "text/html": chain_snapshot_html(header(chain), hops_html(hop_lines(chain)), "", "", ""),
        "text/plain": repr(chain),
    }
    handle = display(live, raw=True, display_id=True)  # type: ignore[no-untyped-call]

    def replace() -> None:
        handle.update(snapshot_bundle(chain), raw=True)

    fire = once_off_thread(replace, "foxnb-chain-snapshot")

    def replace_when_done(_chain: Chain) -> None:
        if _chain.done:
            fire()

    chain.on_update(replace_when_done)


def _print_progress(chain: Chain) -> None:
    last: list[str] = []
    lock = threading.Lock()

    def show(_chain: Chain) -> None:
        line = repr(_chain)
        with lock:
            if last and last[0] == line:
                return
            last[:] = [line]
            print(line, flush=True)

    show(chain)
    chain.on_update(show)
