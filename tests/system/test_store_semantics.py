"""The runs store on a real SQLite file and a real PostgreSQL database: what one process sees.

Every test runs on both backends (``store_spec``). Contention between processes is in
``test_store_contention.py``; migration and export in ``test_store_migration.py``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from old_ledger import Ledger

from foxnb.errors import StoreError
from foxnb.runtime.store import COLUMNS, Owner, RunStore, SendRule, open_store

EVENTS: list[tuple[str, float, dict[str, Any]]] = [
    ("r1", 1.0, {"status": "queued", "prompt": "a", "seed": 1, "tags": ["x"], "custom": {"k": 1}}),
    ("r2", 2.0, {"status": "queued", "prompt": "b", "model": "veo-3.1-extend"}),
    ("r1", 3.0, {"status": "pending", "task_id": "t1", "seed": None}),
    ("r1", 4.0, {"status": "completed", "submitted_at": 1_700_000_000.0, "credits": 2}),
    ("r3", 5.0, {"status": "failed", "generate_audio": True, "size_bytes": 10}),
]


@pytest.fixture
def store(store_spec: str, tmp_path: Path) -> Any:
    with open_store(store_spec, tmp_path / "work") as opened:
        yield opened


def test_runs_merge_exactly_as_the_jsonl_ledger(store: RunStore, tmp_path: Path) -> None:
    """Same events → same runs, same order, same DataFrame as the old ledger."""
    ledger = Ledger(tmp_path / "ledger")
    for run_id, at, fields in EVENTS:
        ledger.append(run_id, at, **fields)
    store.append(*EVENTS[0][:2], **EVENTS[0][2])
    store.append_many(EVENTS[1:])
    assert store.runs() == ledger.runs()
    assert list(store.runs()) == ["r1", "r2", "r3"]
    assert store.get("r1") == ledger.get("r1") and store.get("nope") is None
    pd.testing.assert_frame_equal(store.dataframe(), ledger.dataframe())
    assert list(store.dataframe().columns[: len(COLUMNS)]) == list(COLUMNS)
    assert [e["run_id"] for e in store.events()] == [e[0] for e in EVENTS]


def test_a_second_reader_sees_later_appends(store_spec: str, tmp_path: Path) -> None:
    """Incremental reads: another store object (another kernel) sees each new event, and
    changed runs keep their first-appearance place."""
    with (
        open_store(store_spec, tmp_path / "a") as writer,
        open_store(store_spec, tmp_path) as reader,
    ):
        writer.append("r1", 1.0, status="queued")
        writer.append("r2", 1.0, status="queued")
        assert reader.runs()["r1"]["status"] == "queued"
        writer.append("r1", 2.0, status="completed")
        runs = reader.runs()
        assert list(runs) == ["r1", "r2"] and runs["r1"]["status"] == "completed"
        assert len(reader.dataframe()) == 2


def test_every_task_id_is_kept_and_a_second_one_flagged(store: RunStore) -> None:
    """A run that somehow got two tasks keeps both ids and says so."""
    store.append("r1", 1.0, status="queued")
    store.append("r1", 2.0, task_id="t1", status="pending")
    store.append("r1", 3.0, task_id="t1", status="processing")  # the same id again: fine
    assert store.task_ids("r1") == ["t1"] and "duplicate_tasks" not in store.runs()["r1"]
    store.append("r1", 4.0, task_id="t2")
    store.append("r1", 5.0, duplicate_tasks=False)  # cannot be cleared by a later event
    assert store.task_ids("r1") == ["t1", "t2"]
    assert store.runs()["r1"]["duplicate_tasks"] is True


def test_append_many_is_all_or_nothing(store: RunStore) -> None:
    """A batch that cannot be written leaves no trace."""
    store.append("r0", 1.0, status="queued")
    with pytest.raises(TypeError):
        store.append_many([("r1", 1.0, {"status": "queued"}), ("r2", 1.0, {"bad": object()})])
    assert list(store.runs()) == ["r0"] and len(list(store.events())) == 1


def test_exclusive_commits_on_exit_and_rolls_back_on_error(store: RunStore) -> None:
    """Inside: fresh reads include this transaction's writes; an error undoes them all."""
    store.append("r0", 1.0, status="queued")
    assert list(store.runs()) == ["r0"]  # the cache is warm before the transaction
    with pytest.raises(RuntimeError), store.exclusive("E") as txn:
        txn.append_many([("r1", 1.0, {"status": "queued"})])
        assert list(txn.runs()) == ["r0", "r1"]
        raise RuntimeError("planning failed")
    assert list(store.runs()) == ["r0"]
    with store.exclusive("E") as txn:
        txn.append_many([("r2", 1.0, {"status": "queued"})])
        store.append("r3", 2.0, status="queued")  # the same thread joins the transaction
    assert list(store.runs()) == ["r0", "r2", "r3"]


