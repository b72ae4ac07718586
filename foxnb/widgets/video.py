"""Showing a local video file in a notebook without stuffing it into the notebook.

By default the ``<video>`` element points at the file through the Jupyter server
(``/files/...``, see ``foxnb._serve``), so the ``.ipynb`` stays small. A small JPEG of the last
frame (made with PyAV, ≤ ~20 KB of base64) travels with it as the poster, so a saved notebook
opened without a kernel, or on GitHub/nbviewer, still shows a picture. ``embed=True`` puts
the whole video in the page as base64 (up to ``FOXNB_MAX_EMBED_MB``, 20 MB by default) for
notebooks that must be self-contained.

    foxnb.widgets.show_video(job.video_path)
    foxnb.widgets.show_video(job.video_path, embed=True)   # self-contained, bigger notebook
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, overload

from .._serve import video_block
from .text import in_kernel


@overload
def show_video(
    path: str | Path,
    *,
    embed: bool | None = ...,
    max_embed_bytes: int | None = ...,
    return_html: Literal[False] = ...,
) -> None: ...
@overload
def show_video(
    path: str | Path,
    *,
    embed: bool | None = ...,
    max_embed_bytes: int | None = ...,
    return_html: Literal[True],
) -> str: ...
def show_video(
    path: str | Path,
    *,
    embed: bool | None = None,
    max_embed_bytes: int | None = None,
    return_html: bool = False,
) -> str | None:
    """Play a local video in the notebook (``<video class="foxnb-video">``).

    ``embed=True`` puts the file itself in the notebook (base64, up to ``max_embed_bytes``,
    default ``FOXNB_MAX_EMBED_MB`` or 20 MB); by default it is served by the Jupyter server
    and only a small poster is saved, and embedded only where no server can serve it (VS
    Code, Colab); ``embed=False`` never embeds. A line under the video says which.
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
