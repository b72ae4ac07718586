"""Helpers for tests with many writers of one runs store: child processes and the accounting.

``Writer`` runs ``tests/writer_child.py`` (or any command) as a process, ``go()`` releases it,
``result()`` waits for its last JSON line. ``account()`` holds the simulator's own task list
against the store, cell by cell: how many creates each cell got (duplicates), which tasks no
run records (unrecorded), and how each cell ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from foxnb.runtime.store import open_store
from foxnb.sim import Simulator

HERE = Path(__file__).resolve().parent
CHILD = HERE / "writer_child.py"


@contextlib.contextmanager
def team_simulator(state_dir: Path, speed: float, **options: Any) -> Iterator[Simulator]:
    """A simulator for many writers: ``speed`` times faster, no query lag, a bottomless
    balance, and one shared rendering serving every task (the writers are what is tested)."""
    settings: dict[str, Any] = {"balance_credits": 10**9, **options}
    with Simulator(
        speed=speed,
        upstream_lag_s=0.0,
        distinct_results=False,
        state_dir=state_dir,
        **settings,
    ) as sim:
        yield sim


def race(writers: list[Writer]) -> list[dict[str, Any]]:
    """Release writers started with ``"go": true`` at the same moment (once every one is
    ready); their results."""
    for writer in writers:
        writer.expect("READY")
    for writer in writers:
        writer.go()
    return [writer.result() for writer in writers]


def sim_env(sim: Simulator, **extra: str) -> dict[str, str]:
    """This environment plus the simulator's address and key, as a notebook would set."""
    return {**os.environ, "FOXAPI_API_KEY": sim.api_key, "FOXAPI_BASE_URL": sim.url, **extra}


class Writer:
    """A child process writing to the store; its output lines are collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self._log: IO[str] = open(log, "w")  # noqa: SIM115 - closed in result()/kill()
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    @classmethod
    def child(cls, sim: Simulator, log: Path, **command: Any) -> Writer:
        """``writer_child.py`` with ``command`` (see its docstring)."""
        args = [sys.executable, str(CHILD), json.dumps(command)]
        return cls(args, sim_env(sim), log)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, prefix: str, timeout_s: float = 60) -> str:
        """Wait for the next line starting with ``prefix``; return it."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(0.01, left))
            except queue.Empty:
                raise AssertionError(
                    f"no {prefix!r} from {self.process.args}: {self.seen}"
                ) from None
            self.seen.append(line)
            if line.startswith(prefix):
                return line
            if left <= 0:
                raise AssertionError(f"no {prefix!r} in {self.seen}")

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("GO\n")
        self.process.stdin.flush()

    def result(self, timeout_s: float = 180) -> dict[str, Any]:
        """Wait for the process to end (it must exit 0); its last JSON line."""
        code = self.process.wait(timeout_s)
        self._log.close()
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        log = Path(self._log.name).read_text()
        assert code == 0, f"{self.process.args} exited {code}: {self.seen}\n{log[-3000:]}"
        for line in reversed(self.seen):
            if line.startswith("{"):
                parsed: dict[str, Any] = json.loads(line)
                return parsed
        return {"lines": self.seen}

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(30)
        self._log.close()


@dataclass
class Account:
    """What the simulator created for a grid against what the store recorded."""

    tasks_per_cell: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    unrecorded: list[str] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    flagged: list[str] = field(default_factory=list)
    unknown_created: int = 0

    @property
    def duplicates(self) -> int:
        """Creates beyond the first, summed over the cells."""
        return sum(n - 1 for n in self.tasks_per_cell.values() if n > 1)


def account(
    sim: Simulator, store_spec: str, workdir: Path, name: str, cells: list[dict[str, Any]]
) -> Account:
    """Hold ``sim``'s tasks for the prompts of ``cells`` against the runs of experiment
    ``name`` (see the module docstring)."""

    def key(fields: Any) -> tuple[Any, ...]:
        return (fields.get("prompt"), fields.get("seed"))

    wanted = {key(cell) for cell in cells}
    with open_store(store_spec, workdir) as store:
        runs = [r for r in store.runs().values() if r.get("experiment") == name]
        task_ids = {run["run_id"]: store.task_ids(run["run_id"]) for run in runs}
    result = Account()
    recorded = {tid for ids in task_ids.values() for tid in ids}
    unknown = {key(r) for r in runs if r.get("status") == "submission_unknown"}
    for task in sim.backend.tasks():
        cell = (task.params.prompt, task.params.seed)
        if cell not in wanted:
            continue
        result.tasks_per_cell[cell] += 1
        if task.id not in recorded:
            if cell in unknown:
                result.unknown_created += 1  # the create in flight at a kill -9
            else:
                result.unrecorded.append(task.id)
    paid = [r for r in runs if not r.get("reused_from")]
    per_cell = Counter(key(r) for r in paid)
    assert set(per_cell) == wanted and set(per_cell.values()) == {1}, per_cell
    for run in paid:
        result.statuses[run["status"]] += 1
        if run.get("duplicate_tasks") or len(task_ids[run["run_id"]]) > 1:
            result.flagged.append(run["run_id"])
    return result


def grid_cells(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every cell of a product grid."""
    import itertools

    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
