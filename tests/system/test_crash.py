"""Crashes: kill -9 mid-sweep, a killed kernel, a full disk: nothing lost, nothing paid twice.

The simulator runs in its own process (``python -m foxnb.sim``), so it outlives every kill,
and each sweep runs in a child forked by ``tests/crash_worker.py`` (or in a real ipykernel).
After each kill a new process recovers with ``fx.resume()`` or by sending the same
``fx.sweep(...)`` again, and ``check_round`` holds the ledger, the videos folder and the
simulator's own task list against the grid, cell by cell.

The one loss foxnb cannot avoid: a create request in flight at the kill. FoxAPI cannot list
tasks, so such a run ends ``submission_unknown`` (never resent) and its cell has at most one
task; the rounds count how often that happens.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from crash_worker import CHAIN, GRID, NAME, RATE_PER_S

import foxnb
from foxnb._files import PART_SUFFIX, remove_stale_parts, sha256_file
from foxnb.runtime.store import STORE_NAME, open_store
from foxnb.sim import Simulator

HERE = Path(__file__).resolve().parents[1]
WORKER = HERE / "crash_worker.py"
SIM_SPEED = 90.0
"""A 90 s job takes 0.7-1.4 s here: a 20-cell sweep lasts about two seconds."""
CELLS = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
FINAL = frozenset({"completed", "submission_unknown"})
PHASES = ("recording", "uploading", "creating", "polling", "downloading")
KILL_ROUNDS = 20
KILL_SEED = 20261124


def stored_runs(workdir: Path) -> dict[str, dict[str, Any]]:
    """The runs a work folder's store holds now (read as another kernel would)."""
    with open_store(None, workdir) as store:
        return store.runs()


# What marks a run as having reached each phase in the store.
REACHED: dict[str, Callable[[dict[str, Any]], bool]] = {
    "recording": lambda run: True,
    "uploading": lambda run: True,
    "creating": lambda run: "create_sent_at" in run,
    "polling": lambda run: bool(run.get("task_id")),
    "downloading": lambda run: bool(run.get("result_url")),
}


# ---------------------------------------------------------------------------- the simulator


@dataclass
class ExternalSim:
    """A simulator serving from its own process; its state file is the truth about tasks."""

    url: str
    api_key: str
    state_dir: Path

    def env(self) -> dict[str, str]:
        """This environment plus the simulator's address and key, as a notebook would set."""
        return {**os.environ, "FOXAPI_API_KEY": self.api_key, "FOXAPI_BASE_URL": self.url}

    def state(self) -> dict[str, Any]:
        """The simulator's account state, from the file it rewrites atomically on each change."""
        state: dict[str, Any] = json.loads((self.state_dir / "state.json").read_text())
        return state

    def tasks(self) -> dict[str, dict[str, Any]]:
        """Every task the simulator ever created, by id."""
        return {task["id"]: task for task in self.state()["tasks"]}

    def result_sha256(self, task: dict[str, Any]) -> str:
        """The sha256 of the video the simulator serves for a completed task."""
        return sha256_file(self.state_dir / task["outcome"]["output"])


@pytest.fixture(scope="module")
def external_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExternalSim]:
    """``python -m foxnb.sim`` on a free loopback port, in a process no test kills.

    One shared rendering serves every task (``--no-distinct-results``): the rounds measure
    foxnb, not the simulator's video encoder. Timelines are unchanged.
    """
    folder = tmp_path_factory.mktemp("crash-sim")
    state_dir = folder / "state"
    with open(folder / "sim.log", "w") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "foxnb.sim", "--port", "0", "--speed", str(SIM_SPEED)),
                *("--upstream-lag-s", "0", "--no-distinct-results", "--state-dir", str(state_dir)),
                *("--balance-credits", str(10**8)),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            assert process.stdout is not None
            found: dict[str, str] = {}
            while len(found) < 2:
                line = process.stdout.readline()
                assert line, f"the simulator did not start: {(folder / 'sim.log').read_text()}"
                name, _, value = line.strip().removeprefix("export ").partition("=")
                if name in ("FOXAPI_BASE_URL", "FOXAPI_API_KEY"):
                    found[name] = value
            yield ExternalSim(found["FOXAPI_BASE_URL"], found["FOXAPI_API_KEY"], state_dir)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# ---------------------------------------------------------------------------- the fork server


