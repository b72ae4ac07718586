"""The request you send, the task you get back, and the run foxnb records, as plain values.

``ExtendRequest`` checks every field when it is built, so a bad value fails here, locally,
before anything is uploaded or paid for::

    >>> ExtendRequest(prompt="The camera keeps panning", video="https://example.com/in.mp4",
    ...               safety_tolerance=9)
    Traceback (most recent call last):
    foxnb.errors.ValidationError: safety_tolerance: must be an integer from 1 to 6, got 9 ...

``Task.from_json`` reads every task shape FoxAPI's docs have shown, and the odd-but-legal
variants a service or proxy may send (other status words among them); it and
``UploadedFile`` live in ``foxnb._answers`` and are named here. The field checks, in plain
words, are ``foxnb._checks``; ``ExtendRequest`` reports every bad field at once.

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

from dataclasses import dataclass
from typing import Any, Literal, TypedDict, get_args

from ._answers import TERMINAL_TASK_STATUSES as TERMINAL_TASK_STATUSES
from ._answers import Task as Task
from ._answers import TaskError as TaskError
from ._answers import UploadedFile as UploadedFile
from ._checks import MAX_PROMPT_CHARS as MAX_PROMPT_CHARS
from ._checks import TEXT_ALLOWED, is_int, text_error, video_error
from ._checks import closest_name as closest_name
from ._checks import is_url as is_url
from .errors import ValidationError

MODELS = ("veo-3.1-extend", "veo-3.1-extend-fast")
ASPECT_RATIOS = ("16:9", "9:16")
SAFETY_RANGE = (1, 6)
SEED_RANGE = (0, 2**32 - 1)
"""Veo's seed is an unsigned 32-bit integer: 0 … 4,294,967,295."""
EXTENSION_S = 7.0
"""Seconds of new video the service generates after the input (documented, fixed)."""
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
"""The largest file foxnb uploads by default: FoxAPI's edge (Cloudflare) refuses bodies of
about 100 MB with an HTML 413; ``connect(max_upload_bytes=...)`` changes it."""

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
    "aspect_ratio": None,  # the clip's own (a URL's, when its check could read it)
    "generate_audio": True,
    "auto_fix": None,  # None: not sent
    "safety_tolerance": None,
    "negative_prompt": None,
    "seed": None,
    "tags": None,
}
"""The defaults of ``fx.extend()``'s options (a test keeps its signature equal to these)."""

EXTEND_FLAGS: dict[str, Any] = {"check_url": True}
"""``fx.extend()``'s switches that are not fields of a run (the form has no input for them)."""

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


def _found(error: ValidationError | None) -> list[ValidationError]:
    return [] if error is None else [error]


