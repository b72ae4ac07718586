"""The notebooks in a real JupyterLab, driven through Debian's Chromium with Playwright.

A JupyterLab server runs on 127.0.0.1 over a temporary copy of notebooks/ (its own Jupyter
config, data and runtime folders, a random token, the news toast turned off by
binder/overrides.json). Chromium opens the notebooks, runs them, fills and submits the form,
and checks what a person would see: the card moving, the status reaching "completed",
videos that load and play, and the saved snapshot after the kernel is gone. Notebooks the
tests write themselves show a sweep's live view turning into its saved grid, a grid row's
videos playing in step, and markup in prompts, tags and errors shown as text, never run.

Screenshots go to ``$FOXNB_SCREENSHOTS`` (``./dev screenshots`` sets it to docs/), else to
the test's temporary folder. ``./dev test`` installs Chromium when it is missing; these
tests skip only when it could not be installed, and never on CI.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from lab_support import (
    NEWS_TOAST_TEXT,
    REPO,
    Lab,
    Notebook,
    cell_with,
    free_port,
    http_ok,
    jupyter_dirs,
    loaded,
    near,
    news_default,
    on_the_simulator,
    progress_pct,
    refuse_new_sessions,
    screenshot,
    screenshot_dir,
    settle_on_no_kernel,
    stop,
    video_state,
    write_notebook,
)
from support import wait_for

# ---------------------------------------------------------------------------- the tests


@pytest.mark.browser
@pytest.mark.slow
def test_quickstart_form_card_and_saved_snapshot(page: Any, lab: Lab, tmp_path: Path) -> None:
    """In JupyterLab a submitted job's card moves and plays; its snapshot outlives the kernel."""
    shots = screenshot_dir(tmp_path)
    notebook = Notebook(page, lab, "quickstart.ipynb")
    notebook.open()
    notebook.run_all()

    # The form, pre-filled by the notebook; fill in a prompt and a seed like a person would.
    form = page.locator(".foxnb-form")
    prompt = form.locator(".foxnb-field-prompt textarea")
    assert prompt.input_value() == "The camera keeps drifting over the hills at dusk"
    video_field = form.locator(".foxnb-field-video input[type=text]")
    assert video_field.input_value().endswith("sample-720p.mp4")
    prompt.fill("Clouds gather over the ridge")
    form.get_by_text("Advanced (not sent unless set)").click()
    form.locator(".foxnb-field-seed input").fill("5")
    code = form.locator(".foxnb-code")
    wait_for(
        lambda: "seed=5" in code.inner_text() and "Clouds gather" in code.inner_text(),
        timeout_s=20,
        what="the code view to show the new fields",
    )
    assert form.locator(".foxnb-error:visible").count() == 0
    form.locator(".foxnb-submit").click()

    card = form.locator(".foxnb-card").first
    card.wait_for(timeout=30_000)
    samples: list[tuple[float, str]] = []

    def sample() -> tuple[float, str]:
        samples.append((progress_pct(card), card.locator(".foxnb-status").inner_text()))
        return samples[-1]

    # While the job runs, another cell runs at once and the card keeps moving.
    wait_for(
        lambda: sample()[1].startswith(("pending", "processing")),
        timeout_s=30,
        what="the job to be under way",
    )
    before = notebook.execution_counts()["runs"]
    started_s = time.monotonic()
    notebook.run_cell("runs")
    wait_for(
        lambda: notebook.execution_counts()["runs"] != before,
        timeout_s=10,
        every_s=0.05,
        what="another cell to run during the job",
    )
    other_cell_s = time.monotonic() - started_s
    pct_after_cell, status_after_cell = sample()
    assert not status_after_cell.startswith("completed"), "the job ended before the check"
    assert other_cell_s < 3.0, f"a cell took {other_cell_s:.1f} s while a job ran"

    # The card runs in the form until the job ends, then leaves it for the saved results
    # below the form: sample it while it is there.
    results = cell_with(page, "form = fx.form()").locator(".foxnb-form-results .foxnb-snapshot")

    def ended() -> bool:
        if card.count():
            with contextlib.suppress(Exception):  # the card went between check and read
                sample()
        return results.count() == 1

    wait_for(ended, timeout_s=120, every_s=0.1, what="the form's job to end in its results")
    values = [pct for pct, _ in samples]
    assert values == sorted(values), f"progress went backwards: {values}"
    moved = {pct for pct, _ in samples[samples.index((pct_after_cell, status_after_cell)) :]}
    assert len(moved) >= 3, f"the card did not move after the other cell ran: {samples}"
    assert card.count() == 0, "the ended job's live card stayed in the form"
    saved_result = results.first
    assert saved_result.locator(".foxnb-status").inner_text().startswith("completed")
    assert "seed" in saved_result.inner_text() and "Clouds gather" in saved_result.inner_text()

    video = saved_result.locator("video.foxnb-video")
    video.wait_for(timeout=30_000)
    state = video_state(video, play=True)
    assert state["played"] == "ok" and state["readyState"] >= 2, state
    assert near(state["duration"]), state
    assert "/files/" in state["src"]
    video_state(video, seek_s=8.5)  # the picture shows the continuation, not the input
    screenshot(page, page.locator(".jp-Cell").filter(has=form), shots / "quickstart-form.png")

    # `job` displayed in a cell became a static snapshot when it finished.
    snapshot = cell_with(page, "job = fx.extend(").locator(".foxnb-snapshot")
    assert snapshot.count() == 1
    assert snapshot.locator(".foxnb-status").inner_text().startswith("completed")
    assert news_default(lab) == "false" and page.get_by_text(NEWS_TOAST_TEXT).count() == 0

    # Saved, kernel gone, page reloaded with no kernel allowed to start: the snapshots remain,
    # the form's job included.
    notebook.save_and_shut_down()
    page.route("**/api/sessions**", refuse_new_sessions)
    page.goto(lab.tree_url(notebook.path))
    settle_on_no_kernel(notebook)
    assert notebook.js("return panel.sessionContext.kernelDisplayName;") == "No Kernel"
    assert page.locator(".foxnb-form").count() == 0  # the live widgets went with the kernel
    for kept in (snapshot, results.first):
        kept.wait_for(timeout=30_000)
        assert kept.locator(".foxnb-status").inner_text().startswith("completed")
        saved = wait_for(
            lambda kept=kept: loaded(kept.locator("video.foxnb-video"), 1),
            timeout_s=30,
            what="a saved snapshot's video to load",
        )
        assert near(saved["duration"]), saved
    assert lab.api("api/sessions") == []
    screenshot(page, snapshot, shots / "quickstart-snapshot.png")


