"""Random fault rates: the frozen :class:`Faults` value and its ``--fault KEY=VALUE`` parser.

A :class:`Faults` holds per-request probabilities (and a few parameters) for the faults the
simulator can produce at random; :class:`~foxnb.sim.faults.FaultInjector` draws against them.
See :mod:`foxnb.sim.faults` for what each fault does and for scripted one-shot faults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from .defects import DEFECT_KINDS, check_defect

__all__ = ["ENDPOINTS", "FAILURE_CODES", "PROBABILITIES", "Faults"]

ENDPOINTS = frozenset({"create", "task", "upload", "download"})
FAILURE_CODES = frozenset({"content_policy_violation", "generation_failed"})

PROBABILITIES = (
    "rate_limit",
    "error_500",
    "error_503",
    "drop",
    "lost_response",
    "task_failure",
    "empty_results",
    "edge_html",
    "truncated",
)


@dataclass(frozen=True, kw_only=True)
class Faults:
    """Random fault rates (probabilities 0..1 per request) and fault parameters.

    ``rate_limit_rps`` is not random: it is a real token bucket per API key (burst of one
    second's worth), and requests beyond it get 429. ``latency_s`` is added to every affected
    request, either a fixed number of seconds or a ``(low, high)`` uniform range.
    ``endpoints`` limits all of this to some of ``create``, ``task``, ``upload``, ``download``.

    >>> Faults(rate_limit=0.2, retry_after_s=1.0, endpoints={"create"}).endpoints
    frozenset({'create'})
    """

    rate_limit: float = 0.0
    retry_after_s: float | None = None
    rate_limit_rps: float | None = None
    error_500: float = 0.0
    error_503: float = 0.0
    latency_s: float | tuple[float, float] = 0.0
    drop: float = 0.0
    lost_response: float = 0.0
    task_failure: float = 0.0
    failure_code: str = "content_policy_violation"
    empty_results: float = 0.0
    edge_html: float = 0.0
    truncated: float = 0.0
    defect: float = 0.0
    defect_kinds: Collection[str] = DEFECT_KINDS  # stored as a tuple in DEFECT_KINDS order
    endpoints: Collection[str] = field(default=ENDPOINTS)  # stored as a frozenset

    def __post_init__(self) -> None:
        for name in (*PROBABILITIES, "defect"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Faults.{name} must be a probability in [0, 1], got {value!r}")
        low_s, high_s = self.latency_range_s
        if not 0.0 <= low_s <= high_s:
            raise ValueError(f"Faults.latency_s must be >= 0 (low <= high), got {self.latency_s}")
        if self.retry_after_s is not None and self.retry_after_s < 0:
            raise ValueError("Faults.retry_after_s must be >= 0 or None")
        if self.rate_limit_rps is not None and self.rate_limit_rps <= 0:
            raise ValueError("Faults.rate_limit_rps must be > 0 or None")
        if self.failure_code not in FAILURE_CODES:
            raise ValueError(f"Faults.failure_code must be one of {sorted(FAILURE_CODES)}")
        kinds = set(self.defect_kinds)
        for kind in kinds:
            check_defect(kind)
        if not kinds:
            raise ValueError("Faults.defect_kinds must name at least one defect")
        object.__setattr__(self, "defect_kinds", tuple(k for k in DEFECT_KINDS if k in kinds))
        endpoints = frozenset(self.endpoints)
        if not endpoints <= ENDPOINTS:
            raise ValueError(f"Faults.endpoints must be a subset of {sorted(ENDPOINTS)}")
        object.__setattr__(self, "endpoints", endpoints)

    @property
    def latency_range_s(self) -> tuple[float, float]:
        """``latency_s`` as a ``(low, high)`` pair of seconds."""
        if isinstance(self.latency_s, tuple):
            return self.latency_s
        return (self.latency_s, self.latency_s)

    @classmethod
    def parse(cls, pairs: Iterable[str]) -> Faults:
        """Build faults from ``key=value`` strings, as given to ``--fault`` on the command line.

        Numbers are floats; ``none`` clears ``retry_after_s`` / ``rate_limit_rps``;
        ``latency_s=0.1-0.5`` is a range; ``endpoints=create,task`` and
        ``defect_kinds=cut,flicker`` are comma lists.

        >>> Faults.parse(["rate_limit=0.2", "retry_after_s=1", "latency_s=0.1-0.3"]).latency_s
        (0.1, 0.3)
        """
        known = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, object] = {}
        for pair in pairs:
            key, sep, text = pair.partition("=")
            key, text = key.strip(), text.strip()
            if not sep or key not in known:
                raise ValueError(
                    f"bad fault {pair!r}: expected KEY=VALUE with KEY in {sorted(known)}"
                )
            values[key] = _parse_value(key, text)
        return cls(**values)  # type: ignore[arg-type]


def _parse_value(key: str, text: str) -> object:
    """Convert one ``--fault`` value string to the type of field ``key``."""
    if key == "failure_code":
        return text
    if key in ("endpoints", "defect_kinds"):
        return frozenset(part.strip() for part in text.split(",") if part.strip())
    if key in ("retry_after_s", "rate_limit_rps") and text.lower() == "none":
        return None
    if key == "latency_s" and "-" in text:
        low, _, high = text.partition("-")
        return (float(low), float(high))
    return float(text)
