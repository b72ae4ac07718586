"""Reading recorded runs back: a ledger written by any foxnb, older ones included.

A run's fields come back as whatever was written. ``recorded_request`` rebuilds the request of
a run that was already sent (for showing it: an option an older foxnb let through, such as a
seed of 2**63, is left out rather than refused, since the task exists and is paid for);
``recorded_options`` are its optional fields.
"""

from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from ..models import REQUEST_FIELDS, ExtendRequest


def recorded_options(run: dict[str, Any]) -> dict[str, Any]:
    """The request fields a run recorded, besides ``prompt`` and ``video`` (None left out)."""
    return {k: run[k] for k in REQUEST_FIELDS if run.get(k) is not None}


def recorded_request(run: dict[str, Any], video: str) -> ExtendRequest:
    """The request of a run already sent, without any option foxnb would now refuse."""
    options = recorded_options(run)
    while True:
        try:
            return ExtendRequest(prompt=run["prompt"], video=video, **options)
        except ValidationError as exc:
            refused = {error.field for error in exc.errors} & set(options)
            if not refused:
                raise
            for name in refused:
                del options[name]
