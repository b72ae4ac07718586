"""Helpers of the browser tests: a Jupyter server (JupyterLab or Notebook 7) on 127.0.0.1,
notebooks driven through the frontend's own commands, and what a person sees of videos.

Used by the modules in tests/browser/ (fixtures in tests/browser/conftest.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from support import wait_for

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
EXTENDED_S = 2.0 + 7.0  # the 2 s sample clip plus FoxAPI's 7 s
DURATION_TOLERANCE_S = 0.3
NEWS_TOAST_TEXT = "official Jupyter news"

T = TypeVar("T")


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
    """A running Jupyter server (JupyterLab, or Notebook 7 when ``kind == "notebook"``):
    where it is, its token, its root folder and its log."""

    base_url: str
    token: str
    root: Path
    log: Path
    kind: str = "lab"

    def tree_url(self, notebook: str) -> str:
        """The URL that opens ``notebook`` (in JupyterLab, a fresh layout), logged in by token."""
        if self.kind == "notebook":
            return f"{self.base_url}notebooks/{notebook}?token={self.token}"
        return f"{self.base_url}lab/tree/{notebook}?reset&token={self.token}"

    def api(self, path: str) -> Any:
        """GET ``/api/<path>`` (JSON) with the token."""
        request = urllib.request.Request(
            f"{self.base_url}{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


@contextmanager
def jupyter_server(base: Path, kind: str = "lab") -> Iterator[Lab]:
    """JupyterLab (``kind="lab"``) or Notebook 7 (``"notebook"``) on 127.0.0.1 serving a copy
    of notebooks/ in ``base``, with its own config, data and runtime folders and a random
    token, the news toast off (binder/overrides.json), ``window.jupyterapp`` exposed."""
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
    app = "LabApp" if kind == "lab" else "JupyterNotebookApp"
    args = [
        sys.executable,
        "-m",
        "jupyterlab" if kind == "lab" else "notebook",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        f"--{app}.app_settings_dir={settings}",
        # window.jupyterapp, so the test can run the frontend's commands like a shortcut.
        f"--{app}.expose_app_in_browser=True",
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    log = base / f"{kind}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            args, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Lab(f"http://127.0.0.1:{port}/", token, root, log, kind)

    def answering() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"{kind} exited ({proc.returncode}):\n{log.read_text()}")
        return http_ok(f"{server.base_url}api/status?token={token}")

    try:
        wait_for(answering, timeout_s=90, what=f"{kind} to answer")
        yield server
    finally:
        stop(proc)


def news_default(lab: Lab) -> str:
    """The default of JupyterLab's fetchNews setting, as changed by overrides.json."""
    news = lab.api("lab/api/settings/@jupyterlab/apputils-extension:notification")
    default: str = news["schema"]["properties"]["fetchNews"]["default"]
    return default


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
        wait_for(self.is_open, timeout_s=60, what=f"JupyterLab to show {self.path}")
        # The file browser folded away: the notebook gets the whole width, as in the screenshots.
        self.js("if (app.shell.collapseLeft) app.shell.collapseLeft(); await panel.context.ready;")
        self.js("await panel.sessionContext.ready;")
        wait_for(lambda: self.kernel_status() == "idle", timeout_s=60, what="the kernel")

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

        wait_for(finished, timeout_s=timeout_s, every_s=0.5, what=f"{self.path} to run")
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

    wait_for(settled, timeout_s=60, every_s=0.5, what="JupyterLab to settle on No Kernel")


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


def cell_with(page: Any, code: str) -> Any:
    """The notebook cell whose source contains ``code``."""
    return page.locator(".jp-CodeCell").filter(
        has=page.locator(".jp-InputArea-editor", has_text=code)
    )


def write_notebook(path: Path, cells: list[tuple[str, str]]) -> str:
    """Write a notebook of code cells ``(id, source)`` for the python3 kernel; its lab path."""
    import nbformat

    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source, id=cell_id) for cell_id, source in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    nbformat.write(notebook, path)
    return path.name


