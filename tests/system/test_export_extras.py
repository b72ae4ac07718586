"""`pip install 'foxnb[mlflow,wandb]'` alone is enough to export, without the dev extra.

The dev environment has the full mlflow package (for `mlflow server`) and everything the
other tests pull in, so it cannot show that the extras users install are complete. This test
builds a fresh virtualenv with only foxnb and those two extras, and exports a small sweep from
it: to MLflow's default SQLite store through the mlflow-skinny client, and to W&B offline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import install_into

REPO = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT_S = 900
RUN_TIMEOUT_S = 300

SCRIPT = """
import importlib.metadata, importlib.util, json, sys
from pathlib import Path

import foxnb
from foxnb.sim import Simulator

here = Path.cwd()
clip = foxnb.make_sample_clip(here / "clip.mp4", duration_s=1.0)
with Simulator(speed=200, state_dir=here / "sim", upstream_lag_s=0.0) as sim:
    fx = foxnb.connect(simulator=sim, workdir=here / "runs", quiet=True)
    fx.sweep(clip, name="extras", prompt="Dusk falls", seed=[1, 2]).wait(timeout=120)
    to_mlflow = fx.export_mlflow("extras")
    to_wandb = fx.export_wandb("extras", project="extras", mode="offline")
    fx.close()
try:
    importlib.metadata.distribution("mlflow")
    full_mlflow = True
except importlib.metadata.PackageNotFoundError:
    full_mlflow = False
print(json.dumps({
    "mlflow_runs": len(to_mlflow.run_ids),
    "mlflow_created": to_mlflow.created,
    "wandb_rows": to_wandb.rows,
    "wandb_videos": to_wandb.videos,
    "skinny": importlib.metadata.version("mlflow-skinny"),
    "full_mlflow": full_mlflow,
    "flask": importlib.util.find_spec("flask") is not None,
}))
"""


@pytest.mark.slow
def test_the_extras_alone_export_to_mlflow_and_wandb(tmp_path: Path) -> None:
    """A venv with foxnb[mlflow,wandb] only (mlflow-skinny, no Flask) runs both exports."""
    source = tmp_path / "foxnb-src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "foxnb", source / "foxnb", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = install_into(python, f"{source}[mlflow,wandb]", timeout_s=INSTALL_TIMEOUT_S)
    assert install.returncode == 0, install.stderr[-3000:]

    work = tmp_path / "work"
    work.mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FOXAPI_", "MLFLOW_", "WANDB_"))
    }
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", HOME=str(tmp_path))
    done = subprocess.run(
        [str(python), "-c", SCRIPT],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["mlflow_runs"] == 2 and result["mlflow_created"] == 3
    assert result["wandb_rows"] == 2 and result["wandb_videos"] == 2
    assert result["skinny"] and not result["full_mlflow"] and not result["flask"]
    assert (work / "mlflow.db").is_file() and any((work / "wandb").glob("offline-run-*"))
