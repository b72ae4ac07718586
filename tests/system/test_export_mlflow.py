"""fx.export_mlflow() against the real MLflow: its default SQLite store, and `mlflow server`.

Each export runs twice and is read back with MLflow's own client: one parent run and one
child per foxnb run, the same MLflow runs both times, each metric logged once, the videos
byte-identical to the ledger's sha256, and nothing of the user's (home, runs folder, key,
service address) in any file MLflow wrote.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from export_support import FAILURE, INPUT_NAME, NAME, QUIET_ENV, ExportSweep
from lab_support import free_port
from mlflow import MlflowClient
from mlflow.entities import Run

from foxnb.experiments.export import MlflowExport
from foxnb.scores import SCORE_COLUMNS

SERVER_START_S = 180.0  # `mlflow server` takes 10-20 s to start on the 2-core machine


def all_runs(client: MlflowClient, name: str) -> list[Run]:
    """Every active run of MLflow experiment ``name``."""
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    return list(client.search_runs([experiment.experiment_id], max_results=1000))


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_export(client: MlflowClient, export: MlflowExport, export_sweep: ExportSweep) -> None:
    """What MLflow holds is the experiment: a parent with the report, a child per run."""
    runs = {run.info.run_id: run for run in all_runs(client, NAME)}
    assert set(runs) == {export.parent_run_id, *export.run_ids.values()}
    assert set(export.run_ids) == set(export_sweep.frame["run_id"])

    parent = runs[export.parent_run_id]
    assert parent.info.run_name == NAME and parent.info.status == "FINISHED"
    assert parent.data.tags["foxnb.kind"] == "experiment"
    assert parent.data.tags["foxnb.backend"] == "sim"
    assert parent.data.metrics == {
        "runs": 4.0,
        "completed": 3.0,
        "credits": float(export_sweep.frame["credits"].sum()),
    }
    report = {info.path for info in client.list_artifacts(export.parent_run_id, "report")}
    assert {"report/index.html", "report/runs.parquet", "report/videos"} <= report
    videos = client.list_artifacts(export.parent_run_id, "report/videos")
    assert sum(info.path.endswith(".mp4") for info in videos) == 3

    for run_id, mlflow_id in export.run_ids.items():
        row, child = export_sweep.row(run_id), runs[mlflow_id]
        tags, params = child.data.tags, child.data.params
        assert tags["mlflow.parentRunId"] == export.parent_run_id
        assert tags["foxnb.run_id"] == run_id and tags["foxnb.task_id"] == row["task_id"]
        assert tags["foxnb.backend"] == "sim" and tags["foxnb.status"] == row["status"]
        assert params == {
            "prompt": row["prompt"],
            "video": INPUT_NAME,  # the input by file name, never its folder
            "model": "veo-3.1-extend",
            "aspect_ratio": "16:9",
            "generate_audio": "True",
            "seed": str(row["seed"]),
        }
        assert child.info.run_name == f"prompt={row['prompt'][:23] + '…'!r}, seed={row['seed']}"
        assert child.data.metrics["credits"] == row["credits"]
        files = {info.path for info in client.list_artifacts(mlflow_id)}
        if row["status"] == "completed":
            assert child.info.status == "FINISHED"
            assert tags["foxnb.sha256"] == row["sha256"]
            assert child.data.metrics["duration_s"] == pytest.approx(row["duration_s"])
            assert files == {"video.mp4", "poster.jpg"}
            video = client.download_artifacts(mlflow_id, "video.mp4")
            assert sha256_of(video) == row["sha256"]
            poster = Path(client.download_artifacts(mlflow_id, "poster.jpg")).read_bytes()
            assert poster[:3] == b"\xff\xd8\xff"  # a JPEG
        else:
            assert child.info.status == "FAILED" and files == set()
            assert tags["foxnb.error_code"] == FAILURE


def check_exported_once(client: MlflowClient, first: MlflowExport, again: MlflowExport) -> None:
    """Exporting again found the same runs and logged nothing twice."""
    assert (first.created, again.created) == (5, 0)
    assert again.parent_run_id == first.parent_run_id and again.run_ids == first.run_ids
    assert len(all_runs(client, NAME)) == 5
    for mlflow_id in [first.parent_run_id, *first.run_ids.values()]:
        for key in client.get_run(mlflow_id).data.metrics:
            assert len(client.get_metric_history(mlflow_id, key)) == 1, (mlflow_id, key)
    # Only the report's page, manifest and tables are sent again (they hold the export time).
    assert again.uploaded == 4


def test_default_store_twice_gives_the_same_runs(
    export_sweep: ExportSweep, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no tracking URI, MLflow's default SQLite store gets the runs once, however often."""
    store = tmp_path / "mlflow-store"  # outside the home folder, as the current folder
    store.mkdir()
    monkeypatch.chdir(store)
    first = export_sweep.fx.export_mlflow(NAME)
    again = export_sweep.fx.export_mlflow(NAME)
    assert (store / "mlflow.db").is_file() and first.tracking_uri.startswith("sqlite:")
    client = MlflowClient(first.tracking_uri)
    check_export(client, again, export_sweep)
    check_exported_once(client, first, again)
    assert first.url is None
    assert export_sweep.leaks(store) == []


