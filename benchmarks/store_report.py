"""The runs-store section of ``docs/benchmark.md`` (figures from ``benchmarks.store_phase``).

``section(store)`` is the Markdown; ``splice(text, section)`` puts it into an existing report
in place of an earlier one (before ``## Machine``), so the store phase can be run alone
(``./dev bench --only store``) without re-running the others.
"""

from __future__ import annotations

import textwrap
from typing import Any

HEADING = "## The runs store: many writers (issue 11)"
KINDS = (("sqlite", "SQLite (one machine)"), ("postgres", "PostgreSQL (a team)"))


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗ MISSED"


def section(store: dict[str, Any]) -> str:
    """The Markdown of the runs-store figures."""
    kinds = [(key, label) for key, label in KINDS if key in store]
    targets = store["targets"]
    jobs = store["config"]["jobs"]

    def row(title: str, cell: Any, target: str = "") -> str:
        values = " | ".join(cell(store[key]) for key, _ in kinds)
        return f"| {title} | {values} | {target} |"

    def ratio_ok(phase: str) -> bool:
        return all(
            store[k][phase]["wall_over_ideal"] <= targets["wall_over_ideal"] for k, _ in kinds
        )

    def event_ok() -> bool:
        return all(
            store[k]["costs"]["per_event"]["median_ms"] <= targets["event_ms"] for k, _ in kinds
        )

    def load_ok() -> bool:
        return all(store[k]["costs"]["load_s_best"] < targets["load_s"] for k, _ in kinds)

    def tasks(entry: dict[str, Any]) -> str:
        one, four = entry["one_process"], entry["four_workers"]
        twice = one["runs_with_two_tasks"] + four["runs_with_two_tasks"]
        return f"{one['tasks'] + four['tasks']:,} / {twice}"

    def shares(entry: dict[str, Any]) -> str:
        return " / ".join(str(sum(w.values())) for w in entry["four_workers"]["workers"])

    def loop(entry: dict[str, Any], way: str) -> str:
        f = entry["loop"][way]
        return (
            f"{f['max_stall_less_cpu_wait_and_gc_ms']:.0f} / "
            f"{f['p99_stall_less_cpu_wait_and_gc_ms']:.1f} ms ({f['commits']:,} commits)"
        )

    loop_jobs = store[kinds[0][0]]["loop"]["link"]["jobs"]
    direct_jobs = store[kinds[0][0]]["loop"]["direct"]["jobs"]
    spread_s = store[kinds[0][0]]["loop"]["link"]["spread_s"]
    lines = [
        HEADING,
        "",
        f"Measured by `./dev bench` (the store phase: `python -m benchmarks.store_phase`); load "
        f"average at its start {', '.join(f'{x:.2f}' for x in store['load_average_at_start'])} "
        "(1/5/15 min) on this shared 2-core machine. Times are wall seconds.",
        "",
        "| | " + " | ".join(label for _, label in kinds) + " | target |",
        "|---|" + "---|" * len(kinds) + "---|",
        row(
            f"{jobs:,} cells by one process (`fx.sweep`): wall ÷ ideal",
            lambda e: (
                f"{e['one_process']['wall_over_ideal']:.3f} "
                f"({e['one_process']['wall_s']:.1f} s / {e['one_process']['ideal_s']:.1f} s)"
            ),
            f"≤ {targets['wall_over_ideal']:g} {_mark(ratio_ok('one_process'))}",
        ),
        row(
            f"{jobs:,} cells by four `foxnb worker` processes: wall ÷ ideal",
            lambda e: (
                f"{e['four_workers']['wall_over_ideal']:.3f} "
                f"({e['four_workers']['wall_s']:.1f} s / {e['four_workers']['ideal_s']:.1f} s)"
            ),
            f"≤ {targets['wall_over_ideal']:g} {_mark(ratio_ok('four_workers'))}",
        ),
        row(
            "submission: sweep call to the last task created, one process / four workers",
            lambda e: (
                f"{e['one_process']['submission_s']:.1f} s / "
                f"{e['four_workers']['submission_s']:.1f} s"
            ),
        ),
        row("cells per worker", shares),
        row("tasks created / runs with two tasks (both phases)", tasks, "one per cell"),
        row(
            "store overhead per run event: median (p95)",
            lambda e: (
                f"{e['costs']['per_event']['median_ms']:.2f} "
                f"({e['costs']['per_event']['p95_ms']:.2f}) ms"
            ),
            f"≤ {targets['event_ms']:g} ms {_mark(event_ok())}",
        ),
        row(
            "one commit of 2,000 events: alone / while another thread runs Python code (best of 3)",
            lambda e: (
                f"{e['costs']['batch_commit']['alone_ms']:.0f} / "
                f"{e['costs']['batch_commit']['beside_busy_thread_ms']:.0f} ms"
            ),
        ),
        row(
            f"{store[kinds[0][0]]['costs']['rows'] - 100:,} runs into `fx.runs()`, cold: best "
            "(median) of 3",
            lambda e: f"{e['costs']['load_s_best']:.2f} ({e['costs']['load_s_median']:.2f}) s",
            f"< {targets['load_s']:g} s {_mark(load_ok())}",
        ),
        row(
            f"engine loop, {loop_jobs:,}-job submission, writes on the writer thread: longest "
            "/ p99 stall (less CPU wait and GC)",
            lambda e: loop(e, "link"),
        ),
        row(
            f"the same, writes made on the loop ({direct_jobs:,} jobs, same rate)",
            lambda e: loop(e, "direct"),
        ),
        "",
        "**How it was measured.** Each phase ran on a fresh simulator process (10x, one shared "
        f"rendering) and a fresh store: {jobs:,} cells of the sweep benchmark's workload "
        "(one prompt, seeds 0.., the two models alternating), on foxnb's scaled clock as in the "
        "sweep above. *One process*: `fx.sweep(...)` then `wait()`. *Four workers*: the same "
        "sweep recorded with `fx.sweep(..., launch=False)`, then four processes running what "
        "`foxnb worker` runs, each claiming cells from the store. Wall time runs from the "
        "sweep call to the last video recorded as saved (the store's last `completed` event); "
        "the ideal is the moment the simulator completed its last task. Both include the "
        "workers' start-up and the submission, which four workers share. Per run event: one "
        "durable `append()` of a progress event, timed one by one (SQLite `synchronous=FULL`, "
        "PostgreSQL with fsync and synchronous commits). Load: a store holding the runs, read "
        "by a new store object into the runs DataFrame, as `fx.runs()` does first in a new "
        "kernel. One commit: 2,000 progress events on 2,000 runs in one `commit()`, as the writer "
        "thread makes them when a big sweep answers at once, alone and while a second thread "
        "spins in a Python loop. The engine loop: a submission of that many jobs recorded as "
        "the runner does (the new run, `submitting`, the task id, at random moments of a "
        f"{spread_s:g} s window), with a 1 ms ticker on the loop; stalls less the time the "
        "thread waited for a CPU and less garbage-collector pauses (`benchmarks/store_loop.py`).",
    ]
    return "\n".join(_wrap(block) for block in "\n".join(lines).split("\n\n"))


def _wrap(block: str) -> str:
    if block.startswith(("|", "#")):
        return block + "\n"
    return textwrap.fill(" ".join(block.split()), 100, break_long_words=False) + "\n"


def splice(text: str, store_section: str) -> str:
    """``text`` (a whole ``docs/benchmark.md``) with ``store_section`` in place of an earlier
    one, else inserted before ``## Machine`` (else appended)."""
    if HEADING in text:
        start = text.index(HEADING)
        after = text.find("\n## ", start + len(HEADING))
        end = len(text) if after < 0 else after + 1
        return text[:start] + store_section + ("\n" if after >= 0 else "") + text[end:]
    marker = text.find("## Machine")
    if marker < 0:
        return text.rstrip("\n") + "\n\n" + store_section
    return text[:marker] + store_section + "\n" + text[marker:]
