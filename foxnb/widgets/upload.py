"""Uploads from the form: where the bytes are kept, and what the button says afterwards.

The browser sends an uploaded clip's bytes through the widget's state. The form stores them
once, as ``<workdir>/inputs/<sha256 prefix>-<safe name>``, and then drops them from the
widget (keeping them would hold them in memory and in the notebook's widget state). The
button then keeps only a record without content, so it reads "✓ clip.mp4 (1)" rather than
going back to "Upload (0)" as if nothing had happened.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._files import AtomicWriter

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_LABEL_CHARS = 28


def save_upload(folder: Path, name: str, content: bytes) -> Path:
    """Store uploaded bytes as ``folder/<sha256 prefix>-<safe name>`` (once per content)."""
    digest = hashlib.sha256(content).hexdigest()[:12]
    # Only the base name, only harmless characters, no leading dot (hidden files are not
    # served by Jupyter): an upload cannot write outside ``folder`` or hide itself.
    safe = _SAFE_NAME.sub("_", Path(name).name).lstrip("._")[-80:] or "upload.mp4"
    path = folder / f"{digest}-{safe}"
    if not path.exists():
        with AtomicWriter(path) as writer:
            writer.write(content)
            writer.commit()
    return path


def short_path(path: Path) -> str:
    """``path`` relative to the working folder when inside it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def uploaded_record(item: dict[str, Any]) -> dict[str, Any]:
    """An upload's entry without its bytes: what the button keeps once they are saved."""
    return {
        "name": str(item.get("name", "")),
        "type": str(item.get("type", "")),
        "size": int(item.get("size", 0)),
        "content": memoryview(b""),
        "last_modified": item.get("last_modified") or datetime.now(timezone.utc),
    }


def uploaded_label(name: str) -> str:
    """The button's label after an upload: ``✓ clip.mp4`` (long names shortened)."""
    base = Path(name).name
    short = base if len(base) <= _LABEL_CHARS else base[: _LABEL_CHARS - 1] + "…"
    return f"✓ {short}"