class ForkServer:
    """Drives ``crash_worker.py``: runs a command in a forked child and reports how it ended."""

    def __init__(self, env: dict[str, str], log: IO[str]):
        self._log = log
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._exits: dict[int, int] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.strip())

    def start(self, **command: str) -> int:
        """Fork a child for ``command``; returns its pid."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        word, pid = self._next(30).split()
        assert word == "PID", word
        return int(pid)

    def running(self, pid: int) -> bool:
        """Whether the child ``pid`` is still running (never blocks)."""
        self._collect(0.0)
        return pid not in self._exits

    def wait(self, pid: int, timeout_s: float) -> int:
        """Wait for the child to end; returns its exit code (minus the signal that killed it)."""
        deadline = time.monotonic() + timeout_s
        while pid not in self._exits:
            left = deadline - time.monotonic()
            assert left > 0, f"worker {pid} still running after {timeout_s} s"
            self._collect(left)
        return self._exits.pop(pid)

    def _collect(self, timeout_s: float) -> None:
        try:
            line = self._lines.get(timeout=timeout_s) if timeout_s else self._lines.get_nowait()
        except queue.Empty:
            return
        word, pid, code = line.split()
        assert word == "EXIT", line
        self._exits[int(pid)] = int(code)

    def _next(self, timeout_s: float) -> str:
        try:
            return self._lines.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no answer from {WORKER.name} in {timeout_s} s") from None

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


@pytest.fixture(scope="module")
def fork_server(
    external_sim: ExternalSim, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ForkServer]:
    """A ``crash_worker.py`` fork server pointed at the external simulator."""
    log_path = tmp_path_factory.mktemp("crash-worker") / "worker.log"
    with open(log_path, "w") as log:
        server = ForkServer(external_sim.env(), log)
        try:
            yield server
        finally:
            server.close()


@pytest.fixture(scope="module")
def clip(clips: dict[str, Path]) -> str:
    """The 1 s 1280x720 input every crash sweep extends."""
    return str(clips["landscape"])


# ---------------------------------------------------------------------------- checking a round


def key(fields: dict[str, Any]) -> tuple[Any, ...]:
    """What tells the grid's cells apart, for runs and simulator tasks alike."""
    return tuple(fields.get(name) for name in GRID)


