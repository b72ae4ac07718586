"""Package-level promises: the public names, import hygiene, the simulator's independence."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import foxnb

ROOT = Path(foxnb.__file__).parent


def test_public_names_are_sorted_and_all_exist() -> None:
    """__all__ is sorted and every name in it resolves."""
    assert foxnb.__all__ == sorted(foxnb.__all__)
    for name in foxnb.__all__:
        assert getattr(foxnb, name) is not None


def test_validation_errors_are_value_errors_under_fox_error() -> None:
    """Local validation errors are both FoxError and ValueError."""
    assert issubclass(foxnb.ValidationError, foxnb.FoxError)
    assert issubclass(foxnb.VideoInputError, ValueError)
    assert issubclass(foxnb.JobTimeoutError, TimeoutError)


def test_simulator_never_imports_the_client() -> None:
    """No module of foxnb.sim imports foxnb code outside foxnb.sim."""
    for path in (ROOT / "sim").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                assert node.level <= 1, f"{path.name} reaches outside foxnb.sim"
                assert (
                    node.level == 1
                    or not module.startswith("foxnb")
                    or module.startswith("foxnb.sim")
                ), f"{path.name} imports {module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("foxnb") or alias.name.startswith("foxnb.sim")


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
        "from foxnb._engine import get_engine; get_engine();"
        "print(before, gc.get_freeze_count() > 1000)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "True"]
