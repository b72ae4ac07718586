"""Pure parts of the notebook views: HTML builders, /files URLs, throttling, text fallbacks."""

from __future__ import annotations

import ast
import base64
import re
from collections.abc import Callable
from pathlib import Path, PurePath

import pytest

import foxnb
from foxnb import Job
from foxnb import _serve as _files
from foxnb._html.form import extend_code
from foxnb._html.job import JobView, snapshot_html
from foxnb._html.video import Transport, transports_text
from foxnb._serve import ServerInfo, ServerLocation, files_url, locate_server
from foxnb.config import Config
from foxnb.media import POSTER_MAX_BASE64_CHARS, poster_data_uri
from foxnb.models import ExtendRequest
from foxnb.widgets import text
from foxnb.widgets._sync import Coalescer
from foxnb.widgets.display import show_job
from foxnb.widgets.video import show_video

SCRIPT = "<script>alert('x')</script>"


def make_job(prompt: str = "pan left", **request: object) -> Job:
    """A job not attached to any service; tests drive its state by hand."""
    req = ExtendRequest(prompt=prompt, video="https://example.com/in.mp4", **request)  # type: ignore[arg-type]
    return Job("r20260101-000000-abcdef", req, backend="sim")


def test_prompt_and_error_text_are_escaped_in_the_snapshot() -> None:
    """A <script> in the prompt or in an error message is rendered as text, never as markup."""
    job = make_job(prompt=SCRIPT)
    job.set_state(
        status="failed", error=foxnb.TaskFailedError(f"{SCRIPT} refused"), error_code=SCRIPT
    )
    page = snapshot_html(JobView.of(job), "")
    assert "<script>" not in page
    assert page.count("&lt;script&gt;") == 3  # prompt, error code, error message


def test_snapshot_shows_status_parameters_and_video() -> None:
    """The static snapshot has its root class, the status first, the set fields and the video."""
    job = make_job(seed=7, generate_audio=False)
    job.set_state(status="completed", progress=100, task_id="task-1", video_path=Path("v.mp4"))
    page = snapshot_html(JobView.of(job), '<video class="foxnb-video" src="/files/v.mp4"></video>')
    assert page.startswith('<div class="foxnb-snapshot"')
    assert '<div class="foxnb-status"><b>completed</b> 100%' in page
    assert '<video class="foxnb-video"' in page and "task-1" in page
    assert re.search(r">seed</td><td[^>]*>7<", page)
    assert re.search(r">generate_audio</td><td[^>]*>False<", page)
    assert "auto_fix" not in page  # fields left unset are not listed
    assert "simulator — synthetic videos, nothing billed" in page


@pytest.mark.parametrize(
    ("path", "location", "url"),
    [
        ("/srv/nb/runs/v.mp4", ServerLocation(PurePath("/srv")), "/files/nb/runs/v.mp4"),
        ("/srv/a b#1.mp4", ServerLocation(PurePath("/srv"), ""), "/files/a%20b%231.mp4"),
        (
            "/home/jovyan/runs/v.mp4",
            ServerLocation(PurePath("/home/jovyan"), "/user/ana/"),
            "/user/ana/files/runs/v.mp4",
        ),
        ("/srv/v.mp4", ServerLocation(PurePath("/srv"), "user/ana"), "/user/ana/files/v.mp4"),
        ("/tmp/v.mp4", ServerLocation(PurePath("/srv")), None),  # outside the root
        ("/srv/.sim/v.mp4", ServerLocation(PurePath("/srv")), None),  # hidden: not served
    ],
)
def test_files_url_maps_paths_under_the_root(
    path: str, location: ServerLocation, url: str | None
) -> None:
    """Files under the root map to <base>/files/<quoted path>; others have no URL."""
    assert files_url(PurePath(path), location) == url


