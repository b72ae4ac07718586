"""foxnb's media thread: FFmpeg checks run there one at a time, off the event loop."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

import pytest

from foxnb._media_thread import on_media_thread


def test_calls_run_one_at_a_time_on_one_named_thread() -> None:
    spans: list[tuple[float, float, str]] = []

    def work(n: int) -> int:
        started = time.monotonic()
        time.sleep(0.02)
        spans.append((started, time.monotonic(), threading.current_thread().name))
        return n * n

    async def main() -> list[int]:
        return await asyncio.gather(*(on_media_thread(lambda n=n: work(n)) for n in range(5)))

    assert asyncio.run(main()) == [0, 1, 4, 9, 16]
    assert {name for _, _, name in spans} == {"foxnb-media"}
    spans.sort()
    assert all(end <= start for (_, end, _), (start, _, _) in itertools.pairwise(spans))


def test_an_error_reaches_the_caller_and_the_thread_goes_on() -> None:
    def fails() -> None:
        raise OSError(28, "No space left on device")

    async def main() -> str:
        with pytest.raises(OSError, match="No space left"):
            await on_media_thread(fails)
        return await on_media_thread(lambda: "still working")

    assert asyncio.run(main()) == "still working"


def test_a_caller_that_gave_up_does_not_stop_the_next_call() -> None:
    release = threading.Event()

    async def main() -> str:
        slow = asyncio.ensure_future(on_media_thread(lambda: release.wait(5)))
        await asyncio.sleep(0.05)
        slow.cancel()  # e.g. the job was detached while its result was being checked
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await slow
        return await on_media_thread(lambda: "next")

    assert asyncio.run(main()) == "next"
