"""JSON as foxnb keeps it: compact text, fast (orjson), and exact where orjson is not.

The runs stores write every event and run with :func:`dumps` and read it with :func:`loads`;
a task keeps its answer the same way (``Task.raw``). :func:`loads_foreign` reads JSON written
elsewhere (an old ledger line).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# A JSON number of 20 digits or more may exceed 64 bits, which orjson would read as a float.
# (Digits inside a text value can match too; such a line is merely parsed more slowly.)
_LONG_NUMBER = re.compile(rb"[:,\[]\s*-?\d{20}")


def dumps(value: Any) -> str:
    """``value`` as compact JSON text; integers beyond 64 bits are kept exactly.

    orjson cannot write those: the standard library does, and its text starts with a space
    (still valid JSON) so that :func:`loads` knows to read it back exactly, at no cost to the
    other rows.
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer orjson cannot hold, or a non-text key
        return " " + json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(raw: str | bytes) -> Any:
    """Read what :func:`dumps` wrote (fast, orjson, unless marked as needing exactness)."""
    if raw[:1] in (" ", b" "):
        return json.loads(raw)
    return orjson.loads(raw)


def loads_foreign(raw: bytes) -> Any:
    """Read JSON written elsewhere (an old ledger line): exactly, if it may hold an integer
    wider than 64 bits."""
    if _LONG_NUMBER.search(raw):
        return json.loads(raw)
    return orjson.loads(raw)
