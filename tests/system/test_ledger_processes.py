"""The ledger shared by several processes: appends never interleave."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from foxnb.runtime.ledger import Ledger


def _append_many(folder: str, who: int) -> None:
    ledger = Ledger(folder)
    for i in range(200):
        ledger.append(f"p{who}-{i}", float(i), status="queued", prompt="x" * 500)


def test_concurrent_processes_never_interleave_lines(tmp_path: Path) -> None:
    """Four processes appending at once leave 800 whole records."""
    procs = [
        multiprocessing.Process(target=_append_many, args=(str(tmp_path), n)) for n in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert len(Ledger(tmp_path).runs()) == 800
