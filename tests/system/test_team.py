"""A team's runs store, end to end, on SQLite and on PostgreSQL: guards across writers, results
another machine saved, sweeps from a shell, and an old ledger folder.

- a sweep's budget, ``stop_submitting()`` and a 402 hold for every worker carrying its cells;
- ``fx.fetch()`` gets a copy of a video this machine cannot read (its worker saved it
  elsewhere) from the service, and says plainly when the service no longer has it;
- ``foxnb sweep spec.toml --record-only`` records a sweep (and uploads its clip) for
  ``foxnb worker`` processes, which need not have the clip;
- an old ``runs.jsonl`` folder migrates losslessly through ``foxnb.connect()``.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from old_ledger import Ledger
from support import wait_for
from writers import Writer, account, grid_cells, sim_env, team_simulator

import foxnb
from foxnb.errors import FoxnbWarning
from foxnb.runtime.store import LEDGER_NAME, open_store
from foxnb.runtime.store.jsonl import ledger_merge, parse_events
from foxnb.sim import Simulator

pytestmark = pytest.mark.slow
PRICE = 100  # credits of one veo-3.1-extend task on the simulator


@pytest.fixture(scope="module")
def team_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """Jobs of 1–2 s; one shared rendering serves every task."""
    with team_simulator(tmp_path_factory.mktemp("team-sim"), speed=60) as sim:
        yield sim


def grid(cells: int) -> tuple[str, dict[str, list[Any]]]:
    token = uuid.uuid4().hex[:8]
    return f"team-{token}", {"prompt": [f"Take ({token})"], "seed": list(range(cells))}


def notebook(sim: Simulator, store: str, tmp_path: Path, who: str = "nb") -> foxnb.Session:
    return foxnb.connect(simulator=sim, workdir=tmp_path / who, store=store, quiet=True)


def worker(sim: Simulator, store: str, tmp_path: Path, who: str, name: str, *extra: str) -> Writer:
    command = [
        *(sys.executable, "-m", "foxnb", "--workdir", str(tmp_path / who), "--store", store),
        *("worker", "--experiment", name, "--quiet", "--rate-per-s", "200", *extra),
    ]
    return Writer(command, sim_env(sim), tmp_path / f"{who}.log")


def statuses(store: str, tmp_path: Path, name: str) -> Counter[tuple[str, str | None]]:
    with open_store(store, tmp_path / "reader") as opened:
        runs = [r for r in opened.runs().values() if r.get("experiment") == name]
    return Counter((r["status"], r.get("error_code")) for r in runs)


def test_a_budget_holds_across_two_workers(
    team_sim: Simulator, store_spec: str, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """450 credits at 100 a task: four tasks in all, however the two workers race."""
    name, cells = grid(10)
    fx = notebook(team_sim, store_spec, tmp_path)
    fx.sweep(clips["landscape"], name=name, launch=False, budget_credits=450, **cells)
    workers = [worker(team_sim, store_spec, tmp_path, f"w{n}", name) for n in range(2)]
    for each in workers:
        each.result()
    result = account(team_sim, store_spec, tmp_path, name, grid_cells(cells))
    assert result.duplicates == 0 and result.unrecorded == []
    assert sum(result.tasks_per_cell.values()) == 4
    assert statuses(store_spec, tmp_path, name) == {
        ("completed", None): 4,
        ("not_submitted", "budget"): 6,
    }
    state = fx.store.experiment(name, time.time(), "sim")
    assert state.spent_credits == 4 * PRICE and state.stop_code == "budget"
    fx.close()


def test_stop_submitting_in_a_notebook_stops_the_workers(
    team_sim: Simulator, store_spec: str, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """Workers carry a sweep the notebook recorded; its stop_submitting() stops them all:
    cells not yet sent end not_submitted, the sent ones complete, nothing is sent twice."""
    name, cells = grid(30)
    fx = notebook(team_sim, store_spec, tmp_path)
    sweep = fx.sweep(clips["landscape"], name=name, launch=False, **cells)
    assert isinstance(sweep, foxnb.Sweep)
    slow = ("--rate-per-s", "3")  # a few creates a second: the stop lands mid-sweep
    workers = [worker(team_sim, store_spec, tmp_path, f"w{n}", name, *slow) for n in range(2)]
    prompt = cells["prompt"][0]
    wait_for(
        lambda: sum(1 for t in team_sim.backend.tasks() if t.params.prompt == prompt) >= 2,
        60,
        what="the workers to send a cell",
        every_s=0.02,
    )
    unsent = sweep.stop_submitting()
    for each in workers:
        each.result()
    result = account(team_sim, store_spec, tmp_path, name, grid_cells(cells))
    assert result.duplicates == 0 and result.unrecorded == []
    ended = statuses(store_spec, tmp_path, name)
    created = sum(result.tasks_per_cell.values())
    assert ended == {("completed", None): created, ("not_submitted", "sweep_stopped"): unsent}
    assert 2 <= created <= 30 - 10 and sweep.stopped == "you called stop_submitting()"
    fx.close()


def test_a_402_stops_every_worker(store_spec: str, tmp_path: Path, clips: dict[str, Path]) -> None:
    """The account runs dry after three tasks: the first 402 stops the experiment for both
    workers; a few creates already in flight may meet a 402 too, none is sent after."""
    name, cells = grid(12)
    with team_simulator(tmp_path / "poor", speed=60, balance_credits=3 * PRICE + 50) as poor:
        fx = notebook(poor, store_spec, tmp_path)
        fx.sweep(clips["landscape"], name=name, launch=False, **cells)
        workers = [worker(poor, store_spec, tmp_path, f"w{n}", name) for n in range(2)]
        for each in workers:
            each.result()
        assert poor.backend.task_count == 3
        refused_402 = poor.backend.requests["create"] - 3
        state = fx.store.experiment(name, time.time(), "sim")
        fx.close()
    ended = statuses(store_spec, tmp_path, name)
    assert ended[("completed", None)] == 3
    assert ended[("not_submitted", "sweep_stopped")] == 12 - 3 - refused_402
    assert 1 <= refused_402 <= 2 * 4  # at most the creates each worker had in flight
    assert state.stopped is not None and "InsufficientCreditsError" in state.stopped


def test_fetch_gets_a_video_saved_on_another_machine(
    team_sim: Simulator,
    store_spec: str,
    tmp_path: Path,
    clips: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run completed "elsewhere" (another host name, another videos folder); its file is not
    here. fx.fetch() downloads it again through a fresh link and checks its sha256; reuse
    trusts it; once the service no longer has the task, fetch says so plainly."""
    prompt = f"Kept elsewhere ({uuid.uuid4().hex[:8]})"
    monkeypatch.setenv("FOXNB_HOST", "elsewhere")
    there = notebook(team_sim, store_spec, tmp_path, "there")
    job = there.extend(prompt, clips["landscape"], seed=5).wait(60)
    there.close()
    monkeypatch.delenv("FOXNB_HOST")
    assert job.video_path is not None
    recorded = there.store.get(job.run_id) or {}
    assert recorded["video_host"] == "elsewhere" and recorded["sha256"] == job.sha256
    job.video_path.unlink()  # this machine cannot read it

    here = notebook(team_sim, store_spec, tmp_path, "here")
    local = here.fetch(job.run_id)
    path = Path(local.loc[0, "video_path"])
    assert path.parent == here.tracker.videos_dir and path.is_file()
    assert foxnb._files.sha256_file(path) == job.sha256
    downloads = team_sim.backend.requests["download"]
    runs = here.runs(all=True)
    assert here.fetch(runs[runs.run_id == job.run_id]).loc[0, "video_path"] == str(path)
    assert team_sim.backend.requests["download"] == downloads  # already here: no download
    tasks = team_sim.backend.task_count
    again = here.extend(prompt, clips["landscape"], seed=5)  # the same seeded request
    assert again.wait(60).state.reused_from == job.run_id and team_sim.backend.task_count == tasks
    here.close()

    with Simulator(speed=60, upstream_lag_s=0.0) as forgetful:  # knows none of those tasks
        later = notebook(forgetful, store_spec, tmp_path, "later")
        path.unlink()
        with pytest.warns(FoxnbWarning, match="no longer knows task .* cannot be fetched here"):
            gone = later.fetch(job.run_id)
        assert gone.loc[0, "video_path"] is None
        later.close()


