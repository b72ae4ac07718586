"""Fixtures shared by the system tests: one fast simulator per module, a client for it, a
runs store on each backend, and a finished sweep for the export tests (``export_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from export_support import ExportSweep, start_export_sweep

from foxnb.sim import Simulator


@pytest.fixture(scope="module")
def shared_sim() -> Iterator[Simulator]:
    """A simulator 200x faster than the service and without query lag, shared by a module.

    A module that needs another configuration defines its own (module-scoped) ``shared_sim``;
    ``sim`` (one simulator per test) is in ``tests/conftest.py``.
    """
    with Simulator(speed=200, upstream_lag_s=0.0) as running:
        yield running


@pytest.fixture(scope="module")
def api(shared_sim: Simulator) -> Iterator[httpx.Client]:
    """An httpx client on the module's ``shared_sim`` with its bearer key."""
    headers = {"Authorization": f"Bearer {shared_sim.api_key}"}
    with httpx.Client(base_url=shared_sim.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(params=["sqlite", "postgres"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's runs store lives, as ``open_store`` takes it: a SQLite file, or a fresh
    PostgreSQL database on the session's server. Every store test runs on both."""
    if request.param == "sqlite":
        return str(tmp_path / "store" / "runs.db")
    dsn: str = request.getfixturevalue("pg_dsn")
    return dsn


@pytest.fixture
def export_sweep(
    sim: Simulator, clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ExportSweep]:
    """A finished 2 x 2 sweep whose first cell failed, in a private home (export_support)."""
    started = start_export_sweep(sim, clips["landscape"], tmp_path, monkeypatch)
    try:
        yield started
    finally:
        started.fx.close()
