"""The live sweep view, its saved snapshot and the comparison grid's row playback markup.

Sweeps run against the simulator over loopback; "displaying" in a kernel is observed by
standing in for IPython's ``display`` (as tests/system/test_widgets_form.py does), and widget
traffic by counting ``Widget._send`` calls. The browser side is in tests/browser/test_browser.py.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
from ipywidgets.widgets.widget import _instances
from support import connect, wait_for

import foxnb
from foxnb import Sweep
from foxnb import _serve as _files
from foxnb._html.grid import PLAY_ROWS_SCRIPT
from foxnb._html.sweep import (
    comparison_axes,
)
from foxnb._serve import ServerLocation
from foxnb.experiments.compare import compare
from foxnb.runtime.store import to_dataframe
from foxnb.sim import Simulator
from foxnb.widgets import sweep_view
from foxnb.widgets.sweep_view import SweepView

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PROMPTS = ["Dusk falls over the valley", "A storm rolls in from the left"]
# Without spaces (a slash separates attributes just as well), so they also fit in a URL,
# which foxnb refuses to hold spaces.
PAYLOADS = [
    '<img/src=x/onerror="window.__xss=1">',
    "<script>window.__xss=1</script>",
    '"><svg/onload=window.__xss=1>',
]
HOSTILE = "|".join(PAYLOADS)


def start(fx: foxnb.Session, video: Path | str, **kw: Any) -> Sweep:
    sweep = fx.sweep(video, **kw)
    assert isinstance(sweep, Sweep)
    return sweep


class FakeDisplay:
    """Stands in for ``IPython.display.display``: keeps what was shown and every update."""

    def __init__(self) -> None:
        self.shown: list[dict[str, Any]] = []
        self.updates: list[dict[str, str]] = []

    def __call__(self, bundle: dict[str, Any], raw: bool, display_id: bool = False) -> Any:
        self.shown.append(bundle)
        return self

    def update(self, bundle: dict[str, str], raw: bool) -> None:
        self.updates.append(bundle)

    def view(self) -> SweepView:
        """The live widget of the first display."""
        found = _instances[self.shown[0][WIDGET_VIEW]["model_id"]]
        assert isinstance(found, SweepView)
        return found


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDisplay]:
    """As in a notebook: displays are recorded, and tmp_path is served at / like JupyterLab."""
    fake = FakeDisplay()
    monkeypatch.setattr(sweep_view, "in_kernel", lambda: True)
    monkeypatch.setattr("IPython.display.display", fake)
    monkeypatch.setattr(_files, "server_location", lambda: ServerLocation(tmp_path.resolve()))
    yield fake


def without_play_script(page: str) -> str:
    return page.replace(PLAY_ROWS_SCRIPT, "")


# ---------------------------------------------------------------------------- against the sim


@pytest.fixture
def slow_sim(tmp_path: Path) -> Iterator[Simulator]:
    """A simulator at 30x: six jobs end 0.7-1.4 x 3 s after they start, seconds apart rather
    than inside one redraw of the view (0.25 s), however fast their results are encoded (the
    test run shares its renders, so a repeated one takes no time at all)."""
    with Simulator(speed=30, state_dir=tmp_path / "sim-state", upstream_lag_s=0.0) as server:
        yield server


def test_displayed_sweep_shows_cards_and_a_rising_bar_then_its_grid(
    slow_sim: Simulator, tmp_path: Path, clips: dict[str, Path], kernel: FakeDisplay
) -> None:
    """2 x 3 sweep: six labelled cards, one bar rising to 100, then the saved 6-video grid."""
    fx = connect(slow_sim, tmp_path)
    sweep = start(fx, clips["landscape"], name="dusk-vs-storm", prompt=PROMPTS, seed=[1, 2, 3])
    sweep._ipython_display_()
    live = kernel.shown[0]
    assert WIDGET_VIEW in live and "foxnb-sweep-snapshot" in live["text/html"]
    view = kernel.view()
    bars: list[int] = []
    view.progress.observe(lambda change: bars.append(change["new"]), "value")
    assert len(view.cards) == 6 and not view.uses_tiles
    # As many columns as the saved grid (3) where they fit, fewer (wrapping) where not.
    assert "/ 3), 1fr))" in view.grid.layout.grid_template_columns
    labels = [box.children[0].value for box in view.grid.children]
    assert labels[0] == f"<b>prompt=&#x27;{PROMPTS[0]}&#x27; · seed=1</b>"
    assert labels[5] == f"<b>prompt=&#x27;{PROMPTS[1]}&#x27; · seed=3</b>"
    assert [card.job for card in view.cards] == sweep.jobs
    assert "simulator — synthetic videos, nothing billed" in view.header.value

    wait_for(lambda: kernel.updates, timeout_s=120)
    assert bars == sorted(bars) and bars[-1] == 100 and len(set(bars)) >= 3, bars
    assert view.progress.bar_style == "success"
    assert view.ended.value.endswith(">6 of 6 cells ended</span>")
    assert "completed 6 · after " in view.header.value

    saved = kernel.updates[0]
    assert WIDGET_VIEW not in saved and saved["text/plain"] == repr(sweep)
    page = saved["text/html"]
    assert page.startswith('<div class="foxnb-sweep-snapshot"')
    assert "6 of 6 cells ended" in page and "simulator — synthetic videos, nothing billed" in page
    assert page.count('<video class="foxnb-video"') == 6 and page.count("/files/runs/videos/") == 6
    assert "prompt ↓ · seed →" in page and page.count(PLAY_ROWS_SCRIPT) == 1
    assert len(kernel.updates) == 1


def test_stop_button_stops_only_unsent_cells_and_says_so(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], kernel: FakeDisplay
) -> None:
    """ "Stop submitting": unsent cells end not_submitted (no task), sent ones complete."""
    fx = connect(sim, tmp_path, rate_per_s=1.0)
    prompts = [f"{p} (take {n})" for p in PROMPTS for n in range(4)]
    sweep = start(fx, clips["landscape"], name="stop-me", prompt=prompts, seed=[1, 2])
    sweep._ipython_display_()
    view = kernel.view()
    assert view.stop.layout.display is None  # shown: cells are waiting to be sent
    wait_for(lambda: sim.backend.task_count >= 1)
    view.stop.click()
    wait_for(lambda: kernel.updates, timeout_s=120)
    counts = Counter(job.status for job in sweep.jobs)
    assert counts["not_submitted"] >= 1  # creates go out at ~1/s after the first burst
    assert sim.backend.task_count == 16 - counts["not_submitted"]
    assert counts["completed"] == sim.backend.task_count
    assert "Not sending further cells: you called stop_submitting()" in view.header.value
    assert view.stop.layout.display == "none"
    assert "you called stop_submitting()" in kernel.updates[0]["text/html"]


def test_thirty_cells_are_tiles_with_bounded_widget_traffic(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 30-cell sweep draws one tiles widget; its messages stay near 2/s, far below the updates."""
    fx = connect(sim, tmp_path)
    # negative_prompt is no input to the simulator's renderer: 30 cells, one video rendered.
    sweep = start(
        fx,
        clips["landscape"],
        name="thirty",
        prompt="pan",
        seed=1,
        negative_prompt=[f"blur {i}" for i in range(30)],
    )
    sent: Counter[int] = Counter()
    original = ipywidgets.Widget._send

    def counting(self: Any, msg: dict[str, Any], buffers: Any = None) -> None:
        sent[id(self)] += 1
        original(self, msg, buffers)

    updates = Counter[str]()
    view = SweepView(sweep)
    monkeypatch.setattr(ipywidgets.Widget, "_send", counting)
    started_s = time.monotonic()
    for job in sweep.jobs:
        job.on_update(lambda j: updates.update([j.run_id]))
    assert view.uses_tiles and view.cards == [] and isinstance(view.grid, ipywidgets.HTML)
    wait_for(lambda: view.progress.value == 100, timeout_s=120)
    took_s = time.monotonic() - started_s
    # The view renders on another thread: the grid is written after the bar.
    tiles = wait_for(
        lambda: view.grid.value if view.grid.value.count('data-status="completed"') == 30 else "",
        what="30 completed tiles",
    )
    assert tiles.count('class="foxnb-tile"') == 30
    assert tiles.count('data-status="completed"') == 30
    assert "each tile: negative_prompt" in tiles
    assert 'title="negative_prompt=&#x27;blur 29&#x27;"' in tiles
    assert '<div class="foxnb-tile-label">&#x27;blur 29&#x27;</div>' in tiles
    # At most one redraw per interval, plus the first one and the final one.
    allowed = took_s / sweep_view.TILES_REDRAW_INTERVAL_S + 3
    for part in (view.header, view.progress, view.ended, view.grid):
        assert sent[id(part)] <= allowed, (sent[id(part)], took_s)
    # Each part sends one message per redraw, so the whole view stays within 4 per redraw.
    total = sum(sent.values())
    assert total <= 4 * allowed and sum(updates.values()) > 4 * sent[id(view.grid)], (
        total,
        sum(updates.values()),
    )


