"""Turning what you typed into checked request values: sources, tags, aspect ratios, options.

Shared by ``fx.extend()``, ``fx.sweep()`` and the form, so each input is read one way:

- ``source(video)``: a URL as given, a local path made absolute (``fx.resume()`` may run
  from another folder);
- ``parse_tags(tags)``: one text or a list of texts;
- ``fit_aspect(request, asked, info)``: the clip's own aspect ratio unless one was asked for;
- ``reject_unknown(options, allowed, what)``: misspelt keywords named, with suggestions;
- ``extend_request(...)``: everything ``fx.extend()`` was given, every problem in one error.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import media
from .errors import FoxnbWarning, ValidationError
from .media import VideoInfo
from .models import EXTEND_OPTIONS, REQUEST_FIELDS, ExtendRequest, closest_name, is_url


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


def unknown_errors(
    options: Mapping[str, Any], allowed: Collection[str], what: str
) -> list[ValidationError]:
    """A ``ValidationError`` for each of ``options`` not in ``allowed``, with a suggestion.

    ``what`` completes "is not …", e.g. ``"an option of extend()"``.
    """
    errors = []
    for name in sorted(set(options) - set(allowed)):
        hint = closest_name(name, list(allowed))
        errors.append(
            ValidationError(
                name,
                f"is not {what}" + (f"; did you mean {hint!r}?" if hint else ""),
                tuple(allowed),
            )
        )
    return errors


def reject_unknown(options: Mapping[str, Any], allowed: Collection[str], what: str) -> None:
    """Raise one ``ValidationError`` naming every one of ``options`` not in ``allowed``."""
    errors = unknown_errors(options, allowed, what)
    if errors:
        raise ValidationError.combine(errors)


def extend_request(
    prompt: Any, video: str | Path, fields: Mapping[str, Any], tags: Any, unknown: Mapping[str, Any]
) -> tuple[ExtendRequest, list[str], VideoInfo | None]:
    """Check everything ``fx.extend()`` was given; report every problem in one error.

    Returns the request (its aspect ratio fitted to a local clip), the tags and the local
    clip's facts (``None`` for a URL). Raises ``ValidationError.combine`` of all problems:
    unknown options, bad fields, bad tags and a local clip the service would refuse.
    """
    errors = unknown_errors(unknown, EXTEND_OPTIONS, "an option of extend()")
    tag_list: list[str] = []
    try:
        tag_list = parse_tags(tags)
    except ValidationError as exc:
        errors.append(exc)
    video_source = source(video)
    asked = fields.get("aspect_ratio")
    request = None
    try:
        request = ExtendRequest(
            prompt=prompt, video=video_source, **{**fields, "aspect_ratio": asked or "16:9"}
        )
    except ValidationError as exc:
        errors.extend(exc.errors)
    info = None
    if "video" not in {e.field for e in errors} and not is_url(video_source):
        try:
            info = media.check_input(video_source)
        except ValidationError as exc:  # the clip itself: its size, shape or format
            errors.append(exc)
    if errors or request is None:
        raise ValidationError.combine(errors)
    if info is not None:
        request = fit_aspect(request, asked, info, stacklevel=4)
    return request, tag_list, info


def request_fields(request: ExtendRequest) -> dict[str, Any]:
    """The fields of ``request`` as the ledger records them (prompt, video, then the rest)."""
    return {name: getattr(request, name) for name in ("prompt", "video", *REQUEST_FIELDS)}
