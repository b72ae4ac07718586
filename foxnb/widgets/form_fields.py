"""The form's fields as data: help lines, dropdown choices, defaults, and value parsing.

Kept apart from the widget (``form.py``) so the form's layout code reads on its own.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from ..errors import ValidationError
from ..models import EXTEND_DEFAULTS, EXTEND_OPTIONS

# The form's defaults are extend()'s defaults, so the two cannot drift apart.
DEFAULTS: dict[str, Any] = EXTEND_DEFAULTS
OPTIONS = EXTEND_OPTIONS

FIELD_HELP = {
    "prompt": "Where the 7 s of new video should go: continued motion or a scene change. Required.",
    "video": "An http(s) URL or a local 720p/1080p clip, 16:9 or 9:16: a path, or upload ≤ 10 MB.",
    "model": "veo-3.1-extend (standard, default) or veo-3.1-extend-fast (the fast version).",
    "aspect_ratio": "Output aspect. Default: match input (the clip's, or the URL's as read).",
    "generate_audio": "Generate a matching audio track. Default: on.",
    "auto_fix": "Lets the service repair the prompt (its default is on). Default: not sent.",
    "safety_tolerance": "1 = strictest … 6 = most lenient. Default: not sent.",
    "negative_prompt": "What to avoid, as comma-separated keywords. Default: not sent.",
    "seed": "A non-negative integer for a repeatable result. Empty: not sent (random).",
    "tags": "Comma-separated labels for the run ledger (fx.runs()); not sent to FoxAPI.",
}

# Dropdown label -> the value passed to extend(); None means "not sent" / "match input".
CHOICES: dict[str, dict[str, Any]] = {
    "aspect_ratio": {"match input": None, "16:9": "16:9", "9:16": "9:16"},
    "auto_fix": {"not sent": None, "True": True, "False": False},
    "safety_tolerance": {
        "not sent": None,
        "1 (strictest)": 1,
        **{str(level): level for level in range(2, 6)},
        "6 (most lenient)": 6,
    },
}


def parse_seed(text: str) -> int | str | None:
    """Empty → None (not sent); an integer → int; anything else stays text for the check."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text, 10)
    except ValueError:
        return text


def label_for(name: str, value: Any) -> str:
    for label, choice in CHOICES[name].items():
        if choice == value and type(choice) is type(value):
            return label
    raise ValidationError(name, f"{value!r} is not an option here", list(CHOICES[name]))


def message_of(exc: ValidationError) -> str:
    """The error's text without the leading ``field:``, which the form's layout already says."""
    return str(exc).removeprefix(f"{exc.field}: ")


LABEL_STYLE = {"description_width": "130px"}


def wide() -> w.Layout:
    return w.Layout(width="100%", max_width="760px")


def under_input() -> w.Layout:
    """Help, errors and notes line up with the inputs, right of the 130 px labels."""
    return w.Layout(margin="0 0 0 136px")


def dropdown(name: str) -> w.Dropdown:
    labels = list(CHOICES[name])
    return w.Dropdown(
        options=labels, value=label_for(name, DEFAULTS[name]), description=name, style=LABEL_STYLE
    )
