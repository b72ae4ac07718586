"""Where the browser can fetch a local file, and the HTML that shows a local video there.

``video_block(path)`` is what every view (cards, snapshots, ``fx.compare``) puts where a
video goes: a ``<video>`` served by the Jupyter server, the file embedded on request, or its
last frame and path when the browser cannot reach it. The rest of this module finds the
server's ``/files/<path under the root>`` URL:

In an ``ipywidgets.HTML`` a relative ``<video src>`` does not resolve, but the Jupyter server
serves every (non-hidden) file under its root directory at ``<base_url>files/<relative
path>``. The kernel does not know that root directly, so ``locate_server`` works it out
from what it can see (all pure, tested in isolation):

1. the running servers (the info files behind ``jupyter_server``'s
   ``list_running_servers()``): the one whose pid is this kernel's parent process started
   the kernel, so its ``root_dir`` and ``base_url`` are the right ones;
2. ``JPY_SESSION_NAME``, set by the server for the kernel: older servers put the notebook's
   path *relative to the root* there, and the kernel starts in the notebook's folder, so
   stripping that folder from the cwd gives the root; newer servers put the absolute
   notebook path there, which picks the running server whose root contains it;
3. the base URL prefix comes from the server; without one, JupyterHub's (and Binder's)
   ``JUPYTERHUB_SERVICE_PREFIX`` (e.g. ``/user/ana/``), else ``/``.

When nothing is known, or the file lies outside the root (or under a hidden folder, which
the server refuses to serve), there is no URL and callers fall back to a poster image.
"""

from __future__ import annotations

import base64
import functools
import importlib
import json
import mimetypes
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath
from urllib.parse import quote

from ._html.video import unserved_video_html, video_html
from .media import poster_data_uri

MAX_EMBED_BYTES = 20 * 1024 * 1024
"""The largest video ``embed=True`` puts into a notebook (20 MB)."""


@dataclass(frozen=True)
class ServerInfo:
    """The three facts foxnb reads from a running server's info file (never its token)."""

    pid: int | None
    root_dir: PurePath
    base_url: str


@dataclass(frozen=True)
class ServerLocation:
    """A server's root directory (absolute) and base URL (e.g. ``/`` or ``/user/ana/``)."""

    root_dir: PurePath
    base_url: str = "/"


def files_url(path: PurePath, location: ServerLocation) -> str | None:
    """The URL at which the server at ``location`` serves the absolute ``path``, or None.

    None when ``path`` is outside the root or inside a hidden (dot) folder or file, which
    Jupyter refuses to serve by default.

        >>> files_url(PurePath("/srv/nb/runs/a b.mp4"), ServerLocation(PurePath("/srv"), "/u/x"))
        '/u/x/files/nb/runs/a%20b.mp4'
    """
    try:
        relative = path.relative_to(location.root_dir)
    except ValueError:
        return None
    if not relative.parts or any(part.startswith(".") for part in relative.parts):
        return None
    return f"{normalise_base_url(location.base_url)}files/{quote(relative.as_posix())}"


def normalise_base_url(base_url: str | None) -> str:
    """``"user/x"`` → ``"/user/x/"``; empty → ``"/"``."""
    trimmed = (base_url or "").strip("/")
    return f"/{trimmed}/" if trimmed else "/"


def locate_server(
    *,
    session_name: str | None,
    cwd: PurePath,
    servers: Iterable[ServerInfo],
    parent_pid: int | None,
    hub_prefix: str | None,
) -> ServerLocation | None:
    """Work out the server root and base URL of this kernel (see the module docstring)."""
    known = list(servers)
    for server in known:
        if parent_pid is not None and server.pid == parent_pid:
            return ServerLocation(server.root_dir, server.base_url)
    notebook = PurePath(session_name) if session_name else None
    if notebook is not None and not notebook.is_absolute():
        root = _strip_tail(cwd, notebook.parent)
        if root is not None:
            for server in known:
                if server.root_dir == root:
                    return ServerLocation(root, server.base_url)
            return ServerLocation(root, hub_prefix or "/")
    anchor = notebook if notebook is not None and notebook.is_absolute() else cwd
    containing = [s for s in known if anchor.is_relative_to(s.root_dir)]
    if not containing:
        return None
    # Nested roots (a server started inside another's tree): the closest one is the likeliest.
    best = max(containing, key=lambda s: len(s.root_dir.parts))
    return ServerLocation(best.root_dir, best.base_url)


