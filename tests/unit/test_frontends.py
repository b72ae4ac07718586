"""Where videos can play: the frontend guessed from its signals, the transport chosen, the cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from foxnb import _frontend
from foxnb import _serve as serve
from foxnb._frontend import guess_frontend, max_embed_bytes
from foxnb._serve import ServerLocation, choose_transport
from foxnb.widgets.video import show_video

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("env", "modules", "installed", "expected"),
    [
        ({}, [], False, "jupyter"),
        ({"VSCODE_PID": "4242"}, [], False, "vscode"),
        ({"VSCODE_CWD": "/home/ana"}, [], False, "vscode"),
        ({}, ["google.colab"], False, "colab"),
        ({}, [], True, "colab"),  # installed but not yet imported
        ({"VSCODE_PID": "1", "FOXNB_FRONTEND": "jupyter"}, [], False, "jupyter"),
        ({"FOXNB_FRONTEND": "nonsense"}, [], False, "jupyter"),
    ],
)
def test_frontend_is_guessed_from_its_signals(
    env: dict[str, str], modules: list[str], installed: bool, expected: str
) -> None:
    """VSCODE_PID means VS Code, google.colab means Colab; FOXNB_FRONTEND overrides."""
    assert guess_frontend(env, modules, installed) == expected


@pytest.mark.parametrize(
    ("size_mb", "url", "embed", "where", "transport", "note"),
    [
        (1, "/files/v.mp4", None, "jupyter", "files", ""),
        (1, None, None, "jupyter", "embedded", "no Jupyter server serves"),
        (1, "/files/v.mp4", None, "vscode", "embedded", "VS Code shows outputs without"),
        (1, "/files/v.mp4", None, "colab", "embedded", "Colab has no Jupyter /files/"),
        (30, None, None, "vscode", "none", "over the 20 MB cap"),
        (30, "/files/v.mp4", True, "jupyter", "files", "not embedded: 30.0 MB"),
        (1, "/files/v.mp4", True, "jupyter", "embedded", "as asked"),
        (1, None, False, "jupyter", "none", "embedding is off"),
    ],
)
def test_transport_is_files_then_embedded_under_the_cap_then_a_poster(
    size_mb: int, url: str | None, embed: bool | None, where: str, transport: str, note: str
) -> None:
    """/files/ where the frontend has it; else a data URL up to the cap; else nothing."""
    got, why = choose_transport(
        size_bytes=size_mb * MB,
        url=url,
        embed=embed,
        cap_bytes=20 * MB,
        where=where,  # type: ignore[arg-type]
    )
    assert got == transport and note in why


def test_embed_cap_comes_from_the_environment() -> None:
    """FOXNB_MAX_EMBED_MB sets the cap; 0 turns embedding off; nonsense keeps 20 MB."""
    assert max_embed_bytes({}) == 20 * MB
    assert max_embed_bytes({"FOXNB_MAX_EMBED_MB": "2.5"}) == int(2.5 * MB)
    assert max_embed_bytes({"FOXNB_MAX_EMBED_MB": "0"}) == 0
    assert max_embed_bytes({"FOXNB_MAX_EMBED_MB": "lots"}) == 20 * MB


def test_vscode_never_gets_a_files_url_and_is_told_about_audio(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under VS Code a server's /files/ URL is not used (its webview cannot fetch it)."""
    clip = clips["landscape"]
    monkeypatch.setattr(serve, "server_location", lambda: ServerLocation(clip.parent.parent))
    monkeypatch.setenv("VSCODE_PID", "4242")
    monkeypatch.delenv("FOXNB_FRONTEND", raising=False)
    html = show_video(clip, return_html=True)
    assert 'src="data:video/mp4;base64,' in html and "/files/" not in html.split("<div")[0]
    assert "not the AAC soundtrack" in html
    monkeypatch.setenv("FOXNB_MAX_EMBED_MB", "0")
    assert "<video" not in show_video(clip, return_html=True)


def test_colab_gets_its_custom_widget_manager_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Colab, prepare_widgets() enables the custom widget manager, once per kernel."""
    calls: list[str] = []

    class Output:
        @staticmethod
        def enable_custom_widget_manager() -> None:
            calls.append("enabled")

    monkeypatch.setattr(_frontend, "frontend", lambda: "colab")
    monkeypatch.setattr(_frontend.importlib, "import_module", lambda name: Output)
    monkeypatch.setattr(_frontend, "_prepared", set())
    _frontend.prepare_widgets()
    _frontend.prepare_widgets()
    assert calls == ["enabled"]
