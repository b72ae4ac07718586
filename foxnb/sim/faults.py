"""Fault injection: what can go wrong on the wire, decided by a seeded RNG or by a script.

Two ways to make the simulator misbehave:

* **Random faults**, described by a frozen :class:`Faults` value of probabilities. Each request
  to an affected endpoint draws the same fixed number of random numbers from one RNG seeded
  with ``fault_seed``, so the same seed and the same sequence of requests give the same faults,
  and changing one rate does not reshuffle the others. Output defects (``Faults(defect=0.2)``)
  draw from a second RNG of the same seed, two numbers per create request, so enabling them
  leaves every other fault exactly where it was.
* **Scripted faults**, queued per endpoint with :meth:`FaultInjector.inject` and consumed by
  that endpoint's next requests in order (a scripted fault replaces the random draw for that
  request). This is what deterministic tests use.

Endpoints: ``create`` (POST /v1/videos/generations), ``task`` (GET /v1/tasks/{id}),
``upload`` (POST /v1/files/upload/*) and ``download`` (GET /files/..., the public file URLs).

Scripted kinds (see :data:`SCRIPTED_KINDS` for which endpoint takes which):

=================  ===========================================================================
``drop``           connection dropped before the request is handled (nothing happens)
``lost_response``  request handled (a create creates and bills a task), then the connection drops
``429``            rate limited; ``retry_after_s=`` sets the ``Retry-After`` header
``500``, ``503``   server error / no channel available
``edge_html``      an HTML 403 page from the edge (like a Cloudflare block)
``truncated``      200 with the JSON body cut in half
``latency``        handled normally after ``latency_s=`` extra seconds
``task_failure``   (create) the task is created but fails mid-processing with ``code=``
``empty_results``  (task) a completed task is reported with ``results: []``
``expired``        (download) the signed URL is answered as expired
``defect``         (create) the task is created and completes normally, but its result has the
                   output defect ``defect=`` (``cut``, ``prefix``, ``flicker``,
                   ``color_drift``, ``short``, ``no_audio``; see :mod:`foxnb.sim.defects`)
=================  ===========================================================================

Random output defects: ``Faults(defect=0.3, defect_kinds=("cut", "flicker"))`` gives each
create request a 30 % chance of a defect, its kind drawn evenly from ``defect_kinds`` (default:
all of them); on the command line ``--fault defect=0.3 --fault defect_kinds=cut,flicker``.
Which task got which defect is in its record: ``sim.backend.task(task_id).defect``.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from .defects import DEFECT_KINDS, check_defect

__all__ = [
    "ENDPOINTS",
    "FAILURE_CODES",
    "SCRIPTED_KINDS",
    "Decision",
    "FaultInjector",
    "Faults",
]

ENDPOINTS = frozenset({"create", "task", "upload", "download"})
FAILURE_CODES = frozenset({"content_policy_violation", "generation_failed"})

_COMMON_KINDS = frozenset({"drop", "lost_response", "429", "500", "503", "edge_html", "latency"})
_JSON_KINDS = _COMMON_KINDS | {"truncated"}
SCRIPTED_KINDS: dict[str, frozenset[str]] = {
    "create": _JSON_KINDS | {"task_failure", "defect"},
    "task": _JSON_KINDS | {"empty_results"},
    "upload": _JSON_KINDS,
    "download": _COMMON_KINDS | {"expired"},
}

_PROBABILITIES = (
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
        for name in (*_PROBABILITIES, "defect"):
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


@dataclass(frozen=True)
class Decision:
    """What the edge should do with one request.

    ``action`` is ``None`` (serve normally) or one of the scripted kinds that changes the
    response; ``task_failure_code``, ``empty_results`` and ``defect`` are instructions for the
    handler.
    """

    action: str | None = None
    latency_s: float = 0.0
    retry_after_s: float | None = None
    task_failure_code: str | None = None
    empty_results: bool = False
    defect: str | None = None


@dataclass(frozen=True)
class _Scripted:
    kind: str
    retry_after_s: float | None
    latency_s: float
    code: str
    defect: str | None


def _defect_draw_count(endpoint: str) -> int:
    """Numbers drawn from the defect RNG per request: two per create (whether, which kind)."""
    return 2 if endpoint == "create" else 0


class FaultInjector:
    """Seeded random faults plus per-endpoint queues of scripted one-shot faults.

    Thread-safe: the server's event loop asks :meth:`decide` while tests call :meth:`inject`.
    ``now`` is the clock used by the token bucket.
    """

    def __init__(self, faults: Faults, *, seed: int, now: Callable[[], float]) -> None:
        self._faults = faults
        self._rng = random.Random(seed)
        self._defect_rng = random.Random(f"defects:{seed}")
        self._now = now
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[_Scripted]] = {name: deque() for name in ENDPOINTS}
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, refilled_at)

    @property
    def faults(self) -> Faults:
        """The random fault rates in force."""
        return self._faults

    def set_faults(self, faults: Faults) -> None:
        """Replace the random fault rates; the RNG keeps its position, queues are kept."""
        with self._lock:
            self._faults = faults
            self._buckets.clear()

    def inject(
        self,
        endpoint: str,
        kind: str,
        *,
        count: int = 1,
        retry_after_s: float | None = None,
        latency_s: float = 1.0,
        code: str = "content_policy_violation",
        defect: str | None = None,
    ) -> None:
        """Queue ``count`` one-shot faults of ``kind`` for the next requests to ``endpoint``.

        ``retry_after_s`` applies to ``429`` (default: the ``Faults.retry_after_s`` in force),
        ``latency_s`` to ``latency``, ``code`` to ``task_failure``, ``defect`` (required) to
        ``defect``.

        >>> injector = FaultInjector(Faults(), seed=0, now=lambda: 0.0)
        >>> injector.inject("create", "429", retry_after_s=1.5)
        >>> injector.decide("create").action
        '429'
        """
        if endpoint not in SCRIPTED_KINDS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {sorted(ENDPOINTS)}")
        if kind not in SCRIPTED_KINDS[endpoint]:
            allowed = sorted(SCRIPTED_KINDS[endpoint])
            raise ValueError(f"fault {kind!r} does not apply to {endpoint!r}; use one of {allowed}")
        if code not in FAILURE_CODES:
            raise ValueError(f"code must be one of {sorted(FAILURE_CODES)}")
        if count < 1 or latency_s < 0:
            raise ValueError("count must be >= 1 and latency_s >= 0")
        check_defect(defect)
        if (kind == "defect") != (defect is not None):
            raise ValueError("defect=KIND goes with the 'defect' fault, and only with it")
        with self._lock:
            self._scripts[endpoint].extend(
                _Scripted(kind, retry_after_s, latency_s, code, defect) for _ in range(count)
            )

    def scripted_left(self, endpoint: str) -> int:
        """How many scripted faults are still queued for ``endpoint``."""
        with self._lock:
            return len(self._scripts[endpoint])

    def decide(self, endpoint: str) -> Decision:
        """Decide the fate of the next request to ``endpoint`` (consumes a script or draws)."""
        with self._lock:
            # Draw even when a script wins, so the random sequence depends only on the
            # sequence of requests, not on which of them were scripted.
            draws = [self._rng.random() for _ in range(len(_PROBABILITIES) + 1)]
            defect_draws = [self._defect_rng.random() for _ in range(_defect_draw_count(endpoint))]
            if self._scripts[endpoint]:
                return self._from_script(self._scripts[endpoint].popleft())
            if endpoint not in self._faults.endpoints:
                return Decision()
            return self._from_draws(draws, defect_draws)

    def allow(self, api_key: str, endpoint: str) -> bool:
        """Take a token from ``api_key``'s bucket; ``False`` means answer 429."""
        with self._lock:
            rps = self._faults.rate_limit_rps
            if rps is None or endpoint not in self._faults.endpoints:
                return True
            now = self._now()
            capacity = max(1.0, rps)
            tokens, refilled_at = self._buckets.get(api_key, (capacity, now))
            tokens = min(capacity, tokens + (now - refilled_at) * rps)
            allowed = tokens >= 1.0
            self._buckets[api_key] = (tokens - 1.0 if allowed else tokens, now)
            return allowed

    def _from_script(self, script: _Scripted) -> Decision:
        if script.kind == "latency":
            return Decision(latency_s=script.latency_s)
        if script.kind == "task_failure":
            return Decision(task_failure_code=script.code)
        if script.kind == "empty_results":
            return Decision(empty_results=True)
        if script.kind == "defect":
            return Decision(defect=script.defect)
        if script.kind != "429":
            return Decision(action=script.kind)
        retry_after_s = script.retry_after_s
        if retry_after_s is None:
            retry_after_s = self._faults.retry_after_s
        return Decision(action="429", retry_after_s=retry_after_s)

    def _from_draws(self, draws: list[float], defect_draws: list[float]) -> Decision:
        faults = self._faults
        by_name = dict(zip(_PROBABILITIES, draws, strict=False))
        low_s, high_s = faults.latency_range_s
        latency_s = low_s + (high_s - low_s) * draws[-1]
        # Earlier entries win: an edge that drops or blocks never reaches the API behind it.
        ladder = (
            ("drop", "drop"),
            ("edge_html", "edge_html"),
            ("rate_limit", "429"),
            ("error_500", "500"),
            ("error_503", "503"),
            ("lost_response", "lost_response"),
            ("truncated", "truncated"),
        )
        action = next((act for name, act in ladder if by_name[name] < getattr(faults, name)), None)
        failing = by_name["task_failure"] < faults.task_failure
        defect = None
        if defect_draws and defect_draws[0] < faults.defect:
            kinds = tuple(faults.defect_kinds)
            defect = kinds[min(len(kinds) - 1, int(defect_draws[1] * len(kinds)))]
        return Decision(
            action=action,
            latency_s=latency_s,
            retry_after_s=faults.retry_after_s if action == "429" else None,
            task_failure_code=faults.failure_code if failing else None,
            empty_results=by_name["empty_results"] < faults.empty_results,
            defect=defect,
        )
