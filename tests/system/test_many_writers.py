"""Many writers, one truth: issue 11's table, each row on SQLite and on PostgreSQL.

Every test runs real processes (``tests/writer_child.py``) against one runs store and one
simulator, then holds the simulator's own task list against the store (``writers.account``):
0 duplicate creates (no cell got two tasks), 0 unrecorded tasks (every task the service made
is in some run's ``task_ids``), no run flagged ``duplicate_tasks``, and every cell ended.

| what the users did | before the store |
|---|---|
| two processes run the same sweep at the same moment | 20–24 tasks for 12 cells |
| a sweep runs while another process calls ``fx.resume()`` | 18 |
| two processes call ``fx.resume()`` after a crash | 16 |
| two ``Session``s in one process run the same sweep | 24 |
| one ``Session``, two ``fx.resume()`` from two threads at once | 22 |
| ``fx.resume()`` twice, one after the other | 12 |
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from writers import Writer, account, grid_cells

import foxnb
from foxnb.runtime.store import open_store
from foxnb.sim import Simulator

pytestmark = pytest.mark.slow
CELLS = 12


@pytest.fixture(scope="module")
def shared_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """One fast simulator for the module; one shared rendering serves every task."""
    state = tmp_path_factory.mktemp("writers-sim")
    with Simulator(
        speed=300,
        upstream_lag_s=0.0,
        distinct_results=False,
        balance_credits=10**9,
        state_dir=state,
    ) as sim:
        yield sim


@pytest.fixture
def clip(clips: dict[str, Path]) -> str:
    return str(clips["landscape"])


def new_grid() -> tuple[str, dict[str, list[Any]]]:
    """An experiment name and a 12-cell grid no other test uses (3 prompts x 4 seeds)."""
    token = uuid.uuid4().hex[:8]
    prompts = [f"{words} ({token})" for words in ("Dusk falls", "A storm rolls in", "Fog lifts")]
    return f"writers-{token}", {"prompt": prompts, "seed": [1, 2, 3, 4]}


def command(
    tmp_path: Path, store_spec: str, clip: str, name: str, grid: dict[str, Any], who: str, **kw: Any
) -> dict[str, Any]:
    return {
        "workdir": str(tmp_path / who),
        "store": store_spec,
        "clip": clip,
        "name": name,
        "grid": grid,
        **kw,
    }


def record(
    sim: Simulator, store_spec: str, tmp_path: Path, clip: str, name: str, grid: Any
) -> None:
    """The cells of a sweep recorded, none sent: what a kernel leaves when it dies right after."""
    fx = foxnb.connect(simulator=sim, workdir=tmp_path / "recorder", store=store_spec, quiet=True)
    fx.sweep(clip, name=name, launch=False, **grid)
    fx.close()


def check(
    sim: Simulator,
    store_spec: str,
    tmp_path: Path,
    name: str,
    grid: dict[str, Any],
    ended: frozenset[str] = frozenset({"completed"}),
) -> None:
    result = account(sim, store_spec, tmp_path, name, grid_cells(grid))
    print(f"\n{name}: {dict(result.statuses)}; tasks {sum(result.tasks_per_cell.values())}")
    assert result.duplicates == 0, f"cells created twice: {result.tasks_per_cell}"
    assert result.unrecorded == [], "tasks the store does not record"
    assert result.flagged == []
    assert set(result.statuses) <= ended and sum(result.statuses.values()) == CELLS


def test_two_processes_run_the_same_sweep_at_once(
    shared_sim: Simulator, store_spec: str, tmp_path: Path, clip: str
) -> None:
    name, grid = new_grid()
    writers = [
        Writer.child(
            shared_sim,
            tmp_path / f"{who}.log",
            do="sweep",
            go=True,
            **command(tmp_path, store_spec, clip, name, grid, who),
        )
        for who in ("a", "b")
    ]
    for writer in writers:
        writer.expect("READY")
    for writer in writers:
        writer.go()
    touched = [sorted(writer.result()["touched"]) for writer in writers]
    assert touched[0] == touched[1] and len(touched[0]) == CELLS  # one set of cells, both see it
    check(shared_sim, store_spec, tmp_path, name, grid)


def test_a_sweep_while_another_process_resumes(
    shared_sim: Simulator, store_spec: str, tmp_path: Path, clip: str
) -> None:
    name, grid = new_grid()
    resumer = Writer.child(
        shared_sim,
        tmp_path / "resume.log",
        do="resume",
        go=True,
        **command(tmp_path, store_spec, clip, name, grid, "resumer"),
    )
    resumer.expect("READY")
    sweeper = Writer.child(
        shared_sim,
        tmp_path / "sweep.log",
        do="sweep",
        rate=8.0,  # slow enough that the resume lands while cells are still being sent
        **command(tmp_path, store_spec, clip, name, grid, "sweeper"),
    )
    sweeper.expect("SWEPT")
    resumer.go()
    sweeper.result()
    watched = resumer.result()["touched"]
    print(f"resume() watched or took {len(watched)} cells")
    check(shared_sim, store_spec, tmp_path, name, grid)


def test_two_processes_resume_after_a_crash(
    shared_sim: Simulator, store_spec: str, tmp_path: Path, clip: str
) -> None:
    name, grid = new_grid()
    victim = Writer.child(
        shared_sim,
        tmp_path / "victim.log",
        do="sweep",
        rate=8.0,
        **command(tmp_path, store_spec, clip, name, grid, "victim"),
    )
    victim.expect("SWEPT")
    with open_store(store_spec, tmp_path / "watch") as store:
        deadline = time.monotonic() + 60
        while sum(bool(r.get("task_id")) for r in store.runs().values()) < 3:
            assert time.monotonic() < deadline, "the sweep never got going"
            time.sleep(0.005)
        at_kill = {r["status"] for r in store.runs().values() if r.get("experiment") == name}
    victim.kill()  # SIGKILL
    resumers = [
        Writer.child(
            shared_sim,
            tmp_path / f"{who}.log",
            do="resume",
            go=True,
            **command(tmp_path, store_spec, clip, name, grid, who),
        )
        for who in ("r1", "r2")
    ]
    for writer in resumers:
        writer.expect("READY")
    for writer in resumers:
        writer.go()
    for writer in resumers:
        writer.result()
    print(f"statuses at the kill: {sorted(at_kill)}")
    check(
        shared_sim,
        store_spec,
        tmp_path,
        name,
        grid,
        ended=frozenset({"completed", "submission_unknown"}),
    )


def test_two_sessions_in_one_process_run_the_same_sweep(
    shared_sim: Simulator, store_spec: str, tmp_path: Path, clip: str
) -> None:
    name, grid = new_grid()
    writer = Writer.child(
        shared_sim,
        tmp_path / "two.log",
        do="two_sessions",
        **command(tmp_path, store_spec, clip, name, grid, "two"),
    )
    assert len(writer.result()["touched"]) == CELLS
    check(shared_sim, store_spec, tmp_path, name, grid)


def test_one_session_resumes_from_two_threads_at_once(
    shared_sim: Simulator, store_spec: str, tmp_path: Path, clip: str
) -> None:
    name, grid = new_grid()
    record(shared_sim, store_spec, tmp_path, clip, name, grid)
    writer = Writer.child(
        shared_sim,
        tmp_path / "threads.log",
        do="threads_resume",
        **command(tmp_path, store_spec, clip, name, grid, "threads"),
    )
    touched = writer.result()["touched"]
    assert len(touched) == CELLS  # each run launched by one of the two calls, once
    check(shared_sim, store_spec, tmp_path, name, grid)


def test_resume_twice_in_a_row(
    shared_sim: Simulator, store_spec: str, tmp_path: Path, clip: str
) -> None:
    name, grid = new_grid()
    record(shared_sim, store_spec, tmp_path, clip, name, grid)
    writer = Writer.child(
        shared_sim,
        tmp_path / "twice.log",
        do="resume_twice",
        **command(tmp_path, store_spec, clip, name, grid, "twice"),
    )
    assert len(writer.result()["touched"]) == CELLS  # the second call found nothing new
    check(shared_sim, store_spec, tmp_path, name, grid)
