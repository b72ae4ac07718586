"""Pure HTML (and code) builders for the form, the job card and the saved snapshot.

Every function here takes plain values and returns a string: no widgets, no files, no
display. Widgets call them, tests check their output. Every value that came from a user,
the service or the file system goes through ``escape`` before it lands in markup.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..models import REQUEST_FIELDS

if TYPE_CHECKING:
    from ..jobs import Job

SIM_NOTE = "simulator — synthetic, not billed"
STOP_LABEL = "Stop tracking (the task keeps running and is billed; FoxAPI has no cancel)"
PARAM_NAMES = ("prompt", "video", *REQUEST_FIELDS)
_PROMPT_EXCERPT_CHARS = 120

# Inline styles only: a saved snapshot is shown by renderers that load no foxnb CSS.
_BOX = "border:1px solid #d0d7de;border-radius:6px;padding:8px 10px;margin:4px 0;max-width:760px"
_MUTED = "color:#57606a;font-size:0.9em;line-height:1.4"
_ERROR_BOX = (
    "border:1px solid #cf222e;background:#ffebe9;color:#82071e;border-radius:6px;"
    "padding:6px 10px;margin:4px 0;line-height:1.4"
)
_VIDEO = "max-width:100%;max-height:480px"


def escape(value: object) -> str:
    """``value`` as text that is safe inside HTML elements and quoted attributes."""
    return html.escape(str(value), quote=True)


def format_duration(seconds: float | None) -> str:
    """``"42 s"``, ``"3 min 05 s"``; ``"?"`` when unknown."""
    if seconds is None:
        return "?"
    whole_s = max(0, round(seconds))
    if whole_s < 60:
        return f"{whole_s} s"
    return f"{whole_s // 60} min {whole_s % 60:02d} s"


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
    if eta_s is not None:
        parts.append(f"~{format_duration(eta_s)} left")
    return " · ".join(parts)


def header_html(run_id: str, model: str, prompt: str) -> str:
    """Run id, model and the start of the prompt."""
    excerpt = (
        prompt if len(prompt) <= _PROMPT_EXCERPT_CHARS else prompt[:_PROMPT_EXCERPT_CHARS] + "…"
    )
    return (
        f"<code>{escape(run_id)}</code> · {escape(model)}"
        f'<div style="{_MUTED}">“{escape(excerpt)}”</div>'
    )


def details_html(task_id: str | None, backend: str) -> str:
    """The task id and, on the simulator, that nothing is real or billed."""
    task = f"task <code>{escape(task_id)}</code>" if task_id else "no task id yet"
    sim = f" · <b>{SIM_NOTE}</b>" if backend == "sim" else ""
    return f'<span style="{_MUTED}">{task}{sim}</span>'


def error_html(code: str | None, message: str) -> str:
    """A readable error box: the code, then the message."""
    title = f"<b>{escape(code)}</b>: " if code else ""
    return f'<div style="{_ERROR_BOX}">{title}{escape(message)}</div>'


def detached_html(run_id: str) -> str:
    """What stopping tracking means, said plainly."""
    return (
        f'<div style="{_MUTED}">foxnb stopped tracking this run. FoxAPI has no cancel: the task '
        f"may still run and be billed. <code>fx.attach({escape(repr(run_id))})</code> tracks it "
        "again.</div>"
    )


def problem_html(view: JobView) -> str:
    """The error box of a failed job, the note of a detached one, else nothing."""
    if view.error_message is not None:
        return error_html(view.error_code, view.error_message)
    if view.status == "detached":
        return detached_html(view.run_id)
    return ""


def video_html(src: str, poster_src: str | None = None) -> str:
    """``<video class="foxnb-video">`` playing ``src``.

    With a poster, the same image is also the element's fallback content: renderers that
    strip ``<video>`` but keep its children (some notebook viewers) still show the frame.
    """
    poster = f' poster="{escape(poster_src)}"' if poster_src else ""
    fallback = f'<img src="{escape(poster_src)}" alt="last frame">' if poster_src else ""
    return (
        f'<video class="foxnb-video" controls preload="metadata" src="{escape(src)}"'
        f' style="{_VIDEO}"{poster}>{fallback}</video>'
    )


def unserved_video_html(path: str, poster_src: str | None, reason: str) -> str:
    """The last frame and the file's path, for a video the browser cannot be pointed at."""
    image = (
        f'<img src="{escape(poster_src)}" alt="last frame" style="{_VIDEO}">' if poster_src else ""
    )
    return (
        f'<div>{image}<div style="{_MUTED}">Video saved to <code>{escape(path)}</code> '
        f"({escape(reason)}).</div></div>"
    )


def params_html(params: Mapping[str, object]) -> str:
    """The request's fields as a small two-column table."""
    rows = "".join(
        # Left-aligned explicitly: JupyterLab's stylesheet right-aligns table cells.
        f'<tr><td style="{_MUTED};padding-right:8px;text-align:left">{escape(name)}</td>'
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
        f'<div class="foxnb-snapshot" style="{_BOX}">'
        f"<div><code>{escape(view.run_id)}</code></div>"
        f'<div class="foxnb-status">{status}</div>'
        f"{details_html(view.task_id, view.backend)}"
        f"{params_html(view.params)}"
        f"{problem_html(view)}"
        f"{media_html}"
        "</div>"
    )


def help_html(text: str) -> str:
    """The one-line help under a form field."""
    return f'<span style="{_MUTED}">{escape(text)}</span>'


def field_error_html(message: str) -> str:
    """A form field's error message (empty when the field is fine)."""
    return f'<span style="color:#cf222e">{escape(message)}</span>' if message else ""


def info_html(text: str) -> str:
    """A neutral note, e.g. what a probed clip is."""
    return f'<span style="{_MUTED}">{escape(text)}</span>' if text else ""


def extend_code(prompt: str, video: str, options: Sequence[tuple[str, object]]) -> str:
    """The ``fx.extend(...)`` call that does what the form would, as Python source."""
    lines = ["job = fx.extend(", f"    {prompt!r},", f"    video={video!r},"]
    lines += [f"    {name}={value!r}," for name, value in options]
    return "\n".join([*lines, ")"])


def code_html(code: str) -> str:
    """Source code in a ``<pre>`` block."""
    return (
        f'<div style="{_MUTED}">Same call in code:</div>'
        f'<pre style="margin:2px 0;padding:6px;background:#f6f8fa">{escape(code)}</pre>'
    )


def banner_html(backend: str, base_url: str, masked_key: str, workdir: str) -> str:
    """Where requests go and whether they cost money, in one box (never the key itself)."""
    if backend == "sim":
        title = "Simulator — synthetic videos, nothing billed"
        more = "Set FOXAPI_API_KEY and reconnect to use the real service."
        colour = "#1a7f37"
    else:
        title = "FoxAPI (real, billed)"
        more = f"key {escape(masked_key)}."
        colour = "#9a6700"
    return (
        f'<div class="foxnb-banner" style="{_BOX};border-left:4px solid {colour}">'
        f"<b>{title}</b> · <code>{escape(base_url)}</code>"
        f'<div style="{_MUTED}">{more} Runs are recorded in <code>{escape(workdir)}</code>.'
        "</div></div>"
    )
