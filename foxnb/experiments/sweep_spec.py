"""A sweep written as a TOML file, for ``foxnb sweep spec.toml``: the same fields as ``fx.sweep``.

    name = "dusk-vs-storm"
    video = "clips/harbour.mp4"          # relative to this file's folder, or an http(s) URL
    prompt = ["Dusk falls over the harbour", "A storm rolls in"]
    seed = [1, 2, 3]
    budget_credits = 1200                # optional, as are mode, max_jobs, force, tags

Every request field may be one value or a list (an axis), exactly as in ``fx.sweep(...)``; the
checks are ``fx.sweep``'s own, so a wrong field is refused with the same message before
anything is recorded or sent.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ..errors import ValidationError


def load_spec(path: str | Path) -> dict[str, Any]:
    """The keyword arguments of ``fx.sweep`` a spec file gives (``video`` first, as a path
    resolved against the spec's folder, or a URL)."""
    spec_path = Path(path).expanduser()
    try:
        toml = importlib.import_module("tomllib")  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        raise ValidationError(
            "spec", "reading a TOML sweep spec needs Python 3.11 or later (tomllib)"
        ) from None
    try:
        with open(spec_path, "rb") as handle:
            data: dict[str, Any] = toml.load(handle)
    except FileNotFoundError:
        raise ValidationError("spec", f"no file at {str(spec_path)!r}") from None
    except toml.TOMLDecodeError as exc:
        raise ValidationError("spec", f"{spec_path} is not valid TOML: {exc}") from None
    for key in ("name", "video"):
        if key not in data:
            raise ValidationError(key, f"is required in the sweep spec {spec_path}")
    video = data["video"]
    if isinstance(video, str) and "://" not in video:
        local = Path(video).expanduser()
        data["video"] = str(local if local.is_absolute() else spec_path.parent / local)
    return data