def test_server_that_started_the_kernel_wins() -> None:
    """The server whose pid is the kernel's parent gives root and base URL."""
    servers = [
        ServerInfo(11, PurePath("/"), "/"),
        ServerInfo(22, PurePath("/home/ana"), "/user/ana/"),
    ]
    found = locate_server(
        session_name="/home/ana/nb/q.ipynb",
        cwd=PurePath("/home/ana/nb"),
        servers=servers,
        parent_pid=22,
        hub_prefix=None,
    )
    assert found == ServerLocation(PurePath("/home/ana"), "/user/ana/")


def test_relative_session_name_is_stripped_from_the_cwd() -> None:
    """An API-relative notebook path stripped from the cwd gives the root; hub prefix used."""
    found = locate_server(
        session_name="notebooks/quickstart.ipynb",
        cwd=PurePath("/home/jovyan/notebooks"),
        servers=[],
        parent_pid=1,
        hub_prefix="/user/ana/",
    )
    assert found == ServerLocation(PurePath("/home/jovyan"), "/user/ana/")


def test_absolute_session_name_picks_the_closest_containing_server() -> None:
    """An absolute notebook path picks the deepest running server root that contains it."""
    servers = [ServerInfo(5, PurePath("/"), "/"), ServerInfo(6, PurePath("/work"), "/lab/")]
    found = locate_server(
        session_name="/work/nb/q.ipynb",
        cwd=PurePath("/work/nb"),
        servers=servers,
        parent_pid=None,
        hub_prefix=None,
    )
    assert found == ServerLocation(PurePath("/work"), "/lab/")


def test_nothing_known_means_no_location() -> None:
    """Without a session name or a matching server there is no URL to guess."""
    none = locate_server(
        session_name=None, cwd=PurePath("/x"), servers=[], parent_pid=1, hub_prefix=None
    )
    mismatch = locate_server(
        session_name="nb/q.ipynb", cwd=PurePath("/x/y"), servers=[], parent_pid=1, hub_prefix=None
    )
    assert none is None and mismatch is None


def test_extend_code_is_python_with_escaped_strings() -> None:
    """The 'copy as code' text parses and round-trips quotes and markup in the prompt."""
    code = extend_code(f'say "hi" {SCRIPT}', "clip.mp4", [("seed", 3), ("tags", ["a"])])
    call = ast.parse(code).body[0].value  # type: ignore[attr-defined]
    assert ast.literal_eval(call.args[0]) == f'say "hi" {SCRIPT}'
    assert {k.arg: ast.literal_eval(k.value) for k in call.keywords} == {
        "video": "clip.mp4",
        "seed": 3,
        "tags": ["a"],
    }


def test_banner_says_who_bills_and_never_shows_the_key(tmp_path: Path) -> None:
    """The real-service banner says 'billed' with the URL and a masked key, not the key."""
    key = "sk-live-0123456789abcdef"
    fx = foxnb.Session(
        Config(api_key=key, base_url="https://api.foxapi.cc"), workdir=tmp_path, backend="real"
    )
    page = fx._repr_html_()
    assert "FoxAPI (real, billed)" in page and "https://api.foxapi.cc" in page
    assert "sk-…cdef" in page and key not in page
    sim_page = foxnb._html.job.banner_html("sim", "http://127.0.0.1:1", "sk-…abcd", "/w")
    assert "Simulator — synthetic videos, nothing billed" in sim_page


class FakeTimer:
    """Records scheduled flushes instead of running them."""

    def __init__(self) -> None:
        self.scheduled: list[Callable[[], None]] = []
        self.cancelled = 0

    def __call__(self, delay_s: float, action: Callable[[], None]) -> FakeTimer:
        self.scheduled.append(action)
        return self

    def cancel(self) -> None:
        self.cancelled += 1


