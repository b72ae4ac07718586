"""The export tests' sweep: finished runs on the simulator, kept in a private home.

    from export_support import NAME, ExportSweep    # the fixture is ``export_sweep``

The experiment lives the way a user's does: a home folder (``HOME`` points at a temporary
one), a project folder in it holding the input clip and the runs folder, the project as the
current folder. ``ExportSweep.secrets`` lists what no export may contain, and ``leaks(folder)``
greps every byte of every file under a folder for them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import foxnb
from foxnb.experiments.sweep import Sweep
from foxnb.sim import Simulator

NAME = "dusk-vs-storm"
PROMPTS = ["Dusk falls over the valley", "A storm rolls in from the left"]
SEEDS = [1, 2]
FAILURE = "content_policy_violation"
INPUT_NAME = "input-clip.mp4"
# Nothing the libraries do may reach for the network: no telemetry, no W&B service.
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
CLEARED_ENV = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_TOKEN",
    "WANDB_API_KEY",
    "WANDB_BASE_URL",
    "WANDB_DIR",
    "WANDB_DATA_DIR",
    "WANDB_MODE",
)


@dataclass(frozen=True)
class ExportSweep:
    """A finished 2 x 2 sweep whose first cell failed, and what must never be exported."""

    fx: foxnb.Session
    frame: pd.DataFrame
    home: Path
    secrets: dict[str, str]

    def row(self, run_id: str) -> pd.Series:
        """The experiment's run ``run_id``."""
        return self.frame.set_index("run_id").loc[run_id]

    def leaks(self, folder: Path) -> list[str]:
        """``file: what`` for every file under ``folder`` holding one of the secrets."""
        found = []
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                found += [
                    f"{path}: {what}"
                    for what, text in self.secrets.items()
                    if text.encode() in data
                ]
        return found


def start_export_sweep(
    sim: Simulator, clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ExportSweep:
    """``dusk-vs-storm``: 2 prompts x 2 seeds at simulator speed 200; the first create fails."""
    home = tmp_path / "home"
    project = home / "project"
    project.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in QUIET_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(project)
    shutil.copyfile(clip, project / INPUT_NAME)
    fx = foxnb.connect(simulator=sim, workdir=project / "foxnb-runs", quiet=True)
    sim.inject("create", "task_failure", code=FAILURE)
    sweep = fx.sweep(project / INPUT_NAME, name=NAME, prompt=PROMPTS, seed=SEEDS)
    assert isinstance(sweep, Sweep)
    sweep.wait(timeout=120)
    secrets = {
        "home folder": str(home),
        "runs folder": str(fx.workdir),
        "simulator state": str(tmp_path / "sim-state"),  # the `sim` fixture's
        "API key": sim.api_key,
    }
    return ExportSweep(fx, sweep.df, home, secrets)
