"""Pure HTML of a video: a ``<video>`` element with its poster, or the poster and a path."""

from __future__ import annotations

from collections.abc import Sequence

from . import style
from .base import escape

_TRANSPORT_TEXT = {
    "files": "served by the Jupyter server",
    "embedded": "embedded in the notebook",
}


def video_html(
    src: str, poster_src: str | None = None, *, fill: bool = False, transport: str = ""
) -> str:
    """``<video class="foxnb-video">`` playing ``src``, ``style.VIDEO_WIDTH_PX`` wide.

    ``fill=True``: as wide as its container instead (a grid's tile). With a poster, the same
    image is also the element's fallback content: renderers that strip ``<video>`` but keep
    its children (some notebook viewers) still show the frame.
    """
    poster = f' poster="{escape(poster_src)}"' if poster_src else ""
    fallback = f'<img src="{escape(poster_src)}" alt="last frame">' if poster_src else ""
    how = f' data-foxnb-transport="{escape(transport)}"' if transport else ""
    size = style.TILE_VIDEO if fill else style.VIDEO
    return (
        f'<video class="foxnb-video" controls preload="metadata" src="{escape(src)}"'
        f' style="{size}"{poster}{how}>{fallback}</video>'
    )


def transport_text(transport: str, size_bytes: int, notes: Sequence[str] = ()) -> str:
    """How a video reached the browser, e.g. ``embedded in the notebook (1.2 MB) · VS Code
    shows outputs without Jupyter's /files/ route``."""
    text = _TRANSPORT_TEXT.get(transport, transport)
    if transport == "embedded":
        text += f" ({size_bytes / 2**20:.1f} MB)"
    return " · ".join((text, *notes))


def transport_html(text: str) -> str:
    """The line under a video saying how it reached the browser (empty text: nothing)."""
    if not text:
        return ""
    return f'<div class="foxnb-transport" style="{style.MUTED}">{escape(text)}</div>'


def unserved_video_html(path: str, poster_src: str | None, reason: str) -> str:
    """The last frame and the file's path, for a video the browser cannot be pointed at."""
    image = ""
    if poster_src:
        image = f'<img src="{escape(poster_src)}" alt="last frame" style="{style.VIDEO}">'
    return (
        f'<div class="foxnb-unserved">{image}<div class="foxnb-transport" '
        f'style="{style.MUTED}">Video saved to <code>{escape(path)}</code> '
        f"({escape(reason)}).</div></div>"
    )
