"""Many processes on one runs store, on SQLite and PostgreSQL: nothing is ever sent twice.

Each test starts real processes (forked, each opening its own store connection), lines them up
on a barrier so they race for real, and checks what the store recorded afterwards.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import random
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from foxnb.runtime.store import Owner, SendRule, open_store
from foxnb.runtime.store.sql import SEND_LOCK

CTX = multiprocessing.get_context("fork")
pytestmark = pytest.mark.slow


def _run_processes(target: Callable[..., None], count: int, *args: Any) -> None:
    """Run ``target(barrier, who, *args)`` in ``count`` processes; all must exit 0."""
    barrier = CTX.Barrier(count)
    procs = [CTX.Process(target=target, args=(barrier, who, *args)) for who in range(count)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(300)
    assert [p.exitcode for p in procs] == [0] * count


def _save(out: Path, who: int, value: Any) -> None:
    (out / f"{who}.json").write_text(json.dumps(value))


def _load(out: Path, count: int) -> list[Any]:
    return [json.loads((out / f"{who}.json").read_text()) for who in range(count)]


# ---- 4 processes × 500 runs racing to send ---------------------------------------------
def _race(barrier: Any, who: int, spec: str, work: Path, ids: list[str], out: Path) -> None:
    store = open_store(spec, work)
    me = Owner.here(f"racer{who}")
    order = list(ids)
    random.Random(who).shuffle(order)
    sends, claims = [], 0
    barrier.wait()
    for run_id in order:
        if not store.claim(run_id, me, 30, time.time()).ok:
            continue
        claims += 1
        if store.begin_send(run_id, me, time.time(), {"create_sent_at": time.time()}).action == (
            "send"
        ):
            sends.append(run_id)
            store.append(run_id, time.time(), status="pending", task_id=f"task-{run_id}-{who}")
        store.release(run_id, me)
    _save(out, who, {"sends": sends, "claims": claims})
    store.close()


def test_four_processes_500_runs_exactly_one_send_each(store_spec: str, tmp_path: Path) -> None:
    """Every process tries every run (claim → begin_send → record the task → release): each
    run gets exactly one ``send``, one task id, and no duplicate flag."""
    ids = [f"run-{i:03d}" for i in range(500)]
    with open_store(store_spec, tmp_path) as store:
        store.append_many([(i, 1.0, {"status": "queued"}) for i in ids])
    _run_processes(_race, 4, store_spec, tmp_path, ids, tmp_path)
    results = _load(tmp_path, 4)
    sends = Counter(run_id for r in results for run_id in r["sends"])
    assert sorted(sends) == ids and set(sends.values()) == {1}
    assert sum(r["claims"] for r in results) > 500  # the race was real: losers claimed too
    with open_store(store_spec, tmp_path) as store:
        runs = store.runs()
        assert all(len(store.task_ids(i)) == 1 for i in ids)
        assert not any(run.get("duplicate_tasks") for run in runs.values())
        assert {run["status"] for run in runs.values()} == {"pending"}


# ---- 4 processes planning the same sweep ----------------------------------------------
def _plan(barrier: Any, who: int, spec: str, work: Path, out: Path) -> None:
    """What fx.sweep does: read the experiment's cells, bind to them or record new ones."""
    store = open_store(spec, work)
    barrier.wait()
    with store.exclusive("sweep-E") as txn:
        existing = {
            run["cell"]: run_id
            for run_id, run in txn.runs().items()
            if run.get("experiment") == "E"
        }
        time.sleep(0.05)  # planning takes a moment: a race without the lock would show
        bound, new = {}, []
        for cell in range(12):
            run_id = existing.get(cell) or f"E-{uuid.uuid4().hex[:8]}"
            bound[cell] = run_id
            if cell not in existing:
                new.append(
                    (run_id, time.time(), {"status": "queued", "experiment": "E", "cell": cell})
                )
        txn.append_many(new)
    _save(out, who, bound)
    store.close()


def test_exclusive_four_processes_plan_one_set_of_cells(store_spec: str, tmp_path: Path) -> None:
    """Four processes running the same 12-cell sweep at once record 12 runs, and all four
    bind to the same ones."""
    _run_processes(_plan, 4, store_spec, tmp_path, tmp_path)
    bindings = _load(tmp_path, 4)
    assert all(b == bindings[0] for b in bindings)
    with open_store(store_spec, tmp_path) as store:
        runs = store.runs()
    assert len(runs) == 12 and sorted(runs) == sorted(bindings[0].values())


