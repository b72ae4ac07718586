"""The machine's own gaps: a process beside foxnb running the notebook thread's 1 ms sleep loop.
``python -m benchmarks.beside --stop-file PATH --out PATH``.

It shares no GIL with foxnb, so what it sees is what the machine does to any thread at the same
moment: the kernel keeping it waiting for a CPU (read from schedstat, as for the main thread) and
the hypervisor taking the virtual CPU away (steal time, which a thread cannot see; this machine
loses about 3 % of its CPU time that way). It stops when the stop file appears, or when the
process that started it has gone (a phase that failed), and writes the same figures as
``clients.watch_main_thread`` to ``--out``. The memory phase
(:mod:`benchmarks.memory`) runs it for as long as it watches its own main thread.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .clients import GcPauses, watch_main_thread


class Beside:
    """A ``benchmarks.beside`` process, from ``start`` until ``result``."""

    def __init__(self, folder: Path) -> None:
        self.stop_file, self.out = folder / "beside.stop", folder / "beside.json"
        self.stop_file.unlink(missing_ok=True)
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.beside",
                f"--stop-file={self.stop_file}",
                f"--out={self.out}",
            ],
            cwd=Path(__file__).resolve().parent.parent,
        )

    def result(self) -> dict[str, Any]:
        """Stop the process and return what it saw."""
        self.stop_file.touch()
        if self._process.wait(timeout=60) != 0:
            raise RuntimeError(f"benchmarks.beside failed (exit {self._process.returncode})")
        seen: dict[str, Any] = json.loads(self.out.read_text(encoding="utf-8"))
        return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stop-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    checked_at = [0.0]
    parent = os.getppid()

    def stopped() -> bool:  # two system calls every 100 ms, not every iteration
        now = time.monotonic()
        if now - checked_at[0] < 0.1:
            return False
        checked_at[0] = now
        return os.getppid() != parent or args.stop_file.exists()

    seen = watch_main_thread(stopped, GcPauses())
    args.out.write_text(json.dumps(seen, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
