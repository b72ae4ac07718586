"""Fixtures shared by the system tests: an authorised httpx client for the module's simulator."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from foxnb.sim import Simulator


@pytest.fixture(scope="module")
def api(sim: Simulator) -> Iterator[httpx.Client]:
    """An httpx client on ``sim`` with its bearer key (the module must define a module-scoped
    ``sim``)."""
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    with httpx.Client(base_url=sim.url, headers=headers, timeout=30) as client:
        yield client