@pytest.mark.browser
@pytest.mark.slow
def test_seed_sweep_grid_videos_load(page: Any, lab: Lab, tmp_path: Path) -> None:
    """In JupyterLab the seed sweep's grid shows six labelled videos of the right length."""
    shots = screenshot_dir(tmp_path)
    notebook = Notebook(page, lab, "seed_sweep.ipynb")
    notebook.open()
    notebook.run_all(timeout_s=180)

    # The sweep's own saved view holds a grid too: this is the one fx.compare() drew.
    grid = cell_with(page, 'fx.compare(sweep, rows="prompt", cols="seed")').locator(
        "table.foxnb-grid"
    )
    headers = grid.locator("th").all_inner_texts()
    assert [h for h in headers if h.startswith("seed")] == ["seed 1", "seed 2", "seed 3"]
    assert "prompt\nA storm rolls in and the light turns cold\n▶ play row" in headers
    videos = grid.locator("video.foxnb-video")
    assert videos.count() == 6
    for video in videos.all():
        state = wait_for(
            functools.partial(loaded, video, 1), timeout_s=30, what="a grid video to load"
        )
        assert near(state["duration"]), state
        video_state(video, seek_s=8.5)
    screenshot(page, grid, shots / "seed-sweep-grid.png")
    notebook.save_and_shut_down()


# ---------------------------------------------------------------------------- sweeps

