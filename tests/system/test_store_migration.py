"""Old ``runs.jsonl`` folders move into the store losslessly and once; export goes back.

The ledgers here are written by the real old ``Ledger`` class (plus the damage a crash leaves),
and every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from old_ledger import Ledger, to_dataframe

from foxnb.runtime.store import export_jsonl, open_store

CTX = multiprocessing.get_context("fork")


def old_ledger(folder: Path, runs: int = 50, prefix: str = "r") -> dict[str, dict[str, Any]]:
    """A ledger as foxnb wrote it, damaged by two crashes; the runs the ledger itself reads.

    Small ones are written by the old ``Ledger`` itself; large ones line by line in its format
    (its fsync per append would make them slow to build).
    """
    ledger = Ledger(folder)
    lines: list[bytes] = []

    def append(run_id: str, at: float, **fields: Any) -> None:
        if runs <= 500:
            ledger.append(run_id, at, **fields)
        else:
            lines.append(json.dumps({"run_id": run_id, "at": at, **fields}).encode() + b"\n")

    def raw(data: bytes) -> None:
        if runs <= 500:
            with open(ledger.path, "ab") as fh:
                fh.write(data)
        else:
            lines.append(data)

    for i in range(runs):
        run_id = f"{prefix}{i}"
        append(run_id, 1.0 + i, status="queued", prompt=f"p{i}", seed=2**63, tags=["a"])
        append(run_id, 2.0 + i, status="pending", task_id=f"t{i}", mystery={"x": [1, None]})
        if i == runs // 2:  # a crash mid-write, fenced by the next append
            raw(b'{"run_id": "' + run_id.encode() + b'", "status": "compl' + b"\n")
        append(run_id, 3.0 + i, status="completed", credits=2.5, progress=100)
    append(f"{prefix}0", 9.0, task_id="t-second")  # a run that was paid twice
    raw(b'{"run_id": "' + prefix.encode() + b'1", "status": "fai')  # torn last line
    with open(ledger.path, "ab") as fh:
        fh.write(b"".join(lines))
    return Ledger(folder).runs()


def with_flag(runs: dict[str, dict[str, Any]], run_id: str) -> dict[str, dict[str, Any]]:
    return {**runs, run_id: {**runs[run_id], "duplicate_tasks": True}}


def test_migration_is_lossless_and_keeps_the_file(store_spec: str, tmp_path: Path) -> None:
    """Runs equal the ledger's (huge seeds, unknown fields, torn lines), the DataFrame too;
    the file becomes runs.jsonl.bak byte for byte; a second opening imports nothing."""
    work = tmp_path / "work"
    expected = old_ledger(work)
    # The old ledger's DataFrame cannot hold the 2**63 seeds (it raises): compare the rest.
    frame = to_dataframe([{k: v for k, v in r.items() if k != "seed"} for r in expected.values()])
    original = (work / "runs.jsonl").read_bytes()
    with open_store(store_spec, work) as store:
        assert store.runs() == with_flag(expected, "r0")
        assert store.runs()["r3"]["seed"] == 2**63
        assert store.task_ids("r0") == ["t0", "t-second"]
        ours = store.dataframe()
        assert list(ours["seed"]) == [2**63] * 50
        pd.testing.assert_frame_equal(
            ours.drop(columns=["duplicate_tasks", "seed"]), frame.drop(columns="seed")
        )
        events = len(list(store.events()))
    assert events == 151  # 3 per run and the second task id; both torn lines skipped
    assert not (work / "runs.jsonl").exists()
    assert (work / "runs.jsonl.bak").read_bytes() == original
    with open_store(store_spec, work) as store:
        assert len(list(store.events())) == events


def test_integers_wider_than_64_bits_stay_exact(store_spec: str, tmp_path: Path) -> None:
    """The old ledger wrote any Python int; the store keeps it exactly (orjson alone would
    turn 2**70 into a float)."""
    work = tmp_path / "work"
    Ledger(work).append("r1", 1.0, status="queued", seed=2**70, note="123456789012345678901")
    with open_store(store_spec, work) as store:
        assert store.runs()["r1"]["seed"] == 2**70
        store.append("r2", 2.0, seed=-(2**80))
        assert store.runs()["r2"]["seed"] == -(2**80)
        assert store.runs()["r1"]["note"] == "123456789012345678901"


def test_a_file_already_imported_is_only_renamed(store_spec: str, tmp_path: Path) -> None:
    """A crash between the commit and the rename: the next opening finds the content recorded
    and imports nothing again — and if an old foxnb kept appending meanwhile, only the new
    lines are imported."""
    work = tmp_path / "work"
    expected = old_ledger(work)
    with open_store(store_spec, work) as store:
        count = len(list(store.events()))
    (work / "runs.jsonl").write_bytes((work / "runs.jsonl.bak").read_bytes())
    with open_store(store_spec, work) as store:
        assert len(list(store.events())) == count
        assert store.runs() == with_flag(expected, "r0")
    assert (work / "runs.jsonl.bak.1").exists() and not (work / "runs.jsonl").exists()
    (work / "runs.jsonl").write_bytes((work / "runs.jsonl.bak").read_bytes())
    Ledger(work).append("late", 99.0, status="queued")  # fences the torn line, then appends
    with open_store(store_spec, work) as store:
        assert len(list(store.events())) == count + 1
        assert list(store.runs())[-1] == "late"


def _open(barrier: Any, spec: str, work: Path) -> None:
    barrier.wait()
    open_store(spec, work).close()


def test_concurrent_openers_migrate_once(store_spec: str, tmp_path: Path) -> None:
    """Four processes opening the old folder at once: one import, one backup."""
    work = tmp_path / "work"
    expected = old_ledger(work, runs=400)
    barrier = CTX.Barrier(4)
    procs = [CTX.Process(target=_open, args=(barrier, store_spec, work)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [p.exitcode for p in procs] == [0] * 4
    with open_store(store_spec, work) as store:
        assert store.runs() == with_flag(expected, "r0")
        assert len(list(store.events())) == 3 * 400 + 1
    assert sorted(p.name for p in work.iterdir() if "jsonl" in p.name) == ["runs.jsonl.bak"]


@pytest.mark.slow
def test_kill_9_mid_migration_loses_nothing(store_spec: str, tmp_path: Path) -> None:
    """A process killed at several moments while importing a 6,000-run ledger: whatever it
    had done, the next opening ends with exactly the ledger's runs and events."""
    delays_s = [0.0, 0.5, 1.0, 1.5]
    states = []
    for attempt, delay_s in enumerate(delays_s):
        work = tmp_path / f"work{attempt}"
        prefix = f"a{attempt}-"
        expected = old_ledger(work, runs=6000, prefix=prefix)
        code = "import sys; from pathlib import Path; from foxnb.runtime.store import open_store;"
        code += "open_store(sys.argv[1], Path(sys.argv[2])).close()"
        child = subprocess.Popen([sys.executable, "-c", code, store_spec, str(work)])
        time.sleep(delay_s)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        states.append((work / "runs.jsonl").exists())
        with open_store(store_spec, work) as store:
            runs = {k: v for k, v in store.runs().items() if k.startswith(prefix)}
            events = [e for e in store.events() if str(e.get("run_id")).startswith(prefix)]
        assert runs == with_flag(expected, f"{prefix}0")
        assert len(events) == 3 * 6000 + 1
    assert any(states), "no kill landed before the migration finished"