def test_claims_leases_and_release(store: RunStore) -> None:
    """Unowned → taken; held by a live other → refused; expired → taken over; renew extends
    only what the owner still holds."""
    me, other = Owner.here("me"), Owner.here("other")
    store.append("r1", 1.0, status="queued")
    store.append("r2", 1.0, status="queued")
    assert store.claim("missing", me, 10, 100.0).ok is False
    first = store.claim("r1", me, 10, 100.0)
    assert first.ok and first.previous is None and not first.takeover
    assert first.run is not None and first.run["status"] == "queued"
    refused = store.claim("r1", other, 10, 105.0)
    assert not refused.ok and refused.previous == str(me)
    assert store.claim("r1", me, 10, 105.0).ok  # already ours: renewed
    taken = store.claim("r1", other, 10, 116.0)  # our lease ran to 115
    assert taken.ok and taken.takeover and taken.previous == str(me)
    assert store.renew(me, 10, 117.0) == set()  # lost it: stop working on it
    assert store.claim("r2", me, 10, 117.0).ok
    assert store.renew(me, 10, 120.0) == {"r2"}
    assert not store.claim("r2", other, 10, 129.0).ok  # renewed to 130
    store.release("r2", other)  # not other's: nothing happens
    assert not store.claim("r2", other, 10, 129.0).ok
    store.release("r2", me)
    assert store.claim("r2", other, 10, 129.0).ok


