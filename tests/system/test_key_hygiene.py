"""The API key stays secret: never shown or stored, only sent to FoxAPI, and only safely.

A realistic session runs with a real-looking key (jobs that complete, fail, are lost or
refused, a sweep, the form and a job card, every repr, error text and traceback, DEBUG logs,
the runs table, every file under the work folder, a notebook executed and saved) and the
key is looked for everywhere, raw and encoded. The key only travels in the ``Authorization``
header of API requests, over https or to this machine; the simulator listens only on
127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import ipywidgets
import nbformat
import psutil
import pytest
from ipywidgets.embed import embed_data
from nbclient import NotebookClient

import foxnb
from foxnb import Sweep
from foxnb.sim import Simulator
from foxnb.widgets.card import JobCard

KEY = "sk-proj-7Fq2LmZx9TbW4nRv8KcJ3hYd6PsA1uEg5oNiB0tXwQ"


def key_forms(key: str) -> list[str]:
    """Ways a key can leak besides its own text: URL-encoded, base64 (at every alignment,
    alone or as a Basic/Bearer header value), hex. Each is long enough to be unmistakable."""
    forms = [key, quote(key, safe=""), key.encode().hex()]
    for prefix in (b"", b"Bearer ", b":", b"user:"):
        for pad in range(3):
            encoded = base64.b64encode(b"\0" * pad + prefix + key.encode()).decode()
            forms.append(encoded[4:-4] if pad or prefix else encoded[:-4])
    return forms


def assert_clean(text: str, what: str, key: str = KEY) -> None:
    for form in key_forms(key):
        assert form not in text, f"the API key (as {form[:12]}…) appears in {what}"


def everything_under(folder: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield path, path.read_bytes().decode("latin-1")  # any byte sequence reads


class WireLog(httpx.AsyncHTTPTransport):
    """The real transport, keeping what each request carried on the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await super().handle_async_request(request)


def test_the_search_finds_the_key_in_every_form_it_looks_for() -> None:
    """The check below is not vacuous: each encoding of the key, embedded in text, is caught."""
    raw = KEY.encode()
    leaks = [
        f"Authorization: Bearer {KEY}",
        f"https://x/?key={quote(KEY, safe='')}",
        base64.b64encode(raw).decode(),
        base64.b64encode(b"Bearer " + raw).decode(),
        base64.b64encode(b"x" + raw).decode(),
        base64.b64encode(b"user:" + raw).decode(),
        raw.hex(),
    ]
    for leak in leaks:
        with pytest.raises(AssertionError, match="appears in"):
            assert_clean(f"noise {leak} noise", "a test string")
    assert_clean(f"masked: {foxnb.config.mask_key(KEY)}", "a masked key")


@pytest.fixture
def keyed_sim(tmp_path: Path) -> Iterator[Simulator]:
    """A simulator that accepts KEY; its state folder is outside the work folder."""
    with Simulator(api_key=KEY, speed=200, upstream_lag_s=0.0, state_dir=tmp_path / "sim") as s:
        yield s