def check_round(
    workdir: Path, sim: ExternalSim, before: set[str], *, every_cell: bool = True
) -> Counter[str]:
    """Hold the store, videos and the simulator's new tasks against the grid; count facts.

    Each cell has exactly one paid run in a final state (plus, after a re-run of the sweep,
    free runs reusing it); a completed run has exactly one task, with the cell's parameters,
    and a video matching its sha256 and the simulator's; a ``submission_unknown`` run has at
    most one. No task is outside the grid and nothing else is in the videos folder.
    ``every_cell=False`` allows cells never recorded (a kill while ``fx.sweep`` was still
    writing its cells): those must have neither a run nor a task.
    """
    facts: Counter[str] = Counter()
    with open_store(None, workdir) as store:
        runs = [run for run in store.runs().values() if run.get("experiment") == NAME]
        assert all(len(store.task_ids(run["run_id"])) <= 1 for run in runs), "two tasks, one run"
    tasks = {tid: task for tid, task in sim.tasks().items() if tid not in before}
    task_ids: dict[tuple[Any, ...], list[str]] = {}
    for tid, task in tasks.items():
        task_ids.setdefault(key(task["params"]), []).append(tid)
    assert set(task_ids) <= {key(cell) for cell in CELLS}, "a task outside the grid"
    for run in runs:
        assert run["status"] in FINAL, (
            f"cell {run.get('cell')}: run {run['run_id']} is still {run['status']!r} after "
            f"the recovery, not in a final state ({run.get('error_message')})"
        )
        assert key(run) == key(CELLS[run["cell"]]), run
    paid = {run["run_id"]: run for run in runs if not run.get("reused_from")}
    videos: set[str] = set()
    for index, cell in enumerate(CELLS):
        mine = [run for run in paid.values() if run["cell"] == index]
        ids = task_ids.get(key(cell), [])
        assert len(mine) <= 1, f"cell {index} has {len(mine)} paid runs"
        if not mine:
            assert not every_cell, f"cell {index} has no run"
            assert ids == [], f"cell {index} was never recorded but has tasks {ids}"
            facts["unrecorded"] += 1
            continue
        run = mine[0]
        if run["status"] == "submission_unknown":
            assert not run.get("task_id") and len(ids) <= 1, (run, ids)
            facts["unknown_created" if ids else "unknown_not_created"] += 1
            continue
        assert ids == [run["task_id"]], f"cell {index}: tasks {ids}, run {run['task_id']}"
        path = Path(run["video_path"])
        assert path.parent == workdir / "videos" and path.name == f"{run['run_id']}.mp4"
        assert sha256_file(path) == run["sha256"] == sim.result_sha256(tasks[ids[0]])
        videos.add(path.name)
        facts["completed"] += 1
    for run in runs:
        if run.get("reused_from"):
            source = paid[run["reused_from"]]
            assert source["cell"] == run["cell"] and source["status"] == "completed"
            assert run["video_path"] == source["video_path"] and run["credits"] == 0
            facts["reused"] += 1
    assert sum(map(len, task_ids.values())) == facts["completed"] + facts["unknown_created"]
    folder = workdir / "videos"
    left = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    assert left == sorted(videos), f"unexpected files in videos/: {set(left) - videos}"
    return facts


def observed_phase(runs: dict[str, dict[str, Any]]) -> str:
    """What the sweep was doing at the kill, judged from the ledger it left."""
    statuses = Counter(run["status"] for run in runs.values())
    if len(runs) < len(CELLS):
        return "recording"
    if statuses["submitting"]:
        return "creating"  # a create request in flight: the risky moment
    if statuses["downloading"]:
        return "downloading"
    if statuses["pending"] or statuses["processing"]:
        return "polling"
    if statuses["queued"] == len(CELLS):
        return "uploading"
    return "between"


# ---------------------------------------------------------------------------- killing


@dataclass(frozen=True)
class KillPlan:
    """Kill once ``count`` runs have reached ``phase`` in the ledger, ``delay_s`` later."""

    phase: str
    count: int
    delay_s: float

    @classmethod
    def draw(cls, rng: random.Random, phase: str) -> KillPlan:
        if phase == "uploading":  # all cells recorded; the first upload starts right after
            return cls(phase, len(CELLS), rng.uniform(0.0, 0.02))
        delay_s = rng.uniform(0.0, 0.5) if phase == "polling" else 0.0
        return cls(phase, rng.randint(1, len(CELLS) - 1), delay_s)


