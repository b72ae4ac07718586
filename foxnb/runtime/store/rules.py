"""The send rule: may one more create request of an experiment go out now?

This is the sweep gate's arithmetic computed from the store instead of one process's memory,
so a budget and a stop hold across every kernel, worker and machine. For an experiment:

- **in flight**: runs ``submitting`` under a live lease, plus runs sent while the price was
  unknown whose owner has not reported the price yet (``pricing``); counted for the whole
  experiment (what the budget reserves) and for the writer asking (what the cap limits);
- **price**: the largest ``credits`` figure recorded for a task of the same backend and one of
  the experiment's models (unknown until the service has reported one);
- **spent**: credits of the experiment's tasks (reused results cost nothing), plus the price
  for each run whose create may have made a task without telling us its id
  (``submission_unknown``, or ``submitting`` under an expired lease): the safe side of a budget.

The decision, in order: stopped → refuse; ``max_in_flight`` creates out → wait (of the whole
experiment; with ``per_writer``, of the writer asking: each of many workers keeps its own
creates flowing, and a stop or a crash still finds most cells unsent); no budget → send;
price unknown → send one at a time (marked ``pricing``) while spent < budget; price known →
send while spent + in-flight reservations + one more job fit the budget. When nothing is in
flight and the budget is used up, the experiment is stopped with code ``budget``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .kinds import STOPPED_CODE, SendRule


@dataclass(frozen=True)
class RunFacts:
    """What the rule needs to know about one run of the experiment."""

    status: str | None
    lease_live: bool
    pricing_live: bool
    has_task: bool
    reused: bool
    credits: float | None
    mine: bool = False  # held by the writer asking


@dataclass(frozen=True)
class Tally:
    """An experiment's reservations: credits spent and create requests in flight (of every
    writer, and of the writer asking: ``None`` when not counted)."""

    spent_credits: float
    in_flight: int
    in_flight_mine: int | None = None


@dataclass(frozen=True)
class Verdict:
    """``send`` (``pricing``: while learning the price), ``wait``, or ``refuse`` with a
    reason; ``stop`` says the experiment must be stopped with that reason first."""

    action: Literal["send", "wait", "refuse"]
    pricing: bool = False
    code: str | None = None
    reason: str | None = None
    stop: bool = False


NO_CREDITS_REASON = "the service reported no credits figure, so the budget cannot be kept"


def tally(runs: list[RunFacts], price: float | None) -> Tally:
    """Spent credits and creates in flight (see the module docstring)."""
    spent = 0.0
    in_flight = mine = 0
    for run in runs:
        flying = False
        if run.has_task:
            if not run.reused:
                spent += run.credits if run.credits is not None else (price or 0.0)
            flying = run.pricing_live
        elif run.status == "submission_unknown":
            spent += price or 0.0
        elif run.status == "submitting":
            if run.lease_live:
                flying = True
            else:
                spent += price or 0.0  # its owner died mid-create: perhaps created
        in_flight += flying
        mine += flying and run.mine
    return Tally(spent, in_flight, mine)


def decide(
    rule: SendRule,
    budget: float | None,
    price: float | None,
    stopped: str | None,
    stop_code: str | None,
    counts: Tally,
) -> Verdict:
    """Whether one more create of ``rule.experiment`` may go out (see the module docstring)."""
    if stopped is not None:
        return Verdict("refuse", code=stop_code or STOPPED_CODE, reason=stopped)
    capped = counts.in_flight
    if rule.per_writer and counts.in_flight_mine is not None:
        capped = counts.in_flight_mine
    if capped >= rule.max_in_flight:
        return Verdict("wait")
    if budget is None:
        return Verdict("send")
    spent, in_flight = counts.spent_credits, counts.in_flight
    if price is None:
        if in_flight:
            return Verdict("wait")  # one at a time until an answer tells the price
        if spent >= budget:
            return _over_budget(rule.experiment, spent, budget, price)
        return Verdict("send", pricing=True)
    if spent + in_flight * price + price <= budget:
        return Verdict("send")
    if in_flight:
        return Verdict("wait")  # one in flight may fail and leave room
    return _over_budget(rule.experiment, spent, budget, price)


def _over_budget(name: str, spent: float, budget: float, price: float | None) -> Verdict:
    cost = "" if price is None else f"; a job costs {price:g}"
    reason = f"credit budget reached: {spent:g} of {budget:g} credits reserved by sweep {name!r}"
    return Verdict("refuse", code="budget", reason=reason + cost, stop=True)