def test_a_realistic_session_never_shows_or_stores_the_key(
    keyed_sim: Simulator,
    tmp_path: Path,
    clips: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every output of a busy session, at DEBUG logging, is free of the key in any encoding."""
    caplog.set_level(logging.DEBUG)  # every logger: foxnb, httpx, httpcore, uvicorn, asyncio
    workdir = tmp_path / "runs"
    wire = WireLog()
    fx = foxnb.connect(api_key=KEY, base_url=keyed_sim.url, workdir=workdir, transport=wire)
    clip = clips["landscape"]
    done = fx.extend("The camera keeps panning", clip, seed=1).wait(60)
    errors: list[BaseException] = []
    faults = [
        ("create", "task_failure"),  # content_policy_violation
        ("create", "lost_response"),
        ("create", "500"),
        ("task", "edge_html"),
    ]
    for seed, (endpoint, kind) in enumerate(faults, start=2):
        keyed_sim.inject(endpoint, kind)
        with pytest.raises(foxnb.FoxError) as info:
            fx.extend("The camera keeps panning", clip, seed=seed).wait(60)
        errors.append(info.value)
    sweep = fx.sweep(clip, name="hygiene", prompt="The camera keeps panning", seed=[1, 6])
    assert isinstance(sweep, Sweep)
    sweep.wait(60)
    with pytest.raises(foxnb.ValidationError) as bad_field:
        fx.extend("pan", clip, safety_tolerance=9)
    errors.append(bad_field.value)
    with pytest.raises(foxnb.ValidationError) as plain_http:
        foxnb.connect(api_key=KEY, base_url="http://api.foxapi.cc", workdir=workdir)
    errors.append(plain_http.value)
    assert {type(e).__name__ for e in errors} >= {
        "TaskFailedError",
        "SubmissionUnknownError",
        "PermissionDeniedError",
        "ValidationError",
    }

    form = fx.form(from_run=done.run_id)
    form.video.value = "https://example.com/clip.mp4"
    card = JobCard(done)
    widgets_state = json.dumps(embed_data(views=[form, card]))
    assert "foxnb" in widgets_state and done.run_id in widgets_state  # the state is real
    frame = fx.runs()
    texts: dict[str, str] = {
        "reprs": "\n".join(
            [repr(fx), fx._repr_html_(), repr(fx.config), repr(fx.tracker.client), repr(keyed_sim)]
            + [repr(job) for job in fx.jobs]
            + [repr(sweep), repr(fx.compare(sweep)), fx.compare(sweep)._repr_html_()]
        ),
        "error messages": "\n".join(str(e) for e in errors),
        "error attributes": "\n".join(repr(vars(e)) for e in errors),
        "tracebacks": "\n".join("".join(traceback.format_exception(e)) for e in errors),
        "job errors": "\n".join(repr(j.error) + str(j.error) for j in fx.jobs if j.error),
        "widget state (form, card)": widgets_state,
        "every live widget's state": json.dumps(
            ipywidgets.Widget.get_manager_state(drop_defaults=False), default=str
        ),
        "runs DataFrame": frame.to_csv() + frame.to_html() + frame.to_json(date_format="iso"),
        "sweep DataFrame": sweep.df.to_csv(),
        "logs": caplog.text,
        "stdout and stderr": "".join(capsys.readouterr()),
    }
    assert len(caplog.records) > 50 and "HTTP Request" in caplog.text  # DEBUG was on
    for what, text in texts.items():
        assert_clean(text, what)
    files = dict(everything_under(workdir))
    assert workdir / "runs.db" in files and any(p.suffix == ".mp4" for p in files)
    for path, content in files.items():
        assert_clean(content, str(path))

    # On the wire: the key went, in the Authorization header only, to API paths only.
    assert wire.requests
    for request in wire.requests:
        carries_key = request.headers.get("authorization") == f"Bearer {KEY}"
        assert carries_key == request.url.path.startswith("/v1/"), request.url
        assert_clean(str(request.url), f"the URL {request.url}")
    downloads = [r for r in wire.requests if r.url.path.startswith("/files/")]
    assert downloads and not any("authorization" in r.headers for r in downloads)


NOTEBOOK_CELLS = [
    "import logging, os\nimport foxnb\nlogging.basicConfig(level=logging.DEBUG)",
    "fx = foxnb.connect(workdir='runs')  # the key comes from FOXAPI_API_KEY\nfx",
    "job = fx.extend('The camera keeps panning', CLIP, seed=1)\njob",
    "job.wait(60)\nfx.runs()",
    "failing = fx.extend('The camera keeps panning', CLIP, seed=2)\nfailing.wait(60)",
    "foxnb.connect(api_key=os.environ['FOXAPI_API_KEY'], base_url='http://api.foxapi.cc')",
    "fx.form(from_run=job.run_id)",
    "print(fx, fx.config, job, failing.error, sep='\\n')",
]


@pytest.mark.slow
def test_an_executed_saved_notebook_never_holds_the_key(
    keyed_sim: Simulator, tmp_path: Path, clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook using FOXAPI_API_KEY, with DEBUG logs, errors, tables and widgets, saved."""
    monkeypatch.setenv("FOXAPI_API_KEY", KEY)
    monkeypatch.setenv("FOXAPI_BASE_URL", keyed_sim.url)
    keyed_sim.inject("create", "task_failure", code="generation_failed")  # the first create
    folder = tmp_path / "notebook"
    folder.mkdir()
    cells = [c.replace("CLIP", repr(str(clips["landscape"]))) for c in NOTEBOOK_CELLS]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    path = folder / "hygiene.ipynb"
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    ).execute()
    nbformat.write(notebook, path)
    outputs = [out for cell in notebook.cells for out in cell.get("outputs", [])]
    errors = {out["ename"] for out in outputs if out["output_type"] == "error"}
    assert errors == {"TaskFailedError", "ValidationError"}
    saved = path.read_text()
    assert "application/vnd.jupyter.widget-view+json" in saved and "HTTP Request" in saved
    assert "application/vnd.jupyter.widget-state+json" in notebook.metadata.get("widgets", {})
    assert_clean(saved, "the saved notebook")
    for file, content in everything_under(folder / "runs"):
        assert_clean(content, str(file))


