"""Fixtures shared by the system tests: one fast simulator per module, and a client for it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from foxnb.sim import Simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    """A simulator 200x faster than the service and without query lag, shared by a module.

    Modules that need another configuration define their own (module-scoped) ``sim``.
    """
    with Simulator(speed=200, upstream_lag_s=0.0) as running:
        yield running


@pytest.fixture(scope="module")
def api(sim: Simulator) -> Iterator[httpx.Client]:
    """An httpx client on the module's ``sim`` with its bearer key."""
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    with httpx.Client(base_url=sim.url, headers=headers, timeout=30) as client:
        yield client
