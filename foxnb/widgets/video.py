"""Showing a local video file in a notebook without stuffing it into the notebook.

By default the ``<video>`` element points at the file through the Jupyter server
(``/files/...``, see ``foxnb.widgets._files``), so the ``.ipynb`` stays small. A small
JPEG of the last frame (made with PyAV, ≤ ~20 KB of base64) travels with it as the poster,
so a saved notebook opened without a kernel, or on GitHub/nbviewer, still shows a picture.
``embed=True`` puts the whole video in the page as base64 (up to ``MAX_EMBED_BYTES``) for
notebooks that must be self-contained.

    foxnb.widgets.show_video(job.video_path)
    foxnb.widgets.show_video(job.video_path, embed=True)   # self-contained, bigger notebook
"""

from __future__ import annotations

import base64
import functools
import mimetypes
from fractions import Fraction
from pathlib import Path
from typing import Literal, overload

import av

from ._files import url_for
from ._html import unserved_video_html, video_html
from .text import in_kernel

MAX_EMBED_BYTES = 20 * 1024 * 1024
POSTER_MAX_BASE64_CHARS = 20_000
# Long side of the poster in pixels, then JPEG quantiser (2 best .. 31 worst): tried in order
# until the image fits the budget.
_POSTER_ATTEMPTS = ((480, 5), (360, 8), (240, 12), (160, 20))
_LAST_FRAME_WINDOW_S = 1.0


def poster_data_uri(path: str | Path) -> str | None:
    """The last frame of a video as a small ``data:image/jpeg;base64,...`` URI, or None.

    None when the file is missing or not a decodable video. Cached by path, size and mtime.
    """
    file = Path(path)
    try:
        stat = file.stat()
    except OSError:
        return None
    return _poster(str(file.absolute()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _poster(path: str, size_bytes: int, mtime_ns: int) -> str | None:
    del size_bytes, mtime_ns  # part of the cache key only: a rewritten file gets a new poster
    try:
        frame = _last_frame(path)
    except (av.FFmpegError, OSError):
        return None
    if frame is None:
        return None
    for long_side_px, quantiser in _POSTER_ATTEMPTS:
        encoded = base64.b64encode(_jpeg(frame, long_side_px, quantiser)).decode("ascii")
        if len(encoded) <= POSTER_MAX_BASE64_CHARS:
            return f"data:image/jpeg;base64,{encoded}"
    return None


def _last_frame(path: str) -> av.VideoFrame | None:
    with av.open(path) as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        duration_s = (
            float(stream.duration * stream.time_base)
            if stream.duration is not None and stream.time_base is not None
            else (container.duration or 0) / av.time_base
        )
        if duration_s > _LAST_FRAME_WINDOW_S and stream.time_base is not None:
            # Seek to the keyframe before the last second, then decode forward to the end:
            # a few frames instead of the whole clip.
            target = int((duration_s - _LAST_FRAME_WINDOW_S) / stream.time_base)
            container.seek(target, stream=stream, backward=True)
        last = None
        for frame in container.decode(stream):
            last = frame
        return last


def _jpeg(frame: av.VideoFrame, long_side_px: int, quantiser: int) -> bytes:
    scale = long_side_px / max(frame.width, frame.height)
    width = max(2, round(frame.width * scale / 2) * 2)
    height = max(2, round(frame.height * scale / 2) * 2)
    small = frame.reformat(width=width, height=height, format="yuvj420p")
    codec = av.VideoCodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    codec.time_base = Fraction(1, 25)
    codec.options = {"qmin": str(quantiser), "qmax": str(quantiser)}
    return b"".join(bytes(packet) for packet in [*codec.encode(small), *codec.encode(None)])


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


@overload
def show_video(
    path: str | Path,
    *,
    embed: bool = ...,
    max_embed_bytes: int = ...,
    return_html: Literal[False] = ...,
) -> None: ...
@overload
def show_video(
    path: str | Path,
    *,
    embed: bool = ...,
    max_embed_bytes: int = ...,
    return_html: Literal[True],
) -> str: ...
def show_video(
    path: str | Path,
    *,
    embed: bool = False,
    max_embed_bytes: int = MAX_EMBED_BYTES,
    return_html: bool = False,
) -> str | None:
    """Play a local video in the notebook (``<video class="foxnb-video">``).

    ``embed=True`` puts the file itself in the notebook (base64, up to ``max_embed_bytes``);
    otherwise it is served by the Jupyter server and only a small poster is saved.
    ``return_html=True`` returns the HTML instead of showing it. Outside a notebook the
    file's path is printed.

        foxnb.widgets.show_video(job.video_path)
    """
    block = video_block(path, embed=embed, max_embed_bytes=max_embed_bytes)
    if return_html:
        return block
    if in_kernel():
        from IPython.display import HTML, display

        display(HTML(block))  # type: ignore[no-untyped-call]
    else:
        print(f"video: {path}")
    return None
