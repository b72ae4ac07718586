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
``upload`` (POST /v1/files/upload/*) and ``download`` (GET or HEAD /files/..., the public
file URLs: uploads and results).

Scripted kinds (see :data:`SCRIPTED_KINDS` for which endpoint takes which), with the options of
:meth:`FaultInjector.inject` (and ``Simulator.inject``) that go with them:

====================  ========================================================================
``drop``              connection dropped before the request is handled (nothing happens)
``lost_response``     request handled (a create creates and bills a task), then the connection
                      drops
``429``               rate limited; ``retry_after_s=`` sets the ``Retry-After`` header
``500``, ``503``      server error / no channel available
``edge_html``         an HTML 403 page from the edge (like a Cloudflare block)
``truncated``         200 with the JSON body cut in half
``latency``           handled normally after ``latency_s=`` extra seconds
``task_failure``      (create) the task is created but fails mid-processing with ``code=``
``defect``            (create) the task is created and completes normally, but its result has
                      the output defect ``defect=`` (``cut``, ``prefix``, ``flicker``,
                      ``color_drift``, ``short``, ``no_audio``; see :mod:`foxnb.sim.defects`)
``error_200``         (create, task) HTTP 200 whose body is ``{"error": {"message", "type"}}``
                      with type ``error_type=`` (default ``server_error``); a create creates
                      nothing
``empty_results``     (task) a completed task is reported with ``results: []``
``status``            (task) the body reports ``status=`` (any word: ``succeeded``, ``done``,
                      ``error``, ``timeout``, ...) instead of the real status; everything else
                      in it, and the task itself, carries on as usual
``edge_413``          (upload) the edge's HTML 413 page, whatever the body's size
``expired``           (download) the signed URL is answered as expired
``redirect``          (download) 302 to the same file under another loopback URL; ``hops=N``
                      chains N redirects (``/files/via/N-1/...`` down to ``/files/via/0/...``,
                      which serves the file); hops take no faults of their own
``redirect_loop``     (download) 302s that go round between two URLs for ever
``redirect_offsite``  (download) 302 to a non-loopback http URL: ``location=`` if given, else
                      the same path on ``http://192.0.2.1`` (TEST-NET-1, never routed)
``html_as_video``     (download) 200, ``Content-Type: video/mp4``, an HTML error page as body
``json_as_octet``     (download) 200, ``application/octet-stream``, a JSON error body
``no_content_type``   (download) 200 with an HTML error page and no Content-Type at all
``short_body``        (download, GET) the file's real headers (``Content-Length: N``), N - 1
                      bytes of it, then the connection ends
====================  ========================================================================

Downloads: every file URL answers HEAD and ranged GETs (206, or 416 past the end); a file
request carrying an ``Authorization`` header is counted in ``sim.backend.key_sent_to_files``.

Random output defects: ``Faults(defect=0.3, defect_kinds=("cut", "flicker"))`` gives each
create request a 30 % chance of a defect, its kind drawn evenly from ``defect_kinds`` (default:
all of them); on the command line ``--fault defect=0.3 --fault defect_kinds=cut,flicker``.
Which task got which defect is in its record: ``sim.backend.task(task_id).defect``.
"""

from __future__ import annotations

import random
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from .defects import check_defect
from .fault_rates import ENDPOINTS, FAILURE_CODES, PROBABILITIES, Faults

__all__ = [
    "ENDPOINTS",
    "FAILURE_CODES",
    "OFFSITE_BASE_URL",
    "SCRIPTED_KINDS",
    "Decision",
    "FaultInjector",
    "Faults",
]

_COMMON_KINDS = frozenset({"drop", "lost_response", "429", "500", "503", "edge_html", "latency"})
_JSON_KINDS = _COMMON_KINDS | {"truncated"}
_BODY_KINDS = frozenset({"html_as_video", "json_as_octet", "no_content_type"})
_REDIRECT_KINDS = frozenset({"redirect", "redirect_loop", "redirect_offsite"})
SCRIPTED_KINDS: dict[str, frozenset[str]] = {
    "create": _JSON_KINDS | {"task_failure", "defect", "error_200"},
    "task": _JSON_KINDS | {"empty_results", "status", "error_200"},
    "upload": _JSON_KINDS | {"edge_413"},
    "download": _COMMON_KINDS | _REDIRECT_KINDS | _BODY_KINDS | {"expired", "short_body"},
}
#: Where ``redirect_offsite`` points by default: TEST-NET-1 (RFC 5737), routed nowhere.
OFFSITE_BASE_URL = "http://192.0.2.1"
_MAX_HOPS = 20
_ERROR_TYPE = re.compile(r"[a-z][a-z_]{0,63}")


@dataclass(frozen=True)
class Decision:
    """What the edge should do with one request.

    ``action`` is ``None`` (serve normally) or one of the scripted kinds that changes the
    response; ``task_failure_code``, ``empty_results`` and ``defect`` are instructions for the
    handler; ``hops``, ``status``, ``error_type`` and ``location`` are the options of the
    ``redirect``, ``status``, ``error_200`` and ``redirect_offsite`` actions.
    """

    action: str | None = None
    latency_s: float = 0.0
    retry_after_s: float | None = None
    task_failure_code: str | None = None
    empty_results: bool = False
    defect: str | None = None
    hops: int = 1
    status: str | None = None
    error_type: str = "server_error"
    location: str | None = None


def _check_options(
    kind: str,
    *,
    defect: str | None,
    hops: int,
    status: str | None,
    error_type: str | None,
    location: str | None,
) -> None:
    """Refuse a scripted fault's option that is missing, malformed or meant for another kind."""
    if (kind == "defect") != (defect is not None):
        raise ValueError("defect=KIND goes with the 'defect' fault, and only with it")
    if (kind == "status") != (status is not None):
        raise ValueError("status=WORD goes with the 'status' fault, and only with it")
    if status is not None and not (0 < len(status) <= 64):
        raise ValueError("status must be a word of 1 to 64 characters")
    if hops != 1 and kind != "redirect":
        raise ValueError("hops= goes with the 'redirect' fault only")
    if not 1 <= hops <= _MAX_HOPS:
        raise ValueError(f"hops must be 1 to {_MAX_HOPS}, got {hops}")
    if error_type is not None and kind != "error_200":
        raise ValueError("error_type= goes with the 'error_200' fault only")
    if error_type is not None and not _ERROR_TYPE.fullmatch(error_type):
        raise ValueError(f"error_type must be a snake_case word, got {error_type!r}")
    if location is not None and kind != "redirect_offsite":
        raise ValueError("location= goes with the 'redirect_offsite' fault only")
    if location is not None and not re.match(r"https?://[^\s/]+", location):
        raise ValueError(f"location must be an http(s) URL, got {location!r}")


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
        self._scripts: dict[str, deque[Decision]] = {name: deque() for name in ENDPOINTS}
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
        hops: int = 1,
        status: str | None = None,
        error_type: str | None = None,
        location: str | None = None,
    ) -> None:
        """Queue ``count`` one-shot faults of ``kind`` for the next requests to ``endpoint``.

        ``retry_after_s`` applies to ``429`` (default: the ``Faults.retry_after_s`` in force),
        ``latency_s`` to ``latency``, ``code`` to ``task_failure``, ``defect`` (required) to
        ``defect``, ``hops`` to ``redirect``, ``status`` (required) to ``status``,
        ``error_type`` to ``error_200`` and ``location`` to ``redirect_offsite``; an option
        given to another kind is a ``ValueError``.

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
        _check_options(
            kind, defect=defect, hops=hops, status=status, error_type=error_type, location=location
        )
        if kind == "latency":
            decision = Decision(latency_s=latency_s)
        elif kind == "task_failure":
            decision = Decision(task_failure_code=code)
        elif kind == "empty_results":
            decision = Decision(empty_results=True)
        elif kind == "defect":
            decision = Decision(defect=defect)
        else:
            decision = Decision(
                action=kind,
                retry_after_s=retry_after_s,
                hops=hops,
                status=status,
                error_type=error_type or "server_error",
                location=location,
            )
        with self._lock:
            self._scripts[endpoint].extend(decision for _ in range(count))

    def scripted_left(self, endpoint: str) -> int:
        """How many scripted faults are still queued for ``endpoint``."""
        with self._lock:
            return len(self._scripts[endpoint])

    def decide(self, endpoint: str) -> Decision:
        """Decide the fate of the next request to ``endpoint`` (consumes a script or draws)."""
        with self._lock:
            # Draw even when a script wins, so the random sequence depends only on the
            # sequence of requests, not on which of them were scripted.
            draws = [self._rng.random() for _ in range(len(PROBABILITIES) + 1)]
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

    def _from_script(self, scripted: Decision) -> Decision:
        if scripted.action == "429" and scripted.retry_after_s is None:
            # The Faults in force when the request arrives, not when it was scripted.
            return replace(scripted, retry_after_s=self._faults.retry_after_s)
        return scripted

    def _from_draws(self, draws: list[float], defect_draws: list[float]) -> Decision:
        faults = self._faults
        by_name = dict(zip(PROBABILITIES, draws, strict=False))
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
