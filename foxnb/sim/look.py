"""How a request's prompt and seed choose the look of its simulated continuation.

The renderer (:mod:`foxnb.sim.render`) has no model; it moves a virtual camera over a still
frame. :func:`look_for` turns (prompt, seed) into the choices that make one continuation
differ from another: the camera's pan direction and zoom depth, the hue of the colour cast that
builds up, and the note of the soft tone under it. The same prompt and seed always give the
same :class:`Look`; neighbouring seeds give far-apart looks; a prompt that names a direction
("pan left", "rises") or a mood ("storm", "dusk", "forest") steers the camera or the tint that
way, so prompts compared side by side look like what they say.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

__all__ = ["Look", "look_for"]

# How far one seed step moves the hue, pan direction, zoom depth and note, as fractions of
# their ranges: the golden ratio's fractional part and relatives, which never nearly repeat.
_SEED_STEPS = ((math.sqrt(5) - 1) / 2, (3 - math.sqrt(5)) / 2, math.sqrt(2) - 1, math.sqrt(3) - 1)
# Continuation notes, in semitones above A3: a pentatonic set, so every seed sounds pleasant.
_TONE_SEMITONES = (0, 2, 4, 7, 9, 12, 14)
_TONE_BASE_HZ = 220.0

# Words a prompt may use to steer the simulated continuation. Hues are angles in the (Cb, Cr)
# chroma plane: 0 pushes towards blue, pi/2 red, pi yellow, 3pi/2 green.
_DIRECTION_WORDS = {
    "right": 0.0,
    "up": math.pi / 2,
    "rise": math.pi / 2,
    "rises": math.pi / 2,
    "sky": math.pi / 2,
    "left": math.pi,
    "down": 3 * math.pi / 2,
    "falls": 3 * math.pi / 2,
    "ground": 3 * math.pi / 2,
}
_HUE_WORDS = {
    "cold": -0.3,
    "storm": -0.3,
    "rain": -0.3,
    "night": 0.2,
    "stars": 0.2,
    "blue": 0.0,
    "fire": 2.0,
    "red": math.pi / 2,
    "warm": 2.4,
    "dusk": 2.4,
    "sunset": 2.4,
    "golden": 2.7,
    "dawn": 2.7,
    "green": 4.0,
    "forest": 4.0,
    "spring": 4.0,
}
# How far the seed may move a choice the prompt made (radians either way).
_STEERED_SPREAD_RAD = 0.9


@dataclass(frozen=True)
class Look:
    """The per-request choices that make one continuation differ from another.

    ``zoom_end`` is the final zoom factor (1.18–1.35); the angles are radians; ``tone_hz`` is
    the pitch of the continuation's note.
    """

    zoom_end: float
    pan_angle_rad: float
    tint_hue_rad: float
    tone_hz: float


def look_for(prompt: str, seed: int) -> Look:
    """Derive the continuation's look from the prompt and seed.

    The prompt hash picks a starting point for each choice and the seed steps away from it by
    an irrational fraction of the range (a different one per choice, so they don't move in
    lockstep), which puts neighbouring seeds (0, 1, 2, ...) far apart rather than on similar
    looks. A steering word fixes a choice's centre, and the seed then only varies it within
    ``_STEERED_SPREAD_RAD``.

    >>> look_for("pan left", 1) == look_for("pan left", 1)
    True
    """
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    hue_u, pan_u, zoom_u, tone_u = (
        (int.from_bytes(digest[8 * i : 8 * i + 8], "big") / 2**64 + seed * step) % 1.0
        for i, step in enumerate(_SEED_STEPS)
    )
    pan_rad, hue_rad = 2 * math.pi * pan_u, 2 * math.pi * hue_u
    if (steered := _steer(prompt, _DIRECTION_WORDS)) is not None:
        pan_rad = steered + _STEERED_SPREAD_RAD * (2 * pan_u - 1)
    if (steered := _steer(prompt, _HUE_WORDS)) is not None:
        hue_rad = steered + _STEERED_SPREAD_RAD * (2 * hue_u - 1)
    return Look(
        zoom_end=1.18 + 0.17 * zoom_u,
        pan_angle_rad=pan_rad,
        tint_hue_rad=hue_rad,
        tone_hz=_TONE_BASE_HZ * 2 ** (_TONE_SEMITONES[int(tone_u * len(_TONE_SEMITONES))] / 12),
    )


def _steer(prompt: str, words: dict[str, float]) -> float | None:
    """The angle of the last steering word in ``prompt``, or None if it has none."""
    found = [words[w] for w in re.findall(r"[a-z]+", prompt.lower()) if w in words]
    return found[-1] if found else None