def test_hostile_prompt_labels_and_errors_render_as_text(
    sim: Simulator, tmp_path: Path, kernel: FakeDisplay
) -> None:
    """Markup in the name, axis values, tags and the service's error is escaped everywhere."""
    fx = connect(sim, tmp_path)
    # The simulator cannot fetch this input; its error message quotes the URL, payloads too.
    video = f"{sim.url}/missing.mp4#{HOSTILE}"
    sweep = start(
        fx,
        video,
        name=f"x{HOSTILE}",
        prompt=[f"a {HOSTILE}", f"b {HOSTILE}"],
        tags=[HOSTILE],
        negative_prompt=HOSTILE,
        check_url=False,  # sent as is, so the service's own error quotes it
    )
    sweep._ipython_display_()
    view = kernel.view()
    wait_for(lambda: kernel.updates)
    assert [job.status for job in sweep.jobs] == ["failed", "failed"]
    assert all(HOSTILE in str(job.error) for job in sweep.jobs)
    tiles = SweepView(sweep, max_cards=0)
    pages = {
        "interim": kernel.shown[0]["text/html"],
        "header": view.header.value,
        "labels": "".join(box.children[0].value for box in view.grid.children),
        "cards": "".join(card.header.value + card.problem.value for card in view.cards),
        "tiles": tiles.grid.value + tiles.header.value,
        "snapshot": without_play_script(kernel.updates[0]["text/html"]),
    }
    escaped = "&lt;img/src=x/onerror=&quot;window.__xss=1&quot;&gt;"
    for where, page in pages.items():
        for tag in ("<img", "<script", "<svg"):
            assert tag not in page, (where, tag)
        assert escaped in page or "&#x27;a &lt;img" in page, where
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in pages["cards"]
    assert "video_fetch_failed" in pages["cards"] and "answered HTTP 404" in pages["cards"]
    assert pages["snapshot"].count("<b>failed</b> · <code>video_fetch_failed</code>") == 2


