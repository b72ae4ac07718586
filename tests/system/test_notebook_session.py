"""A session in a real kernel (nbclient): the banner once, one progress line while wait()
blocks, short errors with the full traceback on %tb, and a re-run quickstart that pays nothing.

nbclient only records a cell's messages while the cell runs (GUIDE §4); what the form
holds is read by a later cell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_notebook
from system.test_notebooks import add_check_cells, copy_notebooks

TIMEOUT_S = 240


def run_cells(folder: Path, cells: list[tuple[str, str]]) -> dict[str, NotebookNode]:
    """Run ``(id, source)`` cells in a fresh kernel in ``folder``; the executed cells by id.

    A cell whose id starts with ``raises`` may raise.
    """
    notebook = new_notebook(cells=[])
    for cell_id, source in cells:
        cell = new_code_cell(source)
        cell["id"] = cell_id
        if cell_id.startswith("raises"):
            cell.metadata["tags"] = ["raises-exception"]
        notebook.cells.append(cell)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    client = NotebookClient(
        notebook,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    return {cell["id"]: cell for cell in notebook.cells}


def execute(path: Path, *, timeout_s: int = TIMEOUT_S) -> NotebookNode:
    """Run the notebook at ``path`` with nbclient in its own folder; save and return it.

    The executed notebook is written back even when a cell fails, for a look afterwards.
    """
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout_s,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    finally:
        nbformat.write(notebook, path)
    return notebook


def outputs(cell: NotebookNode, kind: str | None = None) -> list[NotebookNode]:
    return [o for o in cell.outputs if kind is None or o.output_type == kind]


def html(cell: NotebookNode) -> str:
    return "".join(str(o.get("data", {}).get("text/html", "")) for o in cell.outputs)


def text(cell: NotebookNode) -> str:
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(str(output.data.get("text/plain", "")))
    return "".join(parts)


@pytest.mark.slow
def test_a_session_in_a_kernel(tmp_path: Path) -> None:
    """Banner once; wait() is one updating output; errors are short, %tb full; reuse is free."""
    cells = run_cells(
        tmp_path,
        [
            ("connect", "import foxnb\nfx = foxnb.connect(sim_speed=100)\nfx"),
            (
                "clip",
                "from foxnb.sample import make_sample_clip\n"
                "clip = make_sample_clip('clip.mp4', duration_s=1.0, fps=8)\n"
                "small = make_sample_clip('small.mp4', width=854, height=480, duration_s=1.0,"
                " fps=8)",
            ),
            ("form", "form = fx.form()\nform"),
            ("form-banner", "print(repr(form.children[0].value))"),
            ("wait", "job = fx.extend('Dusk falls', clip, seed=3)\njob.wait()\nNone"),
            ("raises-error", "fx.extend('', small, seed=-1)"),
            ("raises-tb", "%tb"),
            ("again", "again = fx.extend('Dusk falls', clip, seed=3)\n"
                      "print(again.reused_from == job.run_id, again.credits, again.status)"),
            ("quiet", "fx.extend('Dusk falls', clip, seed=4).wait(quiet=True)\nNone"),
            ("later", "fx"),
        ],
    )  # fmt: skip
    # The banner: once in the connect cell (not again for `fx`), not above the form.
    assert html(cells["connect"]).count("foxnb-banner") == 1
    assert "built-in FoxAPI simulator" in text(cells["connect"])
    assert "foxnb-banner" not in text(cells["form-banner"])  # only the form's text colours
    # A later explicit `fx` shows it: the user asked.
    assert html(cells["later"]).count("foxnb-banner") == 1
    # One output for the whole wait, updated in place, ending on the final state.
    shown = [o for o in cells["wait"].outputs if "foxnb-wait" in str(o.get("data", {}))]
    assert len(shown) == 1 and len(cells["wait"].outputs) == 1
    assert "completed after" in shown[0].data["text/plain"]
    assert outputs(cells["quiet"]) == []
    # The error: short, both problems, the user's line; no foxnb frames until %tb.
    (error,) = outputs(cells["raises-error"], "error")
    short = "\n".join(error.traceback)
    assert error.ename == "ValidationError" and len(error.traceback) <= 8
    assert "seed: must be" in short and "854x480" in short and "%tb" in short
    assert "line 1 of the cell: fx.extend('', small, seed=-1)" in short
    assert "foxnb/" not in short
    full = "\n".join(outputs(cells["raises-tb"], "error")[0].traceback)
    assert "_inputs.py" in full and "seed: must be" in full
    assert text(cells["again"]).split() == ["True", "0", "completed"]


@pytest.mark.slow
def test_running_the_quickstart_again_pays_nothing(tmp_path: Path) -> None:
    """The quickstart run twice in one folder: the second run's jobs all reuse the first's."""
    folder = copy_notebooks(tmp_path / "notebooks")
    path = folder / "quickstart.ipynb"
    add_check_cells(path, "quickstart")
    assert _paid(folder) == []
    execute(path)
    paid_once = _paid(folder)
    execute(path)
    runs = _runs(folder)
    assert len(paid_once) == 2 and _paid(folder) == paid_once  # the job and the form's
    second = [r for r in runs.values() if r["run_id"] not in paid_once]
    assert len(second) == 2 and all(r["reused_from"] in paid_once for r in second)
    assert all(r["credits"] == 0 and r["status"] == "completed" for r in second)


def _runs(folder: Path) -> dict[str, dict[str, Any]]:
    from foxnb.runtime.store import open_store

    workdir = folder / "foxnb-runs"
    if not workdir.is_dir():
        return {}
    with open_store(None, workdir) as store:
        return store.runs()


def _paid(folder: Path) -> list[str]:
    return sorted(r["run_id"] for r in _runs(folder).values() if not r.get("reused_from"))