def _strip_tail(path: PurePath, tail: PurePath) -> PurePath | None:
    """``/a/b/c`` minus ``b/c`` is ``/a``; None when ``path`` does not end with ``tail``."""
    count = len(tail.parts)
    if count == 0:
        return path
    if len(path.parts) <= count or path.parts[-count:] != tail.parts:
        return None
    return PurePath(*path.parts[:-count])


@functools.cache
def server_location() -> ServerLocation | None:
    """This kernel's server root and base URL, worked out once per process (None if unknown)."""
    return locate_server(
        session_name=os.environ.get("JPY_SESSION_NAME"),
        cwd=PurePath(os.getcwd()),
        servers=_running_servers(),
        parent_pid=os.getppid(),
        hub_prefix=os.environ.get("JUPYTERHUB_SERVICE_PREFIX"),
    )


def _running_servers() -> list[ServerInfo]:
    """Running servers, from their info files (``jpserver-<pid>.json`` in the runtime folder).

    These are the files ``jupyter_server``'s ``list_running_servers()`` reads; reading them
    here avoids importing the server (seconds, on the engine thread) and leaves the files of
    dead servers alone. Only ``pid``, ``root_dir`` and ``base_url`` are kept, never the token.
    """
    try:
        # Imported by name: the kernel's environment need not contain Jupyter at all.
        paths = importlib.import_module("jupyter_core.paths")
    except ImportError:
        return []
    found = []
    for file in sorted(Path(paths.jupyter_runtime_dir()).glob("jpserver-*.json")):
        try:
            info = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # unreadable, or being written right now
            continue
        root, pid = info.get("root_dir"), info.get("pid")
        if isinstance(root, str) and root and isinstance(pid, int) and _alive(pid):
            found.append(ServerInfo(pid, PurePath(root), str(info.get("base_url") or "/")))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process, but alive
        return True
    return True


def url_for(path: str | Path) -> str | None:
    """The ``/files/...`` URL of a local file for this kernel's Jupyter server, or None."""
    location = server_location()
    if location is None:
        return None
    absolute = Path(path).expanduser().absolute()
    # The server's root is an abspath, the file's path may be resolved (or the other way
    # round): try the spellings that can differ through symlinks.
    for candidate in dict.fromkeys((absolute, absolute.resolve())):
        for root in dict.fromkeys((location.root_dir, Path(location.root_dir).resolve())):
            url = files_url(candidate, ServerLocation(root, location.base_url))
            if url is not None:
                return url
    return None


def video_block(
    path: str | Path,
    *,
    embed: bool = False,
    max_embed_bytes: int = MAX_EMBED_BYTES,
    with_poster: bool = True,
) -> str:
    """HTML showing a local video: by ``/files/`` URL, embedded, or as its last frame + path.

    The last-frame fallback is used when the file is outside the Jupyter server's root (or
    no server is known), since the browser then has no way to fetch it.
    """
    file = Path(path)
    if not file.is_file():
        return unserved_video_html(str(file), None, "the file no longer exists")
    poster = poster_data_uri(file) if with_poster else None
    size_bytes = file.stat().st_size
    if embed and size_bytes <= max_embed_bytes:
        mime = mimetypes.guess_type(file.name)[0] or "video/mp4"
        data = base64.b64encode(file.read_bytes()).decode("ascii")
        return video_html(f"data:{mime};base64,{data}", poster)
    notes = []
    if embed:  # and too big, or it would have been embedded above
        cap_mb = max_embed_bytes / 1e6
        notes.append(f"not embedded: {size_bytes / 1e6:.1f} MB is over the {cap_mb:.0f} MB cap")
    url = url_for(file)
    if url is None:
        notes.append(
            "it is outside the Jupyter server's folder, so the browser cannot play it here"
        )
        fallback = poster if poster is not None else poster_data_uri(file)
        return unserved_video_html(str(file), fallback, "; ".join(notes))
    return video_html(url, poster) + "".join(
        unserved_video_html(str(file), None, note) for note in notes
    )
