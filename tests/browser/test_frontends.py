"""Beyond JupyterLab: VS Code and Colab emulated, and Jupyter Notebook 7 for real.

VS Code and Colab cannot run here, so their signals are: the notebooks run with nbclient
with no Jupyter server info file (no server to find), plus ``VSCODE_PID`` for VS Code, or a
stub ``google.colab`` package for Colab (which records the call to
``enable_custom_widget_manager``). Their saved outputs are then rendered in Chromium as a
plain page, as those frontends render output HTML: no ``/files/`` route exists there, so every
video must be embedded, load and play. Notebook 7 runs the quickstart for real: the form,
a submitted job, and the saved result playing its video.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_support import (
    NOTEBOOKS,
    Lab,
    Notebook,
    jupyter_dirs,
    jupyter_server,
    loaded,
    near,
    video_state,
)
from support import wait_for

COLAB_STUB = {
    "google/__init__.py": "",
    "google/colab/__init__.py": "from . import output  # noqa: F401\n",
    "google/colab/output.py": (
        "import os\n\n\n"
        "def enable_custom_widget_manager():\n"
        "    with open(os.environ['FOXNB_TEST_COLAB_MARKER'], 'a') as marker:\n"
        "        marker.write('enabled\\n')\n"
    ),
}


def run_as(
    frontend: str, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], Path]:
    """Execute notebooks/<name>.ipynb with ``frontend``'s signals; the notebook and folder."""
    import nbformat
    from nbclient import NotebookClient

    folder = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, folder, ignore=shutil.ignore_patterns("foxnb-runs", ".ipynb_*"))
    for key, value in jupyter_dirs(tmp_path).items():  # an empty runtime dir: no server
        monkeypatch.setenv(key, value)
    for key in ("VSCODE_PID", "VSCODE_CWD", "FOXNB_FRONTEND", "JPY_SESSION_NAME"):
        monkeypatch.delenv(key, raising=False)
    if frontend == "vscode":
        monkeypatch.setenv("VSCODE_PID", "4242")
    if frontend == "colab":
        stub = tmp_path / "stub"
        for path, text in COLAB_STUB.items():
            (stub / path).parent.mkdir(parents=True, exist_ok=True)
            (stub / path).write_text(text)
        monkeypatch.setenv("PYTHONPATH", f"{stub}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
        monkeypatch.setenv("FOXNB_TEST_COLAB_MARKER", str(tmp_path / "colab-marker"))
    notebook = nbformat.read(folder / f"{name}.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": folder}}
    ).execute()
    return notebook, folder


def outputs_page(notebook: dict[str, Any]) -> str:
    """Every output's HTML in one page, the way a frontend without foxnb's CSS shows them."""
    parts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html")
            if html:
                parts.append(f"<div class='output'>{''.join(html)}</div>")
    return "<!doctype html><html><body>" + "".join(parts) + "</body></html>"


def videos_play(page: Any, html: str) -> list[dict[str, Any]]:
    """Show ``html`` and play each of its videos (muted); their states."""
    page.set_content(html)
    videos = page.locator("video.foxnb-video")
    states = []
    for video in videos.all():
        wait_for(lambda v=video: loaded(v, 1), timeout_s=30, what="an embedded video to load")
        states.append(video_state(video, play=True))
    return states


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize(("frontend", "name"), [("vscode", "quickstart"), ("colab", "seed_sweep")])
def test_videos_play_where_there_is_no_files_route(
    frontend: str, name: str, page: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no Jupyter server to serve files, every video is embedded, says so, and plays."""
    notebook, _ = run_as(frontend, name, tmp_path, monkeypatch)
    html = outputs_page(notebook)
    assert 'src="/files/' not in html
    states = videos_play(page, html)
    expected = {"quickstart": 1, "seed_sweep": 6}[name]
    assert len(states) >= expected, states
    for state in states:
        assert state["src"].startswith("data:video/mp4;base64,"), state["src"][:40]
        assert state["played"] == "ok" and state["readyState"] >= 2, state
    text = page.locator("body").inner_text()
    assert "embedded in the notebook" in text
    if frontend == "vscode":
        assert "VS Code shows outputs without Jupyter's /files/ route" in text
        assert "not the AAC soundtrack" in text
    else:
        assert "Colab has no Jupyter /files/ route" in text
        assert (tmp_path / "colab-marker").read_text().startswith("enabled")


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Jupyter Notebook 7 on 127.0.0.1 serving a copy of notebooks/."""
    with jupyter_server(tmp_path_factory.mktemp("nb7"), kind="notebook") as server:
        yield server


@pytest.mark.browser
@pytest.mark.slow
def test_quickstart_in_notebook_7(page: Any, notebook7: Lab) -> None:
    """In Notebook 7 the quickstart runs: the form submits, the job's card runs, and the
    saved result below the form plays its video from /files/. Submitting the same seeded
    request again reuses that result at 0 credits and offers to run it again anyway."""
    notebook = Notebook(page, notebook7, "quickstart.ipynb")
    notebook.open()
    notebook.run_all(timeout_s=180)
    form = page.locator(".foxnb-form")
    form.locator(".foxnb-field-prompt textarea").fill("Clouds gather over the ridge")
    form.get_by_text("Advanced (not sent unless set)").click()
    form.locator(".foxnb-field-seed input").fill("11")
    wait_for(
        lambda: "seed=11" in form.locator(".foxnb-code").inner_text(), what="the seed to be set"
    )
    form.locator(".foxnb-submit").click()
    status = form.locator(".foxnb-card .foxnb-status")
    status.wait_for(timeout=30_000)
    results = page.locator(".foxnb-form-results .foxnb-snapshot")
    results.wait_for(timeout=120_000)
    assert results.locator(".foxnb-status").inner_text().startswith("completed")
    video = results.locator("video.foxnb-video")
    state = wait_for(lambda: loaded(video, 2), timeout_s=30, what="the result's video")
    assert "/files/" in state["src"] and near(state["duration"]), state
    assert video_state(video, play=True)["played"] == "ok"

    form.locator(".foxnb-submit").click()  # the identical request, seed 11 again
    # The form's message says so (the job's card says it too, until the card leaves the form).
    note = form.locator(".foxnb-message .foxnb-reused")
    note.wait_for(timeout=30_000)
    assert "0 credits" in note.inner_text() and "reused from" in note.inner_text()
    assert form.locator(".foxnb-again").is_visible()
    wait_for(lambda: results.count() == 2, timeout_s=60, what="the reused run's snapshot")
    assert "reused from" in results.first.inner_text()
    assert notebook.errors() == []
    notebook.save_and_shut_down()