def on_the_simulator(folder: str, speed: float) -> str:
    """Notebook code: a simulator and a session keeping runs in ``folder``, and a 1 s clip."""
    return (
        "from pathlib import Path\n"
        "import foxnb\n"
        f"sim = foxnb.Simulator(speed={speed}, state_dir={folder + '/.sim'!r}, "
        "upstream_lag_s=0.0).start()\n"
        f"fx = foxnb.connect(simulator=sim, workdir={folder!r}, quiet=True)\n"
        f"clip = foxnb.make_sample_clip(Path({folder!r}) / 'clip.mp4', duration_s=1.0, fps=8)"
    )


# ---------------------------------------------------------------------------- contrast

FOXNB_ROOTS = (
    ".foxnb-form, .foxnb-card, .foxnb-snapshot, .foxnb-sweep, .foxnb-sweep-snapshot, "
    ".foxnb-grid-wrap, .foxnb-grid-controls, .foxnb-banner, .foxnb-form-results, "
    ".foxnb-transport, body.foxnb-report"
)
"""Every element foxnb draws (a report's page is all foxnb's)."""

# WCAG 2 contrast of every piece of visible text (and every text input) in foxnb's elements
# against what is really behind it: the backgrounds of its ancestors composited from the
# first opaque one. Disabled controls are exempt (as WCAG says). Returns the failures.
CONTRAST_JS = """
([selector, minimum]) => {
  const canvas = document.createElement("canvas").getContext("2d");
  function rgba(css) {  // any CSS colour (rgb(), color(srgb …), color-mix results) as 0..1
    const m = css.match(/color\\(srgb ([\\d.e-]+) ([\\d.e-]+) ([\\d.e-]+)(?: \\/ ([\\d.]+))?\\)/);
    if (m) return [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]];
    const n = css.match(/rgba?\\(([\\d.]+),? ([\\d.]+),? ([\\d.]+)(?:,? \\/? ?([\\d.]+))?\\)/);
    if (n) return [n[1] / 255, n[2] / 255, n[3] / 255, n[4] === undefined ? 1 : +n[4]];
    canvas.fillStyle = "#000"; canvas.fillStyle = css;  // named colours and the like
    const h = canvas.fillStyle;
    return [parseInt(h.slice(1, 3), 16) / 255, parseInt(h.slice(3, 5), 16) / 255,
            parseInt(h.slice(5, 7), 16) / 255, 1];
  }
  function over(top, bottom) {
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  }
  function background(el) {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let colour = [1, 1, 1, 1];
    if (layers.length && layers[layers.length - 1][3] >= 1) colour = layers.pop();
    while (layers.length) colour = over(layers.pop(), colour);
    return colour;
  }
  function luminance(c) {
    const [r, g, b] = c.slice(0, 3).map(
      v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  function ratio(a, b) {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  }
  function visible(el) {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden"
      && style.display !== "none";
  }
  const checked = new Set();
  const failures = [];
  let count = 0, lowest = 99;
  function check(el, text) {
    if (checked.has(el) || !visible(el)) return;
    const off = "button:disabled, input:disabled, textarea:disabled, select:disabled";
    if (el.closest(off + ", .mod-disabled")) return;
    checked.add(el);
    const bg = background(el);
    const fg = over(rgba(getComputedStyle(el).color), bg);
    const value = ratio(fg, bg);
    count += 1;
    lowest = Math.min(lowest, value);
    if (value < minimum) {
      failures.push({
        text: text.trim().slice(0, 60), ratio: Math.round(value * 100) / 100,
        color: getComputedStyle(el).color, background: bg.map(v => Math.round(v * 255)),
        classes: typeof el.className === "string" ? el.className : ""});
    }
  }
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!node.textContent.trim() || !parent || parent.closest("script, style")) continue;
      check(parent, node.textContent);
    }
    for (const input of root.querySelectorAll("input[type=text], textarea, select")) {
      if (input.value) check(input, input.value);
    }
  }
  return {count, lowest: Math.round(lowest * 100) / 100, failures};
}
"""


def contrast(page: Any, minimum: float = 4.5) -> dict[str, Any]:
    """``{count, lowest, failures}``: text in foxnb's elements below ``minimum``:1."""
    result: dict[str, Any] = page.evaluate(CONTRAST_JS, [FOXNB_ROOTS, minimum])
    return result
