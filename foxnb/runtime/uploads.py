"""Uploading local inputs once: a content-addressed cache of upload URLs.

FoxAPI turns a local file into a public URL through ``/v1/files/upload/stream``; the
extension request then sends that URL. Runs of the same clip share one upload, and a URL
recorded in the runs store is reused for a while after it was made — by any process sharing
the store, so a worker on another machine can send a cell whose clip it does not have — but
only once a ranged read shows it still answers: the service evicts uploads (after ~72 h, or
sooner when storage is full), and a task made from an evicted URL fails after it is billed.
An evicted upload is simply uploaded again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from ..client import AsyncClient
from ..errors import FoxError
from .link import StoreLink

UPLOAD_REUSE_S = 48 * 3600  # uploads are kept ~72 h (third-party reports); stay well inside
RECHECK_S = 600.0
"""An upload URL seen answering less than this many seconds ago is reused without asking."""


class UploadCache:
    """Uploads each local file content once; concurrent runs of one clip share the upload.

    Earlier uploads recorded in the store are reused only if they were made through the same
    service address (a simulator restarted on another port serves none of them).
    """

    def __init__(self, client: AsyncClient, link: StoreLink, clock: Callable[[], float]):
        self._client = client
        self._host = client.config.host
        self._link = link
        self._clock = clock
        self._urls: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._seen_at: dict[str, float] = {}  # URL -> when it last answered (monotonic)

    async def url_for(self, path: Path, sha256: str) -> tuple[str, float]:
        """The public URL of this content, uploading it if no recent upload still answers."""
        lock = self._locks.setdefault(sha256, asyncio.Lock())
        async with lock:
            known = self._urls.get(sha256)
            if not self._fresh(known):
                # Off the loop: this reads every run of the store (once per content).
                known = await asyncio.to_thread(self.recorded, sha256)
            if known is not None and self._fresh(known) and await self._answers(known[0]):
                self._urls[sha256] = known
                return known
            uploaded = await self._client.upload(path)
            self._urls[sha256] = (uploaded.url, self._clock())
            self._seen_at[uploaded.url] = time.monotonic()
            return self._urls[sha256]

    def _fresh(self, known: tuple[str, float] | None) -> bool:
        return known is not None and self._clock() - known[1] < UPLOAD_REUSE_S

    async def _answers(self, url: str) -> bool:
        """Whether ``url`` still serves its file (one ranged read of its first byte)."""
        seen_at = self._seen_at.get(url)
        if seen_at is not None and time.monotonic() - seen_at < RECHECK_S:
            return True
        try:
            response, _ = await self._client.read_range(url, 0, 0)
        except FoxError:
            return False  # unreachable, or a redirect foxnb will not follow: upload again
        if response.status not in (200, 206):
            return False
        self._seen_at[url] = time.monotonic()
        return True

    def recorded(self, sha256: str) -> tuple[str, float] | None:
        """The newest upload of this content the store records for this service, if still
        fresh enough to send (any thread; reads the store once per content while the answer
        stays fresh: requeueing 10,000 cells of one clip reads it once)."""
        cached = self._urls.get(sha256)
        if cached is not None and self._fresh(cached):
            return cached
        best: tuple[str, float] | None = None
        for run in self._link.store.runs().values():
            usable = run.get("input_sha256") == sha256 and run.get("host") == self._host
            usable = usable and run.get("uploaded_at")
            if usable and run.get("video_url") and (best is None or run["uploaded_at"] > best[1]):
                best = (run["video_url"], run["uploaded_at"])
        if best is None or not self._fresh(best):
            return None
        self._urls[sha256] = best
        return best
