"""Choosing the best of several runs: by a score, or by your star. Pure, on run dicts.

A chain's hop makes ``best_of`` candidates and carries on from one of them. ``choose``
decides which, in this order:

1. a completed candidate you starred (``fx.star``) is chosen, whatever the scores say; of
   several starred ones, the best by the score (or, with ``pick="manual"``, the last starred);
2. with ``pick="manual"``, nothing is chosen until you star one;
3. otherwise the best completed, not rejected candidate by the score named in ``pick``
   (``PICK_RULES`` says which way is better); ties go to the earlier candidate. Candidates
   without that score (not scored, or it could not be computed) come last, and if none has
   it, nothing is chosen: star one.

Rejected candidates (``fx.reject``) are never chosen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError
from ..models import closest_name

PICK_RULES: dict[str, str] = {
    "seam_jump": "min",
    "color_shift": "min",
    "seam_ssim": "max",
    "prefix_psnr": "max",
    "flicker": "max",
    "rating": "max",
}
"""Scores a chain can pick by, and whether the lowest (``min``) or highest (``max``) wins."""
BETTER: dict[str, str] = {
    **PICK_RULES,
    "cut_at_seam": "min",
    "duration_ok": "max",
    "audio_ok": "max",
    "has_prefix": "max",
    "credits": "min",
    "duration_s": "min",
}
"""Which way is better for every column whose direction is known (sorting, shading)."""
MANUAL = "manual"


def check_pick(pick: object) -> str:
    """``pick`` if it names a rule of ``PICK_RULES`` or ``"manual"``, else a ValidationError."""
    allowed = (*PICK_RULES, MANUAL)
    if not isinstance(pick, str) or pick not in allowed:
        hint = closest_name(str(pick), list(allowed))
        more = f"; did you mean {hint!r}?" if hint else ""
        raise ValidationError("pick", f"cannot pick by {pick!r}{more}", allowed)
    return pick


@dataclass(frozen=True)
class Choice:
    """What ``choose`` decided: the chosen ``run_id`` (None: none yet) and why, in words."""

    run_id: str | None
    reason: str


def score_of(run: dict[str, Any], name: str) -> float | None:
    """``run[name]`` as a finite number, or None."""
    value = run.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def choose(candidates: Sequence[dict[str, Any]], pick: str) -> Choice:
    """The candidate to carry on from (see the module docstring); ``candidates`` in order."""
    done = [run for run in candidates if run.get("status") == "completed"]
    if not done:
        return Choice(None, "no candidate completed")
    starred = [run for run in done if run.get("pick") == "star"]
    if len(starred) == 1:
        return Choice(str(starred[0]["run_id"]), "you starred it")
    if starred:
        if pick == MANUAL:
            latest = max(starred, key=lambda run: score_of(run, "judged_at") or 0.0)
            return Choice(str(latest["run_id"]), "the last of the candidates you starred")
        best = _best(starred, pick)
        if best is not None:
            return Choice(best, f"the best by {pick} of the candidates you starred")
        return Choice(str(starred[-1]["run_id"]), "the last of the candidates you starred")
    if pick == MANUAL:
        return Choice(None, "waiting for you to star one of the candidates")
    allowed = [run for run in done if run.get("pick") != "reject"]
    if not allowed:
        return Choice(None, "every completed candidate is rejected; star one")
    best = _best(allowed, pick)
    if best is None:
        return Choice(None, f"no completed candidate has a {pick} score; star one")
    direction = "lowest" if PICK_RULES[pick] == "min" else "highest"
    return Choice(best, f"the {direction} {pick}")


def _best(runs: Sequence[dict[str, Any]], pick: str) -> str | None:
    """The run id with the best ``pick`` score (the earliest on ties), None if none has one."""
    sign = 1.0 if PICK_RULES[pick] == "min" else -1.0
    scored = [
        (sign * value, index, str(run["run_id"]))
        for index, run in enumerate(runs)
        if (value := score_of(run, pick)) is not None
    ]
    return min(scored)[2] if scored else None
