"""Where the browser can fetch a local file, and the HTML that shows a local video there.

``video_block(path)`` is what every view (cards, snapshots, ``fx.compare``) puts where a
video goes, by the first transport that works where the notebook is shown:

1. ``files``: a ``<video>`` served by the Jupyter server at ``/files/…`` (the notebook stays
   small). Only under a Jupyter server foxnb can locate, and never in VS Code or Colab, whose
   outputs have no such route (``foxnb._frontend``);
2. ``embedded``: the file itself as a ``data:video/mp4;base64,…`` URL, when it is no bigger
   than the cap (``FOXNB_MAX_EMBED_MB``, default 20 MB): plays anywhere, grows the notebook;
3. ``none``: the last frame and the file's path, saying why it cannot play here.

``embed=True`` asks for 2 first, ``embed=False`` never embeds. A short caption under the
video says which transport was used (``data-foxnb-transport`` on the element says it too).
The rest of this module finds the server's ``/files/<path under the root>`` URL:

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
from typing import Literal
from urllib.parse import quote

from ._frontend import (
    MAX_EMBED_ENV,
    Frontend,
    audio_note,
    frontend,
    has_files_route,
    why_no_files_route,
)
from ._frontend import (
    max_embed_bytes as embed_cap_bytes,
)
from ._html.video import Transport, transport_html, unserved_video_html, video_html
from .media import poster_data_uri

TransportKind = Literal["files", "embedded", "none"]


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


def choose_transport(
    *,
    size_bytes: int,
    url: str | None,
    embed: bool | None,
    cap_bytes: int,
    where: Frontend,
) -> tuple[TransportKind, str]:
    """How a video of ``size_bytes`` reaches the browser, and a note saying why (pure).

    >>> choose_transport(size_bytes=10, url=None, embed=None, cap_bytes=99, where="vscode")
    ('embedded', "VS Code shows outputs without Jupyter's /files/ route")
    """
    fits = size_bytes <= cap_bytes
    cap = f"{size_bytes / 2**20:.1f} MB is over the {cap_bytes / 2**20:g} MB cap ({MAX_EMBED_ENV})"
    if not has_files_route(where):
        url = None
    if embed and fits:
        return "embedded", "as asked"
    if url is not None:
        return "files", f"not embedded: {cap}" if embed else ""
    reason = why_no_files_route(where) or "no Jupyter server serves this file's folder"
    if embed is False:
        return "none", f"{reason}, and embedding is off"
    if fits:
        return "embedded", reason
    return "none", f"{reason}; not embedded: {cap}"


def video_media(
    path: str | Path,
    *,
    embed: bool | None = None,
    max_embed_bytes: int | None = None,
    with_poster: bool = True,
    fill: bool = False,
) -> tuple[str, Transport | None]:
    """A local video's HTML (without the caption) and how it reaches the browser (``None``:
    it does not; the HTML says why)."""
    file = Path(path)
    if not file.is_file():
        return unserved_video_html(str(file), None, "the file no longer exists"), None
    where = frontend()
    size_bytes = file.stat().st_size
    cap_bytes = max_embed_bytes if max_embed_bytes is not None else embed_cap_bytes()
    url = url_for(file) if has_files_route(where) else None
    transport, note = choose_transport(
        size_bytes=size_bytes, url=url, embed=embed, cap_bytes=cap_bytes, where=where
    )
    poster = poster_data_uri(file) if with_poster or transport == "none" else None
    if transport == "none":
        return unserved_video_html(str(file), poster, note), None
    if transport == "embedded":
        mime = mimetypes.guess_type(file.name)[0] or "video/mp4"
        data = base64.b64encode(file.read_bytes()).decode("ascii")
        src = f"data:{mime};base64,{data}"
    else:
        assert url is not None
        src = url
    notes = tuple(n for n in (note if note != "as asked" else "", audio_note(where)) if n)
    media = video_html(src, poster, fill=fill, transport=transport)
    return media, Transport(transport, size_bytes, notes)


def video_block(
    path: str | Path,
    *,
    embed: bool | None = None,
    max_embed_bytes: int | None = None,
    with_poster: bool = True,
    fill: bool = False,
) -> str:
    """HTML showing a local video, by the first transport that plays where it is shown.

    See the module docstring: ``/files/`` URL, else embedded (up to ``max_embed_bytes``,
    default ``FOXNB_MAX_EMBED_MB`` or 20 MB), else its last frame and path; a line under it
    says which. ``fill=True`` makes the video as wide as its container (grid tiles).
    """
    media, transport = video_media(
        path, embed=embed, max_embed_bytes=max_embed_bytes, with_poster=with_poster, fill=fill
    )
    return media + transport_html("" if transport is None else transport.text)
