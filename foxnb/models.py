"""The request you send, the task you get back, and the run foxnb records, as plain values.

``ExtendRequest`` checks every field when it is built, so a bad value fails here, locally,
before anything is uploaded or paid for::

    >>> ExtendRequest(prompt="The camera keeps panning", video="https://example.com/in.mp4",
    ...               safety_tolerance=9)
    Traceback (most recent call last):
    foxnb.errors.ValidationError: safety_tolerance: must be an integer from 1 to 6, got 9 ...

``Task.from_json`` reads every task shape FoxAPI's docs have shown (``results`` as objects or
plain strings, the older ``output`` object, numeric or string error codes).

A run moves through these statuses (the ``status`` column of ``fx.runs()``)::

    queued ─► submitting ─► pending ─► processing ─► downloading ─► completed
       │           │            └──────────┴─► failed | cancelled   (the service said so)
       │           ├─► submission_unknown  (no answer to the create request; never resent)
       └───────────┴─► not_submitted       (provably nothing was created or billed)
    downloading ─► download_failed  (retried by fx.resume())
    any tracked status ─► detached  (you called detach(); the task may still run and bill)

``queued`` and ``submitting`` are local: validation passed and the run is recorded, the
create request has not been sent (queued) or is in flight (submitting). ``RunRecord`` names
the fields a run carries in the ledger.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict, get_args
from urllib.parse import urlsplit

from .errors import ValidationError

MODELS = ("veo-3.1-extend", "veo-3.1-extend-fast")
ASPECT_RATIOS = ("16:9", "9:16")
SAFETY_RANGE = (1, 6)
EXTENSION_S = 7.0
"""Seconds of new video the service generates after the input (documented, fixed)."""

REQUEST_FIELDS = (
    "model",
    "aspect_ratio",
    "generate_audio",
    "auto_fix",
    "safety_tolerance",
    "negative_prompt",
    "seed",
)
"""``ExtendRequest`` fields besides ``prompt`` and ``video``, in the order they are shown."""

AXIS_FIELDS = ("prompt", *REQUEST_FIELDS)
"""The request fields a sweep accepts, each a single value or a list (an axis)."""

EXTEND_OPTIONS = (*REQUEST_FIELDS, "tags")
"""The keyword options of ``fx.extend()`` (``tags`` is recorded, never sent)."""

RATINGS = (1, 2, 3, 4, 5)
"""What ``fx.rate(run, stars)`` accepts (``None`` clears a rating)."""
PICKS = ("star", "reject")
"""A run's ``pick``: starred (the one to keep, the chain's choice) or rejected (never chosen)."""
JUDGEMENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rating", "Int64"),
    ("pick", "string"),
    ("note", "string"),
    ("judged_at", "datetime"),
)
"""Your judgement of a run as ``fx.runs()`` columns (with their dtypes): each recorded by
``fx.rate`` / ``fx.star`` / ``fx.reject`` / ``fx.note`` as one ledger event."""

EXTEND_DEFAULTS: dict[str, Any] = {
    "model": "veo-3.1-extend",
    "aspect_ratio": None,  # the clip's own (16:9 for a URL)
    "generate_audio": True,
    "auto_fix": None,  # None: not sent
    "safety_tolerance": None,
    "negative_prompt": None,
    "seed": None,
    "tags": None,
}
"""The defaults of ``fx.extend()``'s options (a test keeps its signature equal to these)."""

Status = Literal[
    "queued",
    "submitting",
    "pending",
    "processing",
    "downloading",
    "completed",
    "download_failed",
    "failed",
    "cancelled",
    "not_submitted",
    "submission_unknown",
    "detached",
]
"""Every status a run can have; see the module docstring for how they follow each other."""

STATUSES: tuple[Status, ...] = get_args(Status)
ACTIVE: frozenset[str] = frozenset({"queued", "submitting", "pending", "processing", "downloading"})
"""Statuses of a run that foxnb is (or should be) working on."""
RESUMABLE: frozenset[str] = ACTIVE | {"download_failed"}
"""Statuses ``fx.resume()`` picks up."""
ENDED: frozenset[str] = frozenset(
    {"completed", "failed", "cancelled", "not_submitted", "submission_unknown", "detached"}
)
"""Statuses after which nothing happens without your action."""

