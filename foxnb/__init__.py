"""foxnb: extend videos with FoxAPI's veo-3.1 models from Jupyter or a script.

    import foxnb
    fx = foxnb.connect()     # FOXAPI_API_KEY set: the real service; otherwise the simulator
    job = fx.extend("The camera continues to pan", video="clip.mp4", seed=42)
    job.wait().video_path    # the extended MP4, saved locally
    fx.runs()                # every run as a pandas DataFrame
    fx.compare(fx.runs(), rows="prompt", cols="seed")   # the videos side by side

Importing foxnb has no side effects: nothing is started until ``connect()``. It is also
cheap: each name below is loaded on first use, so ``python -m foxnb.sim`` or a script that
needs only the errors does not pay for pandas, httpx and the notebook views.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    DownloadError,
    FoxError,
    FoxnbWarning,
    InsufficientCreditsError,
    JobError,
    JobTimeoutError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ScoreError,
    ServerError,
    SubmissionUnknownError,
    TaskFailedError,
    TransportError,
    ValidationError,
    VideoInputError,
)

if TYPE_CHECKING:
    from . import widgets as widgets
    from .client import AsyncClient, Client
    from .experiments.chain import Chain
    from .experiments.compare import Comparison, compare
    from .experiments.plan import SweepPlan
    from .experiments.report import Report
    from .experiments.sweep import Sweep
    from .models import ExtendRequest, Task, UploadedFile
    from .runtime.jobs import Job
    from .sample import make_sample_clip
    from .session import Session, connect
    from .sim import Simulator
    from .widgets import ExtendForm, JobCard, show_video

_HOMES = {
    "AsyncClient": "client",
    "Client": "client",
    "Chain": "experiments.chain",
    "Comparison": "experiments.compare",
    "compare": "experiments.compare",
    "SweepPlan": "experiments.plan",
    "Report": "experiments.report",
    "Sweep": "experiments.sweep",
    "ExtendRequest": "models",
    "Task": "models",
    "UploadedFile": "models",
    "Job": "runtime.jobs",
    "make_sample_clip": "sample",
    "Session": "session",
    "connect": "session",
    "Simulator": "sim",
    "ExtendForm": "widgets",
    "JobCard": "widgets",
    "show_video": "widgets",
}
"""The module each lazily loaded name lives in (relative to foxnb)."""

__all__ = [
    "APIError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Chain",
    "Client",
    "Comparison",
    "DownloadError",
    "ExtendForm",
    "ExtendRequest",
    "FoxError",
    "FoxnbWarning",
    "InsufficientCreditsError",
    "Job",
    "JobCard",
    "JobError",
    "JobTimeoutError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "Report",
    "ScoreError",
    "ServerError",
    "Session",
    "Simulator",
    "SubmissionUnknownError",
    "Sweep",
    "SweepPlan",
    "Task",
    "TaskFailedError",
    "TransportError",
    "UploadedFile",
    "ValidationError",
    "VideoInputError",
    "__version__",
    "compare",
    "connect",
    "make_sample_clip",
    "show_video",
]


def __getattr__(name: str) -> Any:
    # Loaded on first use, then kept here: later lookups are plain attribute reads.
    if name == "widgets":
        return importlib.import_module(".widgets", __name__)
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'foxnb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
