"""What every client in the benchmark runs: the same sweep, on the same clip, on scaled time.

The sweep is ``jobs`` cells on one 1 s, 1280x720 clip with one prompt; cell ``i`` has seed
``i`` and alternates the two models (even cells ``veo-3.1-extend``, odd cells
``veo-3.1-extend-fast``), so durations come from both models' spread: the simulator draws
each task's duration from 0.7–1.4x its model's typical 90 s / 45 s, with the same seed in
every phase.

Time scaling: the simulator runs ``speed`` times faster than the service, so every interval
a client uses is divided by the same factor — the baselines' 5 s and 0.5 s poll intervals,
and foxnb's two wall-clock constants, read from foxnb itself: its request-rate limit
(``Session(rate_per_s=...)``) and its shortest wait between two queries of one task
(``RetryPolicy.min_poll_interval_s``). Latencies are reported both as a share of the job's
duration and in service seconds (wall x speed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MODELS = ("veo-3.1-extend", "veo-3.1-extend-fast")
PROMPT = "The camera keeps drifting over the valley as the sun sets"
SEQUENTIAL_POLL_S = 5.0
"""Baselines (a) and (b): one status query every 5 s of service time."""
FIXED_POLL_S = 0.5
"""Baseline (c): every unfinished task queried every 0.5 s of service time."""


def foxnb_defaults() -> tuple[float, float]:
    """foxnb's two wall-clock constants, as shipped: its request-rate limit (requests per
    second, ``Session(rate_per_s=...)``) and its shortest wait between two queries of one
    task (``RetryPolicy.min_poll_interval_s``)."""
    import inspect

    from foxnb._wire import RetryPolicy
    from foxnb.session import Session

    rate = inspect.signature(Session).parameters["rate_per_s"].default
    return float(rate), RetryPolicy().min_poll_interval_s


def foxnb_time_scaling(speed: float) -> dict[str, Any]:
    """``foxnb.connect`` options that put foxnb's wall-clock constants on the scaled clock.

    Everything else foxnb does is timed from what the service reports (``estimated_time``,
    progress), which the simulator already scales.
    """
    from foxnb._wire import RetryPolicy

    rate_per_s, min_poll_interval_s = foxnb_defaults()
    return {
        "rate_per_s": rate_per_s * speed,
        "policy": RetryPolicy(min_poll_interval_s=min_poll_interval_s / speed),
    }


@dataclass(frozen=True)
class Cell:
    """One job of the sweep."""

    index: int
    model: str
    seed: int


def cells(jobs: int) -> list[Cell]:
    """The sweep's jobs in submission order: seeds 0.., models alternating."""
    return [Cell(i, MODELS[i % 2], i) for i in range(jobs)]


def sweep_fields(cells: list[Cell]) -> dict[str, Any]:
    """The fields of ``fx.sweep(clip, name=..., **sweep_fields(cells))`` for these cells."""
    return {
        "mode": "zip",
        "prompt": PROMPT,
        "model": [cell.model for cell in cells],
        "seed": [cell.seed for cell in cells],
        "aspect_ratio": "16:9",
        "generate_audio": True,
    }


def create_body(cell: Cell, video_url: str) -> dict[str, object]:
    """The JSON a hand-written baseline sends for ``cell`` (foxnb builds its own)."""
    return {
        "model": cell.model,
        "prompt": PROMPT,
        "video_url": video_url,
        "aspect_ratio": "16:9",
        "generate_audio": True,
        "seed": cell.seed,
    }
