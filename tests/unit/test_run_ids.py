"""Run ids stay unique when a large sweep records all its cells within one second."""

from foxnb.runtime.tracker import new_run_id


def test_twenty_thousand_ids_in_one_second_are_distinct() -> None:
    # With 24 random bits this held ~12 collisions on average (two cells, one run).
    ids = [new_run_id(1_796_000_000.0) for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("r20261130-") for i in ids[:3]), ids[:3]
