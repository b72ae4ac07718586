"""Shared fixtures: small real clips, a fast simulator on a loopback port, a session connected
to it, an in-process simulator for tests that need no socket, and Chromium.

Every simulator of one test run (in the test processes, notebook kernels, workers and
subprocesses alike) shares one folder of renders (``FOXNB_SIM_SHARED_RENDERS``, made by the
run's first process and deleted at its end): a result many tests ask for is encoded once.
The renderer's own tests render for real.

Helpers that are functions, not fixtures (``connect``, ``wait_for``), are in ``support.py``.
foxnb's own warnings (``FoxnbWarning``) are errors here (``pyproject.toml``): a test that
expects one says so with ``pytest.warns``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pg import pg_dsn, pg_server  # noqa: F401  (fixtures: a real PostgreSQL server)
from support import connect

import foxnb
from foxnb.client import AsyncClient
from foxnb.sample import make_sample_clip
from foxnb.sim import Simulator
from foxnb.sim.app import build_app
from foxnb.sim.backend import Backend
from foxnb.sim.pipeline import SHARED_RENDERS_ENV

KEY_ENV = "FOXAPI_API_KEY"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]

_MADE_RENDERS = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """The run's first process (not an xdist worker, which inherits it) makes the folder."""
    if SHARED_RENDERS_ENV not in os.environ:
        folder = tempfile.mkdtemp(prefix="foxnb-test-renders-")
        os.environ[SHARED_RENDERS_ENV] = folder
        config.stash[_MADE_RENDERS] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(_MADE_RENDERS, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        del os.environ[SHARED_RENDERS_ENV]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with a slow test first (each keeps its place among its kind): ./dev test hands
    whole modules to its workers in this order, so the long ones start at once and the quick
    ones fill the workers' last minutes, instead of a long module starting last."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


@pytest.fixture(autouse=True)
def _no_real_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach for a real key or service."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv("FOXAPI_BASE_URL", raising=False)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Short, low-frame-rate clips: valid 16:9 and 9:16, and inputs the service rejects."""
    folder = tmp_path_factory.mktemp("clips")
    specs = {
        "landscape": (1280, 720),
        "portrait": (720, 1280),
        "480p": (854, 480),
        "4x3": (960, 720),
    }
    out = {}
    for name, (w, h) in specs.items():
        out[name] = make_sample_clip(
            folder / f"{name}.mp4", width=w, height=h, duration_s=1.0, fps=8
        )
    return out


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    """A simulator 200x faster than the real service (jobs take well under a second)."""
    with Simulator(speed=200, state_dir=tmp_path / "sim-state", upstream_lag_s=0.0) as server:
        yield server


@pytest.fixture
def fx(sim: Simulator, tmp_path: Path) -> foxnb.Session:
    """A quiet session on ``sim``, its runs in ``tmp_path / "runs"``."""
    return connect(sim, tmp_path)


@dataclass
class InProcessSimulator:
    """A simulator's app and backend in this process: no socket, no server thread.

    ``client()`` makes an ``AsyncClient`` whose requests go straight into the app (create it
    inside the event loop that uses it). Tasks do not advance by themselves: ``backend.pump()``
    moves them on.
    """

    backend: Backend
    app: Any

    def client(self) -> AsyncClient:
        return AsyncClient(
            api_key=self.backend.api_key,
            base_url="http://127.0.0.1:9",  # never dialled: the transport is the app itself
            transport=httpx.ASGITransport(app=self.app),
        )


@pytest.fixture
def asgi_sim() -> InProcessSimulator:
    """The simulator as an in-process ASGI app, for client tests that need no socket."""
    backend = Backend(speed=200, upstream_lag_s=0.0)
    return InProcessSimulator(
        backend, build_app(backend, drop=lambda scope: False, max_file_bytes=100 * 1024**2)
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (``playwright install`` is not used).

    Skips when it is not installed (``./dev test`` installs it), but fails on CI.
    """
    if not CHROMIUM.exists():
        reason = os.environ.get("FOXNB_NO_CHROMIUM") or (
            f"{CHROMIUM} is missing; ./dev test installs it with apt-get (Debian's chromium)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run on CI, but: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            instance.close()
