"""foxnb: extend videos with FoxAPI's veo-3.1 models from Jupyter or a script.

    import foxnb
    fx = foxnb.connect()     # FOXAPI_API_KEY set: the real service; otherwise the simulator
    job = fx.extend("The camera continues to pan", video="clip.mp4", seed=42)
    job.wait().video_path    # the extended MP4, saved locally
    fx.runs()                # every run as a pandas DataFrame
    fx.compare(fx.runs(), rows="prompt", cols="seed")   # the videos side by side

Importing foxnb has no side effects: nothing is started until ``connect()``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .client import AsyncClient, Client
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
from .experiments.chain import Chain
from .experiments.compare import Comparison, compare
from .experiments.plan import SweepPlan
from .experiments.report import Report
from .experiments.sweep import Sweep
from .models import ExtendRequest, Task, UploadedFile
from .runtime.jobs import Job
from .sample import make_sample_clip
from .session import Session, connect

if TYPE_CHECKING:
    from . import widgets as widgets
    from .sim import Simulator
    from .widgets import ExtendForm, JobCard, show_video

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
    # The simulator pulls in a web server; load it only when asked for.
    if name == "Simulator":
        from .sim import Simulator

        return Simulator
    # The notebook views pull in ipywidgets; same: only on first use.
    if name in ("widgets", "ExtendForm", "JobCard", "show_video"):
        views = importlib.import_module(".widgets", __name__)
        return views if name == "widgets" else getattr(views, name)
    raise AttributeError(f"module 'foxnb' has no attribute {name!r}")