def test_export_round_trip(store_spec: str, tmp_path: Path) -> None:
    """export_jsonl writes the old format: the old Ledger reads the same runs from it, and a
    new store made from it holds the same events and runs."""
    with open_store(store_spec, tmp_path / "a") as store:
        old_ledger(tmp_path / "seed")
        store.append_many(
            [(e["run_id"], e["at"], e) for e in map(json.loads, _lines(tmp_path / "seed"))]
        )
        store.append("x", 5.0, status="queued", seed=2**70)
        exported = tmp_path / "b" / "runs.jsonl"
        exported.parent.mkdir()
        count = export_jsonl(store, exported)
        runs, events = store.runs(), list(store.events())
    assert count == len(events)
    assert {k: v for k, v in Ledger(exported.parent).runs().items() if k != "x"} == {
        k: {kk: vv for kk, vv in v.items() if kk != "duplicate_tasks"}
        for k, v in runs.items()
        if k != "x"
    }
    with open_store(None, exported.parent) as again:
        assert again.runs() == runs and list(again.events()) == events


def _lines(folder: Path) -> list[str]:
    """The whole lines of a ledger (the torn ones are not JSON and are dropped)."""
    out = []
    for line in (folder / "runs.jsonl").read_text().splitlines():
        try:
            json.loads(line)
        except ValueError:
            continue
        out.append(line)
    return out