@dataclass(frozen=True, kw_only=True)
class ExtendRequest:
    """One veo-3.1 extension request, validated on construction.

    ``video`` is what you gave: an http(s) URL sent as ``video_url`` as is, or a local file
    that foxnb uploads first. Optional fields left as ``None`` are not sent (FoxAPI asks
    callers not to send the advanced ones unless needed). ``aspect_ratio=None`` is not sent
    either: ``fx.extend()`` fills in the input's own shape when it can read it (a local clip,
    a URL whose check read its header), and otherwise leaves the choice to the service rather
    than claim a shape it does not know.

    ``foxnb.sim.validate.ExtendParams`` mirrors these fields on purpose: the simulator checks
    requests the way the service does and never imports the client.
    """

    prompt: str
    video: str
    model: str = "veo-3.1-extend"
    aspect_ratio: str | None = None
    generate_audio: bool = True
    auto_fix: bool | None = None
    safety_tolerance: int | None = None
    negative_prompt: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValidationError.combine(problems)

    def problems(self) -> list[ValidationError]:
        """Every invalid field, one error each, in field order (empty when all is well).

        Building an ``ExtendRequest`` raises them all at once (``ValidationError.combine``).
        """
        checks = (
            self._check_prompt,
            self._check_video,
            self._check_model,
            self._check_aspect_ratio,
            self._check_flags,
            self._check_safety,
            self._check_negative_prompt,
            self._check_seed,
        )
        return [error for check in checks for error in check()]

    # The checks read fields as ``object``: callers may pass anything, whatever the hints say.

    def _check_prompt(self) -> list[ValidationError]:
        prompt: object = self.prompt
        if not isinstance(prompt, str):
            message = f"must be text saying what happens next, got {prompt!r}"
            return [ValidationError("prompt", message, TEXT_ALLOWED)]
        if not prompt.strip():
            message = "is empty: say what happens in the 7 s of new video, e.g. 'The sun sets'"
            return [ValidationError("prompt", message, TEXT_ALLOWED)]
        return _found(text_error("prompt", prompt))

    def _check_video(self) -> list[ValidationError]:
        return _found(video_error(self.video))

    def _check_model(self) -> list[ValidationError]:
        if self.model in MODELS:
            return []
        hint = closest_name(str(self.model), list(MODELS))
        more = f"; did you mean {hint!r}?" if hint else ""
        return [ValidationError("model", f"unknown model {self.model!r}{more}", MODELS)]

    def _check_aspect_ratio(self) -> list[ValidationError]:
        if self.aspect_ratio is None or self.aspect_ratio in ASPECT_RATIOS:
            return []
        message = f"{self.aspect_ratio!r} is not supported"
        allowed = f"{ASPECT_RATIOS[0]!r}, {ASPECT_RATIOS[1]!r} or None (the input's own shape)"
        return [ValidationError("aspect_ratio", message, allowed)]

    def _check_flags(self) -> list[ValidationError]:
        errors = []
        audio: object = self.generate_audio
        fix: object = self.auto_fix
        if not isinstance(audio, bool):
            got = f"must be True or False, got {audio!r}"
            errors.append(ValidationError("generate_audio", got, "True or False"))
        if fix is not None and not isinstance(fix, bool):
            got = f"must be True, False or None, got {fix!r}"
            errors.append(ValidationError("auto_fix", got, "True, False or None (not sent)"))
        return errors

    def _check_safety(self) -> list[ValidationError]:
        lo, hi = SAFETY_RANGE
        st = self.safety_tolerance
        if st is None or (is_int(st) and lo <= st <= hi):
            return []
        message = f"must be an integer from {lo} (strictest) to {hi} (most lenient), got {st!r}"
        return [ValidationError("safety_tolerance", message, f"{lo}..{hi} or None")]

    def _check_negative_prompt(self) -> list[ValidationError]:
        negative: object = self.negative_prompt
        if negative is None:
            return []
        if not isinstance(negative, str):
            message = "must be text, e.g. 'blurry, low quality, watermark'"
            allowed = TEXT_ALLOWED + ", or None (not sent)"
            return [ValidationError("negative_prompt", message, allowed)]
        return _found(text_error("negative_prompt", negative))

    def _check_seed(self) -> list[ValidationError]:
        lo, hi = SEED_RANGE
        if self.seed is None or (is_int(self.seed) and lo <= self.seed <= hi):
            return []
        message = (
            f"must be an integer from {lo} to {hi:,} (Veo's seed is an unsigned 32-bit "
            f"number), got {self.seed!r}"
        )
        return [ValidationError("seed", message, f"{lo} … {hi} or None (random)")]

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
            "generate_audio": self.generate_audio,
        }
        optional = {
            "aspect_ratio": self.aspect_ratio,
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
    aspect_ratio: str | None
    generate_audio: bool
    auto_fix: bool | None
    safety_tolerance: int | None
    negative_prompt: str | None
    seed: int | None
    input_sha256: str | None
    input_duration_s: float | None
    video_url: str
    uploaded_at: float
    task_id: str
    progress: int
    service_status: str | None  # the service's own status word, when not the one shown
    estimated_time_s: float
    credits: float
    submitted_at: float
    create_sent_at: float
    accepted_at: float  # when the create answer arrived
    started_at: float  # when the task was first seen processing
    in_flight: int  # this session's jobs sent and not done when this one was sent (itself too)
    predicted_s: float | None  # when its progress said it would be done (from accepted_at)
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
