"""The machine's own gaps: a process beside foxnb running the notebook thread's 1 ms sleep loop.
``python -m benchmarks.beside --stop-file PATH --out PATH``.

It shares no GIL with foxnb, so what it sees is what the machine does to any thread at the same
moment: the kernel keeping it waiting for a CPU (read from schedstat, as for the main thread) and
the hypervisor taking the virtual CPU away (steal time, which a thread cannot see; this machine
loses about 3 % of its CPU time that way). It stops when the stop file appears, or when the
process that started it has gone (a phase that failed), and writes the same figures as
``clients.watch_main_thread`` to ``--out``. The memory phase
(:mod:`benchmarks.memory`) runs it for as long as it watches its own main thread.

At every iteration it also reads the schedstat of every thread of the process that started it
but that process's main thread, and keeps their summed CPU time (run and wait) with the moment
it was read (``--threads-out``, as pairs of doubles). From outside that process the reads take
nothing from its GIL. ``ThreadTimes.ms_between`` then tells, for any gap of foxnb's main
thread, how much its other threads ran or queued for a CPU meanwhile
(``clients.describe_gaps``).
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import subprocess
import sys
import time
from array import array
from pathlib import Path
from typing import Any

from .clients import GcPauses, watch_main_thread


class Beside:
    """A ``benchmarks.beside`` process, from ``start`` until ``result``."""

    def __init__(self, folder: Path) -> None:
        self.stop_file, self.out = folder / "beside.stop", folder / "beside.json"
        self.threads_out = folder / "beside.threads"
        self.stop_file.unlink(missing_ok=True)
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.beside",
                f"--stop-file={self.stop_file}",
                f"--out={self.out}",
                f"--threads-out={self.threads_out}",
            ],
            cwd=Path(__file__).resolve().parent.parent,
        )

    def result(self) -> tuple[dict[str, Any], ThreadTimes]:
        """Stop the process; what it saw, and this process's other threads' CPU time."""
        self.stop_file.touch()
        if self._process.wait(timeout=60) != 0:
            raise RuntimeError(f"benchmarks.beside failed (exit {self._process.returncode})")
        seen: dict[str, Any] = json.loads(self.out.read_text(encoding="utf-8"))
        pairs = array("d")
        pairs.frombytes(self.threads_out.read_bytes())
        return seen, ThreadTimes(pairs[0::2], pairs[1::2])


class ThreadTimes:
    """The summed CPU time (ms, run and wait) of a process's threads but its main thread, at
    the ``perf_counter`` moments it was read."""

    def __init__(self, moments: array[float], totals_ms: array[float]) -> None:
        self.moments, self.totals_ms = moments, totals_ms

    def ms_between(self, began: float, ended: float) -> float:
        """Their CPU time from the last reading at or before ``began`` to the first at or after
        ``ended`` (a window no shorter than asked); infinite outside the readings."""
        first = bisect.bisect_right(self.moments, began) - 1
        last = bisect.bisect_left(self.moments, ended)
        if first < 0 or last >= len(self.moments):
            return math.inf
        return self.totals_ms[last] - self.totals_ms[first]


class SiblingThreads:
    """Reads the schedstat of every thread of process ``pid`` but its main thread: ``sample()``
    notes their summed CPU time since the first reading. A thread that starts later counts from
    its start; one that ends keeps what it had."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.files: dict[str, int] = {}  # thread id → open schedstat
        self.last_ns: dict[str, int] = {}
        self.total_ns = 0
        self.readings = array("d")
        self.look_for_threads(count_from_start=False)

    def look_for_threads(self, count_from_start: bool = True) -> None:
        try:
            threads = os.listdir(f"/proc/{self.pid}/task")
        except OSError:
            return
        for tid in threads:
            if tid == str(self.pid) or tid in self.files:
                continue
            try:
                self.files[tid] = os.open(f"/proc/{self.pid}/task/{tid}/schedstat", os.O_RDONLY)
            except OSError:
                continue
            if not count_from_start:
                self.last_ns[tid] = self._read(tid) or 0

    def sample(self) -> None:
        for tid in list(self.files):
            now = self._read(tid)
            if now is None:  # the thread has ended
                os.close(self.files.pop(tid))
                continue
            self.total_ns += now - self.last_ns.get(tid, 0)
            self.last_ns[tid] = now
        self.readings.extend((time.perf_counter(), self.total_ns / 1e6))

    def _read(self, tid: str) -> int | None:
        try:
            ran, waited = os.pread(self.files[tid], 128, 0).split()[:2]
        except (OSError, ValueError):
            return None
        return int(ran) + int(waited)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stop-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads-out", type=Path, required=True)
    args = parser.parse_args()
    checked_at = [0.0]
    parent = os.getppid()
    siblings = SiblingThreads(parent)

    def stopped() -> bool:  # the other threads read every iteration; the rest every 100 ms
        siblings.sample()
        now = time.monotonic()
        if now - checked_at[0] < 0.1:
            return False
        checked_at[0] = now
        siblings.look_for_threads()
        return os.getppid() != parent or args.stop_file.exists()

    seen = watch_main_thread(stopped, GcPauses())
    args.threads_out.write_bytes(siblings.readings.tobytes())
    args.out.write_text(json.dumps(seen, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
