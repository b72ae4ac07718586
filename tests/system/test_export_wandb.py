"""fx.export_wandb() against the real wandb library in offline mode (no network, no account).

Each export runs twice and what W&B wrote is read back from its offline folder: the run
records in the ``.wandb`` log (a LevelDB-style log of protobuf records, parsed with wandb's own
message classes), the table they point at, and the staged videos. Both exports are the same
W&B run (resumed, not duplicated) holding one table row per foxnb run, and no file W&B wrote
names the user's home, runs folder or key.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import wandb
from export_support import FAILURE, INPUT_NAME, NAME, ExportSweep
from wandb.proto import wandb_internal_pb2 as pb

from foxnb.experiments.export import WandbExport

PROJECT = "foxnb-tests"
BLOCK_BYTES = 32768  # the log's block size; records never straddle a block's 7-byte tail
HEADER_BYTES = 7  # ":W&B", a 16-bit magic number, a version byte; also each record's header
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def log_records(path: Path) -> Iterator[pb.Record]:
    """The records of a ``.wandb`` transaction log, in order."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    position, pending = HEADER_BYTES, b""
    while position + HEADER_BYTES <= len(data):
        left = BLOCK_BYTES - position % BLOCK_BYTES
        if left < HEADER_BYTES:  # the block's padding
            position += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[position : position + HEADER_BYTES])
        body = data[position + HEADER_BYTES : position + HEADER_BYTES + length]
        position += HEADER_BYTES + length
        if kind in (FULL, LAST):
            record = pb.Record()
            record.ParseFromString(pending + body)
            pending = b""
            yield record
        elif kind in (FIRST, MIDDLE):
            pending += body


@dataclass
class OfflineRun:
    """What one offline W&B run folder holds, read back from its records."""

    folder: Path
    run: pb.RunRecord
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    tables: list[dict[str, Any]] = field(default_factory=list)
    staged: dict[str, Path] = field(default_factory=dict)  # artifact path → staged local file


def read_offline(folder: Path) -> OfflineRun:
    records = list(log_records(next(folder.glob("run-*.wandb"))))
    runs = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert len(runs) == 1
    found = OfflineRun(folder, runs[0])
    found.config = {i.key: json.loads(i.value_json) for i in runs[0].config.update}
    for record in records:
        kind = record.WhichOneof("record_type")
        if kind == "summary":
            for item in record.summary.update:
                key = item.key or "/".join(item.nested_key)
                found.summary[key] = json.loads(item.value_json)
        elif kind == "artifact":
            for entry in record.artifact.manifest.contents:
                found.staged[entry.path] = Path(entry.local_path)
    for path, local in found.staged.items():
        if path.endswith(".table.json"):
            found.tables.append(json.loads(local.read_text()))
    return found


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_run(written: OfflineRun, export: WandbExport, export_sweep: ExportSweep) -> None:
    """One W&B run for the experiment, its table a row per foxnb run with its video."""
    assert written.run.run_id == export.run_id and written.run.project == PROJECT
    assert written.run.display_name == NAME and written.run.run_group == NAME
    assert written.run.job_type == "foxnb-experiment"
    assert written.config["foxnb_experiment"] == NAME
    assert written.config["axes"] == ["prompt", "seed"]
    assert written.config["backends"] == ["sim"]
    assert (written.summary["n_runs"], written.summary["completed"]) == (4, 3)
    assert written.summary["credits"] == float(export_sweep.frame["credits"].sum())

    (table,) = written.tables
    columns = table["columns"]
    assert columns[:3] == ["run_id", "task_id", "sha256"] and columns[-2:] == ["result", "poster"]
    assert {"prompt", "video", "model", "seed", "credits", "duration_s", "backend"} <= set(columns)
    rows = [dict(zip(columns, row, strict=True)) for row in table["data"]]
    assert [r["run_id"] for r in rows] == list(export_sweep.frame["run_id"])  # grid order, once
    for row in rows:
        run = export_sweep.row(row["run_id"])
        assert (row["prompt"], row["seed"], row["status"]) == (
            run["prompt"],
            run["seed"],
            run["status"],
        )
        assert row["video"] == INPUT_NAME and row["backend"] == "sim"
        assert row["credits"] == run["credits"]
        if run["status"] == "completed":
            video, poster = row["result"], row["poster"]
            assert video["_type"] == "video-file" and video["sha256"] == run["sha256"]
            assert sha256_of(written.staged[video["path"]]) == run["sha256"]
            assert poster["_type"] == "image-file" and poster["format"] == "jpg"
        else:
            assert row["result"] is None and row["poster"] is None
            assert row["error_code"] == FAILURE


@pytest.fixture
def offline(export_sweep: ExportSweep, monkeypatch: pytest.MonkeyPatch) -> ExportSweep:
    """The experiment, with W&B offline: nothing is sent anywhere, no account is needed."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    return export_sweep


def test_offline_export_twice_is_one_run(offline: ExportSweep, tmp_path: Path) -> None:
    """Exporting twice resumes one W&B run (same id), each time a table with every run once."""
    export_sweep = offline
    out = tmp_path / "wandb-out"
    first = export_sweep.fx.export_wandb(NAME, project=PROJECT, dir=out)
    again = export_sweep.fx.export_wandb(NAME, project=PROJECT, dir=out)
    assert first.run_id == again.run_id and first.run_id.startswith("foxnb-dusk-vs-storm-")
    assert (first.mode, first.rows, first.videos, first.url) == ("offline", 4, 3, None)
    folders = sorted((out / "wandb").glob("offline-run-*"))
    assert {first.sync_dir, again.sync_dir} == set(folders) and len(folders) == 2
    for folder, export in zip(folders, (first, again), strict=True):
        check_run(read_offline(folder), export, export_sweep)

    # Nothing of the user's in anything W&B wrote, logs included; W&B's staging copies are
    # inside the export folder, so the home folder holds only W&B's own debug log.
    assert export_sweep.leaks(out) == []
    left_in_home = [
        p.relative_to(export_sweep.home).as_posix()
        for p in export_sweep.home.rglob("*")
        if p.is_file() and "project" not in p.relative_to(export_sweep.home).parts
    ]
    assert all(p.startswith(".cache/wandb/logs/core-debug") for p in left_in_home), left_in_home


def test_export_leaves_the_users_own_run_alone(offline: ExportSweep, tmp_path: Path) -> None:
    """A W&B run the notebook already has open stays open and current during an export."""
    export_sweep = offline
    mine = wandb.init(project="mine", dir=tmp_path / "mine", settings=wandb.Settings(silent=True))
    try:
        export_sweep.fx.export_wandb(NAME, project=PROJECT, dir=tmp_path / "wandb-out")
        assert wandb.run is mine
        mine.log({"still": 1})  # raises if the export had finished it
    finally:
        mine.finish()


def test_a_run_id_per_experiment_and_first_run(export_sweep: ExportSweep, tmp_path: Path) -> None:
    """Another experiment name, or other runs under the same name, is another W&B run."""
    out = tmp_path / "wandb-out"
    frame = export_sweep.frame
    base = export_sweep.fx.export_wandb(frame, project=PROJECT, dir=out, mode="offline")
    renamed = export_sweep.fx.export_wandb(
        frame, project=PROJECT, dir=out, mode="offline", name="Other Name!"
    )
    without_first = frame[frame["run_id"] != frame["run_id"].min()]
    later = export_sweep.fx.export_wandb(without_first, project=PROJECT, dir=out, mode="offline")
    assert renamed.run_id.startswith("foxnb-other-name-")
    assert len({base.run_id, renamed.run_id, later.run_id}) == 3