def test_a_dead_process_of_this_host_is_taken_over_at_once(store: RunStore) -> None:
    """kill -9 on this machine: its runs are free although the lease has not expired; a
    process of another host keeps its lease until it expires."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = Owner(Owner.here("x").host, child.pid, "dead")
    child.kill()
    child.wait()
    remote = Owner("another-host", os.getpid() + 10_000_000, "s")
    me = Owner.here("me")
    for run_id, owner in (("r1", dead), ("r2", remote)):
        store.append(run_id, 1.0, status="submitting")
        assert store.claim(run_id, owner, 3600, 100.0).ok
    took = store.claim("r1", me, 10, 101.0)
    assert took.ok and took.takeover and took.previous == str(dead)
    assert not store.claim("r2", me, 10, 101.0).ok
    assert store.claim("r2", me, 10, 100.0 + 3601).ok


def test_claim_next_hands_out_runs_with_work_left(store: RunStore) -> None:
    """Oldest first; only resumable statuses; not runs a live owner holds; experiment filter."""
    me, other = Owner.here("w1"), Owner.here("w2")
    store.append_many(
        [
            ("done", 1.0, {"status": "completed", "experiment": "A"}),
            ("q1", 1.0, {"status": "queued", "experiment": "A"}),
            ("held", 1.0, {"status": "queued", "experiment": "A"}),
            ("pend", 1.0, {"status": "pending", "task_id": "t", "experiment": "B"}),
            ("q2", 1.0, {"status": "queued", "experiment": "B"}),
        ]
    )
    assert store.claim("held", other, 100, 0.0).ok
    got = [store.claim_next(me, 10, 1.0, experiment="B"), store.claim_next(me, 10, 1.0)]
    assert [r["run_id"] if r else None for r in got] == ["pend", "q1"]
    assert store.claim_next(me, 10, 1.0)["run_id"] == "q2"  # type: ignore[index]
    assert store.claim_next(me, 10, 1.0) is None
    assert store.claim_next(me, 10, 101.0)["run_id"] == "q1"  # type: ignore[index]


def test_begin_send_is_the_only_way_to_submitting(store: RunStore) -> None:
    """send once; then lost for anyone (not queued); lost without a live lease."""
    me, other = Owner.here("me"), Owner.here("other")
    store.append("r1", 1.0, status="queued")
    assert store.begin_send("r1", me, 2.0, {}).action == "lost"  # no lease
    assert store.claim("r1", me, 10, 2.0).ok
    assert store.begin_send("r1", me, 13.0, {}).action == "lost"  # lease expired
    assert store.claim("r1", me, 10, 13.0).ok
    sent = store.begin_send("r1", me, 14.0, {"create_sent_at": 14.0, "submitted_at": 14.0})
    assert sent.action == "send" and sent.run is not None and sent.run["status"] == "submitting"
    assert store.runs()["r1"]["create_sent_at"] == 14.0
    assert store.begin_send("r1", me, 15.0, {}).action == "lost"
    assert store.claim("r1", other, 10, 30.0).ok  # taken over after expiry: still not queued
    assert store.begin_send("r1", other, 31.0, {}).action == "lost"
    assert store.begin_send("nope", me, 31.0, {}).action == "lost"


def _queue(store: RunStore, owner: Owner, count: int, experiment: str = "E") -> list[str]:
    ids = [f"{experiment}-{i}" for i in range(count)]
    fields = {"status": "queued", "experiment": experiment, "backend": "sim"}
    store.append_many([(i, 1.0, {**fields, "model": "veo-3.1-extend"}) for i in ids])
    for run_id in ids:
        assert store.claim(run_id, owner, 1000, 1.0).ok
    return ids


def _paid(store: RunStore, run_id: str, credits: float | None) -> None:
    store.append(run_id, 2.0, status="pending", task_id=f"task-{run_id}", credits=credits)


def test_a_send_without_a_budget_reads_the_in_flight_runs_by_their_index(
    store: RunStore, store_spec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The send decision's read of the experiment goes through the partial index of runs that
    may be in flight, not through every row of the experiment (O(n²) over a large sweep)."""
    me = Owner.here("me")
    ids = _queue(store, me, 3)
    seen: list[str] = []
    execute = store._execute  # type: ignore[attr-defined]

    def recording(conn: Any, sql: str, params: Any) -> Any:
        seen.append(sql)
        return execute(conn, sql, params)

    monkeypatch.setattr(store, "_execute", recording)
    rule = SendRule("E", max_in_flight=2, backend="sim")
    assert store.begin_send(ids[0], me, 5.0, {}, rule).action == "send"
    monkeypatch.undo()
    (tally,) = [sql for sql in seen if "FROM runs WHERE experiment = ?" in sql]
    conn = store._conn()  # type: ignore[attr-defined]
    if store_spec.startswith("postgres"):
        # A table this small is scanned whole by choice; with scans ruled out the plan shows
        # whether the index fits the query at all.
        execute(conn, "SET enable_seqscan = off", ())
        rows = execute(conn, "EXPLAIN " + tally, ("E", "sim")).fetchall()
        execute(conn, "RESET enable_seqscan", ())
    else:
        rows = execute(conn, "EXPLAIN QUERY PLAN " + tally, ("E", "sim")).fetchall()
    plan = " ".join(str(row) for row in rows)
    assert "runs_maybe_in_flight" in plan, plan


