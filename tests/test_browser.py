"""The notebooks in a real JupyterLab, driven through Debian's Chromium with Playwright.

A JupyterLab server runs on 127.0.0.1 over a temporary copy of notebooks/ (its own Jupyter
config, data and runtime folders, a random token, the news toast turned off by
binder/overrides.json). Chromium opens the notebooks, runs them, fills and submits the form,
and checks what a person would see: the card moving, the status reaching "completed",
videos that load and play, and the saved snapshot after the kernel is gone.

Screenshots go to ``$FOXNB_SCREENSHOTS`` (``./dev screenshots`` sets it to docs/), else to
the test's temporary folder. ``./dev test`` installs Chromium when it is missing; these
tests skip only when it could not be installed, and never on CI.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
EXTENDED_S = 2.0 + 7.0  # the 2 s sample clip plus FoxAPI's 7 s
DURATION_TOLERANCE_S = 0.3
NEWS_TOAST_TEXT = "official Jupyter news"

T = TypeVar("T")


def wait_for(
    what: str, probe: Callable[[], T | None], *, timeout_s: float = 60.0, every_s: float = 0.2
) -> T:
    """Call ``probe`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what} (last: {last!r})")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def jupyter_dirs(base: Path) -> dict[str, str]:
    """Private JUPYTER_CONFIG_DIR, JUPYTER_DATA_DIR and JUPYTER_RUNTIME_DIR under ``base``."""
    env = {}
    for name in ("CONFIG", "DATA", "RUNTIME"):
        folder = base / f"jupyter-{name.lower()}"
        folder.mkdir(parents=True, exist_ok=True)
        env[f"JUPYTER_{name}_DIR"] = str(folder)
    return env


def http_ok(url: str) -> bool:
    """True when ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def stop(proc: subprocess.Popen[Any]) -> None:
    """Stop a process started in its own session: SIGTERM, then SIGKILL, its whole group."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


# ---------------------------------------------------------------------------- the server


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: where it is, its token, its root folder and its log."""

    base_url: str
    token: str
    root: Path
    log: Path

    def tree_url(self, notebook: str) -> str:
        """The URL that opens ``notebook`` in a fresh layout (``?reset``), logged in by token."""
        return f"{self.base_url}lab/tree/{notebook}?reset&token={self.token}"

    def api(self, path: str) -> Any:
        """GET ``/api/<path>`` (JSON) with the token."""
        request = urllib.request.Request(
            f"{self.base_url}{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 serving a copy of notebooks/, stopped after the module."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    shutil.copytree(
        NOTEBOOKS, root, ignore=shutil.ignore_patterns("foxnb-runs", ".ipynb_checkpoints")
    )
    settings = base / "lab-settings"
    settings.mkdir()
    shutil.copy(REPO / "binder" / "overrides.json", settings / "overrides.json")
    port, token = free_port(), os.urandom(16).hex()
    env = {**os.environ, **jupyter_dirs(base)}
    env.pop("FOXAPI_API_KEY", None)
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        f"--LabApp.app_settings_dir={settings}",
        # window.jupyterapp, so the test can run JupyterLab commands like a keyboard shortcut.
        "--LabApp.expose_app_in_browser=True",
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    log = base / "jupyterlab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            args, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Lab(f"http://127.0.0.1:{port}/", token, root, log)

    def answering() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"JupyterLab exited ({proc.returncode}):\n{log.read_text()}")
        return http_ok(f"{server.base_url}api/status?token={token}")

    try:
        wait_for("JupyterLab to answer", answering, timeout_s=90)
        yield server
    finally:
        stop(proc)


def news_default(lab: Lab) -> str:
    """The default of JupyterLab's fetchNews setting, as changed by overrides.json."""
    news = lab.api("lab/api/settings/@jupyterlab/apputils-extension:notification")
    default: str = news["schema"]["properties"]["fetchNews"]["default"]
    return default


# ---------------------------------------------------------------------------- the browser


def chromium_or_skip() -> None:
    """Skip (fail on CI) with the reason when Debian's chromium is not installed."""
    if CHROMIUM.exists():
        return
    reason = os.environ.get("FOXNB_NO_CHROMIUM") or (
        f"{CHROMIUM} is missing; ./dev test installs it with apt-get (Debian's chromium)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run on CI, but: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (``playwright install`` is not used)."""
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh 1280x1000 page in its own browser context."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: ``$FOXNB_SCREENSHOTS`` (docs/ via ./dev screenshots) or tmp."""
    folder = Path(os.environ.get("FOXNB_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ---------------------------------------------------------------------------- JupyterLab pages

_PANEL = (
    "const panel = [...window.jupyterapp.shell.widgets('main')]"
    ".find(w => w.context && w.context.path === path);"
    "if (!panel) throw new Error('no open notebook ' + path);"
)


class Notebook:
    """One notebook open in JupyterLab, driven through JupyterLab's own commands and models."""

    def __init__(self, page: Any, lab: Lab, path: str):
        self.page = page
        self.lab = lab
        self.path = path

    def js(self, body: str, arg: Any = None) -> Any:
        """Evaluate ``body`` (async JS with ``panel``, ``app`` and ``arg`` in scope)."""
        script = f"async ([path, arg]) => {{ const app = window.jupyterapp;{_PANEL} {body} }}"
        return self.page.evaluate(script, [self.path, arg])

    def is_open(self) -> bool:
        """True once JupyterLab shows the notebook's panel."""
        shown: bool = self.page.evaluate(
            "path => !!window.jupyterapp && [...window.jupyterapp.shell.widgets('main')]"
            ".some(w => w.context && w.context.path === path)",
            self.path,
        )
        return shown

    def open(self) -> None:
        """Load the notebook in a fresh layout and wait until its kernel is ready."""
        self.page.goto(self.lab.tree_url(self.path))
        wait_for(f"JupyterLab to show {self.path}", self.is_open, timeout_s=60)
        # The file browser folded away: the notebook gets the whole width, as in the screenshots.
        self.js("app.shell.collapseLeft(); await panel.context.ready;")
        self.js("await panel.sessionContext.ready;")
        wait_for("the kernel", lambda: self.kernel_status() == "idle", timeout_s=60)

    def kernel_status(self) -> str:
        """``idle``, ``busy``, ``starting``… as shown in the toolbar."""
        status: str = self.js("return panel.sessionContext.kernelDisplayStatus;")
        return status

    def execution_counts(self) -> dict[str, int | None]:
        """Execution count of every code cell, by cell id (None: not run yet)."""
        counts: dict[str, int | None] = self.js(
            "return Object.fromEntries(panel.content.widgets"
            ".filter(c => c.model.type === 'code')"
            ".map(c => [c.model.id, c.model.executionCount]));"
        )
        return counts

    def errors(self) -> list[str]:
        """``ename: evalue`` of every error output in the notebook."""
        found: list[str] = self.js(
            "return panel.content.widgets.filter(c => c.model.type === 'code')"
            ".flatMap(c => c.model.outputs.toJSON())"
            ".filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue);"
        )
        return found

    def run_all(self, *, timeout_s: float = 120) -> None:
        """Run all cells (Run ▸ Run All Cells) and wait until every one ran, without errors."""
        self.js("app.commands.execute('notebook:run-all-cells');")

        def finished() -> bool:
            if self.errors():
                return True
            counts = self.execution_counts()
            return self.kernel_status() == "idle" and None not in counts.values()

        wait_for(f"{self.path} to run", finished, timeout_s=timeout_s, every_s=0.5)
        assert self.errors() == [], f"{self.path}: {self.errors()}"

    def run_cell(self, cell_id: str) -> None:
        """Select the cell ``cell_id`` and run it (Shift+Enter without moving on); don't wait."""
        self.js(
            "const index = panel.content.widgets.findIndex(c => c.model.id === arg);"
            "panel.content.activeCellIndex = index; panel.content.deselectAll();"
            "app.commands.execute('notebook:run-cell');",
            cell_id,
        )

    def save_and_shut_down(self) -> None:
        """Save the notebook (File ▸ Save) and shut its kernel down."""
        self.js(
            "await app.commands.execute('docmanager:save');await panel.sessionContext.shutdown();"
        )
        assert self.js("return panel.context.model.dirty;") is False


def video_state(video: Any, *, play: bool = False, seek_s: float | None = None) -> dict[str, Any]:
    """readyState, duration and (optionally) the result of play() / a seek of a <video>."""
    state: dict[str, Any] = video.evaluate(
        """async (v, [play, seekS]) => {
            const within = (p) => Promise.race([
                p, new Promise((_, no) => setTimeout(() => no(new Error('timeout')), 20000))]);
            let played = null;
            if (play) {
                v.muted = true;
                try { await within(v.play()); played = 'ok'; v.pause(); }
                catch (e) { played = String(e); }
            }
            if (seekS !== null) {
                const seeked = new Promise(ok => v.addEventListener('seeked', ok, {once: true}));
                v.currentTime = seekS;
                await within(seeked).catch(() => null);
            }
            return {readyState: v.readyState, duration: v.duration, played,
                    src: v.currentSrc, error: v.error ? v.error.code : null};
        }""",
        [play, seek_s],
    )
    return state


def loaded(video: Any, min_ready_state: int) -> dict[str, Any] | None:
    """The video's state once its readyState reaches ``min_ready_state``, else None."""
    state = video_state(video)
    return state if state["readyState"] >= min_ready_state else None


def progress_pct(card: Any) -> float:
    """The value the card's progress bar shows (ipywidgets draws it as the bar's width %)."""
    width: str = card.locator(".widget-hprogress .progress-bar").evaluate("b => b.style.width")
    return float(width.rstrip("%") or 0)


def near(seconds: float, expected_s: float = EXTENDED_S) -> bool:
    """A duration within the tolerance of ``expected_s``."""
    return abs(seconds - expected_s) <= DURATION_TOLERANCE_S


def refuse_new_sessions(route: Any) -> None:
    """A Playwright route handler: JupyterLab may list sessions but not start a kernel."""
    if route.request.method == "POST":
        route.abort()
    else:
        route.continue_()


def settle_on_no_kernel(notebook: Notebook) -> None:
    """Answer JupyterLab's dialogs after its kernel could not start: "Ok", then "No Kernel"."""
    chose_no_kernel = False

    def settled() -> bool:
        nonlocal chose_no_kernel
        dialog = notebook.page.locator(".jp-Dialog")
        if dialog.count():
            for name in ("No Kernel", "Ok"):
                button = dialog.get_by_role("button", name=name, exact=True)
                if button.count():
                    button.first.click()
                    chose_no_kernel = chose_no_kernel or name == "No Kernel"
                    break
            return False
        return chose_no_kernel and notebook.is_open()

    wait_for("JupyterLab to settle on No Kernel", settled, timeout_s=60, every_s=0.5)


def screenshot(page: Any, element: Any, path: Path) -> None:
    """A screenshot of ``element`` whole: the page is made tall enough for it first."""
    size = page.viewport_size
    height = element.evaluate("e => e.getBoundingClientRect().height")
    page.set_viewport_size(
        {"width": size["width"], "height": max(size["height"], int(height) + 400)}
    )
    try:
        element.scroll_into_view_if_needed()
        element.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)


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
        "the code view to show the new fields",
        lambda: "seed=5" in code.inner_text() and "Clouds gather" in code.inner_text(),
        timeout_s=20,
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
        "the job to be under way",
        lambda: sample()[1].startswith(("pending", "processing")),
        timeout_s=30,
    )
    before = notebook.execution_counts()["runs"]
    started_s = time.monotonic()
    notebook.run_cell("runs")
    wait_for(
        "another cell to run during the job",
        lambda: notebook.execution_counts()["runs"] != before,
        timeout_s=10,
        every_s=0.05,
    )
    other_cell_s = time.monotonic() - started_s
    pct_after_cell, status_after_cell = sample()
    assert not status_after_cell.startswith("completed"), "the job ended before the check"
    assert other_cell_s < 3.0, f"a cell took {other_cell_s:.1f} s while a job ran"

    wait_for(
        "the card to say completed",
        lambda: sample()[1].startswith("completed"),
        timeout_s=120,
        every_s=0.1,
    )
    values = [pct for pct, _ in samples]
    assert values == sorted(values), f"progress went backwards: {values}"
    assert values[-1] == 100
    moved = {pct for pct, _ in samples[samples.index((pct_after_cell, status_after_cell)) :]}
    assert len(moved) >= 3, f"the card did not move after the other cell ran: {samples}"

    video = card.locator("video.foxnb-video")
    video.wait_for(timeout=30_000)
    state = video_state(video, play=True)
    assert state["played"] == "ok" and state["readyState"] >= 2, state
    assert near(state["duration"]), state
    assert "/files/" in state["src"]
    video_state(video, seek_s=8.5)  # the picture shows the continuation, not the input
    screenshot(page, page.locator(".jp-Cell").filter(has=form), shots / "quickstart-form.png")

    # `job` displayed in a cell became a static snapshot when it finished.
    snapshot = page.locator(".foxnb-snapshot")
    assert snapshot.count() == 1
    assert snapshot.locator(".foxnb-status").inner_text().startswith("completed")
    assert news_default(lab) == "false" and page.get_by_text(NEWS_TOAST_TEXT).count() == 0

    # Saved, kernel gone, page reloaded with no kernel allowed to start: the snapshot remains.
    notebook.save_and_shut_down()
    page.route("**/api/sessions**", refuse_new_sessions)
    page.goto(lab.tree_url(notebook.path))
    settle_on_no_kernel(notebook)
    assert notebook.js("return panel.sessionContext.kernelDisplayName;") == "No Kernel"
    assert page.locator(".foxnb-form").count() == 0  # the live widgets went with the kernel
    snapshot.wait_for(timeout=30_000)
    assert snapshot.locator(".foxnb-status").inner_text().startswith("completed")
    saved = wait_for(
        "the saved snapshot's video to load",
        lambda: loaded(snapshot.locator("video.foxnb-video"), 1),
        timeout_s=30,
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

    grid = page.locator("table.foxnb-grid")
    headers = grid.locator("th").all_inner_texts()
    assert [h for h in headers if h.startswith("seed")] == ["seed 1", "seed 2", "seed 3"]
    assert "prompt\nA storm rolls in and the light turns cold" in headers
    videos = grid.locator("video.foxnb-video")
    assert videos.count() == 6
    for video in videos.all():
        state = wait_for("a grid video to load", functools.partial(loaded, video, 1), timeout_s=30)
        assert near(state["duration"]), state
        video_state(video, seek_s=8.5)
    screenshot(page, grid, shots / "seed-sweep-grid.png")
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
            "./dev run to print the URL",
            lambda: next(
                (line for line in output.read_text().splitlines() if "?token=" in line), None
            ),
            timeout_s=300,
        )
        assert "built-in simulator" in output.read_text()
        url = url_line.strip()
        assert url.startswith(f"http://127.0.0.1:{port}/lab/tree/quickstart.ipynb?token=")
        token = url.rsplit("=", 1)[1]
        base = f"http://127.0.0.1:{port}/"
        wait_for("JupyterLab to answer", lambda: http_ok(f"{base}api/status?token={token}"))
        lab = Lab(base, token, REPO / "notebooks", output)
        assert lab.api("api/contents/quickstart.ipynb?content=0")["type"] == "notebook"
        assert news_default(lab) == "false"
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"--no-browser" in cmdline and b"--ip=127.0.0.1" in cmdline
        assert (b"--allow-root" in cmdline) == (os.geteuid() == 0)
    finally:
        stop(proc)
