"""The runs DataFrame built by pyarrow equals the one built from dicts, or is not used."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from benchmarks.store_benchmark import completed_run
from foxnb._json import dumps
from foxnb.runtime.store.arrowframe import frame_from_json
from foxnb.runtime.store.columns import to_dataframe

SPARSE: list[dict[str, Any]] = [
    {"run_id": "r1", "at": 3.0, "status": "pending", "seed": None, "tags": ["x"], "task_id": "t"},
    {"run_id": "r2", "at": 2.0, "status": "queued", "model": "veo-3.1-extend", "extra_i": 3},
    {"run_id": "r3", "status": "failed", "generate_audio": True, "credits": 2, "extra_s": "z"},
    {"run_id": "r4", "progress": 40, "submitted_at": 1_700_000_000.5, "reused_from": "r1"},
]


@pytest.mark.parametrize(
    "runs",
    [
        SPARSE,
        [{"run_id": f"r{i}", "at": 1.0, **completed_run(i)} for i in range(300)],
        [{"run_id": "only"}],
        [
            {
                "run_id": f"r{i}",
                "status": None,
                "seed": None,
                "credits": None,
                "tags": None,
                "generate_audio": None,
                "submitted_at": None,
                "prompt": None,
                "extra_n": None,
            }
            for i in range(3)
        ],
        [{"run_id": f"r{i}", "status": ["done", "pending"][i % 2], "model": "m"} for i in range(5)],
    ],
    ids=["sparse", "completed", "bare", "all-null", "categories"],
)
def test_fast_path_matches_the_dict_path(runs: list[dict[str, Any]]) -> None:
    fast = frame_from_json([dumps(run) for run in runs])
    assert fast is not None
    pd.testing.assert_frame_equal(fast, to_dataframe(runs))


@pytest.mark.parametrize(
    "runs",
    [
        [{"run_id": "r1", "custom": {"k": 1}}, {"run_id": "r2", "custom": {"j": 2}}],
        [{"run_id": "r1", "x": 1}, {"run_id": "r2", "x": "text"}],
        [{"run_id": "r1", "seed": 2**63}, {"run_id": "r2", "seed": 2**70}],
        [{"run_id": "r1", "submitted_at": "yesterday"}],
        [{"run_id": "r1", "prompt": ["not", "text"]}],
    ],
    ids=["nested", "mixed", "huge-ints", "text-time", "list-in-text-column"],
)
def test_what_it_cannot_render_exactly_goes_the_dict_way(runs: list[dict[str, Any]]) -> None:
    assert frame_from_json([dumps(run) for run in runs]) is None
