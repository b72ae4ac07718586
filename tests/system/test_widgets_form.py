"""The form, the job card and job display, driven in-process against a fast simulator."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
from support import connect, wait_for

import foxnb
from foxnb import Job, media
from foxnb import _serve as _files
from foxnb._serve import ServerLocation
from foxnb.models import ExtendRequest
from foxnb.sim import Simulator
from foxnb.widgets import display, form
from foxnb.widgets.card import JobCard


@pytest.fixture(autouse=True)
def _served_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pretend a Jupyter server serves tmp_path at /, as JupyterLab would."""
    monkeypatch.setattr(_files, "server_location", lambda: ServerLocation(tmp_path.resolve()))
    yield


def text_of(html_widget: Any) -> str:
    return str(html_widget.value)


def test_empty_form_disables_submit_and_says_why(sim: Simulator, tmp_path: Path) -> None:
    """A fresh form has no prompt and no video: both messages shown, Submit disabled."""
    f = connect(sim, tmp_path).form()
    assert "foxnb-form" in f._dom_classes and f.submit.disabled
    assert set(f.errors) == {"prompt", "video"}
    assert f.errors["prompt"].startswith("is empty: say what happens")
    assert "is empty" in text_of(f._error_widgets["video"])


def test_480p_clip_is_refused_next_to_the_video_field(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A 480p clip shows check_input's message under the video field and disables Submit."""
    f = connect(sim, tmp_path).form()
    f.prompt.value = "pan"
    f.video.value = str(clips["480p"])
    assert f.submit.disabled and list(f.errors) == ["video"]
    assert "854x480 (480p, 16:9)" in f.errors["video"]
    assert "720p or 1080p" in f.errors["video"]
    assert "720p or 1080p" in text_of(f._error_widgets["video"])
    f.video.value = str(clips["landscape"])
    assert not f.submit.disabled and f.errors == {}
    assert "1280x720" in text_of(f.video_info)


def test_bad_seed_is_refused_and_empty_seed_is_not_sent(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """'abc' or -1 as seed gives the seed message; clearing it makes the form valid again."""
    f = connect(sim, tmp_path).form()
    f.fill({"prompt": "pan", "video": str(clips["landscape"])})
    for bad in ("abc", "-1", "1.5"):
        f.seed.value = bad
        assert list(f.errors) == ["seed"] and f.submit.disabled
        assert "must be an integer from 0 to 4,294,967,295" in f.errors["seed"]
    f.seed.value = ""
    assert f.errors == {} and "seed" not in f.code_text()


def test_clip_is_probed_once_per_path_and_change(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Typing in other fields does not re-read the clip; a new path does."""
    probed: list[Path] = []
    real = media.check_input

    def counting(path: str | Path) -> media.VideoInfo:
        probed.append(Path(path))
        return real(path)

    monkeypatch.setattr(media, "check_input", counting)
    f = connect(sim, tmp_path).form()
    f.video.value = str(clips["landscape"])
    for word in ("p", "pa", "pan", "pan left"):
        f.prompt.value = word
    f.seed.value = "4"
    assert len(probed) == 1
    f.video.value = str(clips["portrait"])
    assert len(probed) == 2


def test_code_view_shows_only_the_fields_set(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """'Same call in code' lists prompt, video and exactly the non-default fields."""
    f = connect(sim, tmp_path).form()
    f.fill({"prompt": "pan <b>left</b>", "video": "https://example.com/in.mp4"})
    assert f.code_text() == (
        "job = fx.extend(\n    'pan <b>left</b>',\n    video='https://example.com/in.mp4',\n)"
    )
    f.seed.value = "42"
    f.generate_audio.value = False
    f.safety_tolerance.value = "1 (strictest)"
    f.model.value = "veo-3.1-extend-fast"
    f.tags.value = "a, b"
    assert f.code_text() == (
        "job = fx.extend(\n"
        "    'pan <b>left</b>',\n"
        "    video='https://example.com/in.mp4',\n"
        "    model='veo-3.1-extend-fast',\n"
        "    generate_audio=False,\n"
        "    safety_tolerance=1,\n"
        "    seed=42,\n"
        "    tags=['a', 'b'],\n"
        ")"
    )
    assert "foxnb-code" in f.code._dom_classes
    assert "&lt;b&gt;left&lt;/b&gt;" in f.code.value and "<pre" in f.code.value


def test_submit_runs_the_job_and_its_card_plays_the_video(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """submit.click() starts a job whose card completes with a video; no widget holds the key."""
    f = connect(sim, tmp_path).form()
    f.fill({"prompt": "pan", "video": str(clips["landscape"]), "seed": 3})
    f.submit.click()
    assert len(f.jobs) == 1 and f.jobs[0].request.seed == 3
    card = f.cards.children[0]
    assert "foxnb-card" in card._dom_classes
    f.jobs[0].wait(30)
    # The card renders on another thread: wait for its last write, not its first.
    wait_for(lambda: card.status.value.startswith("<b>completed</b>"))
    wait_for(lambda: card.stop.layout.display == "none", what="the final render")
    assert card.progress.value == 100 and card.progress.bar_style == "success"
    assert '<video class="foxnb-video"' in card.media.value
    assert 'src="/files/runs/videos/' in card.media.value
    assert card.stop.layout.display == "none"
    states = [str(widget.get_state()) for widget in all_widgets(f)]
    assert len(states) > 30 and all(sim.api_key not in state for state in states)


def all_widgets(root: Any) -> Iterator[Any]:
    yield root
    yield root.layout
    for child in getattr(root, "children", ()):
        yield from all_widgets(child)


def test_double_click_submits_once(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two clicks within a second start one paid job; a click a second later starts another."""
    fx = connect(sim, tmp_path)
    calls: list[dict[str, Any]] = []

    def extend(prompt: str, video: str, **options: Any) -> Job:
        calls.append({"prompt": prompt, "video": video, **options})
        return make_job()

    monkeypatch.setattr(fx, "extend", extend)
    now_s = [100.0]
    f = form.ExtendForm(fx, clock=lambda: now_s[0])
    f.fill({"prompt": "pan", "video": "https://example.com/in.mp4", "seed": "5"})
    f.submit.click()
    f.submit.click()
    assert len(calls) == 1 and len(f.jobs) == 1 and len(f.cards.children) == 1
    assert calls[0] == {
        "prompt": "pan",
        "video": "https://example.com/in.mp4",
        "model": "veo-3.1-extend",
        "aspect_ratio": None,
        "generate_audio": True,
        "auto_fix": None,
        "safety_tolerance": None,
        "negative_prompt": None,
        "seed": 5,
        "tags": None,
    }
    now_s[0] += form.DOUBLE_CLICK_GUARD_S
    f.submit.click()
    assert len(calls) == 2 and len(f.jobs) == 2


def test_submit_problems_are_shown_in_the_form(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Warnings and errors from extend() appear under Submit (a callback's output is unseen)."""
    fx = connect(sim, tmp_path)
    outcomes: list[Callable[[], Job]] = []

    def warn() -> Job:
        warnings.warn("aspect_ratio='9:16' differs from the input clip's 16:9", stacklevel=1)
        return make_job()

    def fail() -> Job:
        raise foxnb.ValidationError("video", "<b>gone</b> since the check")

    monkeypatch.setattr(fx, "extend", lambda *a, **k: outcomes.pop(0)())
    now_s = [0.0]
    f = form.ExtendForm(fx, clock=lambda: now_s[0])
    f.fill({"prompt": "pan", "video": "https://example.com/in.mp4"})
    outcomes[:] = [warn, fail]
    f.submit.click()
    assert "Note: aspect_ratio=&#x27;9:16&#x27; differs" in f.message.value and len(f.jobs) == 1
    now_s[0] += form.DOUBLE_CLICK_GUARD_S
    f.submit.click()
    assert "&lt;b&gt;gone&lt;/b&gt; since the check" in f.message.value and len(f.jobs) == 1
    f.seed.value = "1"  # any change clears the message
    assert f.message.value == ""


def test_from_run_prefills_a_recorded_run(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """form(from_run=...) copies the recorded request, including advanced fields and tags."""
    fx = connect(sim, tmp_path)
    fx.ledger.append(
        "r-old",
        time.time(),
        status="completed",
        prompt="dusk",
        video=str(clips["portrait"]),
        model="veo-3.1-extend",
        aspect_ratio="9:16",
        generate_audio=True,
        auto_fix=False,
        safety_tolerance=2,
        negative_prompt=None,
        seed=9,
        tags=["x", "y"],
    )
    f = fx.form(from_run="r-old")
    assert f.prompt.value == "dusk" and f.video.value == str(clips["portrait"])
    assert f.seed.value == "9" and f.safety_tolerance.value == "2"
    assert f.auto_fix.value == "False" and f.aspect_ratio.value == "9:16"
    assert f.tags.value == "x, y" and f.errors == {}
    with pytest.raises(foxnb.ValidationError, match="no run"):
        fx.form(from_run="r-none")


def test_upload_is_saved_under_inputs_and_fills_the_path(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """Uploaded bytes land in <workdir>/inputs/<sha-prefix>-<safe name>; the path is filled."""
    fx = connect(sim, tmp_path)
    f = fx.form()
    content = clips["landscape"].read_bytes()
    upload = {
        "name": "../my clip!.mp4",
        "type": "video/mp4",
        "size": len(content),
        "content": memoryview(content),
        "last_modified": datetime.now(timezone.utc),
    }
    f.upload.value = (upload,)
    saved = Path(f.video.value)
    assert saved.parent == fx.workdir / "inputs"
    assert saved.name.endswith("-my_clip_.mp4") and saved.read_bytes() == content
    assert "video" not in f.errors
    # The bytes left the widget; the button keeps a record of the upload, and says so.
    (record,) = f.upload.value
    assert len(record["content"]) == 0 and record["size"] == len(content)
    assert f.upload.description == "✓ my clip!.mp4"


def test_upload_that_cannot_be_saved_says_why_in_the_form(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A disk error while saving an upload is shown in the form, not raised into the kernel."""
    fx = connect(sim, tmp_path)
    (fx.workdir / "inputs").write_text("a file where the inputs folder should be")
    f = fx.form()
    content = clips["landscape"].read_bytes()
    f.upload.value = (
        {
            "name": "clip.mp4",
            "type": "video/mp4",
            "size": len(content),
            "content": memoryview(content),
            "last_modified": datetime.now(timezone.utc),
        },
    )
    assert "could not save clip.mp4" in f.message.value
    assert f.upload.value == () and f.video.value == ""


def make_job(detach_hook: Callable[[Job], None] | None = None) -> Job:
    req = ExtendRequest(prompt="pan", video="https://example.com/in.mp4")
    return Job("r1", req, backend="sim", detach_hook=detach_hook)


def test_a_burst_of_updates_makes_few_trait_syncs(monkeypatch: pytest.MonkeyPatch) -> None:
    """200 updates at one instant cause at most 3 progress-bar syncs, the last one final."""
    sent: list[dict[str, Any]] = []
    original = ipywidgets.Widget._send

    def counting(self: Any, msg: dict[str, Any], buffers: Any = None) -> None:
        if self is card.progress:
            sent.append(msg["state"])
        original(self, msg, buffers)

    job = make_job()
    scheduled: list[Callable[[], None]] = []

    class Never:
        def cancel(self) -> None:
            pass

    def start_timer(delay_s: float, action: Callable[[], None]) -> Never:
        scheduled.append(action)
        return Never()

    card = JobCard(job, clock=lambda: 0.0, start_timer=start_timer)
    monkeypatch.setattr(ipywidgets.Widget, "_send", counting)
    for pct in range(1, 201):
        job.set_state(status="processing", progress=pct // 2)
    job.set_state(status="completed", progress=100)
    job.mark_done()
    assert len(sent) <= 3 and len(scheduled) == 1
    assert sent[-1] == {"value": 100, "bar_style": "success"}
    assert card.status.value.startswith("<b>completed</b>")


def test_stop_tracking_calls_detach_and_says_the_task_runs_on() -> None:
    """The stop button calls job.detach(); its label says the task keeps running and is billed."""
    detached: list[Job] = []
    job = make_job(detach_hook=detached.append)
    card = JobCard(job)
    assert "foxnb-stop" in card.stop._dom_classes
    assert "keeps running and is billed" in card.stop.description
    assert "no cancel" in card.stop.tooltip
    card.stop.click()
    assert detached == [job] and card.stop.disabled


def test_failure_shows_an_escaped_error_box() -> None:
    """A failed job's card shows the code and message, with markup escaped."""
    job = make_job()
    card = JobCard(job)
    error = foxnb.TaskFailedError("<img src=x onerror=alert(1)> refused", code="policy")
    job.set_state(status="failed", error=error, error_code="content_policy_violation")
    job.mark_done()
    assert card.status.value.startswith("<b>failed</b>")
    assert "content_policy_violation" in card.problem.value
    assert "&lt;img src=x" in card.problem.value and "<img" not in card.problem.value


def test_displayed_job_becomes_a_static_snapshot_when_it_ends(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a kernel, display(job) shows the live card, then update_display puts the snapshot."""
    shown: list[dict[str, str]] = []
    updates: list[dict[str, str]] = []

    class Handle:
        def update(self, bundle: dict[str, str], raw: bool) -> None:
            updates.append(bundle)

    def fake_display(bundle: dict[str, str], raw: bool, display_id: bool = False) -> Handle:
        shown.append(bundle)
        return Handle()

    monkeypatch.setattr(display, "in_kernel", lambda: True)
    monkeypatch.setattr("IPython.display.display", fake_display)
    job = connect(sim, tmp_path).extend("pan", clips["landscape"])
    job._ipython_display_()
    assert "application/vnd.jupyter.widget-view+json" in shown[0]
    assert "foxnb-snapshot" in shown[0]["text/html"]  # for viewers without the widget
    job.wait(30)
    wait_for(lambda: len(updates) == 1)
    page = updates[0]["text/html"]
    assert page.startswith('<div class="foxnb-snapshot"')
    assert "<b>completed</b>" in page and '<video class="foxnb-video"' in page
    assert 'poster="data:image/jpeg;base64,' in page and "data:video" not in page
    assert "application/vnd.jupyter.widget-view+json" not in updates[0]
    job._ipython_display_()  # an ended job is shown as its snapshot straight away
    assert "foxnb-snapshot" in shown[-1]["text/html"] and len(updates) == 1


def test_form_jobs_end_as_saved_snapshots_below_the_form(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Displayed, the form adds an output that ends up holding each ended job's snapshot
    (fields and video), newest first; the live card leaves the form when its job ends."""
    shown: list[dict[str, Any]] = []
    updates: list[dict[str, str]] = []

    class Handle:
        def update(self, bundle: dict[str, str], raw: bool) -> None:
            updates.append(bundle)

    def fake_display(bundle: dict[str, Any], raw: bool, display_id: bool = False) -> Handle:
        shown.append(bundle)
        return Handle()

    monkeypatch.setattr("IPython.display.display", fake_display)
    f = connect(sim, tmp_path).form()
    f._ipython_display_()
    assert "application/vnd.jupyter.widget-view+json" in shown[0] and shown[1] == {"text/plain": ""}
    f.fill({"prompt": "pan", "video": str(clips["landscape"]), "seed": 1})
    f.submit.click()
    first = f.jobs[0]
    assert [c.job for c in f.cards.children] == [first]
    assert "seed 1" in f.cards.children[0].header.value
    first.wait(30)
    wait_for(lambda: len(updates) == 1 and not f.cards.children, what="the first snapshot")
    f._last_submit_s = -1e9  # not a double click
    f.seed.value = "2"
    f.submit.click()
    f.jobs[1].wait(30)
    wait_for(lambda: len(updates) == 2 and not f.cards.children, what="the second snapshot")
    page = updates[-1]["text/html"]
    assert page.startswith('<div class="foxnb-form-results">') and page.count("foxnb-snapshot") == 2
    assert page.index(f.jobs[1].run_id) < page.index(first.run_id)  # newest first
    assert page.count('<video class="foxnb-video"') == 2
    assert ">seed</td><td" in page and ">2</td>" in page and ">1</td>" in page


def test_a_disabled_submit_says_why_and_opens_the_section_at_fault(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """The reason sits next to Submit; a bad Advanced field opens the Advanced section."""
    f = connect(sim, tmp_path).form()
    assert f.submit.disabled and "prompt" in f.submit_reason.value
    assert f.advanced.selected_index is None
    f.fill({"prompt": "pan", "video": str(clips["landscape"])})
    assert not f.submit.disabled and f.submit_reason.value == ""
    f.seed.value = "-1"
    assert f.submit.disabled and "seed" in f.submit_reason.value
    assert f.advanced.selected_index == 0


def test_an_identical_seeded_request_is_reused_and_can_be_run_again(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """Submitting the same seeded request again reuses the result at 0 credits and says so;
    "Run again anyway" sends a new task."""
    fx = connect(sim, tmp_path)
    f = fx.form()
    f.fill({"prompt": "pan", "video": str(clips["landscape"]), "seed": 4})
    f.submit.click()
    f.jobs[0].wait(30)
    assert f.again.layout.display == "none"
    f._last_submit_s = -1e9  # not a double click
    f.submit.click()
    reused = f.jobs[1]
    assert reused.reused_from == f.jobs[0].run_id and reused.credits == 0
    assert "reused from" in f.message.value and f.jobs[0].run_id in f.message.value
    assert f.again.layout.display is None
    f.again.click()
    fresh = f.jobs[2]
    assert fresh.reused_from is None and fresh.request == f.jobs[0].request
    fresh.wait(30)
    assert f.again.layout.display == "none" and f"Sent again as {fresh.run_id}" in f.message.value
    assert fresh.credits and fresh.credits > 0
