"""The models the simulator serves, with its invented timing and price figures.

FoxAPI documents neither how long an extension takes nor what it costs. The create-response
example shows ``estimated_time: 45``, which the simulator takes as the fast model's figure and
doubles for the standard model. Credits are likewise simulated figures (standard 100, fast 50)
that only serve to exercise the 402 "insufficient balance" path and refunds.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MODELS", "ModelSpec"]


@dataclass(frozen=True)
class ModelSpec:
    """One model: its name, typical duration at speed 1 and credits reserved per call."""

    name: str
    estimated_time_s: float
    credits: int


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("veo-3.1-extend", estimated_time_s=90.0, credits=100),
        ModelSpec("veo-3.1-extend-fast", estimated_time_s=45.0, credits=50),
    )
}