SWEEP_OUTPUT_S = 1.0 + 7.0  # the 1 s clip of on_the_simulator() plus FoxAPI's 7 s
SYNC_TOLERANCE_S = 0.3
# Without spaces (a slash separates attributes just as well), so they also fit in a URL,
# which foxnb refuses to hold spaces.
PAYLOADS = [
    '<img/src=x/onerror="window.__xss=1">',
    "<script>window.__xss=1</script>",
    '"><svg/onload=window.__xss=1>',
]
HOSTILE = "|".join(PAYLOADS)


def shown_text(element: Any) -> str:
    """The text a person sees in ``element`` once it is scrolled into view.

    JupyterLab skips laying out cells far off screen, and unlaid-out text has no innerText.
    """
    element.scroll_into_view_if_needed()
    text: str = element.inner_text()
    return text


def row_playback(row: Any) -> list[tuple[float, bool]]:
    """``(currentTime, paused)`` of every video in a grid row, read at one instant."""
    state: list[tuple[float, bool]] = row.locator("video").evaluate_all(
        "vs => vs.map(v => [v.currentTime, v.paused])"
    )
    return [(float(t), bool(p)) for t, p in state]


@pytest.mark.browser
@pytest.mark.slow
def test_sweep_view_becomes_a_grid_whose_rows_play_together(
    page: Any, lab: Lab, tmp_path: Path
) -> None:
    """A 2x2 sweep: one bar rises to 100 over four cards; the saved grid plays a row in sync."""
    shots = screenshot_dir(tmp_path)
    path = write_notebook(
        lab.root / "sweep_view.ipynb",
        [
            ("setup", on_the_simulator("runs-sweep-view", speed=20)),
            (
                "sweep",
                'sweep = fx.sweep(clip, name="dusk-vs-storm",\n'
                '                 prompt=["Dusk falls over the valley", "A storm rolls in"],\n'
                "                 seed=[1, 2])\n"
                "sweep",
            ),
        ],
    )
    notebook = Notebook(page, lab, path)
    notebook.open()
    # Every width the bar takes from the moment it is drawn, recorded by the page itself (the
    # view is replaced at the end; on a busy machine the cells run before a test could look).
    page.evaluate(
        "() => { window.__bar = []; new MutationObserver(() => {"
        " const b = document.querySelector('.foxnb-sweep .foxnb-sweep-progress .progress-bar');"
        " if (b && b.style.width !== window.__bar[window.__bar.length - 1])"
        " window.__bar.push(b.style.width); })"
        ".observe(document.body, {subtree: true, childList: true, attributes: true,"
        " attributeFilter: ['style']}); }"
    )
    notebook.run_all()

    view = page.locator(".foxnb-sweep")
    bar = view.locator(".foxnb-sweep-progress .progress-bar")
    bar.wait_for(timeout=30_000)
    wait_for(lambda: view.locator(".foxnb-card").count() == 4, timeout_s=30, what="four cards")
    header = view.locator(".foxnb-sweep-header").inner_text()
    assert "dusk-vs-storm" in header and "simulator — synthetic videos, nothing billed" in header
    assert (
        view.locator(".foxnb-sweep-cell")
        .first.inner_text()
        .startswith("prompt='Dusk falls over the valley' · seed=1")
    )
    screenshot(page, view, shots / "sweep-view.png")

    snapshot = page.locator(".foxnb-sweep-snapshot")
    snapshot.locator("table.foxnb-grid").wait_for(timeout=120_000)
    assert page.locator(".foxnb-sweep").count() == 0, "the live view was not replaced"
    widths = [float(w.rstrip("%") or 0) for w in page.evaluate("window.__bar")]
    assert widths == sorted(widths) and widths[-1] == 100 and len(set(widths)) >= 3, widths
    assert "4 of 4 cells ended" in snapshot.inner_text()
    videos = snapshot.locator("video.foxnb-video")
    assert videos.count() == 4
    for video in videos.all():
        state = wait_for(
            functools.partial(loaded, video, 1), timeout_s=30, what="a grid video to load"
        )
        assert near(state["duration"], SWEEP_OUTPUT_S), state

    # ▶ play row: both videos of the first row restart at the extension point (1 s: the
    # input is the same in every cell) and run together, only the first one heard.
    rows = snapshot.locator("table.foxnb-grid tbody tr")
    first_row = rows.first
    button = first_row.locator("button.foxnb-play-row")
    assert rows.locator("button.foxnb-play-row").count() == 2
    assert button.inner_text() == "▶ play row"
    video_state(first_row.locator("video").nth(1), seek_s=5.0)  # one elsewhere before
    button.click()
    wait_for(
        lambda: all(not paused for _, paused in row_playback(first_row)),
        timeout_s=15,
        every_s=0.05,
        what="the row to play",
    )
    samples = [row_playback(first_row)]
    start_s = SWEEP_OUTPUT_S - 7.0
    assert all(start_s - 0.1 <= t < start_s + 1.0 for t, _ in samples[0]), samples
    muted = first_row.locator("video").evaluate_all("vs => vs.map(v => v.muted)")
    assert muted == [False, True], muted
    for _ in range(8):
        time.sleep(0.25)
        samples.append(row_playback(first_row))
    gaps = [max(t for t, _ in sample) - min(t for t, _ in sample) for sample in samples]
    assert max(gaps) <= SYNC_TOLERANCE_S, samples
    assert samples[-1][0][0] >= samples[0][0][0] + 1.0, samples  # and they advance
    assert button.inner_text() == "▮▮ pause row"
    assert all(paused for _, paused in row_playback(rows.nth(1)))  # the other row untouched
    button.click()
    wait_for(lambda: all(p for _, p in row_playback(first_row)), what="the row to pause")
    assert button.inner_text() == "▶ play row"

    # An edited copy is untrusted: no script runs, so no button, and the videos keep controls.
    notebook.save_and_shut_down()
    saved = json.loads((lab.root / path).read_text())
    saved["metadata"]["edited"] = "elsewhere, so its signature no longer matches"
    (lab.root / "sweep_view_copy.ipynb").write_text(json.dumps(saved))
    page.route("**/api/sessions**", refuse_new_sessions)
    copy = Notebook(page, lab, "sweep_view_copy.ipynb")
    page.goto(lab.tree_url(copy.path))
    settle_on_no_kernel(copy)
    assert copy.js("return panel.content.widgets.some(c => c.model.trusted);") is False
    grid = page.locator(".foxnb-sweep-snapshot table.foxnb-grid")
    grid.wait_for(timeout=30_000)
    assert grid.locator("video[controls]").count() == 4
    assert page.locator("button.foxnb-play-row").count() == 0


