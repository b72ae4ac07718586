"""Shared fixtures: small real clips, a fast simulator on a loopback port, and Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foxnb.sample import make_sample_clip
from foxnb.sim import Simulator

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
