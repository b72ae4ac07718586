"""Output defects: results that look finished but are flawed in a known, measurable way.

A real extension model sometimes returns a video that plays but is wrong. The simulator can
make its result defective on purpose (``sim.inject("create", "defect", defect=KIND)``, or at a
seeded random rate with ``Faults(defect=0.2)``), so code that judges results, such as video
scores, can be tested against ground truth: the task record says which defect it got
(``sim.backend.task(task_id).defect``), and nothing in the API's answers gives it away.

=================  ===========================================================================
``cut``            the new part starts with a hard cut to an unrelated scene (diagonal stripes
                   in a hue opposite to the input's), which the camera then moves over
``prefix``         the input part is mirrored left to right, so it no longer matches the
                   input; the new part continues smoothly from the mirrored last frame
``flicker``        the new part's frames are alternately 30 luma levels darker and brighter
                   (the first one is left alone, so the seam itself stays smooth)
``color_drift``    a colour cast that grows steadily over the new part, to 50 chroma levels on
                   top of the ordinary tint (which reaches 20), in the same hue
``short``          the new part lasts 3 s instead of 7 s
``no_audio``       no audio track, although ``generate_audio`` is true
=================  ===========================================================================

Everything else about a defective result (size, frame rate, the camera move, the tone) is as
in a clean one, and a defective render is as deterministic as a clean one: the same input,
prompt, seed, audio flag and defect give the same bytes.
"""

from __future__ import annotations

import math

import av
import numpy as np

from .frames import plane
from .look import Look

__all__ = [
    "DEFECT_KINDS",
    "SHORT_CONTINUATION_S",
    "alter_new_frame",
    "check_defect",
    "continuation_s_for",
    "mirrored",
    "unrelated_still",
]

DEFECT_KINDS = ("cut", "prefix", "flicker", "color_drift", "short", "no_audio")

#: Length of the new part of a ``short`` result (a clean one has 7 s).
SHORT_CONTINUATION_S = 3.0

# How far a ``flicker`` result's frames swing darker and brighter, in luma levels; the swing
# averages out, so the mean colour over a second stays as in a clean result.
_FLICKER_LUMA = 30
# Chroma levels the ``color_drift`` cast reaches on the last frame.
_DRIFT_MAX_CHROMA = 50.0
# Stripes of the unrelated scene of a ``cut``: periods across the frame, and their luma range.
_STRIPE_PERIODS = 5.0
_STRIPE_LUMA = (50.0, 200.0)
_CUT_CHROMA = 45.0
_GOLDEN = (math.sqrt(5) - 1) / 2


def check_defect(defect: str | None) -> str | None:
    """Return ``defect`` if it is ``None`` or a known kind; raise ``ValueError`` otherwise."""
    if defect is not None and defect not in DEFECT_KINDS:
        raise ValueError(f"unknown defect {defect!r}; use one of {', '.join(DEFECT_KINDS)}")
    return defect


def continuation_s_for(defect: str | None, clean_s: float) -> float:
    """How long the new part lasts: :data:`SHORT_CONTINUATION_S` for ``short``, else ``clean_s``."""
    return SHORT_CONTINUATION_S if defect == "short" else clean_s


def mirrored(frame: av.VideoFrame) -> av.VideoFrame:
    """A left-right mirrored copy of a yuv420p frame (the ``prefix`` defect)."""
    out = av.VideoFrame(frame.width, frame.height, "yuv420p")
    for index in range(3):
        plane(out, index)[:] = plane(frame, index)[:, ::-1]
    return out


def unrelated_still(like: av.VideoFrame, seed: int) -> av.VideoFrame:
    """A scene with nothing in common with ``like`` (the ``cut`` defect), of the same size.

    Diagonal stripes (plenty of edges, so the camera move over them is visible) tinted in the
    hue opposite to ``like``'s average colour; ``seed`` shifts the stripes' phase.
    """
    width, height = like.width, like.height
    out = av.VideoFrame(width, height, "yuv420p")
    ys = np.arange(height, dtype=np.float32)[:, None] / height
    xs = np.arange(width, dtype=np.float32)[None, :] / width
    phase = (seed * _GOLDEN) % 1.0
    wave = 0.5 + 0.5 * np.sin(2 * math.pi * (_STRIPE_PERIODS * (xs + 0.6 * ys) + phase))
    low, high = _STRIPE_LUMA
    plane(out, 0)[:] = np.rint(low + (high - low) * wave).astype(np.uint8)
    cb_mean = float(plane(like, 1).mean()) - 128.0
    cr_mean = float(plane(like, 2).mean()) - 128.0
    hue_rad = math.atan2(cr_mean, cb_mean) + math.pi
    for index, component in ((1, math.cos(hue_rad)), (2, math.sin(hue_rad))):
        plane(out, index)[:] = round(128 + _CUT_CHROMA * component)
    return out


def alter_new_frame(
    frame: av.VideoFrame, defect: str | None, *, step: int, frame_count: int, look: Look
) -> None:
    """Apply ``flicker`` or ``color_drift`` to frame ``step`` of the new part, in place.

    Other defects (and ``None``) leave the frame untouched.
    """
    if defect == "flicker" and step > 0:
        swing = -_FLICKER_LUMA if step % 2 else _FLICKER_LUMA
        lut = np.clip(np.arange(256) + swing, 0, 255).astype(np.uint8)
        luma = plane(frame, 0)
        luma[:] = lut[luma]
    elif defect == "color_drift":
        shift = _DRIFT_MAX_CHROMA * (step + 1) / frame_count
        hue_rad = look.tint_hue_rad
        for index, component in ((1, math.cos(hue_rad)), (2, math.sin(hue_rad))):
            lut = np.clip(np.arange(256) + round(shift * component), 0, 255).astype(np.uint8)
            chroma = plane(frame, index)
            chroma[:] = lut[chroma]
