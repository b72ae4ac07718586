"""Upload one file with foxnb's client in a process of its own, and report its memory.

    python tests/upload_worker.py sync|async FILE BASE_URL KEY LIMIT_BYTES

Prints one JSON line: ``{"baseline_kib", "peak_kib", "url", "size"}``: the process's resident
set (``VmRSS``) just before the upload, and the largest of it sampled every 5 ms while the
upload ran.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading

from foxnb.client import AsyncClient, Client
from foxnb.models import UploadedFile


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        line = next(row for row in status if row.startswith("VmRSS:"))
    return int(line.split()[1])


class Sampler(threading.Thread):
    """The largest resident set seen while it runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kib = rss_kib()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.005):
            self.peak_kib = max(self.peak_kib, rss_kib())


def main() -> None:
    mode, path, base_url, key, limit = sys.argv[1:6]
    options = {"api_key": key, "base_url": base_url, "max_upload_bytes": int(limit)}
    sampler = Sampler()
    if mode == "sync":
        with Client(**options) as client:  # type: ignore[arg-type]
            baseline = rss_kib()
            sampler.start()
            uploaded: UploadedFile = client.upload(path)
    else:

        async def run() -> tuple[int, UploadedFile]:
            client = AsyncClient(**options)  # type: ignore[arg-type]
            try:
                start = rss_kib()
                sampler.start()
                return start, await client.upload(path)
            finally:
                await client.aclose()

        baseline, uploaded = asyncio.run(run())
    sampler.done.set()
    sampler.join()
    report = {"baseline_kib": baseline, "peak_kib": sampler.peak_kib, "url": uploaded.url}
    print(json.dumps({**report, "size": uploaded.size}), flush=True)


if __name__ == "__main__":
    main()
