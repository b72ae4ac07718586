"""``fx.fetch()``: local copies of the videos of runs that may have been saved elsewhere.

A team sharing a runs store runs cells on several machines; each saves its results in its own
videos folder (or a shared one). ``fetch`` gives the notebook a readable file for every
completed run it is asked about (see ``runtime.fetch`` for how), and warns plainly about the
runs whose video cannot be fetched any more.
"""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import DownloadError, FoxnbWarning
from ..runtime.fetch import local_copy
from .runs_like import runs_frame

if TYPE_CHECKING:
    from ..runtime.tracker import Tracker

MAX_AT_ONCE = 8
"""Downloads at once."""


def fetch_all(tracker: Tracker, runs: object) -> pd.DataFrame:
    """``Session.fetch``: the runs with ``video_path`` set to local copies (see module doc)."""
    if isinstance(runs, str):  # one run id
        frame = tracker.store.dataframe()
        frame = frame[frame["run_id"] == runs]
    else:
        frame = runs_frame(runs)
    ids = [str(r) for r in frame["run_id"]]
    recorded = tracker.store.peek(ids)
    wanted = [
        held.run
        for run_id in ids
        if (held := recorded.get(run_id)) is not None and held.run.get("status") == "completed"
    ]

    async def fetch_each() -> list[Path | DownloadError]:
        limit = asyncio.Semaphore(MAX_AT_ONCE)

        async def one(run: dict[str, Any]) -> Path | DownloadError:
            async with limit:
                try:
                    return await local_copy(tracker.client, run, tracker.videos_dir)
                except DownloadError as exc:
                    return exc

        return await asyncio.gather(*(one(run) for run in wanted))

    results = tracker.engine.call(fetch_each())
    paths: dict[str, str | None] = {}
    problems = []
    for run, result in zip(wanted, results, strict=True):
        if isinstance(result, DownloadError):
            problems.append(str(result))
            paths[run["run_id"]] = None
        else:
            paths[run["run_id"]] = str(result)
    if problems:
        warnings.warn(
            f"{len(problems)} video(s) could not be fetched: " + "; ".join(problems),
            FoxnbWarning,
            stacklevel=3,
        )
    out = frame.copy()
    if "video_path" not in out:
        out["video_path"] = None
    out["video_path"] = [
        paths.get(str(run_id), path)
        for run_id, path in zip(out["run_id"], out["video_path"], strict=True)
    ]
    fetched: pd.DataFrame = out.reset_index(drop=True)
    return fetched