# ---- workers taking runs with claim_next ---------------------------------------------
def _worker(barrier: Any, who: int, spec: str, work: Path, out: Path) -> None:
    store = open_store(spec, work)
    me = Owner.here(f"worker{who}")
    done = []
    barrier.wait()
    while (run := store.claim_next(me, 60, time.time())) is not None:
        run_id = run["run_id"]
        assert store.begin_send(run_id, me, time.time(), {}).action == "send"
        store.append(run_id, time.time(), status="pending", task_id=f"task-{run_id}")
        time.sleep(0.002)  # the work: long enough for the others to want a run meanwhile
        store.append(run_id, time.time(), status="completed")
        store.release(run_id, me)
        done.append(run_id)
    _save(out, who, done)
    store.close()


def test_claim_next_hands_distinct_runs_to_four_workers(store_spec: str, tmp_path: Path) -> None:
    """Four workers drain 200 queued runs: each run is taken by exactly one, all complete."""
    ids = [f"cell-{i:03d}" for i in range(200)]
    with open_store(store_spec, tmp_path) as store:
        store.append_many([(i, 1.0, {"status": "queued", "experiment": "E"}) for i in ids])
    _run_processes(_worker, 4, store_spec, tmp_path, tmp_path)
    done = _load(tmp_path, 4)
    taken = Counter(run_id for worker in done for run_id in worker)
    assert sorted(taken) == ids and set(taken.values()) == {1}
    assert sum(1 for worker in done if worker) >= 2  # the work was really shared
    with open_store(store_spec, tmp_path) as store:
        assert {r["status"] for r in store.runs().values()} == {"completed"}


# ---- the send rule across two processes ---------------------------------------------
def _sender(barrier: Any, who: int, spec: str, work: Path, out: Path, mode: str) -> None:
    """Send this process's half of the runs under the rule, as the runner would."""
    store = open_store(spec, work)
    me = Owner.here(f"sender{who}")
    mine = [f"E-{who}-{i}" for i in range(10)]
    for run_id in mine:
        assert store.claim(run_id, me, 300, time.time()).ok
    rule = SendRule("E", budget_credits=10.0 if mode == "budget" else None, max_in_flight=2)
    outcome: dict[str, Any] = {"sent": [], "refused": [], "in_flight_seen": 0}
    barrier.wait()
    for run_id in mine:
        while (decision := store.begin_send(run_id, me, time.time(), {}, rule)).action == "wait":
            time.sleep(0.01)
        if decision.action == "refuse":
            outcome["refused"].append(decision.code)
            store.append(run_id, time.time(), status="not_submitted", error_code=decision.code)
            continue
        assert decision.action == "send"
        outcome["sent"].append(run_id)
        seen = store.experiment("E", time.time()).in_flight
        outcome["in_flight_seen"] = max(outcome["in_flight_seen"], seen)
        time.sleep(0.05)  # the create request
        store.append(run_id, time.time(), status="pending", task_id=f"task-{run_id}")
        if mode == "budget":
            time.sleep(0.02)  # reading the task for its price
            store.append(run_id, time.time(), credits=2.5)
            store.priced(run_id, 2.5)
        if mode == "stop" and who == 0 and len(outcome["sent"]) == 2:
            store.stop_experiment("E", "a create request failed with InsufficientCreditsError")
    _save(out, who, outcome)
    store.close()


@pytest.mark.parametrize("mode", ["budget", "stop"])
def test_send_rule_holds_across_two_processes(store_spec: str, tmp_path: Path, mode: str) -> None:
    """budget: the price is unknown at first (one create at a time until it is read), then
    10 credits at 2.5 each admit exactly 4 creates in all, never more than 2 in flight.
    stop: one process stops the experiment (a 402): the other refuses from then on."""
    with open_store(store_spec, tmp_path) as store:
        store.append_many(
            [
                (f"E-{who}-{i}", 1.0, {"status": "queued", "experiment": "E", "model": "m"})
                for i in range(10)
                for who in range(2)
            ]
        )
    _run_processes(_sender, 2, store_spec, tmp_path, tmp_path, mode)
    outcomes = _load(tmp_path, 2)
    sent = [run_id for o in outcomes for run_id in o["sent"]]
    refused = [code for o in outcomes for code in o["refused"]]
    assert len(sent) + len(refused) == 20
    assert max(o["in_flight_seen"] for o in outcomes) <= 2
    with open_store(store_spec, tmp_path) as store:
        state = store.experiment("E", time.time())
    if mode == "budget":
        assert len(sent) == 4 and set(refused) == {"budget"}
        assert state.spent_credits == 10.0 and state.stop_code == "budget"
    else:
        assert set(refused) == {"sweep_stopped"} and state.stopped is not None
        assert len(outcomes[0]["sent"]) == 2 and len(sent) < 20