def test_send_rule_learns_the_price_one_at_a_time(store: RunStore) -> None:
    """Unknown price with a budget: one create at a time, marked pricing until priced()."""
    me = Owner.here("me")
    ids = _queue(store, me, 6)
    rule = SendRule("E", budget_credits=10.0, max_in_flight=4, backend="sim")
    assert store.begin_send(ids[0], me, 5.0, {}, rule).action == "send"
    assert store.begin_send(ids[1], me, 5.0, {}, rule).action == "wait"
    _paid(store, ids[0], None)  # created; the create answer carried no price
    assert store.begin_send(ids[1], me, 5.0, {}, rule).action == "wait"  # still pricing
    assert store.experiment("E", 5.0).in_flight == 1
    store.append(ids[0], 3.0, credits=3.0)
    store.priced(ids[0], 3.0)
    state = store.experiment("E", 5.0, backend="sim")
    assert (state.price_credits, state.spent_credits, state.in_flight) == (3.0, 3.0, 0)
    # 3 spent: room for 2 more at 3 each (3 + 2·3 + 3 > 10 for a third while both fly).
    assert store.begin_send(ids[1], me, 5.0, {}, rule).action == "send"
    assert store.begin_send(ids[2], me, 5.0, {}, rule).action == "send"
    assert store.begin_send(ids[3], me, 5.0, {}, rule).action == "wait"  # one may fail
    _paid(store, ids[1], 3.0)
    _paid(store, ids[2], 3.0)
    refused = store.begin_send(ids[3], me, 5.0, {}, rule)
    assert refused.action == "refuse" and refused.code == "budget"
    assert refused.reason == (
        "credit budget reached: 9 of 10 credits reserved by sweep 'E'; a job costs 3"
    )
    assert store.runs()[ids[3]]["status"] == "queued"  # refuse records nothing
    assert store.experiment("E", 5.0).stopped == refused.reason
    assert store.begin_send(ids[4], me, 5.0, {}, rule).action == "refuse"


def test_send_rule_no_credits_figure_stops(store: RunStore) -> None:
    """priced(None): the budget cannot be kept, so the experiment stops."""
    me = Owner.here("me")
    ids = _queue(store, me, 2)
    rule = SendRule("E", budget_credits=10.0, backend="sim")
    assert store.begin_send(ids[0], me, 5.0, {}, rule).action == "send"
    _paid(store, ids[0], None)
    store.priced(ids[0], None)
    decision = store.begin_send(ids[1], me, 5.0, {}, rule)
    assert (decision.action, decision.code) == ("refuse", "budget")
    assert "no credits figure" in (decision.reason or "")


def test_send_rule_stop_cap_and_unknown_outcomes(store: RunStore) -> None:
    """A stop refuses everyone until cleared; the in-flight cap holds without a budget; runs
    whose create may have been made count against the budget at the known price."""
    me = Owner.here("me")
    ids = _queue(store, me, 8)
    free = SendRule("E", max_in_flight=2, backend="sim")
    assert [store.begin_send(i, me, 5.0, {}, free).action for i in ids[:3]] == [
        "send",
        "send",
        "wait",
    ]
    _paid(store, ids[0], 4.0)
    store.append(ids[1], 3.0, status="submission_unknown")
    state = store.experiment("E", 5.0)
    assert (state.spent_credits, state.in_flight, state.price_credits) == (8.0, 0, 4.0)
    store.stop_experiment("E", "a create failed with InsufficientCreditsError", "sweep_stopped")
    store.stop_experiment("E", "a later reason", "budget")  # the first reason is kept
    refused = store.begin_send(ids[2], me, 5.0, {}, free)
    assert (refused.action, refused.code) == ("refuse", "sweep_stopped")
    assert "InsufficientCredits" in (refused.reason or "")
    store.clear_stop("E")
    store.set_budget("E", 12.0)  # 8 spent + 4 = 12 fits; the stored budget applies
    assert store.begin_send(ids[2], me, 5.0, {}, free).action == "send"
    # Its lease expires mid-create: counted as spent (perhaps created), no longer in flight.
    state = store.experiment("E", 2000.0)
    assert (state.spent_credits, state.in_flight, state.budget_credits) == (12.0, 0, 12.0)


def test_location_never_shows_a_password(tmp_path: Path) -> None:
    """A DSN's password is masked in location and in the error naming an unreachable server."""
    dsn = "postgresql://user:s3cret-pw@127.0.0.1:1/db?connect_timeout=1"
    with pytest.raises(StoreError) as caught:
        open_store(dsn, tmp_path)
    assert "s3cret-pw" not in str(caught.value) and "***" in str(caught.value)
    with pytest.raises(StoreError, match="unknown runs store"):
        open_store("mysql://user:s3cret-pw@host/db", tmp_path)