def test_coalescer_turns_a_burst_into_one_flush_and_always_flushes_the_end() -> None:
    """100 pokes in one instant: one flush now, one scheduled; the final poke flushes at once."""
    flushes: list[int] = []
    timer = FakeTimer()
    coalescer = Coalescer(lambda: flushes.append(1), 0.25, clock=lambda: 0.0, start_timer=timer)
    for _ in range(100):
        coalescer.poke()
    assert len(flushes) == 1 and len(timer.scheduled) == 1
    coalescer.poke(final=True)
    assert len(flushes) == 2 and timer.cancelled == 1
    timer.scheduled[0]()  # a timer that fires after all finds nothing left to do
    assert len(flushes) == 2


def test_poster_is_a_small_jpeg_of_the_last_frame(clips: dict[str, Path]) -> None:
    """The poster is a JPEG data URI within the ~20 KB budget; a missing file gives None."""
    poster = poster_data_uri(clips["landscape"])
    assert poster is not None and poster.startswith("data:image/jpeg;base64,")
    assert len(poster) <= POSTER_MAX_BASE64_CHARS + len("data:image/jpeg;base64,")
    assert base64.b64decode(poster.split(",", 1)[1])[:2] == b"\xff\xd8"
    assert poster_data_uri(clips["landscape"].with_name("missing.mp4")) is None


def test_show_video_by_url_embedded_or_as_poster(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """By URL under the root; embedded on request (capped) or where nothing serves it;
    a poster + path when embedding is off or over the cap. A line says which."""
    clip = clips["landscape"]
    monkeypatch.delenv("VSCODE_PID", raising=False)
    monkeypatch.setenv("FOXNB_FRONTEND", "jupyter")
    monkeypatch.setattr(_files, "server_location", lambda: ServerLocation(clip.parent.parent))
    by_url = show_video(clip, return_html=True)
    assert f'src="/files/{clip.parent.name}/{clip.name}"' in by_url
    assert 'data-foxnb-transport="files"' in by_url and "served by the Jupyter server" in by_url
    embedded = show_video(clip, embed=True, return_html=True)
    assert 'src="data:video/mp4;base64,' in embedded and "embedded in the notebook (" in embedded
    capped = show_video(clip, embed=True, max_embed_bytes=10, return_html=True)
    assert "not embedded" in capped and 'src="/files/' in capped
    monkeypatch.setattr(_files, "server_location", lambda: ServerLocation(PurePath("/nowhere")))
    outside = show_video(clip, return_html=True)
    assert 'src="data:video/mp4;base64,' in outside
    assert "no Jupyter server serves this file" in outside
    for html in (
        show_video(clip, embed=False, return_html=True),
        show_video(clip, max_embed_bytes=10, return_html=True),
    ):
        assert "<video" not in html and 'src="data:image/jpeg' in html and str(clip) in html


def test_many_videos_are_summed_up_in_one_entry_per_way() -> None:
    """Under a grid: one entry per way videos reach the browser, however many sizes they have
    (a 10 x 10 grid of real results has 100 sizes), embedded sizes added up."""
    note = "VS Code shows outputs without Jupyter's /files/ route"
    grid = [Transport("embedded", (700 + n) * 1024, (note,)) for n in range(100)]
    grid += [Transport("files", 5_000_000), Transport("files", 6_000_000)]
    assert transports_text(grid) == (
        f"100 × embedded in the notebook (73.2 MB in all) · {note}; "
        "2 × served by the Jupyter server"
    )
    assert Transport("embedded", 3 * 2**20).text == "embedded in the notebook (3.0 MB)"


def test_outside_a_notebook_displays_are_text_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """With no kernel, displaying a job or a video and following progress print plain lines."""
    assert not text.in_kernel()
    job = make_job()
    show_job(job)
    text.print_progress(job)
    job.set_state(status="processing", progress=40)
    show_video("/somewhere/v.mp4")
    assert capsys.readouterr().out.splitlines() == [
        "r20260101-000000-abcdef: queued 0%, waiting to be sent",
        "  r20260101-000000-abcdef: processing 40%, time left unknown",
        "video: /somewhere/v.mp4",
    ]