def _burst(barrier: Any, who: int, spec: str, work: Path, out: Path, rounds: int) -> None:
    """Each round every process asks at the same instant to send its own run."""
    store = open_store(spec, work)
    me = Owner.here(f"burst{who}")
    rule = SendRule("E", max_in_flight=1)
    sends = []
    for round_ in range(rounds):
        run_id = f"E-{round_}-{who}"
        assert store.claim(run_id, me, 300, time.time()).ok
        barrier.wait()
        if store.begin_send(run_id, me, time.time(), {}, rule).action == "send":
            sends.append(round_)
        barrier.wait()  # everyone has asked; the round's sender finishes its create
        if sends and sends[-1] == round_:
            store.append(run_id, time.time(), status="pending", task_id=f"t-{run_id}")
        barrier.wait()
    _save(out, who, sends)
    store.close()


def test_in_flight_cap_holds_when_four_processes_ask_at_once(
    store_spec: str, tmp_path: Path
) -> None:
    """max_in_flight=1 and four processes asking at the same instant, 15 rounds: exactly one
    send per round (the rule is decided under a per-experiment lock, not per process)."""
    rounds = 15
    with open_store(store_spec, tmp_path) as store:
        store.append_many(
            [
                (f"E-{r}-{who}", 1.0, {"status": "queued", "experiment": "E"})
                for r in range(rounds)
                for who in range(4)
            ]
        )
    _run_processes(_burst, 4, store_spec, tmp_path, tmp_path, rounds)
    per_round = Counter(r for sends in _load(tmp_path, 4) for r in sends)
    assert per_round == {r: 1 for r in range(rounds)}


def _hold(ready: Any, spec: str, work: Path) -> None:
    """A worker that claims 10 runs for an hour, starts 3 creates, then hangs."""
    store = open_store(spec, work)
    me = Owner.here("doomed")
    for i in range(10):
        assert store.claim(f"c{i}", me, 3600, time.time()).ok
    for i in range(3):
        assert store.begin_send(f"c{i}", me, time.time(), {}).action == "send"
    ready.set()
    time.sleep(600)


def test_kill_9_worker_is_taken_over_at_once_without_resending(
    store_spec: str, tmp_path: Path
) -> None:
    """kill -9 a worker holding hour-long leases: another worker on this host takes all its
    runs at once (its pid is gone); the 3 whose create was in flight come back as
    ``submitting`` (to be marked submission_unknown) and can never be sent again."""
    with open_store(store_spec, tmp_path) as store:
        store.append_many([(f"c{i}", 1.0, {"status": "queued"}) for i in range(10)])
    ready = CTX.Event()
    doomed = CTX.Process(target=_hold, args=(ready, store_spec, tmp_path))
    doomed.start()
    assert ready.wait(60)
    doomed.kill()
    doomed.join()
    me = Owner.here("rescuer")
    with open_store(store_spec, tmp_path) as store:
        taken = []
        while (run := store.claim_next(me, 30, time.time())) is not None:
            taken.append(run)
        statuses = Counter(run["status"] for run in taken)
        assert len(taken) == 10 and statuses == {"queued": 7, "submitting": 3}
        decisions = Counter(
            store.begin_send(r["run_id"], me, time.time(), {}).action for r in taken
        )
        assert decisions == {"send": 7, "lost": 3}


@contextlib.contextmanager
def send_being_decided(store_spec: str, experiment: str) -> Iterator[None]:
    """Hold what a begin_send holds while it decides for ``experiment``, until the block ends."""
    if store_spec.startswith("postgresql"):
        import psycopg

        with psycopg.connect(store_spec) as conn:  # commits when the block ends
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (SEND_LOCK, experiment))
            yield
        return
    conn = sqlite3.connect(store_spec, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_a_stop_waits_for_a_send_being_decided(store_spec: str, tmp_path: Path) -> None:
    """stop_submitting() counts the runs still queued once its stop is in the store, as never to
    be sent. A begin_send deciding at that moment holds the experiment's send lock (on SQLite,
    the one write transaction) until it commits; the stop must wait for it, or a run counted
    as unsent is sent after all (seen on PostgreSQL: 25 counted, 24 left unsent)."""
    name = f"stop-{uuid.uuid4().hex[:8]}"
    with open_store(store_spec, tmp_path / "stopper") as store:
        stopping = threading.Thread(target=store.stop_experiment, args=(name, "a test"))
        with send_being_decided(store_spec, name):
            stopping.start()
            stopping.join(1.0)
            assert stopping.is_alive(), "the stop went in while a send was being decided"
        stopping.join(60)
        assert not stopping.is_alive()
        assert store.experiment(name, time.time()).stopped == "a test"