def kill_when(
    ledger_dir: Path, plan: KillPlan, pid: int, still_running: Callable[[], bool]
) -> None:
    """SIGKILL ``pid`` at the moment ``plan`` says (watching the store it writes)."""
    deadline = time.monotonic() + 30
    while not (ledger_dir / STORE_NAME).exists():
        assert time.monotonic() < deadline, f"{plan} never came: no store"
        time.sleep(0.001)
    with open_store(None, ledger_dir) as store:
        while True:
            runs = store.runs()
            if sum(map(REACHED[plan.phase], runs.values())) >= plan.count:
                break
            if not still_running():
                ended = Counter(run["status"] for run in store.runs().values())
                raise AssertionError(f"the sweep ended ({dict(ended)}) before the kill {plan}")
            assert time.monotonic() < deadline, f"{plan} never came"
            time.sleep(0.001)
    time.sleep(plan.delay_s)
    if plan.phase == "downloading":  # land inside a download when one is under way
        videos, until = ledger_dir / "videos", time.monotonic() + 0.5
        while not any(videos.glob("*" + PART_SUFFIX)) and time.monotonic() < until:
            time.sleep(0.0005)
    os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_kill_9_twenty_times_resume_accounts_for_every_cell(
    fork_server: ForkServer, external_sim: ExternalSim, clip: str, tmp_path: Path
) -> None:
    """20 kill -9 at seeded instants in every phase; resume or re-sweep: one task per cell."""
    # An uninterrupted sweep first: the same checks hold (and the shared rendering is made).
    started = time.monotonic()
    before = set(external_sim.tasks())
    pid = fork_server.start(do="sweep", workdir=str(tmp_path / "whole"), clip=clip)
    assert fork_server.wait(pid, 120) == 0
    assert check_round(tmp_path / "whole", external_sim, before)["completed"] == len(CELLS)
    warm_s = time.monotonic() - started

    rng = random.Random(KILL_SEED)
    totals: Counter[str] = Counter()
    rows = []
    started = time.monotonic()
    for round_no in range(KILL_ROUNDS):
        t0 = time.monotonic()
        plan = KillPlan.draw(rng, PHASES[round_no % len(PHASES)])
        recover = ("resume", "sweep")[round_no % 2]
        workdir = tmp_path / f"round-{round_no:02d}"
        before = set(external_sim.tasks())
        uploads = len(external_sim.state()["uploads"])
        pid = fork_server.start(do="sweep", workdir=str(workdir), clip=clip)
        kill_when(workdir, plan, pid, functools.partial(fork_server.running, pid))
        code = fork_server.wait(pid, 10)
        assert code == -signal.SIGKILL, f"round {round_no}: the worker ended with {code}"
        at_kill = stored_runs(workdir)
        statuses = Counter(run["status"] for run in at_kill.values())
        parts = len(list((workdir / "videos").glob("*" + PART_SUFFIX)))

        pid = fork_server.start(do=recover, workdir=str(workdir), clip=clip)
        assert fork_server.wait(pid, 120) == 0, f"round {round_no}: recovery failed"
        # fx.resume() knows only the cells recorded before the kill; the sweep call knows all.
        every_cell = recover == "sweep" or len(at_kill) == len(CELLS)
        facts = check_round(workdir, external_sim, before, every_cell=every_cell)
        accounted = ("completed", "unknown_created", "unknown_not_created", "unrecorded")
        assert sum(facts[name] for name in accounted) == len(CELLS)
        totals.update(facts)
        totals[f"phase:{observed_phase(at_kill)}"] += 1
        totals["orphaned_parts"] += parts
        # Uploads are free; one cut short by the kill is simply made again.
        uploads = len(external_sim.state()["uploads"]) - uploads
        totals["uploads"] += uploads
        rows.append(
            f"{round_no:2d} {plan.phase:11s} k={plan.count:2d} -> {recover:6s} "
            f"{dict(statuses)} parts={parts} uploads={uploads} {dict(facts)} "
            f"{time.monotonic() - t0:.1f}s"
        )
    elapsed_s = time.monotonic() - started
    print(f"\nwarm-up sweep {warm_s:.1f} s; {KILL_ROUNDS} kill rounds {elapsed_s:.1f} s")
    print("\n".join(rows))
    print(dict(totals))


WRITER = """
import sys, time
from pathlib import Path
from foxnb._files import AtomicWriter
writer = AtomicWriter(Path(sys.argv[1])).__enter__()
writer.write(b"x" * 4096)
print("WRITING", flush=True)
time.sleep(60)
"""


