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

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import wait_for
from writers import Writer, account, grid_cells, race, team_simulator

import foxnb
from foxnb.runtime.store import open_store
from foxnb.sim import Simulator

pytestmark = pytest.mark.slow
CELLS = 12


@pytest.fixture(scope="module")
def shared_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """One fast simulator for the module; one shared rendering serves every task."""
    state = tmp_path_factory.mktemp("writers-sim")
    with team_simulator(state, speed=300) as sim:
        yield sim


@dataclass
class Scene:
    """One test's writers: the simulator, the store, a folder, the clip and a fresh 12-cell grid
    (3 prompts x 4 seeds, an experiment name no other test uses)."""

    sim: Simulator
    store: str
    folder: Path
    clip: str
    name: str = field(default_factory=lambda: f"writers-{uuid.uuid4().hex[:8]}")
    grid: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        token = self.name.rsplit("-", 1)[1]
        prompts = [f"{words} ({token})" for words in ("Dusk falls", "A storm rolls in", "Fog")]
        self.grid = {"prompt": prompts, "seed": [1, 2, 3, 4]}

    def child(self, who: str, do: str, **options: Any) -> Writer:
        """``writer_child.py`` doing ``do`` in a work folder of its own, on the shared store."""
        command = {"workdir": str(self.folder / who), "store": self.store, "clip": self.clip}
        command |= {"name": self.name, "grid": self.grid, "do": do, **options}
        return Writer.child(self.sim, self.folder / f"{who}.log", **command)

    def record(self) -> None:
        """The cells recorded, none sent: what a kernel leaves when it dies right after."""
        fx = foxnb.connect(
            simulator=self.sim, workdir=self.folder / "recorder", store=self.store, quiet=True
        )
        fx.sweep(self.clip, name=self.name, launch=False, **self.grid)
        fx.close()

    def check(self, ended: frozenset[str] = frozenset({"completed"})) -> None:
        """0 duplicate creates, 0 unrecorded tasks, nothing flagged, every cell ended."""
        result = account(self.sim, self.store, self.folder, self.name, grid_cells(self.grid))
        print(
            f"\n{self.name}: {dict(result.statuses)}; tasks {sum(result.tasks_per_cell.values())}"
        )
        assert result.duplicates == 0, f"cells created twice: {result.tasks_per_cell}"
        assert result.unrecorded == [], "tasks the store does not record"
        assert result.flagged == []
        assert set(result.statuses) <= ended and sum(result.statuses.values()) == CELLS


@pytest.fixture
def scene(shared_sim: Simulator, store_spec: str, tmp_path: Path, clips: dict[str, Path]) -> Scene:
    return Scene(shared_sim, store_spec, tmp_path, str(clips["landscape"]))


def test_two_processes_run_the_same_sweep_at_once(scene: Scene) -> None:
    writers = [scene.child(who, "sweep", go=True) for who in ("a", "b")]
    touched = [sorted(result["touched"]) for result in race(writers)]
    assert touched[0] == touched[1] and len(touched[0]) == CELLS  # one set of cells, both see it
    scene.check()


def test_a_sweep_while_another_process_resumes(scene: Scene) -> None:
    resumer = scene.child("resumer", "resume", go=True)
    resumer.expect("READY")
    # Slow enough that the resume lands while cells are still being sent.
    sweeper = scene.child("sweeper", "sweep", rate=8.0)
    sweeper.expect("SWEPT")
    resumer.go()
    sweeper.result()
    print(f"resume() watched or took {len(resumer.result()['touched'])} cells")
    scene.check()


def test_two_processes_resume_after_a_crash(scene: Scene) -> None:
    victim = scene.child("victim", "sweep", rate=8.0)
    victim.expect("SWEPT")
    with open_store(scene.store, scene.folder / "watch") as store:
        wait_for(
            lambda: sum(bool(r.get("task_id")) for r in store.runs().values()) >= 3,
            60,
            what="the sweep to get going",
            every_s=0.005,
        )
        at_kill = {r["status"] for r in store.runs().values() if r.get("experiment") == scene.name}
    victim.kill()  # SIGKILL
    race([scene.child(who, "resume", go=True) for who in ("r1", "r2")])
    print(f"statuses at the kill: {sorted(at_kill)}")
    scene.check(ended=frozenset({"completed", "submission_unknown"}))


def test_two_sessions_in_one_process_run_the_same_sweep(scene: Scene) -> None:
    assert len(scene.child("two", "two_sessions").result()["touched"]) == CELLS
    scene.check()


def test_one_session_resumes_from_two_threads_at_once(scene: Scene) -> None:
    scene.record()
    touched = scene.child("threads", "threads_resume").result()["touched"]
    assert len(touched) == CELLS  # each run launched by one of the two calls, once
    scene.check()


def test_resume_twice_in_a_row(scene: Scene) -> None:
    scene.record()
    touched = scene.child("twice", "resume_twice").result()["touched"]
    assert len(touched) == CELLS  # the second call found nothing new
    scene.check()
