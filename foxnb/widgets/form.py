"""``ExtendForm``: fill in an extension request, see it checked as you type, submit it.

    form = fx.form()                        # or foxnb.widgets.ExtendForm(fx)
    form = fx.form(from_run="r2026…")       # start from a recorded run's fields
    form                                    # each submission's live card appears below it

Every field shows its default and a line of help; the optional ones FoxAPI asks you not to
send unless needed sit under "Advanced" and are not sent until you set them. Each change is
checked locally with the same rules ``fx.extend()`` applies (``ExtendRequest`` and the
input-clip check), the message appears next to the field, and Submit stays disabled until
everything is valid. "Same call in code" shows the equivalent ``fx.extend(...)``.

Everything a user can do has a code equivalent, e.g. ``form.prompt.value = "..."`` then
``form.submit.click()``; ``form.errors`` maps each invalid field to its message and
``form.jobs`` lists the jobs submitted from this form.
"""

from __future__ import annotations

import hashlib
import re
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .. import media
from .._files import AtomicWriter
from .._html.form import code_html, extend_code, field_error_html, help_html, info_html
from .._html.job import error_html
from ..errors import FoxError, ValidationError, VideoInputError
from ..models import EXTEND_DEFAULTS, EXTEND_OPTIONS, MODELS, ExtendRequest, is_url
from ._sync import hold_sync_all
from .card import JobCard

if TYPE_CHECKING:
    from ..runtime.jobs import Job
    from ..session import Session

# The form's defaults are extend()'s defaults, so the two cannot drift apart.
DEFAULTS: dict[str, Any] = EXTEND_DEFAULTS
OPTIONS = EXTEND_OPTIONS

FIELD_HELP = {
    "prompt": "Where the 7 s of new video should go: continued motion or a scene change. Required.",
    "video": "An http(s) URL or a local 720p/1080p clip, 16:9 or 9:16: a path, or upload ≤ 10 MB.",
    "model": "veo-3.1-extend (standard, default) or veo-3.1-extend-fast (the fast version).",
    "aspect_ratio": "Output aspect. Default: match input (the clip's own; 16:9 for a URL).",
    "generate_audio": "Generate a matching audio track. Default: on.",
    "auto_fix": "Lets the service repair the prompt (its default is on). Default: not sent.",
    "safety_tolerance": "1 = strictest … 6 = most lenient. Default: not sent.",
    "negative_prompt": "What to avoid, as comma-separated keywords. Default: not sent.",
    "seed": "A non-negative integer for a repeatable result. Empty: not sent (random).",
    "tags": "Comma-separated labels for the run ledger (fx.runs()); not sent to FoxAPI.",
}

# Dropdown label -> the value passed to extend(); None means "not sent" / "match input".
CHOICES: dict[str, dict[str, Any]] = {
    "aspect_ratio": {"match input": None, "16:9": "16:9", "9:16": "9:16"},
    "auto_fix": {"not sent": None, "True": True, "False": False},
    "safety_tolerance": {
        "not sent": None,
        "1 (strictest)": 1,
        **{str(level): level for level in range(2, 6)},
        "6 (most lenient)": 6,
    },
}
DOUBLE_CLICK_GUARD_S = 1.0
"""A second Submit within this many seconds is ignored: a double click must not pay twice."""

