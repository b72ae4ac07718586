"""The notebooks take papermill parameters, and seed_sweep.ipynb runs headless with other ones.

The run is the command line from the README, in a temporary copy of notebooks/ on the
simulator (no key, no network): other prompts, seeds and experiment name, a real kernel. What
the notebook did is read back from the report folder it wrote and from its saved output.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
PARAMETERS = {
    "quickstart": {"prompt", "seed"},
    "seed_sweep": {"experiment", "prompts", "seeds", "budget_credits"},
    "chain": {"prompts", "seed", "best_of", "pick", "budget_credits", "sim_speed"},
}
EXPERIMENT = "kites-and-fog"
PROMPTS = ["A red kite climbs into the wind", "Fog lifts off the lake at dawn"]
SEEDS = [4, 9]
RUN_TIMEOUT_S = 600


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_notebook_has_one_parameters_cell(name: str) -> None:
    """Each notebook has one cell tagged ``parameters``, holding the values papermill sets."""
    path = NOTEBOOKS / f"{name}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    assert set(papermill.inspect_notebook(str(path))) == PARAMETERS[name]


@pytest.mark.slow
def test_seed_sweep_runs_with_other_prompts_and_seeds(tmp_path: Path) -> None:
    """The README's `papermill notebooks/seed_sweep.ipynb … -p/-y …` sweeps what it is given."""
    repo = tmp_path / "repo"
    folder = repo / "notebooks"
    shutil.copytree(
        NOTEBOOKS, folder, ignore=shutil.ignore_patterns("foxnb-runs", ".ipynb_checkpoints")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOXAPI_")}
    for kind in ("CONFIG", "DATA", "RUNTIME"):
        env[f"JUPYTER_{kind}_DIR"] = str(tmp_path / f"jupyter-{kind.lower()}")
    values = json.dumps({"prompts": PROMPTS, "seeds": SEEDS})  # JSON is YAML too
    command = [
        *(sys.executable, "-m", "papermill", "notebooks/seed_sweep.ipynb", "out.ipynb"),
        *("--cwd", "notebooks", "-p", "experiment", EXPERIMENT, "-y", values),
        *("--kernel", "python3", "--no-progress-bar"),
    ]
    done = subprocess.run(
        command,
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    executed = nbformat.read(repo / "out.ipynb", as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and EXPERIMENT in injected[0].source
    ids = [c.get("id") for c in executed.cells]
    assert ids.index("parameters") < ids.index(injected[0].id) < ids.index("connect")
    rerun = "".join(o.get("text", "") for o in executed.cells[ids.index("rerun")].outputs)
    assert "4 cells, 0 credits spent" in rerun

    # The report the notebook wrote: the sweep and its free re-run, both over the new grid.
    report = folder / "foxnb-runs" / "seed_sweep" / "report"
    runs = pd.read_parquet(report / "runs.parquet")
    assert set(runs["experiment"]) == {EXPERIMENT} and len(runs) == 8
    cells = sorted((str(p), int(s)) for p, s in zip(runs["prompt"], runs["seed"], strict=True))
    assert cells == sorted([*itertools.product(PROMPTS, SEEDS)] * 2)
    assert set(runs["status"]) == {"completed"}
    assert json.loads((report / "manifest.json").read_text())["title"] == EXPERIMENT
    # The simulator's key is not in the saved output.
    key = json.loads(next(folder.rglob(".sim/state.json")).read_text())["api_key"]
    assert key not in (repo / "out.ipynb").read_text()