def test_scores_become_metrics_and_update_in_place(
    export_sweep: ExportSweep, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Score columns present and numeric are metrics; a changed score is logged once more."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'scores.db'}"
    # Runs are scored as they complete; start from the same runs without their scores.
    runs = export_sweep.frame.drop(columns=[name for name, _ in SCORE_COLUMNS])
    completed = runs["status"] == "completed"
    scored = runs.assign(
        seam_ssim=[0.91, 0.92, 0.93, 0.94],
        duration_ok=completed,
        motion_mean=[None if not done else 1.5 for done in completed],
        flicker="n/a",  # text, not a number: not a metric
    )
    before = export_sweep.fx.export_mlflow(runs, uri)
    client = MlflowClient(uri)
    assert "seam_ssim" not in client.get_run(next(iter(before.run_ids.values()))).data.metrics
    after = export_sweep.fx.export_mlflow(scored, uri)
    assert after.run_ids == before.run_ids and after.created == 0
    for run_id, mlflow_id in after.run_ids.items():
        metrics = client.get_run(mlflow_id).data.metrics
        done = export_sweep.row(run_id)["status"] == "completed"
        assert metrics["duration_ok"] == (1.0 if done else 0.0)
        assert ("motion_mean" in metrics) == done and "flicker" not in metrics

    changed = scored.assign(seam_ssim=scored["seam_ssim"] + 0.01)
    export_sweep.fx.export_mlflow(changed, uri)
    export_sweep.fx.export_mlflow(changed, uri)
    mlflow_id = after.run_ids[runs["run_id"].iloc[1]]
    history = client.get_metric_history(mlflow_id, "seam_ssim")
    assert [m.value for m in sorted(history, key=lambda m: m.timestamp)] == [0.92, 0.93]
    assert client.get_run(mlflow_id).data.metrics["seam_ssim"] == 0.93
    assert len(all_runs(client, NAME)) == 5


def test_a_dataframe_of_several_experiments_needs_a_name(export_sweep: ExportSweep) -> None:
    """Runs of no single experiment are refused before MLflow is touched, naming ``name=``."""
    mixed = export_sweep.frame.assign(experiment=["a", "a", "b", "b"])
    with pytest.raises(ValueError, match=r"name: .*2 experiments .*pass name="):
        export_sweep.fx.export_mlflow(mixed, "sqlite:///unused.db")
    assert not Path("unused.db").exists()


# ---------------------------------------------------------------------------- mlflow server


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`mlflow server` on a free loopback port, SQLite store and artifacts in ``tmp_path``."""
    folder = tmp_path / "server"
    folder.mkdir()
    port = free_port()
    log = open(folder / "server.log", "wb")  # noqa: SIM115  # closed below
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        *("--backend-store-uri", f"sqlite:///{folder / 'server.db'}"),
        *("--artifacts-destination", str(folder / "artifacts")),
    ]
    server = subprocess.Popen(
        command,
        cwd=folder,
        env={**os.environ, **QUIET_ENV},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: its workers stop with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"mlflow server exited: {(folder / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).text.strip() == "OK":
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not up in {SERVER_START_S} s")
            time.sleep(0.5)
        yield url, folder
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_tracking_server_twice_gives_the_same_runs(
    export_sweep: ExportSweep, mlflow_server: tuple[str, Path]
) -> None:
    """Against `mlflow server` over loopback: same runs both times, files in its own store."""
    url, folder = mlflow_server
    first = export_sweep.fx.export_mlflow(NAME, tracking_uri=url)
    again = export_sweep.fx.export_mlflow(NAME, tracking_uri=url)
    client = MlflowClient(url)
    check_export(client, again, export_sweep)
    check_exported_once(client, first, again)
    assert again.url == f"{url}/#/experiments/{again.experiment_id}/runs/{again.parent_run_id}"
    # The files went through the server into its artifact store, not to a local folder.
    stored = list((folder / "artifacts").rglob("video.mp4"))
    assert len(stored) == 3
    frame: pd.DataFrame = pd.read_parquet(next((folder / "artifacts").rglob("runs.parquet")))
    assert set(frame["run_id"]) == set(export_sweep.frame["run_id"])
    assert export_sweep.leaks(folder) == []
