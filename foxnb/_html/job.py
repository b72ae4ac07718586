"""Pure HTML of one job: the card's parts, the saved snapshot, and the session banner.

Every function here takes plain values and returns a string: no widgets, no files, no
display. Widgets call them, tests check their output. Every value that came from a user,
the service or the file system goes through ``escape`` before it lands in markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..models import REQUEST_FIELDS
from . import style
from .base import SIM_NOTE, escape, format_duration

if TYPE_CHECKING:
    from ..runtime.jobs import Job

STOP_LABEL = "Stop tracking (the task keeps running and is billed; FoxAPI has no cancel)"
PARAM_NAMES = ("prompt", "video", *REQUEST_FIELDS)
_PROMPT_EXCERPT_CHARS = 120


@dataclass(frozen=True)
class JobView:
    """What a card or snapshot shows about a job, read once so one render is consistent."""

    run_id: str
    status: str
    progress_pct: int
    elapsed_s: float | None
    eta_s: float | None
    task_id: str | None
    backend: str
    error_code: str | None
    error_message: str | None
    video_path: Path | None
    params: Mapping[str, object]
    done: bool
    reused_from: str | None = None

    @classmethod
    def of(cls, job: Job) -> JobView:
        """Read ``job`` (any thread) into a view."""
        state = job.snapshot()
        error = state.error
        code = state.error_code or (type(error).__name__ if error is not None else None)
        request = job.request
        params = {name: getattr(request, name) for name in PARAM_NAMES}
        return cls(
            run_id=job.run_id,
            status=state.status,
            progress_pct=state.progress,
            elapsed_s=job.elapsed_s,
            eta_s=job.eta_s,
            task_id=state.task_id,
            backend=job.backend,
            error_code=code if error is not None else None,
            error_message=str(error) if error is not None else None,
            video_path=state.video_path,
            params={k: v for k, v in params.items() if v is not None},
            done=job.done,
            reused_from=state.reused_from,
        )


def status_html(
    status: str,
    progress_pct: int,
    elapsed_s: float | None,
    eta_s: float | None,
    *,
    done: bool = False,
) -> str:
    """One line that starts with the status word: ``processing 40% · 12 s elapsed · ~8 s left``.

    Once ``done``: ``completed 100% · after 42 s``.
    """
    parts = [f"<b>{escape(status)}</b> {progress_pct}%"]
    if elapsed_s is not None:
        took = format_duration(elapsed_s)
        parts.append(f"after {took}" if done else f"{took} elapsed")
    if eta_s is not None and not done:
        parts.append(left_text(eta_s))
    return " · ".join(parts)


def left_text(eta_s: float) -> str:
    """``~8 s left``; under 1.5 s, ``finishing any moment`` rather than ``~0 s left``."""
    return f"~{format_duration(eta_s)} left" if eta_s >= 1.5 else "finishing any moment"


_SUMMARY_SKIPPED = ("prompt", "model")


def summary_html(params: Mapping[str, object]) -> str:
    """The request's fields on one line, so two runs differing by one field look different:
    ``clip.mp4 · 16:9 · audio on · seed 5``. The prompt and model are in the header."""
    parts = []
    for name, value in params.items():
        if name in _SUMMARY_SKIPPED:
            continue
        if name == "video":
            text = str(value).rstrip("/").rsplit("/", 1)[-1]
        elif name == "aspect_ratio":
            text = str(value)
        elif name == "generate_audio":
            text = "audio on" if value else "audio off"
        else:
            text = f"{name} {value}"
        parts.append(escape(text))
    return f'<div class="foxnb-params" style="{style.MUTED}">{" · ".join(parts)}</div>'


def reused_html(source_run_id: str | None) -> str:
    """The note of a run that reused an earlier identical one's video (0 credits)."""
    if not source_run_id:
        return ""
    return (
        f'<div class="foxnb-reused" style="{style.MUTED}">reused from '
        f"<code>{escape(source_run_id)}</code>: the same request with the same seed already "
        "completed, so nothing was sent and 0 credits were spent</div>"
    )