def test_a_sweep_from_a_shell_for_workers_without_the_clip(
    team_sim: Simulator, store_spec: str, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """foxnb sweep spec.toml --record-only uploads the clip and records its link; a worker
    whose machine lacks the clip sends that link. The same spec again records nothing new."""
    token = uuid.uuid4().hex[:8]
    folder = tmp_path / "spec"
    folder.mkdir()
    shutil.copy(clips["landscape"], folder / "clip.mp4")
    (folder / "spec.toml").write_text(
        f'name = "shell-{token}"\nvideo = "clip.mp4"\n'
        f'prompt = ["Dusk ({token})", "Storm ({token})"]\nseed = [1, 2]\n'
        "budget_credits = 1000\n"
    )
    base = [sys.executable, "-m", "foxnb", "--workdir", str(tmp_path / "shell"), "--store"]
    record = [*base, store_spec, "sweep", str(folder / "spec.toml"), "--record-only"]
    for _ in range(2):
        recorded = Writer(record, sim_env(team_sim), tmp_path / "record.log")
        recorded.result()
        assert any("recorded sweep" in line and "4 cells" in line for line in recorded.seen)
    (folder / "clip.mp4").unlink()  # the workers' machine does not have it
    worker(team_sim, store_spec, tmp_path, "w", f"shell-{token}").result()
    with open_store(store_spec, tmp_path / "reader") as opened:
        runs = [r for r in opened.runs().values() if r.get("experiment") == f"shell-{token}"]
        budget = opened.experiment(f"shell-{token}", time.time()).budget_credits
    assert len(runs) == 4 and {r["status"] for r in runs} == {"completed"}
    assert len({r["video_url"] for r in runs}) == 1 and budget == 1000
    prompts = {t.params.prompt for t in team_sim.backend.tasks() if token in t.params.prompt}
    assert len(prompts) == 2


def test_a_bad_spec_is_refused_before_anything_is_recorded(tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text('video = "clip.mp4"\nprompt = "x"\n')
    command = [sys.executable, "-m", "foxnb", "--workdir", str(tmp_path / "w"), "sweep", str(spec)]
    import subprocess

    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "name" in done.stderr and "is required" in done.stderr
    assert not (tmp_path / "w").exists()  # refused before connecting: nothing recorded


def test_an_old_ledger_folder_migrates_through_connect(
    team_sim: Simulator, store_spec: str, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A work folder of an older foxnb (runs.jsonl, a torn last line): connect() imports it into
    the store, losslessly, keeps the file as runs.jsonl.bak; its queued run is sent once."""
    folder = tmp_path / "old"
    ledger = Ledger(folder)
    base = {"backend": "sim", "host": "127.0.0.1:1", "model": "veo-3.1-extend"}
    base |= {"aspect_ratio": "16:9", "generate_audio": True}
    ledger.append("r-done", 1.0, status="completed", prompt="a", seed=2**63, custom={"k": 1})
    ledger.append("r-done", 2.0, task_id="task-old", credits=100, **base)
    sha = foxnb._files.sha256_file(clips["landscape"])
    ledger.append(
        "r-queued", 3.0, status="queued", prompt="b", video=str(clips["landscape"]),
        input_sha256=sha, **base,
    )  # fmt: skip
    with open(folder / LEDGER_NAME, "ab") as handle:
        handle.write(b'{"run_id": "r-done", "status": "fail')  # a crash mid-write
    expected = ledger_merge(parse_events((folder / LEDGER_NAME).read_bytes()))
    fx = foxnb.connect(simulator=team_sim, workdir=folder, store=store_spec, quiet=True)
    assert fx.store.runs() == {k: v for k, v in expected.items()}
    assert not (folder / LEDGER_NAME).exists() and (folder / (LEDGER_NAME + ".bak")).exists()
    assert fx.runs(all=True).set_index("run_id").loc["r-done", "seed"] == 2**63
    jobs = fx.resume()
    assert [job.run_id for job in jobs] == ["r-queued"] and jobs[0].wait(60).status == "completed"
    assert fx.resume() == []
    fx.close()
    again = foxnb.connect(simulator=team_sim, workdir=folder, store=store_spec, quiet=True)
    assert len(again.store.runs()) == 2  # nothing imported twice
    assert json.loads(json.dumps(again.store.get("r-done")))["custom"] == {"k": 1}
    again.close()
