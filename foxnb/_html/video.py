"""Pure HTML of a video: a ``<video>`` element with its poster, or the poster and a path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Transport:
    """How one video reaches the browser: ``kind`` (``"files"``: a Jupyter server's ``/files/``
    URL; ``"embedded"``: a data URL in the notebook), its size, and notes on why."""

    kind: str
    size_bytes: int
    notes: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """E.g. ``embedded in the notebook (1.2 MB) · VS Code shows outputs without Jupyter's
        /files/ route``."""
        return transports_text([self])


def transports_text(transports: Sequence[Transport]) -> str:
    """One line for many videos: how many went each way, the embedded sizes added up, e.g.
    ``4 × embedded in the notebook (3.0 MB in all)`` — one entry per way, however many videos
    of different sizes there are."""
    sizes: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    for transport in transports:
        sizes.setdefault((transport.kind, transport.notes), []).append(transport.size_bytes)
    parts = []
    for (kind, notes), each in sizes.items():
        text = _TRANSPORT_TEXT.get(kind, kind)
        if kind == "embedded":
            text += f" ({sum(each) / 2**20:.1f} MB{' in all' if len(each) > 1 else ''})"
        text = " · ".join((text, *notes))
        parts.append(f"{len(each)} × {text}" if len(each) > 1 else text)
    return "; ".join(parts)


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