# Valid stand-ins for the fields not being checked, so each field is checked on its own
# and every invalid field gets its own message (ExtendRequest stops at the first).
_STAND_INS = {"prompt": "stand-in", "video": "https://example.com/clip.mp4"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_LABEL = {"description_width": "130px"}


def _wide() -> w.Layout:
    return w.Layout(width="100%", max_width="760px")


def _under_input() -> w.Layout:
    """Help, errors and notes line up with the inputs, right of the 130 px labels."""
    return w.Layout(margin="0 0 0 136px")


class ExtendForm(w.VBox):  # type: ignore[misc]
    """A form for ``session.extend(...)``; CSS class ``foxnb-form``.

    Inputs: ``prompt``, ``video`` (+ ``upload``), ``model``, ``aspect_ratio``,
    ``generate_audio``, and under ``advanced``: ``auto_fix``, ``safety_tolerance``,
    ``negative_prompt``, ``seed``, ``tags``. Each sits in a row with class
    ``foxnb-field-<name>`` holding its help and its error (class ``foxnb-error``).
    ``submit`` (class ``foxnb-submit``), ``code`` (class ``foxnb-code``), ``errors``
    (field → message), ``jobs`` (submitted jobs, oldest first), ``cards`` (their cards,
    newest first).
    """

    def __init__(
        self,
        session: Session,
        from_run: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ):
        self.session = session
        self.errors: dict[str, str] = {}
        self.jobs: list[Job] = []
        self._clock = clock
        self._last_submit_s = -float("inf")
        self._probes: dict[tuple[str, int, int], media.VideoInfo | VideoInputError] = {}
        self._filling = False

        self.prompt = w.Textarea(
            description="prompt",
            placeholder="The camera keeps panning left as the sun sets",
            rows=3,
            style=_LABEL,
            layout=_wide(),
        )
        self.video = w.Text(
            description="video", placeholder="clip.mp4 or https://…", style=_LABEL, layout=_wide()
        )
        self.upload = w.FileUpload(accept="video/*", multiple=False, description="Upload")
        self.upload.add_class("foxnb-upload")
        self.model = w.Dropdown(
            options=MODELS, value=DEFAULTS["model"], description="model", style=_LABEL
        )
        self.aspect_ratio = self._dropdown("aspect_ratio")
        self.generate_audio = w.Checkbox(
            value=DEFAULTS["generate_audio"], description="generate_audio", style=_LABEL
        )
        self.auto_fix = self._dropdown("auto_fix")
        self.safety_tolerance = self._dropdown("safety_tolerance")
        self.negative_prompt = w.Text(
            description="negative_prompt",
            placeholder="blurry, low quality, watermark",
            style=_LABEL,
            layout=_wide(),
        )
        self.seed = w.Text(description="seed", placeholder="not sent", style=_LABEL)
        self.tags = w.Text(description="tags", placeholder="first-try, dusk", style=_LABEL)
        self.video_info = w.HTML(layout=_under_input())

        inputs = {
            "prompt": self.prompt,
            "video": self.video,
            "model": self.model,
            "aspect_ratio": self.aspect_ratio,
            "generate_audio": self.generate_audio,
            "auto_fix": self.auto_fix,
            "safety_tolerance": self.safety_tolerance,
            "negative_prompt": self.negative_prompt,
            "seed": self.seed,
            "tags": self.tags,
        }
        self._error_widgets = {
            name: w.HTML(layout=_under_input()).add_class("foxnb-error") for name in inputs
        }
        rows = {name: self._row(name, widget) for name, widget in inputs.items()}
        rows["video"].children = (
            w.HBox([self.video, self.upload]),
            *rows["video"].children[1:],
            self.video_info,
        )
        advanced_names = ("auto_fix", "safety_tolerance", "negative_prompt", "seed", "tags")
        self.advanced = w.Accordion(
            children=[w.VBox([rows[name] for name in advanced_names])],
            titles=("Advanced (not sent unless set)",),
            selected_index=None,
        ).add_class("foxnb-advanced")
        billed = session.backend != "sim"
        self.submit = w.Button(
            description="Submit",
            button_style="primary",
            icon="play",
            tooltip="Send to FoxAPI (billed)" if billed else "Run on the simulator (not billed)",
        ).add_class("foxnb-submit")
        self.message = w.HTML().add_class("foxnb-message")
        self.code = w.HTML().add_class("foxnb-code")
        self.cards = w.VBox()
        # The banner once per session: connect() (or displaying the session) already showed
        # it, unless connect(quiet=True). Submit's tooltip says billed or not either way.
        banner = w.HTML(session.take_banner())
        main = [rows[name] for name in inputs if name not in advanced_names]
        children = [banner, *main, self.advanced, self.submit, self.message, self.code, self.cards]
        super().__init__(children=children, **kwargs)
        self.add_class("foxnb-form")

        for widget in inputs.values():
            widget.observe(self._on_change, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.submit.on_click(self._on_submit)
        if from_run is not None:
            self.fill_from_run(from_run)
        self.validate()

    # ------------------------------------------------------------------ building

    @staticmethod
    def _dropdown(name: str) -> w.Dropdown:
        labels = list(CHOICES[name])
        return w.Dropdown(
            options=labels, value=_label_for(name, DEFAULTS[name]), description=name, style=_LABEL
        )

    def _row(self, name: str, widget: w.DOMWidget) -> w.VBox:
        help_line = w.HTML(help_html(FIELD_HELP[name]), layout=_under_input())
        row = w.VBox([widget, help_line, self._error_widgets[name]])
        return row.add_class(f"foxnb-field-{name}")

    # ------------------------------------------------------------------ reading

    def values(self) -> dict[str, Any]:
        """The arguments ``fx.extend()`` would get; ``None`` means not sent."""
        tags = [t.strip() for t in self.tags.value.split(",") if t.strip()]
        return {
            "prompt": self.prompt.value,
            "video": self.video.value.strip(),
            "model": self.model.value,
            "aspect_ratio": CHOICES["aspect_ratio"][self.aspect_ratio.value],
            "generate_audio": self.generate_audio.value,
            "auto_fix": CHOICES["auto_fix"][self.auto_fix.value],
            "safety_tolerance": CHOICES["safety_tolerance"][self.safety_tolerance.value],
            "negative_prompt": self.negative_prompt.value.strip() or None,
            "seed": _seed(self.seed.value),
            "tags": tags or None,
        }

    def code_text(self) -> str:
        """The ``fx.extend(...)`` call equivalent to the form, with only the fields set."""
        values = self.values()
        options = [(name, values[name]) for name in OPTIONS if values[name] != DEFAULTS[name]]
        return extend_code(values["prompt"], values["video"], options)

    # ------------------------------------------------------------------ checking

    def validate(self) -> dict[str, str]:
        """Check every field now, show the messages, enable Submit if all is well."""
        values = self.values()
        errors: dict[str, str] = {}
        for name, value in values.items():
            if value is None or name == "tags":  # not sent; tags are free text
                continue
            try:
                ExtendRequest(**{**_STAND_INS, name: value})
            except ValidationError as exc:
                errors[exc.field] = _message(exc)
        info = ""
        video = values["video"]
        if "video" not in errors and not is_url(video):
            probed = self._probe(video)
            if isinstance(probed, VideoInputError):
                errors["video"] = _message(probed)
            else:
                info = f"{probed.label}, {probed.duration_s:.1f} s"
        elif "video" not in errors:
            info = "a URL: sent as is, not checked locally"
        self.errors = errors
        self._show(errors, info)
        return errors

    def _probe(self, video: str) -> media.VideoInfo | VideoInputError:
        """``media.check_input`` once per path and modification time."""
        path = Path(video).expanduser()
        stat = path.stat()
        key = (str(path.absolute()), stat.st_mtime_ns, stat.st_size)
        if key not in self._probes:
            try:
                self._probes[key] = media.check_input(path)
            except VideoInputError as exc:
                self._probes[key] = exc
        return self._probes[key]

    def _show(self, errors: Mapping[str, str], info: str) -> None:
        held = [self.submit, self.code, self.video_info]
        for widget in self._error_widgets.values():
            held += [widget, widget.layout]
        with hold_sync_all(*held):
            for name, widget in self._error_widgets.items():
                message = errors.get(name, "")
                widget.value = field_error_html(message)
                widget.layout.display = "" if message else "none"
            self.video_info.value = info_html(info)
            self.code.value = code_html(self.code_text())
            self.submit.disabled = bool(errors)

    def _on_change(self, _change: Mapping[str, Any]) -> None:
        if not self._filling:
            self.message.value = ""
            self.validate()

    # ------------------------------------------------------------------ filling

    def fill(self, fields: Mapping[str, Any]) -> None:
        """Set several fields at once (names as in ``fx.extend()``; missing ones keep theirs)."""
        self._filling = True
        try:
            for name, value in fields.items():
                widget = getattr(self, name)
                if name in CHOICES:
                    widget.value = _label_for(name, value)
                elif name == "tags":
                    widget.value = ", ".join(value or [])
                elif name in ("prompt", "video", "negative_prompt", "seed"):
                    widget.value = "" if value is None else str(value)
                else:  # model, generate_audio
                    widget.value = value
        finally:
            self._filling = False
        self.validate()

    def fill_from_run(self, run_id: str) -> None:
        """Copy a recorded run's request fields (from this folder's ledger) into the form."""
        record = self.session.ledger.get(run_id)
        if record is None:
            raise ValidationError("from_run", f"no run {run_id!r} in {self.session.ledger.path}")
        names = ("prompt", "video", *OPTIONS)
        self.fill({name: record[name] for name in names if name in record})

    def _on_upload(self, change: Mapping[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        item = files[0]
        try:
            path = save_upload(
                self.session.workdir / "inputs", item["name"], bytes(item["content"])
            )
        except OSError as exc:  # e.g. the disk is full: say so in the form
            self.message.value = error_html("video", f"could not save {item['name']}: {exc}")
            return
        finally:
            # On disk now (or not at all); keeping the bytes in the widget would hold them in
            # memory and in the notebook's widget state.
            self.upload.value = ()
        self.video.value = _short_path(path)

    # ------------------------------------------------------------------ submitting

    def _on_submit(self, _button: w.Button) -> None:
        if self.validate():  # click() from code is not stopped by a disabled button
            return
        now_s = self._clock()
        if now_s - self._last_submit_s < DOUBLE_CLICK_GUARD_S:
            return
        self._last_submit_s = now_s
        values = self.values()
        # Output of a button callback goes to no cell, so warnings are caught and shown here.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                job = self.session.extend(values.pop("prompt"), values.pop("video"), **values)
            except ValidationError as exc:
                self.message.value = error_html(exc.field, _message(exc))
                return
            except (FoxError, OSError) as exc:
                self.message.value = error_html(type(exc).__name__, str(exc))
                return
        self.message.value = "<br>".join(info_html(f"Note: {note.message}") for note in caught)
        self.jobs.append(job)
        self.cards.children = (JobCard(job), *self.cards.children)


def save_upload(folder: Path, name: str, content: bytes) -> Path:
    """Store uploaded bytes as ``folder/<sha256 prefix>-<safe name>`` (once per content)."""
    digest = hashlib.sha256(content).hexdigest()[:12]
    # Only the base name, only harmless characters, no leading dot (hidden files are not
    # served by Jupyter): an upload cannot write outside ``folder`` or hide itself.
    safe = _SAFE_NAME.sub("_", Path(name).name).lstrip("._")[-80:] or "upload.mp4"
    path = folder / f"{digest}-{safe}"
    if not path.exists():
        with AtomicWriter(path) as writer:
            writer.write(content)
            writer.commit()
    return path


def _short_path(path: Path) -> str:
    """``path`` relative to the working folder when inside it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _seed(text: str) -> int | str | None:
    """Empty → None (not sent); an integer → int; anything else stays text for the check."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text, 10)
    except ValueError:
        return text


def _label_for(name: str, value: Any) -> str:
    for label, choice in CHOICES[name].items():
        if choice == value and type(choice) is type(value):
            return label
    raise ValidationError(name, f"{value!r} is not an option here", list(CHOICES[name]))


def _message(exc: ValidationError) -> str:
    """The error's text without the leading ``field:``, which the form's layout already says."""
    return str(exc).removeprefix(f"{exc.field}: ")