def test_open_store_specs(tmp_path: Path) -> None:
    """None → runs.db in the work folder; a folder → runs.db in it; sqlite:/// URLs."""
    for spec, where in (
        (None, tmp_path / "w" / "runs.db"),
        (str(tmp_path / "w"), tmp_path / "w" / "runs.db"),
        (f"sqlite:///{tmp_path}/other.db", tmp_path / "other.db"),
    ):
        with open_store(spec, tmp_path / "w") as store:
            assert store.location == str(where) and where.exists()


def test_threads_sharing_one_store_send_each_run_once(store: RunStore) -> None:
    """Four threads of one process (each a Session of its own) race over 100 runs through one
    store object: one send per run, no run lost, nothing recorded twice."""
    ids = [f"r{i:03d}" for i in range(100)]
    store.append_many([(i, 1.0, {"status": "queued"}) for i in ids])
    sends: list[str] = []
    barrier = threading.Barrier(4)

    def race(who: int) -> None:
        me = Owner.here(f"session{who}")
        order = ids[who * 25 :] + ids[: who * 25]
        barrier.wait()
        for run_id in order:
            if store.claim(run_id, me, 30, time.time()).ok:
                if store.begin_send(run_id, me, time.time(), {}).action == "send":
                    sends.append(run_id)
                    store.append(run_id, time.time(), status="pending", task_id=f"t-{run_id}")
                store.release(run_id, me)

    threads = [threading.Thread(target=race, args=(who,)) for who in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(sends) == ids
    assert {r["status"] for r in store.runs().values()} == {"pending"}


def raw_rows(store_spec: str, sql: str) -> list[tuple[Any, ...]]:
    """What the database itself holds, read over a connection of the test's own."""
    if store_spec.startswith("postgresql"):
        import psycopg

        with psycopg.connect(store_spec) as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]
    with contextlib.closing(sqlite3.connect(store_spec)) as conn:
        return conn.execute(sql).fetchall()


def test_many_events_at_once_are_stored_exactly_as_one_at_a_time(
    store_spec: str, store: RunStore
) -> None:
    """A commit of many events runs one statement for all of them (JSON in, see
    ``SqlCore._executemany``); what it stores is what one commit per event stores, to the last
    digit of a float and character of a text, and in order. Values JSON would change (a float
    that is not finite) take the row-by-row way, with the same result."""
    owner = Owner("host", 1, "batch")
    awkward = 'quote " backslash \\ newline \n tab \t fox 🦊 末尾'
    credits = [2.5, 1_796_214_194.4099166, 7, 1e-7, None, float("inf")]
    events = [
        (
            f"{index}",
            1_796_214_194.4099166 + index / 7,
            {
                "status": ["queued", "processing", "completed"][index % 3],
                "experiment": awkward if index % 2 else None,
                "model": "veo-3.1-extend",
                "credits": credits[index % len(credits)],
                "reused_from": "elsewhere" if index % 4 == 0 else None,
                "seed": 2**63 - 1 - index,
                "prompt": awkward,
            },
        )
        for index in range(12)
    ]
    for run_id, at, fields in events:  # one commit each: the driver's row-by-row way
        store.commit([(f"one-{run_id}", at, fields)], owner, new=[f"one-{run_id}"], lease_s=60)
    for name, part in (("many", events[:10]), ("fallback", events[10:])):  # 10 at once; 2
        named = [(f"{name}-{run_id}", at, fields) for run_id, at, fields in part]
        store.commit(named, owner, new=[event[0] for event in named], lease_s=60)
    store.commit([], owner, [f"{n}-{i}" for n in ("one", "many", "fallback") for i in range(12)])

    runs = store.runs()
    for run_id, _, _ in events:
        other = f"many-{run_id}" if int(run_id) < 10 else f"fallback-{run_id}"
        assert {**runs[other], "run_id": None} == {**runs[f"one-{run_id}"], "run_id": None}
    columns = "experiment, status, backend, model, credits, reused, owner, lease_until, pricing"
    stored = {
        row[0]: row[1:] for row in raw_rows(store_spec, f"SELECT run_id, {columns} FROM runs")
    }
    logged = raw_rows(store_spec, "SELECT run_id, at, fields FROM events ORDER BY seq")
    for run_id, _, _ in events:
        other = f"many-{run_id}" if int(run_id) < 10 else f"fallback-{run_id}"
        assert stored[other] == stored[f"one-{run_id}"]
        mine = [(at, text.replace(other, "ID")) for name, at, text in logged if name == other]
        one = f"one-{run_id}"
        assert mine == [(at, text.replace(one, "ID")) for name, at, text in logged if name == one]
    assert [row[0] for row in logged if row[0].startswith("many")] == [
        f"many-{i}" for i in range(10)
    ]
    assert stored["many-1"][4] == 1_796_214_194.4099166 and stored["many-4"][4] is None
    assert stored["fallback-11"][4] == float("inf")


