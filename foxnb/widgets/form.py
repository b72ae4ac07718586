"""``ExtendForm``: fill in an extension request, see it checked as you type, submit it.

    form = fx.form()                        # or foxnb.widgets.ExtendForm(fx)
    form = fx.form(from_run="r2026…")       # start from a recorded run's fields
    form                                    # each submission's live card appears below it

Every field shows its default and a line of help; the optional ones FoxAPI asks you not to
send unless needed sit under "Advanced" and are not sent until you set them. Each change is
checked locally with the same rules ``fx.extend()`` applies (``ExtendRequest`` and the
input-clip check), the message appears next to the field, and Submit stays disabled until
everything is valid. "Same call in code" shows the equivalent ``fx.extend(...)``.

While Submit is disabled, the reason is written next to it, and the Advanced section opens
when the field at fault is in it.

Displayed in a cell, the form also leaves a saved record below itself (``form_results``):
each job's live card runs in the form, and once the job ends its static snapshot, with the
request's fields and the video, replaces the card in that output, which the notebook keeps
after the kernel is gone.

Everything a user can do has a code equivalent, e.g. ``form.prompt.value = "..."`` then
``form.submit.click()``; ``form.errors`` maps each invalid field to its message and
``form.jobs`` lists the jobs submitted from this form.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .. import media
from .._html.form import (
    code_html,
    disabled_reason_html,
    extend_code,
    field_error_html,
    help_html,
    info_html,
)
from .._html.job import error_html, reused_html
from .._html.style import WIDGET_TEXT_CSS
from ..errors import FoxError, ValidationError, VideoInputError
from ..models import MODELS, ExtendRequest, is_url
from ._sync import hold_sync_all, once_off_thread
from .card import JobCard
from .form_fields import (
    CHOICES,
    DEFAULTS,
    FIELD_HELP,
    LABEL_STYLE,
    OPTIONS,
    dropdown,
    label_for,
    message_of,
    parse_seed,
    under_input,
    wide,
)
from .form_results import FormResults
from .upload import save_upload, short_path, uploaded_label, uploaded_record

if TYPE_CHECKING:
    from ..runtime.jobs import Job
    from ..session import Session

DOUBLE_CLICK_GUARD_S = 1.0
"""A second Submit within this many seconds is ignored: a double click must not pay twice."""

# Valid stand-ins for the fields not being checked, so each field is checked on its own
# and every invalid field gets its own message (ExtendRequest stops at the first).
_STAND_INS = {"prompt": "stand-in", "video": "https://example.com/clip.mp4"}
ADVANCED = ("auto_fix", "safety_tolerance", "negative_prompt", "seed", "tags")
"""The fields under the Advanced section (FoxAPI asks that they be sent only when needed)."""


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
        self._reused: Job | None = None

        self.prompt = w.Textarea(
            description="prompt",
            placeholder="The camera keeps panning left as the sun sets",
            rows=3,
            style=LABEL_STYLE,
            layout=wide(),
        )
        self.video = w.Text(
            description="video",
            placeholder="clip.mp4 or https://…",
            style=LABEL_STYLE,
            layout=wide(),
        )
        self.upload = w.FileUpload(accept="video/*", multiple=False, description="Upload")
        self.upload.add_class("foxnb-upload")
        self.model = w.Dropdown(
            options=MODELS, value=DEFAULTS["model"], description="model", style=LABEL_STYLE
        )
        self.aspect_ratio = dropdown("aspect_ratio")
        self.generate_audio = w.Checkbox(
            value=DEFAULTS["generate_audio"], description="generate_audio", style=LABEL_STYLE
        )
        self.auto_fix = dropdown("auto_fix")
        self.safety_tolerance = dropdown("safety_tolerance")
        self.negative_prompt = w.Text(
            description="negative_prompt",
            placeholder="blurry, low quality, watermark",
            style=LABEL_STYLE,
            layout=wide(),
        )
        self.seed = w.Text(description="seed", placeholder="not sent", style=LABEL_STYLE)
        self.tags = w.Text(description="tags", placeholder="first-try, dusk", style=LABEL_STYLE)
        self.video_info = w.HTML(layout=under_input())

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
            name: w.HTML(layout=under_input()).add_class("foxnb-error") for name in inputs
        }
        rows = {name: self._row(name, widget) for name, widget in inputs.items()}
        rows["video"].children = (
            w.HBox([self.video, self.upload]),
            *rows["video"].children[1:],
            self.video_info,
        )
        advanced_names = ADVANCED
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
        self.submit_reason = w.HTML().add_class("foxnb-submit-reason")
        self.again = w.Button(
            description="Run again anyway",
            tooltip="Send this request again as a new task (billed, a new video)"
            if billed
            else "Send this request again as a new task (simulator: not billed)",
            icon="redo",
            layout=w.Layout(display="none", width="auto"),
        ).add_class("foxnb-again")
        self.again.on_click(self._on_again)
        self.message = w.HTML().add_class("foxnb-message")
        self.code = w.HTML().add_class("foxnb-code")
        self.cards = w.VBox()
        # The banner once per session: connect() (or displaying the session) already showed
        # it, unless connect(quiet=True); Submit's tooltip says billed or not either way. The
        # widget stays: it carries the form's text colours.
        banner = w.HTML(WIDGET_TEXT_CSS + session.take_banner())
        main = [rows[name] for name in inputs if name not in advanced_names]
        submit_row = w.HBox(
            [self.submit, self.submit_reason], layout=w.Layout(align_items="center")
        )
        message_row = w.HBox([self.message, self.again], layout=w.Layout(align_items="center"))
        children = [banner, *main, self.advanced, submit_row, message_row, self.code, self.cards]
        super().__init__(children=children, **kwargs)
        self.add_class("foxnb-form")
        self.results = FormResults()

        for widget in inputs.values():
            widget.observe(self._on_change, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.submit.on_click(self._on_submit)
        if from_run is not None:
            self.fill_from_run(from_run)
        self.validate()

    # ------------------------------------------------------------------ building

    def _row(self, name: str, widget: w.DOMWidget) -> w.VBox:
        help_line = w.HTML(help_html(FIELD_HELP[name]), layout=under_input())
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
            "seed": parse_seed(self.seed.value),
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
                errors[exc.field] = message_of(exc)
        info = ""
        video = values["video"]
        if "video" not in errors and not is_url(video):
            probed = self._probe(video)
            if isinstance(probed, VideoInputError):
                errors["video"] = message_of(probed)
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
        held = [self.submit, self.submit_reason, self.code, self.video_info, self.advanced]
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
            self.submit_reason.value = disabled_reason_html(errors)
            if any(name in errors for name in ADVANCED):
                self.advanced.selected_index = 0  # the field at fault must be in sight

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
                    widget.value = label_for(name, value)
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
        """Copy a recorded run's request fields (from the session's runs store) into the form."""
        record = self.session.store.get(run_id)
        if record is None:
            raise ValidationError("from_run", f"no run {run_id!r} in {self.session.store.location}")
        names = ("prompt", "video", *OPTIONS)
        self.fill({name: record[name] for name in names if name in record})

    def _on_upload(self, change: Mapping[str, Any]) -> None:
        files = change["new"]
        if not files or not len(files[0]["content"]):  # cleared, or our own record
            return
        item = files[0]
        try:
            path = save_upload(
                self.session.workdir / "inputs", item["name"], bytes(item["content"])
            )
        except OSError as exc:  # e.g. the disk is full: say so in the form
            self.upload.value = ()
            self.message.value = error_html("video", f"could not save {item['name']}: {exc}")
            return
        # On disk now; keeping the bytes in the widget would hold them in memory and in the
        # notebook's widget state. The button keeps a record without them (see upload.py).
        with self.upload.hold_sync():
            self.upload.value = (uploaded_record(item),)
            self.upload.description = uploaded_label(item["name"])
        self.video.value = short_path(path)

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
                self.message.value = error_html(exc.field, message_of(exc))
                return
            except (FoxError, OSError) as exc:
                self.message.value = error_html(type(exc).__name__, str(exc))
                return
        self.message.value = "<br>".join(info_html(f"Note: {note.message}") for note in caught)
        self._track(job)
        self._offer_again(job)

    def _offer_again(self, job: Job) -> None:
        """Say that ``job`` reused an earlier result (0 credits) and offer to pay for a new one."""
        source = job.reused_from
        with hold_sync_all(self.message, self.again.layout):
            if source is not None:
                self._reused = job
                self.message.value += reused_html(source)
            self.again.layout.display = None if source is not None else "none"

    def _on_again(self, _button: w.Button) -> None:
        reused = self._reused
        if reused is None:
            return
        try:
            job = self.session.rerun(reused, force=True)
        except (FoxError, OSError) as exc:
            self.message.value = error_html(type(exc).__name__, str(exc))
            return
        self._reused = None
        self.message.value = info_html(f"Sent again as {job.run_id}.")
        self.again.layout.display = "none"
        self._track(job)

    def _track(self, job: Job) -> None:
        """Show ``job``'s live card; once it ends, move it to the saved results (if shown)."""
        self.jobs.append(job)
        card = JobCard(job)
        self.cards.children = (card, *self.cards.children)

        def move() -> None:
            self.results.ended(job)
            self.cards.children = tuple(c for c in self.cards.children if c is not card)

        fire = once_off_thread(move, "foxnb-form-result")  # one move per job

        def when_done(j: Job) -> None:
            if j.done and self.results.shown:
                fire()

        job.on_update(when_done)

    # ------------------------------------------------------------------ displaying

    def _ipython_display_(self) -> None:
        """The form, then the output that keeps its ended jobs in the saved notebook."""
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)  # type: ignore[no-untyped-call]
        if not self.results.shown:
            self.results.show()
