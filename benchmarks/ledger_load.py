"""10,000 runs into a DataFrame: ``fx.runs()`` of the default store, timed cold.

:func:`build` fills a runs store (SQLite, ``runs.db`` in a folder) of any size from a real one:
the foxnb phase's store, every event its sweep wrote (queued, upload, submitting, pending,
progress readings, downloading, result, completed — about ten per run), repeated block after
block with new run and task ids, in the original interleaved order.
``python -m benchmarks.ledger_load FOLDER`` then times, in a fresh process that has imported
foxnb and pandas but not yet opened the store, one ``open_store(None, FOLDER).dataframe()`` —
what ``fx.runs()`` does first in a new kernel — and prints the seconds (wall and CPU) and the
row count as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from foxnb.runtime.store import open_store


def build(template: Path, folder: Path, runs: int) -> int:
    """Fill ``folder/runs.db`` with ``runs`` runs copied from the store in the folder
    ``template``; returns the number of events written."""
    with open_store(None, template) as source:
        events = list(source.events())
    order = list(dict.fromkeys(event["run_id"] for event in events))
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    with open_store(None, folder) as store:
        for block in range(-(-runs // len(order))):
            kept = set(order[: runs - block * len(order)])  # the last block may be partial
            batch = []
            for event in events:
                if event["run_id"] not in kept:
                    continue
                fields = {k: v for k, v in event.items() if k not in ("run_id", "at")}
                if fields.get("task_id"):
                    fields["task_id"] = f"{fields['task_id']}{block:04d}"
                batch.append((f"{event['run_id']}-{block:04d}", event["at"], fields))
            store.append_many(batch)
            written += len(batch)
    return written


def time_dataframe(folder: Path) -> dict[str, float]:
    """One cold ``fx.runs()`` (the store's DataFrame) in this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    with open_store(None, folder) as store:
        frame = store.dataframe()
    return {
        "seconds": time.perf_counter() - wall,
        "cpu_seconds": time.process_time() - cpu,
        "rows": len(frame),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    print(json.dumps(time_dataframe(parser.parse_args().folder)))


if __name__ == "__main__":
    main()
