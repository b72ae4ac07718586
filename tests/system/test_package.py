"""Promises checked in a fresh interpreter: import hygiene, and the engine's gc.freeze."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import foxnb

ROOT = Path(foxnb.__file__).parent


def test_import_has_no_side_effects() -> None:
    """Importing foxnb starts no thread, no server and loads no web stack."""
    code = (
        "import threading, sys, foxnb;"
        "print(threading.active_count(), 'uvicorn' in sys.modules, 'ipywidgets' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "False", "False"]


def test_engine_start_freezes_the_objects_alive_then() -> None:
    """Not on import; when the engine starts, so full collections skip long-lived objects."""
    code = (
        "import gc, foxnb;"
        "before = gc.get_freeze_count();"
        "from foxnb.runtime.engine import get_engine; get_engine();"
        "print(before, gc.get_freeze_count() > 1000)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "True"]


def test_the_installed_version_is_the_one_in_version_py() -> None:
    """pyproject.toml reads the version from foxnb/_version.py: the two cannot disagree."""
    assert importlib.metadata.version("foxnb") == foxnb.__version__
