"""The default runs store (SQLite in the work folder): merged runs, an old ledger's torn lines,
typed DataFrame. Both backends are tested in depth in ``tests/system/test_store_*.py``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from foxnb.runtime.store import COLUMNS, LEDGER_NAME, RunStore, open_store


def Ledger(folder: Path) -> RunStore:
    return open_store(None, folder)


def test_runs_merge_events_in_order(tmp_path: Path) -> None:
    """Later events of a run override earlier fields; first appearance sets the order."""
    ledger = Ledger(tmp_path)
    ledger.append("r1", 1.0, status="queued", prompt="a", seed=1)
    ledger.append("r2", 2.0, status="queued", prompt="b")
    ledger.append("r1", 3.0, status="pending", task_id="t1")
    runs = ledger.runs()
    assert list(runs) == ["r1", "r2"]
    assert runs["r1"] == {
        "run_id": "r1",
        "at": 3.0,
        "status": "pending",
        "prompt": "a",
        "seed": 1,
        "task_id": "t1",
    }


def test_torn_last_line_is_skipped_and_fenced(tmp_path: Path) -> None:
    """An old ledger torn by a crash mid-write: the partial line is ignored on import."""
    (tmp_path / LEDGER_NAME).write_bytes(
        b'{"run_id": "r1", "at": 1.0, "status": "queued"}\n{"run_id": "r1", "status": "pen'
    )
    fresh = Ledger(tmp_path)  # the old ledger is imported, torn line skipped
    assert fresh.runs()["r1"]["status"] == "queued"
    fresh.append("r1", 2.0, status="processing")
    assert Ledger(tmp_path).runs()["r1"]["status"] == "processing"
    assert (tmp_path / (LEDGER_NAME + ".bak")).exists()


def test_incremental_reads_see_new_lines(tmp_path: Path) -> None:
    """A second store on the same file (another kernel) sees appends made after its first read."""
    writer, reader = Ledger(tmp_path), Ledger(tmp_path)
    writer.append("r1", 1.0, status="queued")
    assert reader.runs()["r1"]["status"] == "queued"
    writer.append("r1", 2.0, status="completed")
    assert reader.runs()["r1"]["status"] == "completed"


def test_dataframe_dtypes_fit_analysis(tmp_path: Path) -> None:
    """Categoricals, nullable ints and UTC datetimes; missing columns exist as nulls."""
    ledger = Ledger(tmp_path)
    ledger.append(
        "r1",
        1.0,
        status="completed",
        model="veo-3.1-extend",
        seed=3,
        tags=["a"],
        submitted_at=1_700_000_000.0,
        generate_audio=True,
        custom="kept",
    )
    ledger.append("r2", 1.0, status="failed", model="veo-3.1-extend-fast", seed=None)
    df = ledger.dataframe()
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS) and "custom" in df.columns
    assert isinstance(df["model"].dtype, pd.CategoricalDtype)
    assert str(df["seed"].dtype) == "Int64" and pd.isna(df["seed"][1])
    assert isinstance(df["submitted_at"].dtype, pd.DatetimeTZDtype)
    assert str(df["submitted_at"].dtype.tz) == "UTC"
    assert df["tags"][0] == ["a"] and df["generate_audio"][0]
    assert len(Ledger(tmp_path / "empty").dataframe()) == 0