def test_partial_file_is_removed_only_once_its_writer_is_gone(tmp_path: Path) -> None:
    """A .part file stays while its writer lives (or on another machine), goes once it is killed."""
    dest = tmp_path / "videos" / "r1.mp4"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(dest)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "WRITING"
    (part,) = dest.parent.glob("*" + PART_SUFFIX)
    assert part.name == f"r1.mp4.{writer.pid}@{socket.gethostname()}{PART_SUFFIX}"
    elsewhere = dest.parent / f"r2.mp4.{writer.pid}@another-machine{PART_SUFFIX}"
    elsewhere.write_bytes(b"")
    assert remove_stale_parts(dest.parent) == [] and part.exists()  # still being written
    writer.kill()
    writer.wait()
    assert remove_stale_parts(dest.parent) == [part] and not part.exists()
    assert elsewhere.exists()  # its writer may be alive on the machine that made it


# ---------------------------------------------------------------------------- a killed chain


def chain_reached(workdir: Path, moment: str) -> bool:
    """Whether the chain in ``workdir`` got to ``moment`` (judged from its store)."""
    if not (workdir / STORE_NAME).exists():
        return False
    runs = list(stored_runs(workdir).values())
    first = [run for run in runs if run.get("hop") == 1]
    second = [run for run in runs if run.get("hop") == 2]
    if moment == "hop1_scored":  # between hops: hop 1 done, hop 2 about to be recorded
        return len(first) == CHAIN["best_of"] and all(run.get("scored_at") for run in first)
    # Both of hop 2's runs created: no create request in flight.
    return len(second) == CHAIN["best_of"] and all(run.get("task_id") for run in second)


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["hop1_scored", "hop2_created"])
def test_kill_9_mid_chain_then_resume_finishes_it_without_duplicates(
    moment: str, fork_server: ForkServer, external_sim: ExternalSim, clip: str, tmp_path: Path
) -> None:
    """kill -9 between hops, or while hop 2's runs are being made; fx.resume() in a new
    process finishes the chain: every candidate recorded once, at most one task each, every
    hop chosen. (A create request in flight at the kill ends submission_unknown, never
    resent; the hop goes on with its other candidate.)"""
    workdir = tmp_path / "chain"
    before = set(external_sim.tasks())
    pid = fork_server.start(do="chain", workdir=str(workdir), clip=clip)
    deadline = time.monotonic() + 60
    while not chain_reached(workdir, moment):
        assert fork_server.running(pid), "the chain ended before the kill"
        assert time.monotonic() < deadline, f"the chain never reached {moment}"
        time.sleep(0.002)
    os.kill(pid, signal.SIGKILL)
    assert fork_server.wait(pid, 10) == -signal.SIGKILL
    at_kill = Counter((run.get("hop"), run["status"]) for run in stored_runs(workdir).values())

    pid = fork_server.start(do="chain-resume", workdir=str(workdir))
    assert fork_server.wait(pid, 180) == 0, "the resumed chain did not finish"
    runs = [r for r in stored_runs(workdir).values() if r.get("experiment") == CHAIN["name"]]
    tasks = {tid: t for tid, t in external_sim.tasks().items() if tid not in before}
    per_key = Counter((t["params"]["prompt"], t["params"]["seed"]) for t in tasks.values())
    assert max(per_key.values()) == 1, f"a candidate was created twice: {per_key}"
    slots = Counter((run["hop"], run["candidate"]) for run in runs)
    assert sorted(slots) == [(h, c) for h in (1, 2, 3) for c in (1, 2)]
    assert max(slots.values()) == 1, f"a candidate was recorded twice: {slots}"
    statuses = Counter(run["status"] for run in runs)
    assert set(statuses) <= {"completed", "submission_unknown"}, statuses
    assert statuses["completed"] <= len(tasks) <= len(runs)
    assert all(run.get("scored_at") for run in runs if run["status"] == "completed")
    spec = json.loads(next((workdir / "chains").glob("*.json")).read_text())
    assert spec["state"] == "done" and spec["reason"] is None
    if moment == "hop2_created":  # nothing was in flight: every candidate completes
        assert statuses == {"completed": 6} and len(tasks) == 6
    print(f"\nchain killed at {moment} {dict(at_kill)}; resumed: {len(tasks)} tasks, {statuses}")


