"""10,000 runs into a DataFrame: ``Ledger(folder).dataframe()``, timed cold.

:func:`build` writes a ``runs.jsonl`` of any size from a real one: the foxnb phase's ledger,
every event its sweep wrote (queued, upload, submitting, pending, progress readings,
downloading, result, completed — about ten per run), repeated block after block with new run
and task ids, in the original interleaved order. ``python -m benchmarks.ledger_load FOLDER``
then times, in a fresh process that has imported foxnb and pandas but not yet read the file,
one ``Ledger(FOLDER).dataframe()`` — the first thing ``fx.runs()`` does in a new kernel —
and prints the seconds (wall and CPU) and the row count as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from foxnb.runtime.ledger import LEDGER_NAME, Ledger


def build(template: Path, folder: Path, runs: int) -> int:
    """Write ``folder/runs.jsonl`` with ``runs`` runs copied from ``template``; returns the
    number of events written."""
    events = [json.loads(line) for line in template.read_text(encoding="utf-8").splitlines()]
    order = list(dict.fromkeys(event["run_id"] for event in events))
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(folder / LEDGER_NAME, "w", encoding="utf-8") as out:
        for block in range(-(-runs // len(order))):
            kept = set(order[: runs - block * len(order)])  # the last block may be partial
            for event in events:
                if event["run_id"] not in kept:
                    continue
                copy = {**event, "run_id": f"{event['run_id']}-{block:04d}"}
                if copy.get("task_id"):
                    copy["task_id"] = f"{copy['task_id']}{block:04d}"
                out.write(json.dumps(copy, separators=(",", ":")) + "\n")
                written += 1
    return written


def time_dataframe(folder: Path) -> dict[str, float]:
    """One cold ``Ledger(folder).dataframe()`` in this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    frame = Ledger(folder).dataframe()
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
