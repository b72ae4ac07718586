"""``fx.export()``: the videos you chose, as plain MP4s with a JSON of how each was made.

    fx.export(fx.runs().query("pick == 'star'"), "keep/")   # your starred runs
    fx.export(chain, "keep/chain")                          # a chain's chosen result per hop

writes::

    keep/
      videos/<run_id>.mp4   each completed run's result (copied only if its bytes still match
                            the sha256 recorded at download), a <run_id>.jpg poster beside it
      runs.json             per run: its file, request parameters, scores, your rating, pick
                            and note, credits, backend and ids; runs left out, and why

``runs`` is anything ``fx.compare`` takes; with a ``chosen`` column (a chain's ``df``), only
the chosen rows. As in ``fx.report``, no local path or home folder appears in the JSON and the
folder is built beside its destination, then renamed into place. An existing folder is
replaced only with ``overwrite=True``, and only if it is itself a foxnb export (or empty).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ..._files import (
    check_folder_path,
    json_format_of,
    remove_leftovers_beside,
    replace_folder,
    temp_folder_beside,
)
from ..._version import __version__
from ...errors import ValidationError
from ...models import JUDGEMENT_COLUMNS, REQUEST_FIELDS
from ...scores import SCORE_COLUMNS
from ..report.runs import portable_runs, value_key
from ..report.videos import copy_videos
from ..runs_like import runs_frame

EXPORT_FORMAT = "foxnb-export/1"
_IDS = ("run_id", "task_id", "backend", "experiment", "hop", "candidate", "cell", "sha256")


@dataclass(frozen=True)
class Export:
    """A written export: its folder, the MP4s in it, and the runs left out (id → why)."""

    path: Path
    videos: tuple[Path, ...]
    skipped: dict[str, str]

    def __repr__(self) -> str:
        left = f"; {len(self.skipped)} left out (see runs.json)" if self.skipped else ""
        return f"<Export {self.path}: {len(self.videos)} videos{left}>"


def export_runs(runs: object, folder: str | Path, workdir: Path, overwrite: bool = False) -> Export:
    """``Session.export``: copy the runs' videos and write ``runs.json``; see the module."""
    frame = runs_frame(runs)
    if "chosen" in frame.columns:
        frame = frame[frame["chosen"].fillna(False).astype(bool)]
    dest = Path(folder).expanduser().absolute()
    check_folder_path(dest, str(folder))
    _check(dest, overwrite, str(folder))
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers_beside(dest)
    build = temp_folder_beside(dest, "export")
    build.mkdir()
    try:
        copies, problems = copy_videos(frame.reset_index(drop=True), build / "videos")
        skipped = {p.run_id: p.reason for p in problems}
        for run in frame.to_dict("records"):
            if run.get("status") != "completed":
                skipped[str(run["run_id"])] = f"it did not complete ({run.get('status')})"
        table = portable_runs(frame, {r: c.src for r, c in copies.items()}, workdir)
        document = {
            "format": EXPORT_FORMAT,
            "foxnb_version": __version__,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "runs": [_entry(row) for row in table.to_dict("records") if row["run_id"] in copies],
            "skipped": [{"run_id": k, "reason": v} for k, v in skipped.items()],
        }
        text = json.dumps(document, indent=2, ensure_ascii=False, default=str)
        (build / "runs.json").write_text(text + "\n", encoding="utf-8")
        replace_folder(build, dest)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    videos = tuple(sorted(dest.glob("videos/*.mp4")))
    return Export(dest, videos, skipped)


def _entry(row: dict[Any, Any]) -> dict[str, Any]:
    """One run of ``runs.json``: plain JSON values grouped by what they say."""

    def plain(name: str) -> Any:
        value = value_key(row.get(name))
        if isinstance(value, pd.Timestamp):
            return value.isoformat()
        return list(value) if isinstance(value, tuple) else value

    return {
        "file": plain("video_path"),
        **{name: plain(name) for name in _IDS},
        "params": {name: plain(name) for name in ("prompt", "video", *REQUEST_FIELDS)},
        "scores": {name: plain(name) for name, _ in SCORE_COLUMNS},
        "judgement": {name: plain(name) for name, _ in JUDGEMENT_COLUMNS},
        "credits": plain("credits"),
        "completed_at": plain("completed_at"),
    }


def _is_export(folder: Path) -> bool:
    return json_format_of(folder / "runs.json") == EXPORT_FORMAT


def _check(dest: Path, overwrite: bool, shown: str) -> None:
    if not dest.exists() and not dest.is_symlink():
        return
    if dest.is_symlink() or not dest.is_dir():
        raise ValidationError("folder", f"{shown} exists and is not a folder")
    if not any(dest.iterdir()):
        return
    if not overwrite:
        raise ValidationError(
            "folder", f"{shown} already exists; pass overwrite=True to replace it"
        )
    if not _is_export(dest):
        raise ValidationError(
            "folder", f"{shown} is not a foxnb export (no foxnb runs.json); choose another folder"
        )