# ---------------------------------------------------------------------------- a killed kernel


def grid_source() -> str:
    """The sweep call a notebook cell makes, with the grid written out."""
    axes = ", ".join(f"{name}={values!r}" for name, values in GRID.items())
    return f"sweep = fx.sweep(CLIP, name={NAME!r}, {axes})"


@contextlib.contextmanager
def kernel(folder: Path, env: dict[str, str]) -> Iterator[tuple[Any, Any]]:
    """A real ipykernel working in ``folder``; shut down (if still alive) on exit."""
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(folder), env=env)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def run_cell(client: Any, code: str, timeout_s: float = 60) -> str:
    """Execute ``code`` in the kernel; return what it printed (fail on an error)."""
    out: list[str] = []

    def collect(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(msg["content"]["traceback"]))

    reply = client.execute_interactive(code, timeout=timeout_s, output_hook=collect)
    assert reply["content"]["status"] == "ok", "".join(out)
    return "".join(out)


KERNEL_ROUNDS = [  # (when to kill, how the new kernel recovers)
    ("running", "resume"),  # every cell sent and running: the done-criterion
    ("creating", "sweep"),
    ("downloading", "resume"),
]


@pytest.mark.slow
@pytest.mark.parametrize("round_no", range(len(KERNEL_ROUNDS)))
def test_kernel_killed_mid_sweep_then_resume_finishes_each_cell_once(
    round_no: int,
    external_sim: ExternalSim,
    clip: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kernel SIGKILLed mid-sweep; a new kernel's fx.resume() (or sweep) ends every cell once."""
    for name in ("RUNTIME", "DATA", "CONFIG"):
        monkeypatch.setenv(f"JUPYTER_{name}_DIR", str(tmp_path / f"jupyter-{name.lower()}"))
    folder = tmp_path / "notebook"
    folder.mkdir()
    runs_dir = folder / "foxnb-runs"
    phase, recover = KERNEL_ROUNDS[round_no]
    rng = random.Random(KILL_SEED + round_no)
    if phase == "running":
        plan = KillPlan("polling", len(CELLS), rng.uniform(0.0, 0.3))
    else:
        plan = KillPlan.draw(rng, phase)
    env = external_sim.env()
    before = set(external_sim.tasks())
    start = f"import foxnb\nCLIP = {clip!r}\nfx = foxnb.connect(rate_per_s={RATE_PER_S})\n"
    with kernel(folder, env) as (manager, client):
        shown = run_cell(client, start + grid_source() + "\nprint(fx.backend, len(sweep.jobs))")
        assert shown.splitlines()[-1] == f"sim {len(CELLS)}"
        pid = manager.provisioner.pid
        kill_when(runs_dir, plan, pid, manager.is_alive)
        deadline = time.monotonic() + 10
        while manager.is_alive():
            assert time.monotonic() < deadline, "the kernel survived SIGKILL"
            time.sleep(0.05)
    at_kill = Counter(run["status"] for run in stored_runs(runs_dir).values())

    if recover == "resume":
        again = (
            "jobs = fx.resume()\nfor job in jobs:\n    try:\n        job.wait(60)\n"
            "    except foxnb.FoxError:\n        pass\nprint(len(jobs))"
        )
    else:
        again = grid_source() + "\nsweep.wait(60)\nprint(len(sweep.jobs))"
    with kernel(folder, env) as (_, client):
        run_cell(client, start + again, timeout_s=120)
    facts = check_round(runs_dir, external_sim, before)
    print(f"\nkernel kill at {plan} ({dict(at_kill)}), {recover}: {dict(facts)}")
    if phase == "running":  # no create was in flight: every cell completes, once
        assert facts["completed"] == len(CELLS)


# ---------------------------------------------------------------------------- a full disk


@contextlib.contextmanager
def small_tmpfs(where: Path, size_kib: int) -> Iterator[bool]:
    """Mount a ``size_kib`` tmpfs at ``where``; yields False when mounting is not permitted."""
    where.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(where)]
    if subprocess.run(mount, capture_output=True, check=False).returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", str(where)], check=True)


