"""The benchmark's *foxnb share* of a main-thread gap (``benchmarks.clients.describe_gaps``) sees
a GIL stall and leaves out a stall of the whole machine.

Two real stalls of this process's main thread while it runs the benchmark's 1 ms sleep loop and
a real ``benchmarks.beside`` process reads this process's threads: another thread holding the
GIL for about 60 ms (the share must count it), and the whole process stopped from outside
(``SIGSTOP``) for 100 ms, as a hypervisor or the kernel can stop it: no thread ran or queued,
so the share must leave it out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.beside import Beside
from benchmarks.clients import Gap, GcPauses, describe_gaps, watch_gaps


def hold_the_gil(for_s: float) -> None:
    """Pure Python, no system call: with a long switch interval nothing else runs meanwhile."""
    until = time.perf_counter() + for_s
    while time.perf_counter() < until:
        pass


def test_share_counts_a_gil_stall_and_not_a_stopped_machine(tmp_path: Path) -> None:
    switch_interval = sys.getswitchinterval()
    beside = Beside(tmp_path)
    time.sleep(0.5)  # the beside process is up and reading
    sys.setswitchinterval(1.0)  # the holder keeps the GIL for its whole burst
    try:
        started = time.perf_counter()
        holder = threading.Timer(0.2, hold_the_gil, args=(0.06,))
        holder.start()
        stopper = subprocess.Popen(
            [
                "sh",
                "-c",
                f"sleep 0.6; kill -STOP {os.getpid()}; sleep 0.1; kill -CONT {os.getpid()}",
            ]
        )
        gaps = watch_gaps(lambda: time.perf_counter() - started > 1.2)
    finally:
        sys.setswitchinterval(switch_interval)
    holder.join()
    stopper.wait(timeout=10)
    seen, other_threads = beside.result()
    described = describe_gaps(gaps, GcPauses(), other_threads.ms_between)

    assert seen["iterations"] > 0
    large = sorted((g for g in gaps if g.ms > 40), key=lambda g: g.ended)
    assert len(large) == 2, [round(g.ms) for g in large]
    held, stopped = large
    assert held.ms >= 55 and stopped.ms >= 95

    def share(gap: Gap) -> float:  # as describe_gaps works it out
        others = other_threads.ms_between(gap.ended - gap.ms / 1000, gap.ended)
        return min(gap.ms - gap.cpu_wait_ms, gap.ran_ms + others)

    assert share(held) >= 50  # the holder's CPU time is counted
    # the stopped process: only the loop's own run and the readings' edges, not the 100 ms
    assert share(stopped) < 20, share(stopped)
    assert described["max_gap_foxnb_share_ms"] == max(share(g) for g in gaps)
    assert described["worst_gaps_foxnb_share"][0]["share_ms"] == share(held)
