"""The writer thread between a session and its runs store (``StoreLink``), on a real SQLite file;
the turns a process's cells take to ask the store (``Turns``); sweep spec files; the owner's
host name; where the command line's store options may stand."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from foxnb.cli import build_parser
from foxnb.config import owner_host
from foxnb.errors import StoreError, ValidationError
from foxnb.experiments.sweep_spec import load_spec
from foxnb.runtime.link import StoreLink
from foxnb.runtime.sending import Turns
from foxnb.runtime.store import Owner, RunStore, open_store


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with open_store(None, tmp_path) as opened:
        yield opened


def counting(store: RunStore) -> list[int]:
    """Count the store's commits (the list's one element)."""
    commits = [0]
    commit = store.commit

    def counted(*args: Any, **kwargs: Any) -> None:
        commits[0] += 1
        commit(*args, **kwargs)

    store.commit = counted  # type: ignore[method-assign]
    return commits


def test_queued_appends_are_written_in_order_in_few_commits(store: RunStore) -> None:
    """2,000 events queued while the thread is busy: all written, in order, in a few commits."""
    commits = counting(store)
    link = StoreLink(store, Owner.here("s"), lease_s=30)
    busy = threading.Event()
    link.submit(busy.wait, 10)  # holds the thread until released
    link.create(("r1", 1.0, {"status": "queued"}))
    for index in range(2000):
        link.append("r1", {"progress": index % 100, "n": index})
    busy.set()
    link.flush_blocking()
    events = [e["n"] for e in store.events() if "n" in e]
    assert events == list(range(2000)) and commits[0] <= 2
    assert store.get("r1")["n"] == 1999  # type: ignore[index]
    assert store.peek(["r1"])["r1"].owner == str(link.owner)  # created held by its session
    link.close()
    assert store.peek(["r1"])["r1"].owner is None  # closing gives every run up


def test_writes_the_store_refuses_wait_and_are_tried_again(store: RunStore) -> None:
    """A store that refuses twice (unreachable, disk full): the events wait, then land."""
    commit = store.commit
    refusals = [2]

    def flaky(*args: Any, **kwargs: Any) -> None:
        if refusals[0]:
            refusals[0] -= 1
            raise StoreError("the server is restarting")
        commit(*args, **kwargs)

    store.commit = flaky  # type: ignore[method-assign]
    link = StoreLink(store, Owner.here("s"), lease_s=30)
    link.append("r1", {"task_id": "t1"})
    assert link.flush_blocking(5.0) and refusals == [0]
    assert store.task_ids("r1") == ["t1"]
    link.close()


def test_a_run_taken_over_is_reported_lost_a_new_one_is_not(store: RunStore) -> None:
    """Renewals notice a run another owner took (its lease had lapsed); a run created while a
    renewal ran is not mistaken for lost."""
    lost: list[set[str]] = []
    link = StoreLink(store, Owner.here("mine"), lease_s=0.3, on_lost=lost.append)
    store.append("r1", 1.0, status="queued")
    assert store.claim("r1", link.owner, 0.3, time.time()).ok
    link.hold(["r1"])
    for index in range(50):  # new runs keep appearing while renewals go on
        link.create((f"n{index}", time.time(), {"status": "queued"}))
        time.sleep(0.002)
    link.flush_blocking()
    other = Owner("elsewhere", 1, "thief")
    deadline = time.monotonic() + 5
    while not store.claim("r1", other, 60, time.time() + 1.0).ok:  # after the lease lapses
        assert time.monotonic() < deadline
        time.sleep(0.05)
    deadline = time.monotonic() + 5
    while not lost:
        assert time.monotonic() < deadline, "the loss was never noticed"
        time.sleep(0.02)
    assert lost == [{"r1"}] and "r1" not in link.held()
    link.close()


def test_turns_let_a_few_ask_at_once_in_order() -> None:
    """At most ``limit`` holders; the others wait their turn in arrival order; a cancelled
    waiter leaves the line; a poke wakes those pausing at once."""

    async def scenario() -> None:
        turns = Turns(limit=2)
        order: list[int] = []
        holding = 0
        most = 0
        release = asyncio.Event()

        async def cell(index: int) -> None:
            nonlocal holding, most
            async with turns.turn():
                holding += 1
                most = max(most, holding)
                order.append(index)
                await release.wait()
                holding -= 1

        tasks = [asyncio.create_task(cell(i)) for i in range(6)]
        await asyncio.sleep(0.01)
        assert order == [0, 1]
        tasks[3].cancel()  # leaves the line without taking a turn
        release.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert most == 2 and order == [0, 1, 2, 4, 5]
        started = time.monotonic()
        pausing = asyncio.create_task(turns.pause(50))  # would wait the longest pause
        await asyncio.sleep(0.01)
        turns.poke()
        await pausing
        assert time.monotonic() - started < 5  # woken, not the 50 s pause

    asyncio.run(scenario())


def test_a_sweep_spec_is_fx_sweep_fields(tmp_path: Path) -> None:
    spec = tmp_path / "specs" / "dusk.toml"
    spec.parent.mkdir()
    spec.write_text(
        'name = "dusk"\nvideo = "../clips/a.mp4"\nprompt = ["a", "b"]\nseed = [1, 2]\n'
        "budget_credits = 500\n"
    )
    loaded = load_spec(spec)
    assert loaded["video"] == str(spec.parent / "../clips/a.mp4")
    assert loaded["prompt"] == ["a", "b"] and loaded["budget_credits"] == 500
    spec.write_text('name = "x"\nvideo = "https://example.com/a.mp4"\nprompt = "p"\n')
    assert load_spec(spec)["video"] == "https://example.com/a.mp4"
    spec.write_text("name = [\n")
    with pytest.raises(ValidationError, match="not valid TOML"):
        load_spec(spec)
    spec.write_text('name = "x"\n')
    with pytest.raises(ValidationError, match="video: is required"):
        load_spec(spec)
    with pytest.raises(ValidationError, match="no file at"):
        load_spec(tmp_path / "missing.toml")


def test_the_owner_host_can_be_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """FOXNB_HOST names this machine in the store (owners are host:pid:session)."""
    monkeypatch.setenv("FOXNB_HOST", "lab:gpu-1")
    assert owner_host() == "lab_gpu-1"
    assert Owner.parse(str(Owner(owner_host(), 12, "s"))) == Owner("lab_gpu-1", 12, "s")
    monkeypatch.delenv("FOXNB_HOST")
    assert owner_host()


@pytest.mark.parametrize("command", [["worker"], ["runs"], ["resume"], ["sweep", "s.toml"]])
def test_store_options_stand_before_or_after_the_command(command: list[str]) -> None:
    """``foxnb worker --store URL`` as the docs write it, and ``foxnb --store URL worker``."""
    parse = build_parser().parse_args
    url = "postgresql://lab/runs"
    after = parse([*command, "--store", url, "--workdir", "w", "--videos", "v"])
    before = parse(["--store", url, "--workdir", "w", "--videos", "v", *command])
    assert (after.store, after.workdir, after.videos) == (url, "w", "v")
    assert (before.store, before.workdir, before.videos) == (url, "w", "v")
    plain = parse(command)
    assert (plain.store, plain.workdir, plain.videos) == (None, "foxnb-runs", None)
    assert parse(["--store", "a.db", *command, "--store", "b.db"]).store == "b.db"
