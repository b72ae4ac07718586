"""Turning what you typed into checked request values: sources, tags, aspect ratios, options.

Shared by ``fx.extend()``, ``fx.sweep()`` and the form, so each input is read one way:

- ``source(video)``: a URL as given, a local path made absolute (``fx.resume()`` may run
  from another folder);
- ``parse_tags(tags)``: one text or a list of texts;
- ``fit_aspect(request, asked, info)``: the clip's own aspect ratio unless one was asked for;
- ``reject_unknown(options, allowed, what)``: a misspelt keyword named, with a suggestion.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import FoxnbWarning, ValidationError
from .media import VideoInfo
from .models import REQUEST_FIELDS, ExtendRequest, closest_name, is_url


def source(video: str | Path) -> str:
    """``video`` as recorded: URLs as given, local paths made absolute.

    Anything with a URL scheme (``ftp://…``, ``javascript:…``, ``data:…``) that is not an
    existing file stays as given, so the check names its scheme instead of a missing file.
    """
    text = str(video) if isinstance(video, Path) else video
    if isinstance(text, str) and text and not is_url(text) and not _has_scheme(text):
        text = str(Path(text).expanduser().absolute())
    return text


def _has_scheme(text: str) -> bool:
    try:
        scheme = urlsplit(text).scheme
    except ValueError:  # e.g. an unbalanced "[" in a file name
        return False
    return len(scheme) > 1 and not Path(text).exists()


def parse_tags(tags: object) -> list[str]:
    """``tags`` as a list: ``None`` → ``[]``, one text → ``[text]``, a set sorted."""
    if tags is None:
        return []
    if isinstance(tags, str):
        return [tags]
    if isinstance(tags, list | tuple | set) and all(isinstance(t, str) for t in tags):
        return sorted(tags) if isinstance(tags, set) else list(tags)
    raise ValidationError("tags", f"must be a string or a list of strings, got {tags!r}")


def fit_aspect(
    request: ExtendRequest, asked: str | None, info: VideoInfo, stacklevel: int
) -> ExtendRequest:
    """The clip's own aspect ratio unless one was asked for (then warn if they differ)."""
    if asked is None:
        return dataclasses.replace(request, aspect_ratio=info.aspect_ratio)
    if asked != info.aspect_ratio:
        warnings.warn(
            f"aspect_ratio={asked!r} differs from the input clip's "
            f"{info.aspect_ratio}; the service decides how to fit it",
            FoxnbWarning,
            stacklevel=stacklevel,
        )
    return request


def reject_unknown(options: Mapping[str, Any], allowed: Collection[str], what: str) -> None:
    """Raise a ``ValidationError`` naming the first of ``options`` not in ``allowed``.

    ``what`` completes "is not …", e.g. ``"an option of extend()"``.
    """
    unknown = sorted(set(options) - set(allowed))
    if not unknown:
        return
    name = unknown[0]
    hint = closest_name(name, list(allowed))
    raise ValidationError(
        name,
        f"is not {what}" + (f"; did you mean {hint!r}?" if hint else ""),
        tuple(allowed),
    )


def request_fields(request: ExtendRequest) -> dict[str, Any]:
    """The fields of ``request`` as the ledger records them (prompt, video, then the rest)."""
    return {name: getattr(request, name) for name in ("prompt", "video", *REQUEST_FIELDS)}
