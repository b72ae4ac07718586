"""How foxnb looks in JupyterLab: light and dark themes, 800 and 1400 px, and the report.

One notebook written by the test holds every kind of foxnb output: the banner, a form whose
Submit is disabled (its reason in red), a job's live card and saved snapshot, a 2 x 4 seed
grid, a grid of failed and ``not_submitted`` runs, and a report. In both JupyterLab themes no
text in foxnb's elements has a contrast below 4.5:1 (computed in the page from the colours
Chromium really paints), and at 800 and 1400 px (file browser open) every grid stays inside
its output area: tiles shrink, then the grid scrolls sideways with its row labels in view.
The report follows the reader's colour scheme, passes the same contrast check and fits 800 px.
The status line's clock is checked on its own, with a stand-in widget model.

Screenshots (light and dark) go to ``$FOXNB_SCREENSHOTS`` (docs/ via ./dev screenshots).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lab_support import (
    Lab,
    Notebook,
    cell_with,
    contrast,
    on_the_simulator,
    screenshot,
    screenshot_dir,
    write_notebook,
)
from support import wait_for

from foxnb.widgets.clock import GRACE_S, StatusClock

MIN_CONTRAST = 4.5
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}

CELLS = [
    ("setup", on_the_simulator("runs-looks", speed=100)),
    ("banner", "fx"),
    (
        "sweep",
        'sweep = fx.sweep(clip, name="looks", prompt=["Dusk falls over the valley",\n'
        '                 "A storm rolls in"], seed=[42, 7, 3, 99])\n'
        "sweep.wait()",
    ),
    ("grid", 'fx.compare(sweep, rows="prompt", cols="seed")'),
    (
        "failures",
        'bad = fx.extend("Nothing to extend", video=f"{sim.url}/missing.mp4", check_url=False)\n'
        "poor = fx.sweep(clip, name='poor', prompt='Too dear', seed=[1, 2], budget_credits=1)\n"
        "poor.wait(quiet=True)\n"
        "try:\n    bad.wait(60, quiet=True)\nexcept foxnb.FoxError:\n    pass\n"
        "runs = fx.runs()\n"
        'fx.compare(runs[runs.status != "completed"], rows="experiment", cols="status")',
    ),
    ("form", "form = fx.form()\nform.video.value = str(clip)\nform"),
    ("job", 'job = fx.extend("The camera pans left", clip, seed=5)\njob.wait()\njob'),
    ("card", "foxnb.widgets.JobCard(job)"),
    ("report", 'report = fx.report(sweep, "runs-looks/report")\nreport'),
]


def set_theme(notebook: Notebook, theme: str) -> None:
    """Switch JupyterLab's theme and wait until the page has it."""
    notebook.js("await app.commands.execute('apputils:change-theme', {theme: arg});", theme)
    light = "true" if theme == THEMES["light"] else "false"
    wait_for(
        lambda: notebook.page.evaluate("document.body.dataset.jpThemeLight") == light,
        timeout_s=30,
        what=f"the {theme} theme",
    )
    notebook.page.wait_for_timeout(500)  # the theme's stylesheet applies a moment later


def grid_fit(page: Any) -> list[dict[str, Any]]:
    """Per grid: how far it sticks out of its output area, whether it scrolls, and where its
    first row label is after scrolling to the far right (it must stay in view)."""
    fits: list[dict[str, Any]] = page.evaluate(
        """() => [...document.querySelectorAll('.foxnb-grid-wrap')].map(wrap => {
            wrap.scrollIntoView();
            const area = wrap.closest('.jp-OutputArea-output').getBoundingClientRect();
            const box = wrap.getBoundingClientRect();
            const scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
            wrap.scrollLeft = wrap.scrollWidth;
            const label = wrap.querySelector('tbody th').getBoundingClientRect();
            const tile = wrap.querySelector('td > div').getBoundingClientRect();
            const result = {outside_px: Math.max(0, box.right - area.right), scrolls,
                            label_left_px: label.left - box.left, tile_px: tile.width,
                            columns: wrap.querySelectorAll('thead th').length - 1};
            wrap.scrollLeft = 0;
            return result;
        })"""
    )
    return fits


