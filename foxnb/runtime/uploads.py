"""Uploading local inputs once: a content-addressed cache of upload URLs.

FoxAPI turns a local file into a public URL through ``/v1/files/upload/stream``; the
extension request then sends that URL. Runs of the same clip share one upload, and a URL
recorded in the ledger is reused for a while after it was made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from ..client import AsyncClient
from .ledger import Ledger

UPLOAD_REUSE_S = 48 * 3600  # uploads are kept ~72 h (third-party reports); stay well inside


class UploadCache:
    """Uploads each local file content once; concurrent runs of one clip share the upload.

    Earlier uploads recorded in the ledger are reused only if they were made through the same
    service address (a simulator restarted on another port serves none of them).
    """

    def __init__(self, client: AsyncClient, ledger: Ledger, clock: Callable[[], float]):
        self._client = client
        self._host = client.config.host
        self._ledger = ledger
        self._clock = clock
        self._urls: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def url_for(self, path: Path, sha256: str) -> tuple[str, float]:
        """The public URL of this content, uploading it if no recent upload exists."""
        lock = self._locks.setdefault(sha256, asyncio.Lock())
        async with lock:
            known = self._urls.get(sha256) or self._from_ledger(sha256)
            if known and self._clock() - known[1] < UPLOAD_REUSE_S:
                return known
            uploaded = await self._client.upload(path)
            self._urls[sha256] = (uploaded.url, self._clock())
            return self._urls[sha256]

    def _from_ledger(self, sha256: str) -> tuple[str, float] | None:
        best: tuple[str, float] | None = None
        for run in self._ledger.runs().values():
            usable = run.get("input_sha256") == sha256 and run.get("host") == self._host
            usable = usable and run.get("uploaded_at")
            if usable and run.get("video_url") and (best is None or run["uploaded_at"] > best[1]):
                best = (run["video_url"], run["uploaded_at"])
        return best