TERMINAL_TASK_STATUSES = frozenset({"completed", "failed", "cancelled"})

MAX_PROMPT_CHARS = 2000
"""Longest ``prompt`` / ``negative_prompt`` foxnb sends. FoxAPI states no limit for extend;
its veo3.1 pages cap ``prompt`` at 2000 characters, so longer text is refused locally instead
of being paid for and then cut or rejected."""

_TEXT_ALLOWED = (
    f"text of at most {MAX_PROMPT_CHARS} characters: any script, emoji, newlines and tabs; "
    "no control characters, lone surrogates or bidirectional overrides"
)

# Characters that reorder how text is displayed (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI):
# a prompt holding them can read differently in the ledger and widgets from what is sent.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_url(value: str) -> bool:
    """True when ``value`` is an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. "http://[not-an-address"
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _text_problem(text: str) -> str | None:
    """Why ``text`` cannot be sent as it is (a control character, a lone surrogate, a
    bidirectional override), or ``None`` when it can."""
    for index, char in enumerate(text):
        code = ord(char)
        name = f"U+{code:04X} at position {index}"
        if 0xD800 <= code <= 0xDFFF:
            return f"holds a lone surrogate ({name}), which is not valid Unicode text"
        if (code < 0x20 and char not in "\t\n\r") or 0x7F <= code <= 0x9F:
            return f"holds the control character {name}"
        if char in _BIDI_CONTROLS:
            return (
                f"holds the bidirectional control {name}, which makes text display in another "
                "order than it is sent"
            )
    return None


def _check_text(field: str, text: str) -> None:
    if len(text) > MAX_PROMPT_CHARS:
        raise ValidationError(
            field, f"is {len(text):,} characters long, over the limit", _TEXT_ALLOWED
        )
    problem = _text_problem(text)
    if problem is not None:
        raise ValidationError(field, problem, _TEXT_ALLOWED)


def closest_name(name: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """The most similar of ``choices`` to a misspelt ``name``, if any is close."""
    found = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return found[0] if found else None


@dataclass(frozen=True, kw_only=True)
class ExtendRequest:
    """One veo-3.1 extension request, validated on construction.

    ``video`` is what you gave: an http(s) URL sent as ``video_url`` as is, or a local file
    that foxnb uploads first. Optional fields left as ``None`` are not sent (FoxAPI asks
    callers not to send the advanced ones unless needed).

    ``foxnb.sim.validate.ExtendParams`` mirrors these fields on purpose: the simulator checks
    requests the way the service does and never imports the client.
    """

    prompt: str
    video: str
    model: str = "veo-3.1-extend"
    aspect_ratio: str = "16:9"
    generate_audio: bool = True
    auto_fix: bool | None = None
    safety_tolerance: int | None = None
    negative_prompt: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValidationError(
                "prompt", "must be a non-empty text describing the continuation", _TEXT_ALLOWED
            )
        _check_text("prompt", self.prompt)
        if self.model not in MODELS:
            hint = closest_name(str(self.model), list(MODELS))
            more = f"; did you mean {hint!r}?" if hint else ""
            raise ValidationError("model", f"unknown model {self.model!r}{more}", MODELS)
        if self.aspect_ratio not in ASPECT_RATIOS:
            raise ValidationError(
                "aspect_ratio", f"{self.aspect_ratio!r} is not supported", ASPECT_RATIOS
            )
        if not isinstance(self.generate_audio, bool):
            raise ValidationError(
                "generate_audio",
                f"must be True or False, got {self.generate_audio!r}",
                "True or False",
            )
        if self.auto_fix is not None and not isinstance(self.auto_fix, bool):
            raise ValidationError(
                "auto_fix",
                f"must be True, False or None, got {self.auto_fix!r}",
                "True, False or None (not sent)",
            )
        lo, hi = SAFETY_RANGE
        st = self.safety_tolerance
        if st is not None and (not _is_int(st) or not lo <= st <= hi):
            raise ValidationError(
                "safety_tolerance",
                f"must be an integer from {lo} (strictest) to {hi} (most lenient), got {st!r}",
                f"{lo}..{hi} or None",
            )
        if self.negative_prompt is not None:
            if not isinstance(self.negative_prompt, str):
                raise ValidationError(
                    "negative_prompt",
                    "must be text, e.g. 'blurry, low quality, watermark'",
                    _TEXT_ALLOWED + ", or None (not sent)",
                )
            _check_text("negative_prompt", self.negative_prompt)
        if self.seed is not None and (not _is_int(self.seed) or self.seed < 0):
            raise ValidationError(
                "seed", f"must be a non-negative integer, got {self.seed!r}", "0, 1, 2, … or None"
            )
        self._check_video()

    def _check_video(self) -> None:
        video = self.video
        source = "an http(s) URL or a local video file"
        if not isinstance(video, str):
            raise ValidationError("video", f"must be text or a Path, got {video!r}", source)
        if not video.strip():
            raise ValidationError("video", "is empty", source)
        problem = _text_problem(video)
        if problem is not None:
            raise ValidationError("video", problem, source)
        try:
            scheme = urlsplit(video).scheme
        except ValueError as exc:
            raise ValidationError(
                "video", f"{video!r} is not a valid URL ({exc})", source
            ) from None
        if scheme and len(scheme) > 1 and not Path(video).exists():  # a URL, not a path
            if not is_url(video):
                raise ValidationError(
                    "video", f"URL scheme {scheme!r} is not supported", ("http", "https")
                )
            if any(char.isspace() for char in video):
                raise ValidationError(
                    "video", "a URL cannot hold spaces; write them as %20", "an http(s) URL"
                )
            return
        path = Path(video).expanduser()
        if path.is_dir():
            raise ValidationError("video", f"{video!r} is a folder, not a video file", source)
        if not path.is_file():
            raise ValidationError("video", f"no file at {video!r}", source)

    @property
    def is_local(self) -> bool:
        """True when ``video`` is a local file that must be uploaded first."""
        return not is_url(self.video)

    def to_json(self, video_url: str | None = None) -> dict[str, Any]:
        """The JSON body of ``POST /v1/videos/generations``.

        ``video_url`` replaces a local ``video`` with the URL its upload returned.
        """
        url = video_url if video_url is not None else self.video
        if not is_url(url):
            raise ValidationError("video", "a local file must be uploaded before sending")
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": self.prompt,
            "video_url": url,
            "aspect_ratio": self.aspect_ratio,
            "generate_audio": self.generate_audio,
        }
        optional = {
            "auto_fix": self.auto_fix,
            "safety_tolerance": self.safety_tolerance,
            "negative_prompt": self.negative_prompt,
            "seed": self.seed,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return body


class RunRecord(TypedDict, total=False):
    """One run as the ledger holds it (the merge of its events); every field may be absent.

    The request's fields, where it was sent, what the service said and what was saved. Sweeps
    add ``experiment``, ``cell`` and ``budget_credits``; a reused cell has ``reused_from``;
    a chain's runs have ``experiment``, ``hop`` and ``candidate``. Scores
    (``foxnb.scores.SCORE_COLUMNS``) follow once the result is scored (``scored_at``, or
    ``score_error`` when it could not be), and your judgement as you give it (``rating``,
    ``pick``, ``note``, ``judged_at``).
    """

    run_id: str
    status: Status
    backend: str  # "sim" or "real"
    host: str
    recorded_at: float
    tags: list[str]
    prompt: str
    video: str
    model: str
    aspect_ratio: str
    generate_audio: bool
    auto_fix: bool | None
    safety_tolerance: int | None
    negative_prompt: str | None
    seed: int | None
    input_sha256: str | None
    video_url: str
    uploaded_at: float
    task_id: str
    progress: int
    estimated_time_s: float
    credits: float
    submitted_at: float
    create_sent_at: float
    completed_at: float
    duration_s: float
    result_url: str
    result_expires_at: float
    video_path: str
    sha256: str
    size_bytes: int
    error_code: str | None
    error_message: str | None
    evidence: str
    experiment: str
    cell: int
    budget_credits: float
    reused_from: str
    hop: int
    candidate: int
    scores_version: int
    seam_jump: float | None
    seam_ssim: float | None
    cut_at_seam: bool | None
    prefix_psnr: float | None
    has_prefix: bool | None
    flicker: float | None
    motion_mean: float | None
    motion_p95: float | None
    color_shift: float | None
    duration_ok: bool | None
    new_s: float | None
    seam_s: float | None
    audio_ok: bool | None
    score_notes: str | None
    rating: int | None
    pick: str | None
    note: str | None
    judged_at: float
    scored_at: float
    score_error: str | None


@dataclass(frozen=True, kw_only=True)
class TaskError:
    """Why a task failed: ``code`` (e.g. ``content_policy_violation``) and a message."""

    code: str | None
    message: str
    type: str | None = None

    @classmethod
    def from_json(cls, data: object) -> TaskError | None:
        if data is None or data == {} or data == "":
            return None
        if isinstance(data, str):
            return cls(code=None, message=data)
        if not isinstance(data, dict):
            return cls(code=None, message=str(data))
        code = data.get("code")
        return cls(
            code=None if code is None else str(code),
            message=str(data.get("message") or code or "unknown error"),
            type=None if data.get("type") is None else str(data.get("type")),
        )


@dataclass(frozen=True, kw_only=True)
class Task:
    """A FoxAPI task as last seen. Unknown fields are kept in ``raw``."""

    id: str
    status: str
    progress: int = 0
    model: str | None = None
    created: int | None = None
    estimated_time_s: float | None = None
    result_urls: tuple[str, ...] = ()
    error: TaskError | None = None
    credits: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_TASK_STATUSES

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        """Read a create or query response, whichever documented shape it has."""
        task_id = data.get("id") or data.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise ValueError("task response has no id")
        info = _obj(data.get("task_info"))
        usage = _obj(data.get("usage"))
        created = data.get("created")
        return cls(
            id=task_id,
            status=str(data.get("status") or "pending").strip().lower(),
            progress=_progress(data.get("progress")),
            model=data.get("model") if isinstance(data.get("model"), str) else None,
            created=created if _is_int(created) else None,
            estimated_time_s=_number(info.get("estimated_time")),
            result_urls=_result_urls(data),
            error=TaskError.from_json(data.get("error")),
            credits=_number(usage.get("credits_consumed", usage.get("credits_reserved"))),
            raw=data,
        )


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _progress(value: object) -> int:
    number = _number(value)
    return 0 if number is None else int(min(100.0, max(0.0, number)))


def _result_urls(data: dict[str, Any]) -> tuple[str, ...]:
    """URLs from ``results`` (objects or strings) or the older ``output`` object."""
    urls: list[str] = []
    results = data.get("results")
    if isinstance(results, list):
        for item in results:
            if isinstance(item, str):
                urls.append(item)
            elif isinstance(item, dict) and isinstance(item.get("url"), str):
                urls.append(item["url"])
    output = data.get("output")
    if not urls and isinstance(output, dict):
        if isinstance(output.get("url"), str):
            urls.append(output["url"])
        urls.extend(u for u in output.get("urls") or [] if isinstance(u, str) and u not in urls)
    return tuple(u for u in urls if u)


@dataclass(frozen=True, kw_only=True)
class UploadedFile:
    """A file stored by ``/v1/files/upload/*``; ``url`` is what to send as ``video_url``."""

    id: str
    url: str
    size: int | None = None
    filename: str | None = None
    created: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UploadedFile:
        """Read the upload response; the URL may sit at the top level or under ``data``."""
        body = _obj(data.get("data")) or data
        url = body.get("url") or body.get("file_url")
        if not isinstance(url, str) or not is_url(url):
            raise ValueError("upload response has no usable url")
        size = body.get("size")
        created = body.get("created")
        return cls(
            id=str(body.get("id") or body.get("file_id") or ""),
            url=url,
            size=size if _is_int(size) else None,
            filename=body.get("filename") if isinstance(body.get("filename"), str) else None,
            created=created if _is_int(created) else None,
        )