# ------------------------------------------------------------------ where the key may go


@pytest.mark.parametrize(
    "base_url",
    [
        "http://api.foxapi.cc",
        "http://10.0.0.7:8000",
        "http://127.0.0.1.attacker.example",  # a DNS name, not a loopback address
        "http://localhost.attacker.example",
        "http://[::ffff:127.0.0.1]:8000",
        "ftp://api.foxapi.cc",
        "api.foxapi.cc",
    ],
)
def test_the_key_is_not_sent_in_clear_off_this_machine(
    base_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A base URL that is not https (or loopback http) is refused before any connection."""
    for make in (
        lambda: foxnb.Client(api_key=KEY, base_url=base_url),
        lambda: foxnb.connect(api_key=KEY, base_url=base_url, workdir=tmp_path, quiet=True),
    ):
        with pytest.raises(foxnb.ValidationError) as info:
            make()
        assert info.value.field == "base_url"
        assert_clean(str(info.value), "the refusal")
    monkeypatch.setenv("FOXAPI_API_KEY", KEY)
    monkeypatch.setenv("FOXAPI_BASE_URL", base_url)
    with pytest.raises(foxnb.ValidationError, match="base_url"):
        foxnb.connect(workdir=tmp_path, quiet=True)


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.foxapi.cc",
        "http://127.0.0.1:8765",
        "http://127.9.9.9:8765",
        "http://localhost:8765",
        "http://[::1]:8765",
    ],
)
def test_https_and_loopback_http_are_accepted(base_url: str) -> None:
    """https anywhere, and plain http to this machine (the simulator), may carry the key."""
    with foxnb.Client(api_key=KEY, base_url=base_url) as client:
        assert client.config.base_url == base_url
        assert_clean(repr(client), "the client's repr")


# ------------------------------------------------------------------ the simulator's socket


def listening(pid: int, port: int) -> list[str]:
    """The local addresses process ``pid`` listens on at ``port``."""
    connections = psutil.Process(pid).net_connections(kind="inet")
    return [c.laddr.ip for c in connections if c.status == "LISTEN" and c.laddr.port == port]


def other_addresses() -> list[str]:
    """This machine's IPv4 addresses that are not loopback."""
    return [
        a.address
        for addresses in psutil.net_if_addrs().values()
        for a in addresses
        if a.family == socket.AF_INET and not a.address.startswith("127.")
    ]


def test_the_simulator_listens_on_loopback_only(tmp_path: Path) -> None:
    """Simulator(), foxnb.connect()'s embedded one and `python -m foxnb.sim` bind 127.0.0.1."""
    with Simulator() as sim:
        port = urlsplit(sim.url).port
        assert port is not None and listening(os.getpid(), port) == ["127.0.0.1"]
        for address in other_addresses():
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=2).close()
    fx = foxnb.connect(workdir=tmp_path / "runs", quiet=True)
    port = urlsplit(fx.config.base_url).port
    assert port is not None and listening(os.getpid(), port) == ["127.0.0.1"]
    assert fx.simulator is not None
    fx.simulator.stop()
    cli = subprocess.Popen(
        [sys.executable, "-m", "foxnb.sim", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert cli.stdout is not None
        url = cli.stdout.readline().split(" at ", 1)[1].split()[0]
        port = urlsplit(url).port
        assert port is not None and listening(cli.pid, port) == ["127.0.0.1"]
    finally:
        cli.terminate()
        cli.wait(10)