def header_html(
    run_id: str, model: str, prompt: str, params: Mapping[str, object] | None = None
) -> str:
    """Run id, model, the start of the prompt and (given ``params``) the request's fields."""
    excerpt = (
        prompt if len(prompt) <= _PROMPT_EXCERPT_CHARS else prompt[:_PROMPT_EXCERPT_CHARS] + "…"
    )
    return (
        f"<code>{escape(run_id)}</code> · {escape(model)}"
        f'<div style="{style.MUTED}">“{escape(excerpt)}”</div>'
        + (summary_html(params) if params is not None else "")
    )


def details_html(task_id: str | None, backend: str) -> str:
    """The task id and, on the simulator, that nothing is real or billed."""
    task = f"task <code>{escape(task_id)}</code>" if task_id else "no task id yet"
    sim = f" · <b>{SIM_NOTE}</b>" if backend == "sim" else ""
    return f'<span style="{style.MUTED}">{task}{sim}</span>'


def error_html(code: str | None, message: str) -> str:
    """A readable error box: the code, then the message."""
    title = f"<b>{escape(code)}</b>: " if code else ""
    return f'<div style="{style.ERROR_BOX}">{title}{escape(message)}</div>'


def detached_html(run_id: str) -> str:
    """What stopping tracking means, said plainly."""
    return (
        f'<div style="{style.MUTED}">foxnb stopped tracking this run. FoxAPI has no cancel: '
        "the task may still run and be billed. "
        f"<code>fx.attach({escape(repr(run_id))})</code> tracks it again.</div>"
    )


def problem_html(view: JobView) -> str:
    """The error box of a failed job, the note of a detached one, else nothing."""
    if view.error_message is not None:
        return error_html(view.error_code, view.error_message)
    if view.status == "detached":
        return detached_html(view.run_id)
    return ""


def params_html(params: Mapping[str, object]) -> str:
    """The request's fields as a small two-column table."""
    rows = "".join(
        # Left-aligned explicitly: JupyterLab's stylesheet right-aligns table cells.
        f'<tr><td style="{style.MUTED};padding-right:8px;text-align:left">{escape(name)}</td>'
        f'<td style="text-align:left">{escape(value)}</td></tr>'
        for name, value in params.items()
    )
    return f'<table style="border-collapse:collapse;text-align:left">{rows}</table>'


def snapshot_html(view: JobView, media_html: str) -> str:
    """The static record of a job kept in the saved notebook (no kernel or widgets needed).

    ``media_html`` is the video block built for the job's local file (or empty).
    """
    status = status_html(view.status, view.progress_pct, view.elapsed_s, None, done=view.done)
    return (
        f'<div class="foxnb-snapshot" style="{style.CARD}">'
        f"<div><code>{escape(view.run_id)}</code></div>"
        f'<div class="foxnb-status">{status}</div>'
        f"{details_html(view.task_id, view.backend)}"
        f"{reused_html(view.reused_from)}"
        f"{params_html(view.params)}"
        f"{problem_html(view)}"
        f"{media_html}"
        "</div>"
    )


def banner_html(backend: str, base_url: str, masked_key: str, workdir: str) -> str:
    """Where requests go and whether they cost money, in one box (never the key itself)."""
    if backend == "sim":
        title = SIM_NOTE[0].upper() + SIM_NOTE[1:]
        more = "Set FOXAPI_API_KEY and reconnect to use the real service."
        colour = style.GOOD_HUE
    else:
        title = "FoxAPI (real, billed)"
        more = f"key {escape(masked_key)}."
        colour = style.WARN_HUE
    return (
        f'<div class="foxnb-banner" style="{style.CARD};border-left:4px solid {colour}">'
        f"<b>{title}</b> · <code>{escape(base_url)}</code>"
        f'<div style="{style.MUTED}">{more} Runs are recorded in <code>{escape(workdir)}</code>.'
        "</div></div>"
    )
