"""Pure HTML of a video: a ``<video>`` element with its poster, or the poster and a path."""

from __future__ import annotations

from . import style
from .base import escape


def video_html(src: str, poster_src: str | None = None) -> str:
    """``<video class="foxnb-video">`` playing ``src``.

    With a poster, the same image is also the element's fallback content: renderers that
    strip ``<video>`` but keep its children (some notebook viewers) still show the frame.
    """
    poster = f' poster="{escape(poster_src)}"' if poster_src else ""
    fallback = f'<img src="{escape(poster_src)}" alt="last frame">' if poster_src else ""
    return (
        f'<video class="foxnb-video" controls preload="metadata" src="{escape(src)}"'
        f' style="{style.VIDEO}"{poster}>{fallback}</video>'
    )


def unserved_video_html(path: str, poster_src: str | None, reason: str) -> str:
    """The last frame and the file's path, for a video the browser cannot be pointed at."""
    image = ""
    if poster_src:
        image = f'<img src="{escape(poster_src)}" alt="last frame" style="{style.VIDEO}">'
    return (
        f'<div>{image}<div style="{style.MUTED}">Video saved to <code>{escape(path)}</code> '
        f"({escape(reason)}).</div></div>"
    )
