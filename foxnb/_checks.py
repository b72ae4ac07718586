"""Field checks in plain words: is a value acceptable, and if not, what to do about it.

Each function returns a ``ValidationError`` (or ``None`` when the value is fine) instead of
raising, so a caller can check every field of a call and report all the problems at once
(``ValidationError.combine``). ``ExtendRequest`` (``foxnb.models``) applies them to its fields.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ValidationError

MAX_PROMPT_CHARS = 2000
"""Longest ``prompt`` / ``negative_prompt`` foxnb sends. FoxAPI states no limit for extend;
its veo3.1 pages cap ``prompt`` at 2000 characters, so longer text is refused locally instead
of being paid for and then cut or rejected."""

TEXT_ALLOWED = f"text of at most {MAX_PROMPT_CHARS} characters"

VIDEO_ALLOWED = "an http(s) URL or a local video file"

# Characters that reorder how text is displayed (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI):
# a prompt holding them can read differently in the ledger and widgets from what is sent.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_int(value: object) -> bool:
    """True for an ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_url(value: str) -> bool:
    """True when ``value`` is an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. "http://[not-an-address"
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def closest_name(name: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """The most similar of ``choices`` to a misspelt ``name``, if any is close."""
    found = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return found[0] if found else None


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be sent as it is, in plain words, or ``None`` when it can.

    Refused: invisible control characters, half of a character (a lone surrogate, left by a
    bad copy and paste) and direction overrides that make text read differently on screen
    from what is sent.
    """
    for index, char in enumerate(text):
        code = ord(char)
        if not (
            0xD800 <= code <= 0xDFFF
            or code < 0x20
            or 0x7F <= code <= 0x9F
            or char in _BIDI_CONTROLS
        ):
            continue
        where = f"U+{code:04X} at position {index}"
        if 0xD800 <= code <= 0xDFFF:
            return f"holds a broken character ({where}, half of an emoji or symbol); retype it"
        if (code < 0x20 and char not in "\t\n\r") or 0x7F <= code <= 0x9F:
            return f"holds an invisible control character ({where}); remove it"
        if char in _BIDI_CONTROLS:
            return (
                f"holds an invisible character that changes the text's direction ({where}), "
                "so it would read differently on screen from what is sent; remove it"
            )
    return None


def text_error(field: str, text: str) -> ValidationError | None:
    """Too long, or holding characters that cannot be sent (see ``text_problem``)."""
    if len(text) > MAX_PROMPT_CHARS:
        return ValidationError(
            field, f"is {len(text):,} characters long, over the limit", TEXT_ALLOWED
        )
    problem = text_problem(text)
    return None if problem is None else ValidationError(field, problem, TEXT_ALLOWED)


def video_error(video: object) -> ValidationError | None:
    """What is wrong with a ``video`` source: an http(s) URL or an existing local file.

    A local file's content (size, aspect ratio) is checked by ``media.check_input``.
    """
    if not isinstance(video, str):
        return ValidationError("video", f"must be text or a Path, got {video!r}", VIDEO_ALLOWED)
    if not video.strip():
        return ValidationError("video", "is empty", VIDEO_ALLOWED)
    problem = text_problem(video)
    if problem is not None:
        return ValidationError("video", problem, VIDEO_ALLOWED)
    try:
        scheme = urlsplit(video).scheme
    except ValueError as exc:
        return ValidationError("video", f"{video!r} is not a valid URL ({exc})", VIDEO_ALLOWED)
    if scheme and len(scheme) > 1 and not Path(video).exists():  # a URL, not a path
        if not is_url(video):
            return ValidationError(
                "video", f"URL scheme {scheme!r} is not supported", ("http", "https")
            )
        if any(char.isspace() for char in video):
            return ValidationError(
                "video", "a URL cannot hold spaces; write them as %20", "an http(s) URL"
            )
        return None
    path = Path(video).expanduser()
    if path.is_dir():
        return ValidationError("video", f"{video!r} is a folder, not a video file", VIDEO_ALLOWED)
    if not path.is_file():
        return ValidationError("video", f"no file at {video!r}", VIDEO_ALLOWED)
    return None


def line_error(field: str, text: str, max_chars: int) -> ValidationError | None:
    """A name (of a sweep, say): the prompt rule (``text_problem``), on one line of at most
    ``max_chars`` characters, since names label tables, pages and file listings."""
    allowed = f"one line of text of at most {max_chars} characters"
    if len(text) > max_chars:
        return ValidationError(field, f"is {len(text):,} characters long, over the limit", allowed)
    problem = text_problem(text)
    if problem is None:
        for index, char in enumerate(text):
            if char in "\t\n\r":
                where = f"U+{ord(char):04X} at position {index}"
                problem = f"holds a line break or tab ({where}); a name is one line"
                break
    return None if problem is None else ValidationError(field, problem, allowed)
