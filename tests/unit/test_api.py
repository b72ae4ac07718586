"""The public surface: exact exports and the exception tree."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import foxnb
from foxnb.models import EXTEND_DEFAULTS, EXTEND_FLAGS, EXTEND_OPTIONS, RunRecord
from foxnb.runtime.store import COLUMNS


def exported_by_init() -> set[str]:
    """Every name ``foxnb/__init__.py`` takes from its own modules, directly or (under
    ``TYPE_CHECKING``) lazily through ``__getattr__``."""
    tree = ast.parse(Path(foxnb.__file__).read_text(encoding="utf-8"))
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level >= 1
        for alias in node.names
    }


def test_all_is_exact_sorted_and_every_name_resolves() -> None:
    """__all__ lists exactly what __init__ imports from foxnb, sorted, and each resolves."""
    assert foxnb.__all__ == sorted(foxnb.__all__)
    assert set(foxnb.__all__) == exported_by_init() - {"widgets"}
    for name in foxnb.__all__:
        assert getattr(foxnb, name) is not None


def test_validation_errors_are_value_errors_under_fox_error() -> None:
    """Local validation errors are both FoxError and ValueError."""
    assert issubclass(foxnb.ValidationError, foxnb.FoxError)
    assert issubclass(foxnb.VideoInputError, ValueError)
    assert issubclass(foxnb.JobTimeoutError, TimeoutError)


def test_extend_signature_defaults_are_the_documented_ones() -> None:
    """The form's defaults (models.EXTEND_DEFAULTS) and the switches that are not run fields
    (models.EXTEND_FLAGS) are exactly fx.extend()'s."""
    signature = inspect.signature(foxnb.Session.extend)
    defaults = {
        name: p.default
        for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    assert defaults.pop("force") is False  # a control of the call, not a request option
    assert defaults == {**EXTEND_DEFAULTS, **EXTEND_FLAGS}
    assert tuple(defaults) == (*EXTEND_OPTIONS, *EXTEND_FLAGS)


def test_run_record_names_every_ledger_column() -> None:
    """RunRecord, the documented shape of a run, covers every column of fx.runs()."""
    assert set(COLUMNS) <= set(RunRecord.__annotations__)
