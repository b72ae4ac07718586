"""Hostile and bad input: refused locally before any request; hostile answers refused safely.

The table of bad fields goes through all three ways in: ``fx.extend``, ``fx.sweep`` and the
form's checks. Each bad value must raise (or show) an error naming the field and what is
allowed, and the simulator must see no request at all. The second half plays a hostile edge
(a real reverse proxy on 127.0.0.1 in front of the simulator) serving non-JSON answers, an
HTML page instead of the video, oversized results and file names that try to escape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hostile_edge import Answer, HostileEdge, through
from support import connect

import foxnb
from foxnb.models import MAX_PROMPT_CHARS
from foxnb.sample import make_audio_only_clip
from foxnb.sim import Simulator
from foxnb.widgets.form import ExtendForm

PROMPT = "The camera keeps panning"
GOOD: dict[str, Any] = {
    "prompt": PROMPT,
    "negative_prompt": "blurry",
    "model": "veo-3.1-extend",
    "aspect_ratio": "16:9",
    "generate_audio": True,
    "auto_fix": True,
    "safety_tolerance": 3,
    "seed": 1,
}
TEXT = "at most 2000 characters"
SOURCE = "an http(s) URL or a local video file"
VIDEO_FILE = "a video file (MP4, MOV, WebM, …) with a video stream"
SIZES = "1280x720, 1920x1080, 720x1280, 1080x1920"

# id: (field, bad value, a fragment of the allowed values the message must show).
# A value starting with "clip:" names a file made by the `inputs` fixture.
FIELDS: dict[str, tuple[str, Any, str]] = {
    "prompt empty": ("prompt", "", TEXT),
    "prompt blank": ("prompt", " \n\t ", TEXT),
    "prompt not text": ("prompt", 42, TEXT),
    "prompt None": ("prompt", None, TEXT),
    "prompt huge": ("prompt", "pan " * 250_000, TEXT),
    "prompt one over": ("prompt", "p" * (MAX_PROMPT_CHARS + 1), TEXT),
    "prompt NUL": ("prompt", "pan\x00left", TEXT),
    "prompt escape": ("prompt", "pan \x1b[31mleft", TEXT),
    "prompt C1 control": ("prompt", "pan\x85left", TEXT),
    "prompt RTL override": ("prompt", "pan \u202etfel", TEXT),
    "prompt bidi isolate": ("prompt", "pan \u2067left\u2069", TEXT),
    "prompt lone surrogate": ("prompt", "pan \ud800 left", TEXT),
    "negative_prompt list": ("negative_prompt", ["blurry"], TEXT),
    "negative_prompt huge": ("negative_prompt", "blur, " * 100_000, TEXT),
    "negative_prompt NUL": ("negative_prompt", "blur\x00", TEXT),
    "model unknown": ("model", "veo-3.1-extnd", "'veo-3.1-extend-fast'"),
    "model not text": ("model", 31, "'veo-3.1-extend'"),
    "aspect_ratio 4:3": ("aspect_ratio", "4:3", "'16:9', '9:16'"),
    "aspect_ratio number": ("aspect_ratio", 16 / 9, "'16:9', '9:16'"),
    "generate_audio text": ("generate_audio", "yes", "True or False"),
    "generate_audio int": ("generate_audio", 1, "True or False"),
    "generate_audio None": ("generate_audio", None, "True or False"),
    "auto_fix int": ("auto_fix", 1, "True, False or None"),
    "auto_fix text": ("auto_fix", "no", "True, False or None"),
    "safety_tolerance 0": ("safety_tolerance", 0, "1..6"),
    "safety_tolerance 7": ("safety_tolerance", 7, "1..6"),
    "safety_tolerance float": ("safety_tolerance", 3.0, "1..6"),
    "safety_tolerance bool": ("safety_tolerance", True, "1..6"),
    "safety_tolerance text": ("safety_tolerance", "3", "1..6"),
    "seed negative": ("seed", -1, "0 … 4294967295"),
    "seed over 32 bits": ("seed", 2**32, "0 … 4294967295"),
    "seed 2**63": ("seed", 2**63, "0 … 4294967295"),
    "seed text": ("seed", "42", "0 … 4294967295"),
    "seed float": ("seed", 1.5, "0 … 4294967295"),
    "seed bool": ("seed", False, "0 … 4294967295"),
    "video empty": ("video", "", SOURCE),
    "video not text": ("video", 123, SOURCE),
    "video ftp": ("video", "ftp://example.com/in.mp4", "'http', 'https'"),
    "video javascript": ("video", "javascript:alert(1)", "'http', 'https'"),
    "video file URL": ("video", "file:///etc/passwd", "'http', 'https'"),
    "video data URL": ("video", "data:video/mp4;base64,AAAA", "'http', 'https'"),
    "video bad IPv6 URL": ("video", "http://[oops/in.mp4", SOURCE),
    "video URL with a space": ("video", "https://example.com/my clip.mp4", "an http(s) URL"),
    "video NUL": ("video", "clip\x00.mp4", SOURCE),
    "video lone surrogate": ("video", "clip\udfff.mp4", SOURCE),
    "video missing": ("video", "clip:missing", SOURCE),
    "video folder": ("video", "clip:folder", SOURCE),
    "video not a video": ("video", "clip:text", VIDEO_FILE),
    "video empty file": ("video", "clip:empty", VIDEO_FILE),
    "video audio only": ("video", "clip:audio", VIDEO_FILE),
    "video 480p": ("video", "clip:480p", SIZES),
    "video 4:3": ("video", "clip:4x3", SIZES),
}
FORM_ROWS = [  # the rows a form user can type (text fields), and seeds typed as text
    pytest.param(*row, id=name)
    for name, row in FIELDS.items()
    if row[0] in ("prompt", "negative_prompt", "video") and isinstance(row[1], str)
] + [
    pytest.param("seed", text, "0 … 4294967295", id=f"seed typed {text!r}")
    for text in ("-1", "1.5", "abc", "4 2")
]


@pytest.fixture(scope="module")
def hostile_sim() -> Iterator[Simulator]:
    """One simulator for the whole table; it must never see a request."""
    with Simulator(speed=200) as server:
        yield server


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, clips: dict[str, Path]) -> dict[str, Path]:
    """Local files that are not usable videos (plus the conftest's rejected clips)."""
    folder = tmp_path_factory.mktemp("hostile-inputs")
    text = folder / "notes.mp4"
    text.write_text("not a video at all\n")
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    (folder / "a-folder.mp4").mkdir()
    return {
        "missing": folder / "no-such-clip.mp4",
        "folder": folder / "a-folder.mp4",
        "text": text,
        "empty": empty,
        "audio": make_audio_only_clip(folder / "audio-only.mp4"),
        "480p": clips["480p"],
        "4x3": clips["4x3"],
    }


def resolve(value: Any, inputs: dict[str, Path]) -> Any:
    if isinstance(value, str) and value.startswith("clip:"):
        return str(inputs[value.removeprefix("clip:")])
    return value


def check(exc: foxnb.ValidationError, field: str, allowed: str) -> None:
    text = str(exc)
    assert exc.field == field and f"{field}: " in text, text[:300]
    assert "(allowed: " in text and allowed in text, text[:300]
    assert len(text) < 2000  # a huge value is not echoed back in full


ROWS = [pytest.param(*row, id=name) for name, row in FIELDS.items()]


@pytest.mark.parametrize(("field", "value", "allowed"), ROWS)
def test_extend_refuses_before_any_request(
    hostile_sim: Simulator,
    tmp_path: Path,
    clips: dict[str, Path],
    inputs: dict[str, Path],
    field: str,
    value: Any,
    allowed: str,
) -> None:
    """fx.extend(): a ValidationError naming the field and what is allowed; nothing sent."""
    fx = connect(hostile_sim, tmp_path)
    kwargs = {"prompt": PROMPT, "video": clips["landscape"], field: resolve(value, inputs)}
    with pytest.raises(foxnb.ValidationError) as info:
        fx.extend(**kwargs)
    check(info.value, field, allowed)
    assert sum(hostile_sim.backend.requests.values()) == 0 and fx.runs().empty


@pytest.mark.parametrize(("field", "value", "allowed"), ROWS)
def test_sweep_refuses_before_any_request(
    hostile_sim: Simulator,
    tmp_path: Path,
    clips: dict[str, Path],
    inputs: dict[str, Path],
    field: str,
    value: Any,
    allowed: str,
) -> None:
    """fx.sweep(): one bad cell after a good one stops the whole sweep; nothing sent or recorded."""
    fx = connect(hostile_sim, tmp_path)
    bad = resolve(value, inputs)
    fields: dict[str, Any] = {"prompt": PROMPT}
    video: Any = clips["landscape"]
    if field == "video":
        video = bad
    elif isinstance(bad, list):
        fields[field] = [bad]  # a list is an axis: this axis has one (bad) value
    else:
        fields[field] = [GOOD[field], bad]
    with pytest.raises(foxnb.ValidationError) as info:
        fx.sweep(video, name="hostile", **fields)
    check(info.value, field, allowed)
    assert sum(hostile_sim.backend.requests.values()) == 0 and fx.runs().empty


@pytest.mark.parametrize(("field", "value", "allowed"), FORM_ROWS)
def test_form_shows_the_error_and_sends_nothing(
    hostile_sim: Simulator,
    tmp_path: Path,
    clips: dict[str, Path],
    inputs: dict[str, Path],
    field: str,
    value: str,
    allowed: str,
) -> None:
    """The form: the message under the field says what is allowed; Submit does nothing."""
    fx = connect(hostile_sim, tmp_path)
    form = ExtendForm(fx)
    form.fill({"prompt": PROMPT, "video": str(clips["landscape"])})
    assert form.errors == {} and not form.submit.disabled
    form.fill({field: resolve(value, inputs)})
    assert field in form.errors and allowed in form.errors[field], form.errors
    assert form.submit.disabled
    form.submit.click()  # a click from code is not stopped by the disabled button
    assert form.jobs == [] and fx.runs().empty
    assert sum(hostile_sim.backend.requests.values()) == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("sed", 3, id="misspelt field"),
        pytest.param("video_url", "https://example.com/x.mp4", id="wire name"),
        pytest.param("duration", 8, id="field of another model"),
    ],
)
def test_unknown_fields_are_refused(
    hostile_sim: Simulator, tmp_path: Path, clips: dict[str, Path], name: str, value: Any
) -> None:
    """An unknown keyword is refused by extend() and sweep(), listing the fields there are."""
    fx = connect(hostile_sim, tmp_path)
    with pytest.raises(foxnb.ValidationError) as info:
        fx.extend(PROMPT, clips["landscape"], **{name: value})
    check(info.value, name, "'seed'")
    with pytest.raises(foxnb.ValidationError) as info:
        fx.sweep(clips["landscape"], name="hostile", prompt=PROMPT, **{name: [value]})
    check(info.value, name, "'seed'")
    assert sum(hostile_sim.backend.requests.values()) == 0 and fx.runs().empty