def test_a_commit_of_many_events_runs_as_many_statements_as_one_of_two(tmp_path: Path) -> None:
    """SQLite: the statements a commit runs do not grow with its events. Python's ``sqlite3``
    lets go of the GIL for every row it steps through and waits to take it back while another
    thread runs Python code, so a statement per event made a busy process's writes up to 100
    times slower."""
    owner = Owner("host", 1, "count")
    with open_store(str(tmp_path / "runs.db"), tmp_path) as store:
        statements: dict[int, int] = {}
        for size in (2, 500):
            ids = [f"r{size}-{index}" for index in range(size)]
            store.commit([(i, 1.0, {"status": "queued"}) for i in ids], owner, new=ids)
            traced: list[str] = []
            store._conn().set_trace_callback(traced.append)
            store.commit([(i, 2.0, {"status": "processing"}) for i in ids], owner, ids)
            store._conn().set_trace_callback(None)
            statements[size] = len(traced)
        assert statements[500] == statements[2], statements


@pytest.mark.parametrize("streamed_rows", [1, 3])
def test_the_dataframe_read_in_parts_matches_the_dict_path(
    store: RunStore, monkeypatch: pytest.MonkeyPatch, streamed_rows: int
) -> None:
    """Both stores read every run in parts (parsed while the next is fetched; PostgreSQL
    streams rows in chunks, or one by one before libpq 17): a field that appears only in a
    later part, or changes type between parts, gives the same DataFrame as merging the runs
    one by one."""
    from foxnb.runtime.store import postgres, sql
    from foxnb.runtime.store.columns import to_dataframe

    monkeypatch.setattr(sql, "FETCH_ROWS", 7)
    monkeypatch.setattr(postgres, "FETCH_ROWS", 7)
    monkeypatch.setattr(postgres, "stream_rows", lambda: streamed_rows)
    events = [(f"r{i:02d}", float(i), {"status": "queued", "seed": i}) for i in range(30)]
    events += [("r25", 99.0, {"note": "late", "credits": 2.5, "tags": ["x"]})]
    store.append_many(events)
    pd.testing.assert_frame_equal(store.dataframe(), to_dataframe(list(store.runs().values())))
    store.append("r27", 100.0, mixed="text")  # the earlier parts had none...
    store.append("r02", 101.0, mixed=3)  # ...and now a number: arrow cannot type it
    pd.testing.assert_frame_equal(store.dataframe(), to_dataframe(list(store.runs().values())))


def test_the_dataframe_reads_text_as_utf8_whatever_the_client_encoding(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: runs are read as UTF-8 bytes, so a session whose client encoding is LATIN1
    (set by ``PGCLIENTENCODING``) still gets every accented prompt exactly."""
    prompts = ["café crème", "naïve façade", "plain"]
    with open_store(pg_dsn, tmp_path / "work") as writer:
        writer.append_many([(f"r{i}", float(i), {"prompt": p}) for i, p in enumerate(prompts)])
    monkeypatch.setenv("PGCLIENTENCODING", "LATIN1")
    with open_store(pg_dsn, tmp_path / "work") as reader:
        assert reader._conn().info.encoding == "iso8859-1"
        assert list(reader.dataframe()["prompt"]) == prompts