TMPFS_KIB = 2048
FREE_KIB = 288
"""Room left on the small disk: enough for the runs store (SQLite appends a few 4 KiB pages to
its write-ahead log per commit: ~200 KiB for one run), not for the ~740 KiB result."""


@pytest.mark.parametrize("limit", ["tmpfs", "file_size_limit"])
def test_disk_full_while_saving_then_resume_downloads_again(
    limit: str, sim: Simulator, clip: str, tmp_path: Path
) -> None:
    """A full disk (a real small tmpfs) or a file size limit: a clear download_failed, no partial
    file, the store intact; once there is room, fx.resume() saves the video without a new task."""
    env = {**os.environ, "FOXAPI_API_KEY": sim.api_key, "FOXAPI_BASE_URL": sim.url}
    with small_tmpfs(tmp_path / "disk", TMPFS_KIB) as mounted:
        workdir = tmp_path / "disk" / "runs"
        args = [sys.executable, str(WORKER), "disk-full", str(workdir), clip]
        if limit == "tmpfs" and mounted:
            ballast = tmp_path / "disk" / "ballast"
            ballast.write_bytes(b"\0" * (TMPFS_KIB - FREE_KIB) * 1024)
            args += ["--ballast", str(ballast)]
        else:
            if limit == "tmpfs":
                print("mounting a tmpfs is not permitted here: a file size limit stands in")
            args += ["--fsize-limit", str(FREE_KIB * 1024)]
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout.splitlines()[-1])
        run = stored_runs(workdir).get(report["run_id"])

    failed = report["failed"]
    dest = workdir / "videos" / f"{report['run_id']}.mp4"
    assert failed["status"] == "download_failed" and failed["files"] == []
    if "--ballast" in args:
        assert failed["code"] == "disk_full"
        assert failed["message"].startswith(f"no space left on the device while saving {dest}")
    else:
        assert failed["code"] == "write_failed"
        assert failed["message"].startswith(f"could not save {dest}: File too large")
    assert failed["message"].endswith("call fx.resume() to download it again")
    assert failed["ledger"] == {
        "status": "download_failed",
        "error_code": failed["code"],
        "error_message": failed["message"],
    }
    assert report["resumed"] == [report["run_id"]]
    assert run is not None and run["status"] == "completed"
    assert report["files"] == [dest.name] and run["size_bytes"] > FREE_KIB * 1024
    assert report["sha256"] == run["sha256"]
    (task,) = sim.backend.tasks()
    assert task.id == run["task_id"] and sim.backend.requests["create"] == 1
    assert task.outcome is not None and task.outcome.output is not None
    assert sha256_file(tmp_path / "sim-state" / task.outcome.output) == run["sha256"]


def test_blocking_client_reports_an_unwritable_result_path(
    sim: Simulator, clip: str, tmp_path: Path
) -> None:
    """The blocking Client's download maps a disk error to DownloadError, leaving nothing."""
    blocked = tmp_path / "a-file"
    blocked.write_bytes(b"")  # a file where the videos folder should be
    with foxnb.Client(api_key=sim.api_key, base_url=sim.url) as client:
        up = client.upload(clip)
        task = client.create_task(foxnb.ExtendRequest(prompt="pan", video=up.url, seed=1))
        done = client.wait(task, timeout_s=60)
        with pytest.raises(foxnb.DownloadError) as info:
            client.download(done.result_urls[0], blocked / "out.mp4")
    assert info.value.code == "write_failed"
    assert str(info.value).startswith(f"could not save {blocked / 'out.mp4'}: File exists")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "sim-state"]
