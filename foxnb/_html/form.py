"""Pure HTML of the extend form's parts: help lines, field errors, notes, and the code view."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from . import style
from .base import escape


def help_html(text: str) -> str:
    """The one-line help under a form field."""
    return f'<span style="{style.MUTED}">{escape(text)}</span>'


def field_error_html(message: str) -> str:
    """A form field's error message (empty when the field is fine)."""
    return f'<span style="color:{style.BAD}">{escape(message)}</span>' if message else ""


def disabled_reason_html(errors: Mapping[str, str]) -> str:
    """Why Submit is disabled, next to it: ``Submit needs a valid prompt and seed (see the
    messages under them).`` (empty when nothing is wrong)."""
    if not errors:
        return ""
    names = list(errors)
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    where = "the message under it" if len(names) == 1 else "the messages under them"
    return (
        f'<span class="foxnb-submit-why" style="color:{style.BAD}">Submit needs a valid '
        f"{escape(listed)} (see {where}).</span>"
    )


def info_html(text: str) -> str:
    """A neutral note, e.g. what a probed clip is."""
    return f'<span style="{style.MUTED}">{escape(text)}</span>' if text else ""


def extend_code(prompt: str, video: str, options: Sequence[tuple[str, object]]) -> str:
    """The ``fx.extend(...)`` call that does what the form would, as Python source."""
    lines = ["job = fx.extend(", f"    {prompt!r},", f"    video={video!r},"]
    lines += [f"    {name}={value!r}," for name, value in options]
    return "\n".join([*lines, ")"])


def code_html(code: str) -> str:
    """Source code in a ``<pre>`` block."""
    return (
        f'<div style="{style.MUTED}">Same call in code:</div>'
        f'<pre style="{style.CODE_BLOCK}">{escape(code)}</pre>'
    )
