"""Which request fields vary between runs: the order a report reads its axes in."""

from __future__ import annotations

import pandas as pd

from foxnb.experiments.report import grid_axes, varying
from foxnb.runtime.store import to_dataframe


def frame_of(pairs: list[tuple[str, int]]) -> pd.DataFrame:
    return to_dataframe(
        [
            {"run_id": f"r{i}", "status": "completed", "prompt": p, "seed": s, "model": "m"}
            for i, (p, s) in enumerate(pairs)
        ]
    )


def test_varying_columns_come_slowest_first() -> None:
    """The axis changing least often down the grid is the first (rows); ties keep field order."""
    product = [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2), ("b", 3)]
    assert varying(frame_of(product)) == ["prompt", "seed"]
    seeds_first = [(p, s) for s, p in [(1, "a"), (1, "b"), (2, "a"), (2, "b")]]
    assert varying(frame_of(seeds_first)) == ["seed", "prompt"]
    assert varying(frame_of([("a", 1), ("b", 2)])) == ["prompt", "seed"]  # zip: a tie
    one = frame_of([("a", 1), ("a", 2)])
    assert varying(one) == ["seed"] and grid_axes(one, ["seed"], None, None) == ("model", "seed")
    assert grid_axes(one, [], None, None) == ("model", "prompt")
