"""Fixtures of the browser tests: a Jupyter server per module and a fresh page per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lab_support import Lab, jupyter_server


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 serving a copy of notebooks/, stopped after the module."""
    with jupyter_server(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh 1280x1000 page in its own browser context."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()
