"""Small helpers for 8-bit 4:2:0 video frames, shared by the renderer and its defects."""

from __future__ import annotations

import av
import numpy as np
from numpy.typing import NDArray

__all__ = ["SWSCALE_THREADS", "Plane", "as_yuv420p", "fresh_copy", "plane"]

Plane = NDArray[np.uint8]

# Every continuation frame scales a differently sized crop, so swscale is set up afresh each
# time; with its default (automatic) threading that set-up, spawning a thread pool, cost several
# times more than the scaling itself.
SWSCALE_THREADS = 1


def plane(frame: av.VideoFrame, index: int) -> Plane:
    """A writable 2-D view of one plane of `frame` (0 = Y, 1 = Cb, 2 = Cr), without padding."""
    data = frame.planes[index]
    rows = np.frombuffer(memoryview(data), dtype=np.uint8).reshape(-1, data.line_size)
    view: Plane = rows[: data.height, : data.width]
    return view


def as_yuv420p(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """The frame itself if it is already 8-bit 4:2:0 at the stream's size, else a converted copy."""
    if frame.format.name == "yuv420p" and (frame.width, frame.height) == (width, height):
        return frame
    return frame.reformat(width=width, height=height, format="yuv420p", threads=SWSCALE_THREADS)


def fresh_copy(frame: av.VideoFrame) -> av.VideoFrame:
    """A copy of the picture without the decoder's leftovers.

    A decoded frame carries its picture type and side data, which libx264 would honour, for
    instance by forcing a keyframe wherever the input happened to have one.
    """
    return av.VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")