@pytest.mark.browser
@pytest.mark.slow
def test_markup_in_prompts_tags_and_errors_never_runs(page: Any, lab: Lab) -> None:
    """Payloads in a prompt, tags, negative_prompt and an error show as text on every surface."""
    path = write_notebook(
        lab.root / "hostile.ipynb",
        [
            ("setup", on_the_simulator("runs-hostile", speed=100) + f"\nP = {HOSTILE!r}"),
            # The simulator cannot fetch this input; its error message quotes the URL.
            (
                "failed",
                'bad = fx.extend(P, video=f"{sim.url}/missing.mp4#{P}", tags=[P], '
                "negative_prompt=P, check_url=False)\n"
                "try:\n    bad.wait(60)\nexcept foxnb.TaskFailedError as exc:\n"
                "    print('failed as planned:', exc.code)",
            ),
            ("form", "fx.form(from_run=bad.run_id)"),
            ("card", "foxnb.widgets.JobCard(bad)"),
            ("snapshot", "bad"),
            (
                "sweep",
                'sweep = fx.sweep(clip, name="x" + P, prompt=[P + " one", P + " two"], seed=1,\n'
                "                 tags=[P], negative_prompt=P)\n"
                "sweep",
            ),
            ("live", "foxnb.widgets.SweepView(sweep)"),
            ("compare", 'sweep.wait()\nfx.compare(fx.runs(), rows="prompt", cols="status")'),
            (
                "runs",
                'import pandas as pd\npd.set_option("display.max_colwidth", None)  # whole texts\n'
                'fx.runs()[["prompt", "tags", "negative_prompt", "status", "error_message"]]',
            ),
        ],
    )
    notebook = Notebook(page, lab, path)
    notebook.open()
    notebook.run_all(timeout_s=120)
    page.locator(".foxnb-sweep-snapshot table.foxnb-grid").wait_for(timeout=60_000)
    assert "failed as planned: video_fetch_failed" in shown_text(cell_with(page, "bad.wait(60)"))

    form = page.locator(".foxnb-form")
    form.get_by_text("Advanced (not sent unless set)").click()
    assert form.locator(".foxnb-field-prompt textarea").input_value() == HOSTILE
    assert form.locator(".foxnb-field-negative_prompt input").input_value() == HOSTILE
    assert HOSTILE in form.locator(".foxnb-field-tags input").input_value()
    assert HOSTILE in form.locator(".foxnb-code").inner_text()
    card = cell_with(page, "foxnb.widgets.JobCard(bad)").locator(".foxnb-card")
    # The prompt, the negative_prompt among the request's fields, and the URL in the error.
    assert shown_text(card).count(HOSTILE) == 3
    assert HOSTILE in shown_text(page.locator(".foxnb-snapshot"))
    live = page.locator(".foxnb-sweep")
    assert f"x{HOSTILE}" in shown_text(live.locator(".foxnb-sweep-header"))
    assert f"{HOSTILE} two" in shown_text(live.locator(".foxnb-card").nth(1))
    saved_view = shown_text(page.locator(".foxnb-sweep-snapshot"))
    assert f"x{HOSTILE}" in saved_view and f"{HOSTILE} one" in saved_view
    grid = shown_text(cell_with(page, "fx.compare(fx.runs()").locator("table.foxnb-grid"))
    assert f"{HOSTILE} one" in grid and "video_fetch_failed" in grid
    runs = shown_text(cell_with(page, 'fx.runs()[["prompt"').locator("table"))
    assert runs.count(HOSTILE) >= 9  # 3 runs x prompt, tags, negative_prompt
    assert page.evaluate("typeof window.__xss") == "undefined"
    notebook.save_and_shut_down()