@pytest.mark.browser
@pytest.mark.slow
def test_themes_contrast_and_widths(page: Any, lab: Lab, tmp_path: Path) -> None:
    """Light and dark: no foxnb text under 4.5:1; 800 and 1400 px: grids stay in the output."""
    shots = screenshot_dir(tmp_path)
    path = write_notebook(lab.root / "looks.ipynb", CELLS)
    notebook = Notebook(page, lab, path)
    notebook.open()
    notebook.run_all(timeout_s=180)
    grid = cell_with(page, 'fx.compare(sweep, rows="prompt"').locator(".foxnb-grid-wrap")
    grid.wait_for(timeout=30_000)
    headers = grid.locator("thead th").all_inner_texts()
    assert [h.split()[-1] for h in headers[1:]] == ["3", "7", "42", "99"]  # seeds by value
    failures = cell_with(page, "runs.status !=").locator(".foxnb-compare-status")
    assert {"failed", "not_submitted"} <= {t.split(" ·")[0] for t in failures.all_inner_texts()}
    assert (
        page.locator(".foxnb-form .foxnb-submit-why")
        .inner_text()
        .startswith("Submit needs a valid prompt")
    )

    measured = {}
    for name, theme in THEMES.items():
        set_theme(notebook, theme)
        result = contrast(page)
        measured[name] = result
        assert result["count"] > 50, result  # the check saw the views
        assert result["failures"] == [], f"{name}: {result['failures']}"
        screenshot(page, grid, shots / f"looks-grid-{name}.png")
        screenshot(
            page,
            page.locator(".jp-Cell").filter(has=page.locator(".foxnb-form")),
            shots / f"looks-form-{name}.png",
        )
    print(f"contrast: {measured['light']['lowest']}:1 light, {measured['dark']['lowest']}:1 dark")

    for width, browser_open in ((1400, True), (800, False)):
        page.set_viewport_size({"width": width, "height": 1000})
        notebook.js("app.shell.expandLeft();" if browser_open else "app.shell.collapseLeft();")
        page.wait_for_timeout(500)
        fits = grid_fit(page)
        print(f"{width} px: {fits}")
        for fit in fits:
            assert fit["outside_px"] <= 1, (width, fit)
            assert abs(fit["label_left_px"]) <= 1, (width, fit)  # sticky: still in view
        seeds = fits[0]
        if width == 1400:
            assert not seeds["scrolls"], seeds  # all four seeds in view, file browser open
        else:
            assert seeds["tile_px"] >= 159, seeds  # shrunk to the minimum, then scrolls
    set_theme(notebook, THEMES["light"])
    notebook.save_and_shut_down()

    # The report, opened from disk at 800 px, in the reader's light and dark colour schemes.
    index = lab.root / "runs-looks" / "report" / "index.html"
    page.set_viewport_size({"width": 800, "height": 1000})
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto(index.as_uri())
        result = contrast(page)
        assert result["count"] > 20 and result["failures"] == [], (scheme, result)
        width_px = page.evaluate("document.documentElement.scrollWidth")
        assert width_px <= 800, f"the report is {width_px} px wide at 800 px ({scheme})"
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(255, 255, 255)") == (scheme == "light"), background


@pytest.mark.browser
def test_status_clock_ticks_between_reads(page: Any) -> None:
    """With no new status from the kernel the line's elapsed time still moves each second,
    and an estimate that runs out reads "finishing any moment", never "~0 s left", then how
    far past the estimate the job is. The page's clock is Playwright's, moved by the test, so
    a loaded machine cannot make a second last longer than the test expects."""
    esm = StatusClock()._esm
    page.clock.install()
    page.set_content("<div id='line'></div>")
    page.evaluate(
        """async (esm) => {
            const module = await import(URL.createObjectURL(
                new Blob([esm], {type: 'text/javascript'})));
            const state = {status: 'processing', progress_pct: 40, elapsed_s: 5, eta_s: 3.4,
                           done: false};
            window.__model = {get: k => state[k], on: () => {}};
            module.default.render({model: window.__model, el: document.getElementById('line')});
        }""",
        esm,
    )
    line = page.locator("#line")
    assert line.inner_text() == "processing 40% · 5 s elapsed · ~3 s left"
    page.clock.run_for(1000)  # 1.0 s: 2.4 s of the estimate left
    assert line.inner_text() == "processing 40% · 6 s elapsed · ~2 s left"
    page.clock.run_for(1000)  # 2.0 s: 1.4 s left, under what "~1 s left" would round from
    assert line.inner_text() == "processing 40% · 7 s elapsed · finishing any moment"
    page.clock.run_for(GRACE_S * 1000)  # 3.4 + GRACE_S - (2 + GRACE_S) s: still in the grace
    assert line.inner_text() == f"processing 40% · {7 + GRACE_S} s elapsed · finishing any moment"
    page.clock.run_for(2000)  # 0.6 s past the grace: 8.6 s past the estimate
    past = round(2 + GRACE_S + 2 - 3.4)
    assert line.inner_text() == (
        f"processing 40% · {9 + GRACE_S} s elapsed · {past} s past the estimate"
    )
