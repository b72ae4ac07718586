"""Helpers shared by the tests (the fixtures themselves are in ``conftest.py``).

    from support import connect, wait_for

``connect(sim, tmp_path)`` opens a quiet session on a simulator with its runs in
``tmp_path / "runs"``; ``wait_for(condition)`` polls until ``condition()`` is truthy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import foxnb
from foxnb.sim import Simulator

T = TypeVar("T")


def connect(sim: Simulator, tmp_path: Path, **options: Any) -> foxnb.Session:
    """A quiet session on ``sim`` whose runs are kept in ``tmp_path / "runs"``."""
    return foxnb.connect(simulator=sim, workdir=tmp_path / "runs", quiet=True, **options)


def wait_for(
    condition: Callable[[], T],
    timeout_s: float = 30.0,
    *,
    what: str = "the condition",
    every_s: float = 0.01,
) -> T:
    """Call ``condition`` until it returns something truthy, and return that; fail with
    ``what`` named after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what} ({value!r})")
        time.sleep(every_s)