# ---------------------------------------------------------------------------- ./dev run


@pytest.mark.slow
def test_dev_run_serves_the_quickstart(tmp_path: Path) -> None:
    """``./dev run`` serves notebooks/ on 127.0.0.1, prints its token URL, and hides the news."""
    if not (REPO / ".venv" / "bin" / "jupyter").exists():
        pytest.skip("needs the .venv that ./dev sets up")
    port = free_port()
    env = {**os.environ, **jupyter_dirs(tmp_path), "FOXNB_LAB_PORT": str(port), "CI": "1"}
    env.pop("JUPYTER_TOKEN", None)
    output = tmp_path / "dev-run.log"
    with open(output, "w") as out:
        proc = subprocess.Popen(
            [REPO / "dev", "run"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url_line = wait_for(
            lambda: next(
                (line for line in output.read_text().splitlines() if "?token=" in line), None
            ),
            timeout_s=300,
            what="./dev run to print the URL",
        )
        assert "built-in simulator" in output.read_text()
        url = url_line.strip()
        assert url.startswith(f"http://127.0.0.1:{port}/lab/tree/quickstart.ipynb?token=")
        token = url.rsplit("=", 1)[1]
        base = f"http://127.0.0.1:{port}/"
        wait_for(lambda: http_ok(f"{base}api/status?token={token}"), what="JupyterLab to answer")
        lab = Lab(base, token, REPO / "notebooks", output)
        assert lab.api("api/contents/quickstart.ipynb?content=0")["type"] == "notebook"
        assert news_default(lab) == "false"
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"--no-browser" in cmdline and b"--ip=127.0.0.1" in cmdline
        assert (b"--allow-root" in cmdline) == (os.geteuid() == 0)
    finally:
        stop(proc)
