"""What the MLflow and W&B exports send for each run, worked out without either library."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from foxnb.errors import ValidationError
from foxnb.experiments.export import (
    MlflowExport,
    WandbExport,
    export_mlflow,
    export_wandb,
    select_runs,
)
from foxnb.experiments.export.rows import export_key, export_runs, slug
from foxnb.runtime.store import to_dataframe


def ledger_frame(workdir: Path, clip: Path, **extra: Any) -> pd.DataFrame:
    """Two runs as the ledger records them: one completed, one failed naming a local file."""
    common = {
        "backend": "sim",
        "host": "127.0.0.1:4321",
        "model": "veo-3.1-extend",
        "prompt": "Dusk falls",
        "video": str(clip),
        "video_url": "http://127.0.0.1:4321/files/file-1/clip.mp4",
        "aspect_ratio": "16:9",
        "generate_audio": True,
        "experiment": "dusk",
        "submitted_at": 1_796_000_000.0,
    }
    runs = [
        {
            **common,
            "run_id": "r1",
            "task_id": "task-1",
            "status": "completed",
            "seed": 1,
            "credits": 100.0,
            "duration_s": 9.5,
            "completed_at": 1_796_000_009.5,
            "sha256": "ab" * 32,
            "video_path": str(workdir / "videos" / "r1.mp4"),
        },
        {
            **common,
            "run_id": "r2",
            "task_id": "task-2",
            "status": "download_failed",
            "seed": 2,
            "error_code": "disk_full",
            "error_message": f"no space left writing {workdir}/videos/r2.mp4.part",
        },
    ]
    return to_dataframe(runs).assign(**extra)


def report_with(folder: Path, videos: dict[str, str]) -> Path:
    """A minimal report folder: runs.parquet naming each run's copied video, and the files."""
    folder.mkdir(parents=True)
    for relative in videos.values():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(b"mp4")
        (folder / relative).with_suffix(".jpg").write_bytes(b"\xff\xd8\xff")
    rows = {"run_id": [*videos, "r2"], "video_path": [*videos.values(), None]}
    pd.DataFrame(rows).to_parquet(folder / "runs.parquet")
    return folder


def test_runs_carry_tags_params_metrics_and_no_local_paths(tmp_path: Path) -> None:
    """Request fields are params, identity tags, numbers metrics; paths are made portable."""
    workdir, clip = tmp_path / "runs", tmp_path / "inputs" / "clip.mp4"
    frame = ledger_frame(
        workdir, clip, seam_ssim=[0.9, None], duration_ok=[True, False], flicker=["low", "high"]
    )
    report = report_with(tmp_path / "report", {"r1": "videos/r1.mp4"})
    done, failed = export_runs(frame, report, workdir)
    assert done.params == {
        "prompt": "Dusk falls",
        "video": "clip.mp4",
        "model": "veo-3.1-extend",
        "aspect_ratio": "16:9",
        "generate_audio": True,
        "seed": 1,
    }
    assert done.tags["task_id"] == "task-1" and done.tags["sha256"] == "ab" * 32
    assert done.metrics == {
        "credits": 100.0,
        "duration_s": 9.5,
        "seam_ssim": 0.9,
        "duration_ok": 1.0,
    }
    assert (done.video, done.poster) == (report / "videos/r1.mp4", report / "videos/r1.jpg")
    assert (done.started_at_ms, done.ended_at_ms) == (1_796_000_000_000, 1_796_000_009_500)
    assert done.label == "seed=1"  # only the seed varies
    assert failed.video is None and failed.metrics == {"duration_ok": 0.0}
    assert failed.tags["error_message"] == "no space left writing <workdir>/videos/r2.mp4.part"
    everything = repr([done, failed]).replace(repr(report), "")
    for private in (str(workdir), str(clip.parent), "127.0.0.1:4321"):
        assert private not in everything


def test_select_runs_by_name_sweep_frame(tmp_path: Path) -> None:
    """A name picks its runs (with a hint when misspelt); a DataFrame needs one experiment."""
    frame = ledger_frame(tmp_path, tmp_path / "clip.mp4")
    name, picked = select_runs(frame, "dusk")
    assert name == "dusk" and list(picked["run_id"]) == ["r1", "r2"]
    with pytest.raises(ValidationError, match="did you mean 'dusk'"):
        select_runs(frame, "dusc")
    assert select_runs(frame, frame.iloc[:1])[0] == "dusk"
    loose = frame.assign(experiment=None)
    with pytest.raises(ValidationError, match="pass name="):
        select_runs(frame, loose)
    assert select_runs(frame, loose, name="by hand")[0] == "by hand"
    with pytest.raises(ValidationError, match="no runs"):
        select_runs(frame, frame.iloc[:0], name="x")


def test_export_ids_are_stable_and_readable() -> None:
    """The key depends on the name and the first run only; slugs are URL- and id-safe."""
    assert slug("Dusk vs. Storm — take 2!") == "dusk-vs-storm-take-2"
    assert slug("ünïcode ✨") == "n-code" and slug("✨") == "experiment"
    assert len(slug("x" * 80)) == 40


def test_export_key_follows_name_and_first_run(tmp_path: Path) -> None:
    workdir = tmp_path / "runs"
    runs = export_runs(
        ledger_frame(workdir, tmp_path / "clip.mp4"),
        report_with(tmp_path / "report", {"r1": "videos/r1.mp4"}),
        workdir,
    )
    key = export_key("dusk", runs)
    assert key == export_key("dusk", list(reversed(runs))) and len(key) == 16
    assert key == export_key("dusk", runs[:1])  # r1 is still the first run
    assert export_key("dusk", runs[1:]) != key and export_key("storm", runs) != key


@pytest.mark.parametrize(("library", "export"), [("mlflow", "mlflow"), ("wandb", "wandb")])
def test_missing_library_names_the_pip_command(
    library: str, export: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the optional library the export says which extra to install, before any work."""
    monkeypatch.setitem(sys.modules, library, None)  # makes `import library` fail
    frame = ledger_frame(tmp_path, tmp_path / "clip.mp4")
    with pytest.raises(ModuleNotFoundError, match=rf"pip install 'foxnb\[{export}\]'"):
        if export == "mlflow":
            export_mlflow(frame, "dusk", tmp_path / "no-report", tmp_path)
        else:
            export_wandb(frame, "dusk", tmp_path / "no-report", tmp_path, project="p")


def test_results_show_where_they_went_without_credentials(tmp_path: Path) -> None:
    """A tracking URI's user and password are in neither the repr, the HTML nor the link."""
    export = MlflowExport(
        tracking_uri="https://alice:s3cret@mlflow.example:5000/",
        experiment_id="7",
        experiment_name="dusk",
        parent_run_id="abc",
        run_ids={"r1": "def"},
        created=2,
        uploaded=3,
    )
    assert export.url == "https://mlflow.example:5000/#/experiments/7/runs/abc"
    for shown in (repr(export), export._repr_html_()):
        assert "s3cret" not in shown and "alice" not in shown
        assert "1 runs under parent abc in MLflow experiment" in shown
    offline = WandbExport("p", "foxnb-dusk-1", "dusk", "offline", 2, 1, None, tmp_path / "x")
    assert f"wandb sync {tmp_path / 'x'}" in repr(offline)
    assert "<a " not in offline._repr_html_() and "W&amp;B: 2 runs" in offline._repr_html_()
