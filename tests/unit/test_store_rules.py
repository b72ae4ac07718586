"""The runs store's pure rules: the send rule's arithmetic, claims, JSON, DSNs, mounts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from foxnb._json import dumps, loads
from foxnb.runtime.store.base import claimable, mask_dsn, merge_event
from foxnb.runtime.store.jsonl import ledger_merge, parse_events
from foxnb.runtime.store.kinds import Owner, SendRule
from foxnb.runtime.store.rules import RunFacts, Tally, decide, tally
from foxnb.runtime.store.sqlite import NETWORK_FILESYSTEMS, filesystem_type

RULE = SendRule("E", budget_credits=10.0, max_in_flight=2)


def facts(status: str, **kw: bool | float | None) -> RunFacts:
    base: dict[str, bool | float | None] = dict(
        lease_live=False, pricing_live=False, has_task=False, reused=False, credits=None, mine=False
    )
    base.update(kw)
    return RunFacts(status=status, **base)  # type: ignore[arg-type]


def test_tally_counts_paid_unknown_and_in_flight() -> None:
    runs = [
        facts("completed", has_task=True, credits=3.0),
        facts("completed", has_task=True, reused=True, credits=3.0),  # reuse is free
        facts("pending", has_task=True),  # no credits yet: the price
        facts("pending", has_task=True, lease_live=True, pricing_live=True),  # pricing
        facts("submission_unknown"),  # perhaps created
        facts("submitting", lease_live=True),  # in flight
        facts("submitting"),  # its owner died mid-create
        facts("queued"),
        facts("not_submitted"),
    ]
    assert tally(runs, 2.0) == Tally(spent_credits=3 + 2 + 2 + 2 + 2, in_flight=2, in_flight_mine=0)
    assert tally(runs, None) == Tally(spent_credits=3.0, in_flight=2, in_flight_mine=0)
    mine = [facts("submitting", lease_live=True, mine=True), *runs]
    assert tally(mine, None) == Tally(3.0, 3, 1)


def test_the_cap_per_writer_counts_the_asking_writers_creates_only() -> None:
    """Each of many workers keeps its own creates flowing; the budget still sees them all."""
    per_writer = SendRule("E", max_in_flight=2, per_writer=True)
    assert decide(per_writer, None, None, None, None, Tally(0, 5, 1)).action == "send"
    assert decide(per_writer, None, None, None, None, Tally(0, 5, 2)).action == "wait"
    assert decide(RULE, None, None, None, None, Tally(0, 5, 1)).action == "wait"  # whole
    budgeted = SendRule("E", budget_credits=10.0, max_in_flight=2, per_writer=True)
    assert decide(budgeted, 10.0, 3.0, None, None, Tally(0, 3, 0)).action == "wait"  # 9 + 3


@pytest.mark.parametrize(
    ("budget", "price", "counts", "action", "pricing", "stop"),
    [
        (None, None, Tally(0, 1), "send", False, False),
        (None, None, Tally(0, 2), "wait", False, False),  # the in-flight cap
        (10.0, None, Tally(0, 0), "send", True, False),  # learn the price, one at a time
        (10.0, None, Tally(0, 1), "wait", False, False),
        (10.0, None, Tally(10, 0), "refuse", False, True),
        (10.0, 3.0, Tally(3, 1), "send", False, False),  # 3 + 3 + 3 <= 10
        (10.0, 3.0, Tally(6, 1), "wait", False, False),  # 6 + 3 + 3 > 10, one may fail
        (10.0, 3.0, Tally(8, 0), "refuse", False, True),
    ],
)
def test_decide(
    budget: float | None,
    price: float | None,
    counts: Tally,
    action: str,
    pricing: bool,
    stop: bool,
) -> None:
    verdict = decide(RULE, budget, price, None, None, counts)
    assert (verdict.action, verdict.pricing, verdict.stop) == (action, pricing, stop)
    if stop:
        assert verdict.code == "budget" and "credit budget reached" in (verdict.reason or "")


def test_a_stopped_experiment_refuses_first() -> None:
    verdict = decide(RULE, None, None, "402 from the service", None, Tally(0, 0))
    assert (verdict.action, verdict.code, verdict.reason) == (
        "refuse",
        "sweep_stopped",
        "402 from the service",
    )


def test_claimable() -> None:
    me = Owner.here("me")
    other_live = Owner(me.host, os.getppid(), "s")
    remote = Owner("elsewhere", 1, "s")
    assert claimable(None, None, me, 5.0) and claimable(str(me), 100.0, me, 5.0)
    assert not claimable(str(other_live), 100.0, me, 5.0)
    assert claimable(str(other_live), 5.0, me, 5.0)  # expired exactly now
    assert not claimable(str(remote), 100.0, me, 5.0)
    assert Owner.parse(str(me)) == me and Owner.parse("garbage") is None


def test_merge_event_keeps_every_task_id() -> None:
    ids: list[str] = []
    run = merge_event(None, ids, {"run_id": "r", "task_id": "a", "x": 1})
    run = merge_event(run, ids, {"run_id": "r", "task_id": None, "x": None})
    assert run == {"run_id": "r", "task_id": None, "x": None} and ids == ["a"]
    run = merge_event(run, ids, {"task_id": "b"})
    assert ids == ["a", "b"] and run["duplicate_tasks"] is True


def test_json_keeps_huge_integers_exactly() -> None:
    for value in ({"seed": 2**63}, {"seed": 2**70, "n": -(2**90)}, {"a": [1.5, None, "x"]}):
        assert loads(dumps(value)) == value
    assert dumps({"seed": 2**63}).startswith("{")  # the fast path
    assert dumps({"seed": 2**64}).startswith(" ")  # marked: read back exactly


def test_parse_events_skips_torn_lines_like_the_ledger() -> None:
    data = b"".join(
        [
            b'{"run_id":"a","at":1}\n',
            b'{"run_id":"a","st\n',  # torn by a crash, fenced by the next append
            b"\n[1,2]\n",  # blank, and not an object
            b'{"run_id":"b","seed":36893488147419103232}\n',  # 2**65, exactly
            b'{"run_id":"c"',  # torn last line
        ]
    )
    events = parse_events(data)
    assert [e["run_id"] for e in events] == ["a", "b"]
    assert events[1]["seed"] == 2**65
    assert list(ledger_merge(events)) == ["a", "b"]
    whole_tail = parse_events(b'{"run_id":"a"}\n{"run_id":"d"}')  # whole, newline missing
    assert [e["run_id"] for e in whole_tail] == ["a", "d"]


def test_mask_dsn() -> None:
    assert mask_dsn("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask_dsn("host=h password=pw dbname=x") == "host=h password=*** dbname=x"
    assert mask_dsn("postgresql://u@h/db") == "postgresql://u@h/db"


def test_network_filesystems_are_recognized(tmp_path: Path) -> None:
    mounts = "/dev/vda / ext4 rw 0 0\nserver:/export /mnt/team nfs4 rw 0 0\n"
    assert filesystem_type(Path("/mnt/team/work"), mounts) == "nfs4" in NETWORK_FILESYSTEMS
    assert filesystem_type(Path("/mnt/teamwork"), mounts) == "ext4"
    assert filesystem_type(tmp_path) not in NETWORK_FILESYSTEMS
