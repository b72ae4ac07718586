"""Headless workers (``foxnb worker``) splitting one sweep, on SQLite and on PostgreSQL.

Each test records a sweep's cells (nothing sent), starts ``foxnb worker`` processes on the
same store, and holds the simulator's tasks against the store afterwards (``writers.account``):
0 duplicate creates, 0 unrecorded tasks, every cell ended. A worker killed with -9 while it
holds leases is taken over once its lease lapses, by another worker or by a notebook's
``fx.resume()`` — nothing is lost and nothing is paid twice.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import wait_for
from writers import Writer, account, grid_cells, sim_env, team_simulator

import foxnb
from foxnb.runtime.store import open_store
from foxnb.sim import Simulator

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fast_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """Jobs of a few hundred milliseconds; one shared rendering serves every task."""
    with team_simulator(tmp_path_factory.mktemp("workers-sim"), speed=500) as sim:
        yield sim


def grid(prompts: int, seeds: int) -> tuple[str, dict[str, list[Any]]]:
    token = uuid.uuid4().hex[:8]
    return f"work-{token}", {
        "prompt": [f"Take {n} ({token})" for n in range(prompts)],
        "seed": list(range(seeds)),
    }


def record(sim: Simulator, store: str, tmp_path: Path, clip: Path, name: str, cells: Any) -> None:
    fx = foxnb.connect(simulator=sim, workdir=tmp_path / "recorder", store=store, quiet=True)
    started = time.monotonic()
    sweep = fx.sweep(clip, name=name, launch=False, **cells)
    assert isinstance(sweep, foxnb.Sweep)
    print(f"\nrecorded {len(sweep.run_ids)} cells in {time.monotonic() - started:.2f} s")
    fx.close()


def worker(
    sim: Simulator, store: str, tmp_path: Path, who: str, name: str, *args: str, **env: str
) -> Writer:
    command = [
        *(sys.executable, "-m", "foxnb", "--workdir", str(tmp_path / who), "--store", store),
        *("worker", "--experiment", name, "--quiet", "--rate-per-s", "2000", *args),
    ]
    return Writer(command, sim_env(sim, **env), tmp_path / f"{who}.log")


def summary(writer: Writer) -> Counter[str]:
    """The final counts a worker printed: ``... N runs (completed 120, ...)``."""
    writer.result()
    line = next(line for line in reversed(writer.seen) if " runs (" in line)
    inside = line.split(" runs (", 1)[1]
    return Counter({word: int(n) for word, n in re.findall(r"([a-z_]+) (\d+)", inside)})


def test_four_workers_split_500_cells(
    fast_sim: Simulator, store_spec: str, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """4 worker processes x 500 cells: every cell completed once, all four took a share."""
    name, cells = grid(20, 25)
    record(fast_sim, store_spec, tmp_path, clips["landscape"], name, cells)
    started = time.monotonic()
    workers = [worker(fast_sim, store_spec, tmp_path, f"w{n}", name) for n in range(4)]
    shares = [summary(w) for w in workers]
    elapsed_s = time.monotonic() - started
    print(f"4 workers, 500 cells: {elapsed_s:.1f} s; each worker's runs by status: {shares}")
    assert all(share["completed"] > 0 for share in shares)
    assert sum(share["completed"] for share in shares) == 500
    result = account(fast_sim, store_spec, tmp_path, name, grid_cells(cells))
    assert result.duplicates == 0 and result.unrecorded == [] and result.flagged == []
    assert result.statuses == {"completed": 500}


@pytest.fixture(scope="module")
def slow_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """Jobs of 1–3 s, so a worker is killed while it holds runs in every phase."""
    with team_simulator(tmp_path_factory.mktemp("workers-slow-sim"), speed=60) as sim:
        yield sim


LEASE_S = 2.0
#: The victim's lease when a notebook's resume() takes over: long enough that the notebook has
#: connected and read the store before it lapses, even on a slow, busy machine (the victim
#: renews every third of it, so at least two thirds are left when it is killed).
RESUME_LEASE_S = 9.0


def kill_holding(victim: Writer, store: str, tmp_path: Path, name: str) -> dict[str, int]:
    """SIGKILL ``victim`` once it holds runs already sent and runs not yet sent; what it held."""
    with open_store(store, tmp_path / "watcher") as reader:

        def holding() -> tuple[list[Any], int] | None:
            held = reader.unfinished(experiment=name)
            mine = [h for h in held.values() if h.owner and h.owner.startswith("elsewhere:")]
            sent = sum(bool(h.run.get("task_id")) for h in mine)
            return (mine, sent) if sent >= 2 and len(mine) > sent else None

        mine, sent = wait_for(holding, 60, what="the worker to hold runs", every_s=0.01)
    victim.kill()
    return {"held": len(mine), "sent": sent}


@pytest.mark.parametrize("taker", ["worker", "resume"])
def test_kill_9_worker_is_taken_over_after_its_lease(
    slow_sim: Simulator, store_spec: str, tmp_path: Path, clips: dict[str, Path], taker: str
) -> None:
    """A worker on "another machine" (its own host name, so only its lease tells it is gone)
    is killed while it holds runs; another worker, or a notebook's resume(), takes them over
    once the lease lapses: every cell ends, none was created twice."""
    name, cells = grid(4, 10)
    record(slow_sim, store_spec, tmp_path, clips["landscape"], name, cells)
    lease_s = LEASE_S if taker == "worker" else RESUME_LEASE_S
    victim = worker(
        slow_sim, store_spec, tmp_path, "victim", name, "--lease-s", str(lease_s),
        FOXNB_HOST="elsewhere",
    )  # fmt: skip
    held = kill_holding(victim, store_spec, tmp_path, name)
    killed_at = time.monotonic()
    if taker == "worker":
        heir = summary(worker(slow_sim, store_spec, tmp_path, "heir", name))
        assert sum(heir.values()) >= held["held"]  # what the victim held, and the rest
    else:
        fx = foxnb.connect(
            simulator=slow_sim, workdir=tmp_path / "nb", store=store_spec, quiet=True
        )
        jobs = fx.resume()
        assert time.monotonic() - killed_at < lease_s * 2 / 3, "resume() came after the lease"
        # The victim's runs are still leased: watched until the lease lapses, then taken.
        assert any((job.state.watching or "").startswith("elsewhere:") for job in jobs)
        for job in jobs:
            with contextlib.suppress(foxnb.FoxError):
                job.wait(120)
        fx.close()
    took_s = time.monotonic() - killed_at
    result = account(slow_sim, store_spec, tmp_path, name, grid_cells(cells))
    print(
        f"killed holding {held}; taken over by {taker} in {took_s:.1f} s: {dict(result.statuses)}"
    )
    assert result.duplicates == 0 and result.unrecorded == [] and result.flagged == []
    assert set(result.statuses) <= {"completed", "submission_unknown"}
    assert result.statuses["completed"] >= 40 - 4  # at most the creates in flight are unknown
