"""Request validation, written from the API documentation (SPEC §1 and §4), with no I/O.

Each parser takes what arrived on the wire and returns a typed value or raises
:class:`~foxnb.sim.errors.ApiError`: 400 for a body that is not JSON (or has the wrong content
type), 422 for a field that is missing or invalid. 422 messages name the field and the allowed
values, carry a ``code`` (``missing_parameter``, ``invalid_parameter``,
``model_not_supported``, ``unsupported_advanced_options``) and ``param``. Fields are checked in
a fixed order and the first problem is reported. Unknown fields are ignored.

Choices where the docs are silent: ``video`` is accepted as an alias of ``video_url`` (the
fast model's page names it so; sending both with different values is a 422); the optional
fields documented as ``integer | null`` / ``string | null`` accept ``null``; ``seed`` has no
upper bound; any ``advanced`` key, even ``null``, is refused with 422
``unsupported_advanced_options`` because no channel is simulated that supports it; an absent
``aspect_ratio`` is kept as ``None`` (the input's own shape), so only a value actually sent can
contradict the input (see :mod:`foxnb.sim.intake`); ``/v1/files/upload/url`` takes ``url``
(required), ``file_name`` and ``auto_cleanup``, the names a public client sends.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from .catalog import MODELS
from .errors import ApiError

__all__ = [
    "ASPECT_RATIOS",
    "Base64Upload",
    "ExtendParams",
    "UrlUpload",
    "aspect_conflict",
    "orientation",
    "parse_base64_upload",
    "parse_create",
    "parse_form_bool",
    "parse_json_body",
    "parse_url_upload",
    "safe_filename",
]

ASPECT_RATIOS = ("16:9", "9:16")
_SAFETY_RANGE = range(1, 7)


@dataclass(frozen=True)
class ExtendParams:
    """A validated create request. ``input_field`` records which name carried the URL;
    ``aspect_ratio`` is ``None`` when the request did not send one."""

    model: str
    prompt: str
    video_url: str
    input_field: str = "video_url"
    aspect_ratio: str | None = None
    generate_audio: bool = True
    auto_fix: bool | None = None
    safety_tolerance: int | None = None
    negative_prompt: str | None = None
    seed: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The parameters as a JSON-ready dict (for the state file)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExtendParams:
        """Inverse of :meth:`to_json`."""
        return cls(**data)


@dataclass(frozen=True)
class Base64Upload:
    """A decoded ``/v1/files/upload/base64`` body."""

    data: bytes
    file_name: str
    auto_cleanup: bool


def parse_json_body(content_type: str | None, raw: bytes) -> Any:
    """Decode a JSON request body; 400 for a non-JSON content type or malformed JSON."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            400,
            f"Content-Type must be application/json, got {content_type or 'none'!r}.",
            code="invalid_content_type",
        )
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"Request body is not valid JSON: {exc}.", code="invalid_json") from exc


def parse_create(body: Any) -> ExtendParams:
    """Validate a ``POST /v1/videos/generations`` body for the veo-3.1 extend models.

    >>> parse_create({"model": "veo-3.1-extend", "prompt": "pan", "video": "https://x/a.mp4"})
    ... # doctest: +ELLIPSIS
    ExtendParams(model='veo-3.1-extend', prompt='pan', video_url='https://x/a.mp4', ...)
    """
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object.", code="invalid_json")
    model = _required_str(body, "model")
    if model not in MODELS:
        allowed = ", ".join(repr(name) for name in MODELS)
        raise ApiError(
            422,
            f"Invalid value {model!r} for parameter 'model': this endpoint supports {allowed}.",
            code="model_not_supported",
            param="model",
        )
    prompt = _required_str(body, "prompt")
    video_url, input_field = _video_url(body)
    aspect_ratio = body.get("aspect_ratio")
    if aspect_ratio is not None and aspect_ratio not in ASPECT_RATIOS:
        raise _invalid("aspect_ratio", aspect_ratio, "one of '16:9', '9:16'")
    generate_audio = body.get("generate_audio", True)
    if not isinstance(generate_audio, bool):
        raise _invalid("generate_audio", generate_audio, "true or false")
    auto_fix = body.get("auto_fix")
    if auto_fix is not None and not isinstance(auto_fix, bool):
        raise _invalid("auto_fix", auto_fix, "true, false or null")
    safety = body.get("safety_tolerance")
    if safety is not None and (not _is_int(safety) or safety not in _SAFETY_RANGE):
        raise _invalid("safety_tolerance", safety, "an integer from 1 (strictest) to 6")
    negative_prompt = body.get("negative_prompt")
    if negative_prompt is not None and not isinstance(negative_prompt, str):
        raise _invalid("negative_prompt", negative_prompt, "a string of comma-separated keywords")
    seed = body.get("seed")
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise _invalid("seed", seed, "a non-negative integer")
    if "advanced" in body:
        raise ApiError(
            422,
            "No available channel supports the requested 'advanced' options; remove 'advanced'.",
            code="unsupported_advanced_options",
            param="advanced",
        )
    return ExtendParams(
        model=model,
        prompt=prompt,
        video_url=video_url,
        input_field=input_field,
        aspect_ratio=aspect_ratio,
        generate_audio=generate_audio,
        auto_fix=auto_fix,
        safety_tolerance=safety,
        negative_prompt=negative_prompt,
        seed=seed,
    )