def test_outside_a_kernel_a_line_per_change_of_the_counts(
    sim: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no notebook, displaying a sweep prints its counts whenever they change."""
    fx = connect(sim, tmp_path)
    sweep = start(fx, f"{sim.url}/missing.mp4", name="plain", prompt=["a", "b"], check_url=False)
    printed: list[str] = []

    def final_line_seen() -> bool:
        printed.extend(capsys.readouterr().out.splitlines())
        return bool(printed) and printed[-1].startswith("sweep 'plain': 2 of 2")

    sweep._ipython_display_()
    wait_for(final_line_seen)
    assert printed[-1] == "sweep 'plain': 2 of 2 cells ended (failed 2)"
    assert all(line.startswith("sweep 'plain': ") for line in printed)
    assert all(a != b for a, b in itertools.pairwise(printed)), printed
    ended = [int(line.split(": ")[1].split(" of ")[0]) for line in printed]
    assert ended == sorted(ended)


# ---------------------------------------------------------------------------- pure parts


AXIS_VALUES: dict[str, list[Any]] = {
    "prompt": ["dusk", "storm"],
    "seed": [1, 2],
    "model": ["veo-3.1-extend", "veo-3.1-extend-fast"],
}


@pytest.mark.parametrize(
    ("axes", "rows", "cols", "shape"),
    [
        ([], "experiment", "cell", (1, 1)),
        (["seed"], "experiment", "seed", (1, 2)),
        (["prompt", "seed"], "prompt", "seed", (2, 2)),
        (["prompt", "seed", "model"], "prompt", "seed · model", (2, 4)),
    ],
)
def test_every_cell_keeps_its_own_box_in_the_saved_grid(
    axes: list[str], rows: str, cols: str, shape: tuple[int, int]
) -> None:
    """No axis, one, two or three: the grid's axes leave no two cells in one box."""
    combos = list(itertools.product(*(AXIS_VALUES[a] for a in axes)))
    records = [
        {"run_id": f"r{i}", "status": "completed", "experiment": "exp", "cell": i}
        | dict(zip(axes, combo, strict=True))
        for i, combo in enumerate(combos)
    ]
    frame, got_rows, got_cols = comparison_axes(to_dataframe(records), axes)
    assert (got_rows, got_cols) == (rows, cols)
    grid = compare(frame, rows=rows, cols=cols)
    assert (len(grid.row_values), len(grid.col_values)) == shape
    assert len(grid.runs) == len(records)
    if len(axes) == 3:
        assert grid.col_values[1] == "seed=1 · model='veo-3.1-extend-fast'"