def test_prompt_at_the_limit_is_accepted() -> None:
    """Exactly MAX_PROMPT_CHARS characters pass; the limit is on characters, not bytes."""
    prompt = "画" * MAX_PROMPT_CHARS  # 3 bytes each in UTF-8
    request = foxnb.ExtendRequest(prompt=prompt, video="https://example.com/in.mp4")
    assert request.to_json()["prompt"] == prompt


def test_unusual_but_valid_unicode_reaches_the_service_unchanged(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """Any script, emoji sequences, combining marks, newlines and tabs are sent as typed."""
    prompt = "镜头继续向左平移,\tالكاميرا تتحرك\n👩‍👩‍👧 🏳️‍🌈 e\u0301te\u0301"
    negative = "flou, ぼやけ, размытие"
    fx = connect(sim, tmp_path)
    job = fx.extend(prompt, clips["landscape"], negative_prompt=negative, seed=3).wait(60)
    (task,) = sim.backend.tasks()
    assert (task.params.prompt, task.params.negative_prompt) == (prompt, negative)
    row = fx.runs().set_index("run_id").loc[job.run_id]
    assert (row["prompt"], row["negative_prompt"]) == (prompt, negative)


# ------------------------------------------------------------------ a hostile edge


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_non_json_answers_to_reads_are_retried(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A proxy's 502 text page and an HTML 200 on task reads are retried; the job completes."""
    pages = iter(
        [
            (502, {"content-type": "text/plain"}, b"Bad Gateway"),
            (200, {"content-type": "text/html"}, b"<html><body>Please wait</body></html>"),
        ]
    )

    def rule(method: str, path: str, answer: Answer | None) -> Answer | None:
        return next(pages, None) if answer is None and path.startswith("/v1/tasks/") else None

    with HostileEdge(sim.url, rule) as edge:
        fx = through(edge, sim, tmp_path / "runs")
        job = fx.extend(PROMPT, clips["landscape"], seed=1).wait(60)
    assert job.status == "completed" and next(pages, None) is None
    assert [t.id for t in sim.backend.tasks()] == [job.task_id]  # 0 lost, 0 duplicates


def test_non_json_answer_to_a_create_is_submission_unknown(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """The create went through but the edge swapped its answer for HTML: never resent."""

    def rule(method: str, path: str, answer: Answer | None) -> Answer | None:
        if answer is not None and path == "/v1/videos/generations":
            return (200, {"content-type": "text/html"}, b"<html><body>OK</body></html>")
        return None

    with HostileEdge(sim.url, rule) as edge:
        fx = through(edge, sim, tmp_path / "runs")
        job = fx.extend(PROMPT, clips["landscape"], seed=1)
        with pytest.raises(foxnb.SubmissionUnknownError, match="not a JSON object"):
            job.wait(30)
    assert job.status == "submission_unknown" == fx.ledger.get(job.run_id)["status"]  # type: ignore[index]
    assert sim.backend.task_count == 1 and sim.backend.requests["create"] == 1
    assert len(fx.runs()) == 1  # the one task is this submission_unknown run: 0 lost


def test_an_html_page_instead_of_the_video_is_refused(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A 200 text/html page at the result URL (an edge login page) is not saved as the video:
    tried again (3 times), then download_failed not_a_video, resumable."""

    def rule(method: str, path: str, answer: Answer | None) -> Answer | None:
        if answer is None and path.startswith("/files/output/"):
            return (200, {"content-type": "text/html"}, b"<html><title>Sign in</title></html>")
        return None

    runs = tmp_path / "runs"
    with HostileEdge(sim.url, rule) as edge:
        fx = through(edge, sim, runs)
        job = fx.extend(PROMPT, clips["landscape"], seed=1)
        with pytest.raises(foxnb.DownloadError, match="'text/html', not the video") as info:
            job.wait(60)
    assert info.value.code == "not_a_video" and job.status == "download_failed"
    assert sum(1 for _, path, _ in edge.seen if path.startswith("/files/output/")) == 3
    assert not (runs / "videos").exists() or not any((runs / "videos").iterdir())
    assert fx.unfinished()[0]["run_id"] == job.run_id  # resume() tries again later
    assert [t.id for t in sim.backend.tasks()] == [job.task_id]  # 0 lost, 0 duplicates


@pytest.mark.parametrize("chunked", [False, True], ids=["Content-Length", "chunked"])
def test_a_result_over_the_size_cap_leaves_no_file(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path], chunked: bool
) -> None:
    """Over max_bytes: DownloadError too_large, and nothing (not even a .part file) is left."""
    with HostileEdge(sim.url, lambda *_: None, chunked=chunked) as edge:
        fx = through(edge, sim, tmp_path / "runs")
        job = fx.extend(PROMPT, clips["landscape"], seed=1).wait(60)
        assert job.result_url is not None and job.result_url.startswith(edge.url)
        size = job.video_path.stat().st_size  # type: ignore[union-attr]
        out = tmp_path / "capped"
        with foxnb.Client(api_key=sim.api_key, base_url=edge.url) as client:
            with pytest.raises(foxnb.DownloadError, match="cap") as info:
                client.download(job.result_url, out / "video.mp4", max_bytes=size // 3)
            assert client.download(job.result_url, out / "ok.mp4", max_bytes=size).size == size
        head = httpx.get(job.result_url).headers
        assert ("content-length" in head) is not chunked  # the cap met the intended case
    assert info.value.code == "too_large"
    assert {p.name for p in files_under(out)} == {"ok.mp4"}


def test_hostile_result_names_cannot_place_files_outside_the_work_folder(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A result URL full of ../ and a hostile Content-Disposition: the file is videos/<run>.mp4."""
    runs = tmp_path / "work" / "runs"
    real: list[str] = []  # the simulator's own result path and query

    def rule(method: str, path: str, answer: Answer | None) -> Answer | None:
        if answer is None and "escape" in path:  # the mangled result URL: serve the video
            video = httpx.get(sim.url + real[-1])
            disposition = (
                'attachment; filename="../../../escape.mp4"; '
                "filename*=UTF-8''..%2F..%2F..%2Fescape.mp4"
            )
            return (
                200,
                {"content-type": "video/mp4", "content-disposition": disposition},
                video.content,
            )
        if answer is None or not path.startswith("/v1/tasks/"):
            return None
        status, headers, body = answer
        data = json.loads(body)
        if not data.get("results"):
            return None
        url = httpx.URL(data["results"][0]["url"])
        real.append(f"{url.path}?{url.query.decode()}")
        name = url.path.rsplit("/", 1)[1]
        mangled = f"{edge.url}/files/output/..%2F..%2F..%2F{name}/../../../../escape.mp4"
        data["results"][0]["url"] = f"{mangled}?{url.query.decode()}"
        return status, headers, json.dumps(data).encode()

    before = files_under(tmp_path)
    with HostileEdge(sim.url, rule) as edge:
        fx = through(edge, sim, runs)
        job = fx.extend(PROMPT, clips["landscape"], seed=1).wait(60)
    assert job.result_url is not None and "escape" in job.result_url
    assert job.video_path == runs / "videos" / f"{job.run_id}.mp4"
    assert job.sha256 == foxnb._files.sha256_file(job.video_path)
    assert [t.id for t in sim.backend.tasks()] == [job.task_id]  # 0 lost, 0 duplicates
    simulator_files = tmp_path / "sim-state"
    created = {p for p in files_under(tmp_path) - before if not p.is_relative_to(simulator_files)}
    assert all(p.is_relative_to(runs) for p in created), created
    assert not any("escape" in str(p) for p in files_under(tmp_path))
