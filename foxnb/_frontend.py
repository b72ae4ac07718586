"""Which notebook frontend shows this kernel's output, and what that means for videos.

Three families matter to foxnb, told apart by the signals each leaves in the kernel:

- ``"colab"``: Google Colab imports ``google.colab`` into every kernel. Its outputs have no
  Jupyter ``/files/`` route, and third-party widgets (the ticking clock, an anywidget) need
  ``google.colab.output.enable_custom_widget_manager()``, which ``prepare_widgets()`` calls.
- ``"vscode"``: VS Code's notebook editor starts kernels with ``VSCODE_PID`` (or
  ``VSCODE_CWD``) in their environment. Outputs are webviews: no ``/files/`` route, local paths
  do not resolve; H.264 video plays, AAC audio does not.
- ``"jupyter"``: anything else (JupyterLab, Notebook 7, nbclassic, JupyterHub, Binder), where
  the Jupyter server serves files under its root at ``/files/`` when foxnb can find it.

``FOXNB_FRONTEND`` (one of the three names) overrides the guess. ``FOXNB_MAX_EMBED_MB`` sets the
cap on a video embedded in a notebook as a data URL (default 20 MB).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Collection, Mapping
from typing import Literal

Frontend = Literal["jupyter", "vscode", "colab"]
FRONTENDS: tuple[Frontend, ...] = ("jupyter", "vscode", "colab")
DEFAULT_MAX_EMBED_BYTES = 20 * 1024 * 1024
MAX_EMBED_ENV = "FOXNB_MAX_EMBED_MB"
FRONTEND_ENV = "FOXNB_FRONTEND"

_WHY_NO_FILES = {
    "vscode": "VS Code shows outputs without Jupyter's /files/ route",
    "colab": "Colab has no Jupyter /files/ route",
}


def guess_frontend(
    env: Mapping[str, str], modules: Collection[str], colab_installed: bool = False
) -> Frontend:
    """The frontend the signals point to (pure; see the module docstring).

    >>> guess_frontend({"VSCODE_PID": "4242"}, [])
    'vscode'
    """
    forced = env.get(FRONTEND_ENV, "").strip().lower()
    if forced in FRONTENDS:
        return forced
    if "google.colab" in modules or colab_installed:
        return "colab"
    if env.get("VSCODE_PID") or env.get("VSCODE_CWD"):
        return "vscode"
    return "jupyter"


def frontend() -> Frontend:
    """This kernel's frontend, from its environment and loaded modules."""
    try:
        colab = importlib.util.find_spec("google.colab") is not None
    except (ImportError, ValueError):  # a "google" namespace without colab, or a broken one
        colab = False
    return guess_frontend(os.environ, sys.modules.keys(), colab)


def has_files_route(which: Frontend) -> bool:
    """Whether the browser can fetch ``/files/…`` URLs of a Jupyter server there."""
    return which == "jupyter"


def why_no_files_route(which: Frontend) -> str:
    """A short reason why ``which`` cannot play ``/files/`` URLs ("" when it can)."""
    return _WHY_NO_FILES.get(which, "")


def audio_note(which: Frontend) -> str:
    """What a reader should know about sound there ("" when nothing)."""
    return "VS Code plays the picture but not the AAC soundtrack" if which == "vscode" else ""


def max_embed_bytes(env: Mapping[str, str] | None = None) -> int:
    """The cap on an embedded video: ``FOXNB_MAX_EMBED_MB`` megabytes, else 20 MB.

    A value that is not a non-negative number is ignored (0 turns embedding off).
    """
    text = (os.environ if env is None else env).get(MAX_EMBED_ENV, "").strip()
    try:
        megabytes = float(text)
    except ValueError:
        return DEFAULT_MAX_EMBED_BYTES
    return int(megabytes * 1024 * 1024) if megabytes >= 0 else DEFAULT_MAX_EMBED_BYTES


_prepared: set[str] = set()
_preparing = threading.Lock()


def prepare_widgets() -> None:
    """Make third-party widgets render here: on Colab, enable its custom widget manager.

    Called before foxnb shows an anywidget; does nothing elsewhere, and only once.
    """
    with _preparing:
        if frontend() != "colab" or "colab" in _prepared:
            return
        _prepared.add("colab")
    try:
        output = importlib.import_module("google.colab.output")
        output.enable_custom_widget_manager()
    except (ImportError, AttributeError):  # an old Colab: widgets fall back to text
        pass