def orientation(width: int, height: int) -> str:
    """The ``aspect_ratio`` value a frame of this size has: ``"9:16"`` if taller, else ``"16:9"``.

    >>> orientation(1280, 720), orientation(720, 1280)
    ('16:9', '9:16')
    """
    return "9:16" if height > width else "16:9"


def aspect_conflict(asked: str, width: int, height: int) -> str | None:
    """Why ``aspect_ratio=asked`` cannot extend a video shown at ``width`` x ``height``, or None.

    An extension continues the input's own picture, so the only output shape that fits is the
    input's; a different one is a parameter error naming the field.
    """
    own = orientation(width, height)
    if asked == own:
        return None
    return (
        f"Invalid value {asked!r} for parameter 'aspect_ratio': the input video is "
        f"{width}x{height} ({own}) and an extension keeps the input's aspect ratio; "
        f"send {own!r} or leave 'aspect_ratio' out."
    )


def parse_base64_upload(body: Any) -> Base64Upload:
    """Validate a ``POST /v1/files/upload/base64`` body (raw base64 or a ``data:`` URI)."""
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object.", code="invalid_json")
    text = _required_str(body, "file_data")
    if text.startswith("data:"):
        header, comma, text = text.partition(",")
        if not comma or not header.endswith(";base64"):
            raise _invalid("file_data", header, "raw base64 or a 'data:<type>;base64,' URI")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(
            422,
            f"'file_data' is not valid base64: {exc}.",
            code="invalid_parameter",
            param="file_data",
        ) from exc
    file_name = body.get("file_name") or "upload.bin"
    if not isinstance(file_name, str):
        raise _invalid("file_name", file_name, "a file name with extension")
    auto_cleanup = body.get("auto_cleanup", True)
    if not isinstance(auto_cleanup, bool):
        raise _invalid("auto_cleanup", auto_cleanup, "true or false")
    return Base64Upload(data=data, file_name=safe_filename(file_name), auto_cleanup=auto_cleanup)


@dataclass(frozen=True)
class UrlUpload:
    """A validated ``/v1/files/upload/url`` body; ``file_name`` is ``None`` when not given."""

    url: str
    file_name: str | None
    auto_cleanup: bool


def parse_url_upload(body: Any) -> UrlUpload:
    """Validate a ``POST /v1/files/upload/url`` body: ``url``, ``file_name``, ``auto_cleanup``."""
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object.", code="invalid_json")
    url = _required_str(body, "url")
    if not re.match(r"https?://[^\s/]+", url):
        raise _invalid("url", url, "an http(s) URL of the file to fetch")
    file_name = body.get("file_name")
    if file_name is not None and not isinstance(file_name, str):
        raise _invalid("file_name", file_name, "a file name with extension")
    auto_cleanup = body.get("auto_cleanup", True)
    if not isinstance(auto_cleanup, bool):
        raise _invalid("auto_cleanup", auto_cleanup, "true or false")
    return UrlUpload(url=url, file_name=file_name or None, auto_cleanup=auto_cleanup)


def parse_form_bool(name: str, value: str | None, *, default: bool) -> bool:
    """Read a multipart form boolean such as ``auto_cleanup=false``."""
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise _invalid(name, value, "true or false")


def safe_filename(name: str) -> str:
    """Reduce a client-supplied file name to a safe last path segment for URLs and disk."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")
    return cleaned[:120] or "upload.bin"


def _required_str(body: dict[str, Any], name: str) -> str:
    if body.get(name) is None:
        raise ApiError(
            422, f"Missing required parameter {name!r}.", code="missing_parameter", param=name
        )
    value = body[name]
    if not isinstance(value, str) or not value.strip():
        raise _invalid(name, value, "a non-empty string")
    return value


def _video_url(body: dict[str, Any]) -> tuple[str, str]:
    """The input video URL and the field name that carried it (``video_url`` or ``video``)."""
    given = [name for name in ("video_url", "video") if body.get(name) is not None]
    if not given:
        raise ApiError(
            422,
            "Missing required parameter 'video_url' (a public http(s) URL of the input video).",
            code="missing_parameter",
            param="video_url",
        )
    if len(given) == 2 and body["video_url"] != body["video"]:
        raise _invalid("video", body["video"], "absent, or the same URL as 'video_url'")
    field_name = given[0]
    url = body[field_name]
    if not isinstance(url, str) or not re.match(r"https?://[^\s/]+", url):
        raise _invalid(field_name, url, "a public http(s) URL of a 720p/1080p 16:9 or 9:16 video")
    return url, field_name


def _is_int(value: object) -> bool:
    # bool is a subclass of int in Python, but JSON true is not an integer.
    return isinstance(value, int) and not isinstance(value, bool)


def _invalid(name: str, value: object, allowed: str) -> ApiError:
    shown = json.dumps(value)[:80]
    return ApiError(
        422,
        f"Invalid value {shown} for parameter {name!r}: must be {allowed}.",
        code="invalid_parameter",
        param=name,
    )
