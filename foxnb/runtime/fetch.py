"""A local copy of a result another machine saved: fetched again from the service, or why not.

With a shared runs store, a run may have been completed by a worker on another machine: the
store records the video's ``sha256`` and which host holds it (``video_host``), not the file.
``local_copy`` finds the video here — at its recorded path if this machine can read it with
the recorded content (a shared folder), else in this session's videos folder — or downloads
it again: the task is queried for a fresh result link (links expire; the task gives a new
one while the service still keeps the result), the file is saved atomically and its sha256
compared with the recorded one. When that is no longer possible the ``DownloadError`` says
plainly where the video is and why it cannot be fetched.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from .._files import sha256_file
from ..client import AsyncClient
from ..errors import APIError, DownloadError, NotFoundError, TransportError


def readable(path: str | Path | None, sha256: str | None) -> bool:
    """Whether ``path`` is a file here whose content has ``sha256``."""
    if not path or not sha256:
        return False
    try:
        return Path(path).is_file() and sha256_file(path) == sha256
    except OSError:
        return False


async def local_copy(client: AsyncClient, run: dict[str, Any], videos_dir: Path) -> Path:
    """A path on this machine holding ``run``'s video (see the module docstring)."""
    run_id, sha = run["run_id"], run.get("sha256")
    if await asyncio.to_thread(readable, run.get("video_path"), sha):
        return Path(run["video_path"])
    dest = videos_dir / f"{run_id}.mp4"
    if await asyncio.to_thread(readable, dest, sha):
        return dest
    where = (
        f"its video was saved on {run.get('video_host') or 'another machine'} at "
        f"{run.get('video_path') or '?'}, which this machine cannot read"
    )
    task_id = run.get("task_id")
    if run.get("status") != "completed" or not task_id:
        raise DownloadError(
            f"{run_id} has no video to fetch ({run.get('status')})", code="no_result"
        )
    try:
        task = await client.get_task(task_id, sync_upstream=False)
        if not task.result_urls:
            raise DownloadError(f"the service gives no result link for {task_id} any more")
        saved = await client.download(task.result_urls[0], dest)
    except NotFoundError:
        raise DownloadError(
            f"{run_id}: {where}, and the service no longer knows task {task_id}, so it cannot "
            "be fetched here",
            code="result_gone",
        ) from None
    except (DownloadError, APIError, TransportError) as exc:
        raise DownloadError(
            f"{run_id}: {where}, and fetching it again from the service failed: {exc}",
            code=getattr(exc, "code", None) or "fetch_failed",
        ) from exc
    if sha is not None and saved.sha256 != sha:
        raise DownloadError(
            f"{run_id}: the service's copy of {task_id} (sha256 {saved.sha256[:12]}…) differs "
            f"from the video recorded by {run.get('video_host') or 'its owner'} "
            f"({sha[:12]}…); kept at {dest}",
            code="fetched_differs",
        )
    return Path(saved.path)
