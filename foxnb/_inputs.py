"""Turning what you typed into checked request values: sources, tags, aspect ratios, options.

Shared by ``fx.extend()``, ``fx.sweep()`` and the form, so each input is read one way:

- ``source(video)``: a URL as given, a local path made absolute (``fx.resume()`` may run
  from another folder);
- ``parse_tags(tags)``: one text or a list of texts;
- ``fit_aspect(request, asked, info)``: the clip's own aspect ratio unless one was asked for;
- ``reject_unknown(options, allowed, what)``: misspelt keywords named, with suggestions;
- ``check_upload_size(path, limit_bytes)``: a file too big to upload, refused before sending;
- ``check_video_url(url, read)``: a ``video`` URL that does not answer with a video, refused
  before the create request is paid for (and the video's shape, when its header can be read
  with a few ranged reads);
- ``extend_request(...)``: everything ``fx.extend()`` was given, every problem in one error.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import media
from .errors import FoxError, FoxnbWarning, ValidationError, VideoInputError
from .media import RangeReader, VideoInfo, check_info, container_kind, markup_kind, probe
from .models import EXTEND_OPTIONS, REQUEST_FIELDS, ExtendRequest, closest_name, is_url

Read = Callable[[int, int], tuple[int, Mapping[str, str], bytes]]
"""``read(first_byte, last_byte)`` → ``(status, headers, body)`` of a ranged GET of one URL."""


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
    prompt: Any,
    video: str | Path,
    fields: Mapping[str, Any],
    tags: Any,
    unknown: Mapping[str, Any],
    *,
    max_upload_bytes: int | None = None,
    check_url: Callable[[str], VideoInfo | None] | None = None,
) -> tuple[ExtendRequest, list[str], VideoInfo | None]:
    """Check everything ``fx.extend()`` was given; report every problem in one error.

    Returns the request (its aspect ratio fitted to the input's shape when known), the tags
    and the input's facts (a local clip's; a URL's when ``check_url`` could read them, else
    ``None``). Raises ``ValidationError.combine`` of all problems: unknown options, bad
    fields, bad tags, a local clip over ``max_upload_bytes`` or one the service would refuse,
    and a URL that ``check_url`` finds does not answer with a usable video.
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
        request = ExtendRequest(prompt=prompt, video=video_source, **fields)
    except ValidationError as exc:
        errors.extend(exc.errors)
    info = None
    video_ok = "video" not in {e.field for e in errors}
    try:
        if video_ok and not is_url(video_source):
            if max_upload_bytes is not None:
                check_upload_size(video_source, max_upload_bytes)
            info = media.check_input(video_source)  # the clip itself: size, shape, format
        elif video_ok and not errors and check_url is not None:
            info = check_url(video_source)  # only once the rest is fine: it asks the network
    except ValidationError as exc:
        errors.append(exc)
    if errors or request is None:
        raise ValidationError.combine(errors)
    if info is not None:
        request = fit_aspect(request, asked, info, stacklevel=4)
    return request, tag_list, info


def request_fields(request: ExtendRequest) -> dict[str, Any]:
    """The fields of ``request`` as the ledger records them (prompt, video, then the rest)."""
    return {name: getattr(request, name) for name in ("prompt", "video", *REQUEST_FIELDS)}


def size_text(size_bytes: int) -> str:
    """``"412.3 MB (412,345,678 bytes)"``, or ``"1,000 bytes"`` under a megabyte."""
    if size_bytes < 1_000_000:
        return f"{size_bytes:,} bytes"
    return f"{size_bytes / 1e6:,.1f} MB ({size_bytes:,} bytes)"


def check_upload_size(path: str | Path, limit_bytes: int) -> None:
    """Refuse a local file larger than ``limit_bytes`` before any of it is sent."""
    size = Path(path).stat().st_size
    if size > limit_bytes:
        raise VideoInputError(
            "video",
            f"{Path(path).name} is {size_text(size)}, over the upload limit of "
            f"{size_text(limit_bytes)}; nothing was sent",
            "a smaller file (trim or re-encode it), a public URL of it, or "
            "foxnb.connect(max_upload_bytes=...) if your endpoint takes more",
        )


_URL_HEAD_BYTES = 64 * 1024
_SKIP = "pass check_url=False to send it unchecked"


def check_video_url(url: str, read: Read) -> VideoInfo | None:
    """Check that ``url`` answers with a video before a paid task is asked to fetch it.

    One ranged GET of its first 64 KiB: an error status, an error page or anything that is
    not a video is refused with a ``ValidationError`` (``VideoInputError`` for a video the
    service would reject: not 720p/1080p, not 16:9/9:16). Then FFmpeg reads the header
    through a few more ranged reads (at most 8 MB) for the video's displayed size and
    duration; ``None`` when a known video container could not be read that way (a server
    without ranges, a header at the end of a big file): the URL is sent, its shape unknown.
    """
    try:
        status, headers, head = read(0, _URL_HEAD_BYTES - 1)
    except FoxError as exc:  # unreachable, or a redirect foxnb will not follow
        text = str(exc) if url in str(exc) else f"{url}: {exc}"
        raise ValidationError("video", text, _SKIP) from None
    if status not in (200, 206):
        raise ValidationError(
            "video",
            f"{url} answered HTTP {status}: the service could not fetch it, and the task "
            "would fail after it is billed",
            _SKIP,
        )
    kind = markup_kind(head)
    if kind is not None:
        raise ValidationError("video", f"{url} answers with {kind}, not a video", _SKIP)
    container = container_kind(head)
    reader = RangeReader(_blocks(read, head), _total_size(status, headers, head))
    try:
        info = probe(reader, name=url)
    except (VideoInputError, OSError):
        if container is not None:
            return None  # a video, whose header foxnb could not reach cheaply
        raise ValidationError(
            "video", f"{url} does not answer with a video FFmpeg can read", _SKIP
        ) from None
    return check_info(info, url)


def _blocks(read: Read, head: bytes) -> Callable[[int, int], bytes]:
    """``RangeReader``'s fetch over ``read``: the head already read is served from memory, and
    a server that ignores ``Range`` (answering 200 from byte 0) cannot fool it."""

    def fetch(first: int, last: int) -> bytes:
        if last < len(head) or (first == 0 and len(head) < _URL_HEAD_BYTES):
            return head[first : last + 1]
        start = max(first, len(head))  # the head already read is not asked for again
        status, _, body = read(start, last)
        if status != 206:
            raise OSError(f"HTTP {status} to a ranged read")
        return head[first:start] + body

    return fetch


def _total_size(status: int, headers: Mapping[str, str], head: bytes) -> int | None:
    if status == 200 and len(head) < _URL_HEAD_BYTES:
        return len(head)  # the whole file came
    total = (headers.get("content-range") or "").rpartition("/")[2]
    if total.isdigit():
        return int(total)
    length = headers.get("content-length") or ""
    return int(length) if status == 200 and length.isdigit() else None
