"""Signed, expiring result URLs, like a CDN's: ``?expires=<unix>&sig=<hmac>``.

FoxAPI says result links are valid for 24 hours and is silent on what happens next (SPEC open
question 10). The simulator's choice: a completed task's URL is stable for one validity window
from completion; once that window has passed, the next task query hands out a fresh URL valid
for another window (so a re-query after expiry recovers the file). Windows are computed, not
stored, so a restarted simulator hands out the same URLs.
"""

from __future__ import annotations

import hashlib
import hmac
import math

__all__ = ["sign", "valid_signature", "window_expiry"]


def window_expiry(completed_at: float, ttl_s: float, now: float) -> int:
    """The ``expires`` Unix second of the validity window that contains ``now``.

    >>> window_expiry(1000.0, 60.0, 1010.0), window_expiry(1000.0, 60.0, 1075.0)
    (1060, 1120)
    """
    windows_passed = max(0, math.floor((now - completed_at) / ttl_s))
    return math.ceil(completed_at + ttl_s * (windows_passed + 1))


def sign(secret: bytes, task_id: str, expires: int) -> str:
    """The hex HMAC-SHA256 that authorises downloading ``task_id``'s result until ``expires``."""
    message = f"{task_id}:{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def valid_signature(secret: bytes, task_id: str, expires: int, signature: str) -> bool:
    """Whether ``signature`` was made by :func:`sign` for these values (constant time)."""
    return hmac.compare_digest(sign(secret, task_id, expires), signature)
