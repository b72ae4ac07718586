"""The simulator's fault options as data: parsing, validation and seeded decisions (no sockets)."""

from __future__ import annotations

from collections import Counter

import pytest

from foxnb.sim import Faults
from foxnb.sim.defects import DEFECT_KINDS
from foxnb.sim.faults import FaultInjector
from foxnb.sim.states import Timeline
from foxnb.sim.store import TaskRecord
from foxnb.sim.validate import ExtendParams


def decisions(faults: Faults, seed: int, endpoints: list[str]) -> list[tuple[str | None, ...]]:
    injector = FaultInjector(faults, seed=seed, now=lambda: 0.0)
    return [
        (d.action, d.task_failure_code, d.defect)
        for d in (injector.decide(endpoint) for endpoint in endpoints)
    ]


def test_defect_options_parse_from_the_command_line() -> None:
    """--fault defect=0.3 --fault defect_kinds=flicker,cut gives a rate and canonical kinds."""
    faults = Faults.parse(["defect=0.3", "defect_kinds=flicker,cut"])
    assert faults.defect == 0.3
    assert faults.defect_kinds == ("cut", "flicker")
    assert Faults().defect_kinds == DEFECT_KINDS


@pytest.mark.parametrize(
    "bad",
    [{"defect": 1.5}, {"defect_kinds": ["cut", "blur"]}, {"defect_kinds": []}],
)
def test_bad_defect_options_are_refused(bad: dict[str, object]) -> None:
    """A rate outside 0..1, an unknown kind or no kind at all is a ValueError."""
    with pytest.raises(ValueError):
        Faults(**bad)  # type: ignore[arg-type]


def test_scripted_defect_needs_its_kind() -> None:
    """inject('create', 'defect') needs defect=KIND; defect= goes with nothing else."""
    injector = FaultInjector(Faults(), seed=0, now=lambda: 0.0)
    with pytest.raises(ValueError, match="defect"):
        injector.inject("create", "defect")
    with pytest.raises(ValueError, match="unknown defect"):
        injector.inject("create", "defect", defect="blur")
    with pytest.raises(ValueError):
        injector.inject("create", "500", defect="cut")
    with pytest.raises(ValueError):
        injector.inject("task", "defect", defect="cut")
    injector.inject("create", "defect", defect="short", count=2)
    assert [injector.decide("create").defect for _ in range(3)] == ["short", "short", None]


def test_random_defects_are_seeded_and_leave_other_faults_alone() -> None:
    """Same seed, same defects; turning defects on does not move any other fault."""
    endpoints = ["create", "task", "create", "upload", "download"] * 40
    base = Faults(error_500=0.2, task_failure=0.1, lost_response=0.1)
    with_defects = Faults(error_500=0.2, task_failure=0.1, lost_response=0.1, defect=0.5)
    plain = decisions(base, 7, endpoints)
    mixed = decisions(with_defects, 7, endpoints)
    assert [d[:2] for d in plain] == [d[:2] for d in mixed]
    assert mixed == decisions(with_defects, 7, endpoints)
    assert mixed != decisions(with_defects, 8, endpoints)
    drawn = Counter(d[2] for d, e in zip(mixed, endpoints, strict=True) if e == "create")
    assert set(drawn) == {None, *DEFECT_KINDS}
    assert 0.35 < 1 - drawn[None] / sum(drawn.values()) < 0.65
    assert all(d[2] is None for d, e in zip(mixed, endpoints, strict=True) if e != "create")


def test_defect_kinds_limit_the_draw() -> None:
    """defect_kinds narrows which defects are drawn."""
    faults = Faults(defect=1.0, defect_kinds={"short", "no_audio"})
    drawn = {d[2] for d in decisions(faults, 1, ["create"] * 50)}
    assert drawn == {"short", "no_audio"}


def test_a_task_record_keeps_its_defect_across_a_save() -> None:
    """The defect survives the state file; records saved before defects existed load as clean."""
    params = ExtendParams(model="veo-3.1-extend", prompt="p", video_url="http://x/a.mp4")
    record = TaskRecord(
        id="task-unified-1-abcdefgh",
        params=params,
        seed=1,
        created=1,
        timeline=Timeline(1.0, 2.0, 3.0, 4),
        estimated_time_s=90,
        credits=100,
        defect="flicker",
    )
    assert TaskRecord.from_json(record.to_json()) == record
    legacy = record.to_json()
    del legacy["defect"]
    assert TaskRecord.from_json(legacy).defect is None
