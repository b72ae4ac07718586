"""Figures from one benchmark run, the targets they are held to, and the Markdown report.

Every client figure joins the client's own record (when it started, when it first saw each
task ``completed``, when it finished) with the simulator's (when each task was created and
when a synced query would first have shown it completed; how many status queries each task
received). Percentiles are nearest-rank: p95 of 100 values is the 95th smallest.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import chain, history, scoring, store_report
from .simproc import RequestCounts, ServerTask

LABELS = {
    "foxnb": "foxnb `fx.sweep`",
    "sequential": "(a) sequential, poll every 5 s",
    "thread_pool": "(b) thread pool, poll every 5 s",
    "fixed_interval": "(c) submit all, poll all every 0.5 s",
}
TARGETS = {
    "wall_over_ideal": 1.01,
    "task_gets_median": 4,
    "task_gets_max": 6,
    "latency_p95_pct": 2.0,
    "main_thread_max_stall_ms": 20.0,
    "memory_growth_mb": 200.0,
    "ledger_load_s": 1.0,
}


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def client_figures(
    result: dict[str, Any],
    tasks: list[ServerTask],
    counts: RequestCounts,
    speed: float,
    planned_jobs: int,
) -> dict[str, Any]:
    """The figures of one client run (``planned_jobs``: the sweep's size, for extrapolating a
    run of fewer jobs)."""
    by_id = {task.task_id: task for task in tasks}
    started, ended = result["started_at"], result["ended_at"]
    latencies_s, shares = [], []
    failed = 0
    for job in result["jobs"]:
        task = by_id.get(job["task_id"] or "")
        if task is None or task.completed_at is None or job["seen_completed_at"] is None:
            failed += 1
            continue
        latency_s = job["seen_completed_at"] - task.completed_at
        latencies_s.append(latency_s)
        shares.append(latency_s / (task.completed_at - task.created_at))
    durations = [t.duration_s for t in tasks if t.duration_s is not None]
    gets = [counts.task_queries.get(task.task_id, 0) for task in tasks]
    submission_s = max(t.created_at for t in tasks) - started
    wall_s = ended - started
    figures: dict[str, Any] = {
        "jobs": len(result["jobs"]),
        "jobs_not_completed": failed,
        "wall_s": wall_s,
        "wall_service_s": wall_s * speed,
        "submission_s": submission_s,
        "slowest_job_s": max(durations),
        "last_server_completion_s": max(t.completed_at or 0.0 for t in tasks) - started,
        "task_gets_median": statistics.median(gets),
        "task_gets_mean": statistics.fmean(gets),
        "task_gets_max": max(gets),
        "latency_p50_pct": 100 * percentile(shares, 0.5),
        "latency_p95_pct": 100 * percentile(shares, 0.95),
        "latency_max_pct": 100 * max(shares),
        "latency_p50_service_s": speed * percentile(latencies_s, 0.5),
        "latency_p95_service_s": speed * percentile(latencies_s, 0.95),
        "requests": {
            "creates": counts.creates,
            "uploads": counts.uploads,
            "downloads": counts.downloads,
            "error_answers": counts.errors,
        },
    }
    if len(result["jobs"]) < planned_jobs:
        figures["wall_extrapolated_s"] = wall_s * planned_jobs / len(result["jobs"])
    for key in ("main_thread", "sweep_call_s"):
        if key in result:
            figures[key] = result[key]
    return figures


def add_ratios(clients: dict[str, dict[str, Any]]) -> None:
    """``wall_over_ideal`` for every client.

    The ideal is the earliest the sweep could be over: when its last job completed on the
    server, i.e. the duration of the job that finished last plus the time it took to submit
    it. foxnb and (c) submit every job up front, so their own run gives it. (a) and (b) hold
    jobs back by design (their last job is submitted near the end), so their ideal is (c)'s:
    the same sweep on the same simulator, submitted up front by plain code.
    """
    reference = clients.get("fixed_interval") or clients["foxnb"]
    for name, figures in clients.items():
        own = name in ("foxnb", "fixed_interval")
        source = figures if own else reference
        figures["ideal_s"] = source["last_server_completion_s"]
        wall = figures.get("wall_extrapolated_s", figures["wall_s"])
        figures["wall_over_ideal"] = wall / figures["ideal_s"]


def misses(report: dict[str, Any]) -> list[str]:
    """The targets foxnb missed in this run, in words (empty: all met)."""
    fox = report["clients"]["foxnb"]
    memory, ledger = report["memory"], report["ledger"]
    checks = [
        ("wall ÷ ideal", fox["wall_over_ideal"], "wall_over_ideal"),
        ("GETs per job (median)", fox["task_gets_median"], "task_gets_median"),
        ("GETs per job (max)", fox["task_gets_max"], "task_gets_max"),
        ("detection latency p95 (%)", fox["latency_p95_pct"], "latency_p95_pct"),
        ("main-thread stall (ms)", _stall_ms(fox["main_thread"]), "main_thread_max_stall_ms"),
        ("memory growth (MB)", memory["memory_growth_mb"], "memory_growth_mb"),
        (
            f"main-thread stall with {memory['jobs']:,} jobs, foxnb's share (ms)",
            memory["main_thread"]["max_gap_foxnb_share_ms"],
            "main_thread_max_stall_ms",
        ),
        ("ledger load (s)", ledger["seconds_median"], "ledger_load_s"),
    ]
    missed = [
        f"{label} {value:.4g} > {TARGETS[key]:g}"
        for label, value, key in checks
        if value > TARGETS[key] or (key == "main_thread_max_stall_ms" and value == TARGETS[key])
    ]
    if memory["most_tracked_at_once"] < memory["jobs"]:
        missed.append(
            f"only {memory['most_tracked_at_once']} of {memory['jobs']} jobs were tracked at once"
        )
    if "scoring" in report:
        missed.extend(scoring.misses(report["scoring"]))
    if "chain" in report:
        missed.extend(chain.misses(report["chain"]))
    if "store" in report:
        missed.extend(report["store"]["missed"])
    return missed


# ------------------------------------------------------------------ the machine


def machine() -> dict[str, Any]:
    """What the benchmark ran on, and the foxnb commit it measured."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = int(line.split()[1]) / 1024**2
    os_name = platform.platform()
    release = Path("/etc/os-release")
    if release.exists():
        for line in release.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} ({platform.release()})"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": ram_gb,
        "os": os_name,
        "python": platform.python_version(),
        "foxnb_commit": _commit(),
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "load_average_at_start": os.getloadavg(),
    }


def _commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{head} (with uncommitted changes)" if dirty else head


# ------------------------------------------------------------------ Markdown


def _count(number: int, noun: str) -> str:
    """``1 job``, ``2 jobs``."""
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _stall_ms(main_thread: dict[str, Any]) -> float:
    """The main thread's largest gap less the time it waited for a CPU: the stall foxnb
    caused (the machine's other processes, the simulator among them, cause the rest)."""
    return float(main_thread["max_gap_without_cpu_wait_ms"])


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗ missed"


def markdown(report: dict[str, Any]) -> str:
    """The whole of ``docs/benchmark.md``."""
    cfg, host = report["config"], report["machine"]
    clients = report["clients"]
    order = [n for n in ("foxnb", "sequential", "thread_pool", "fixed_interval") if n in clients]
    speed = cfg["speed"]

    def row(title: str, cells: list[str], target: str) -> str:
        return f"| {title} | " + " | ".join(cells) + f" | {target} |"

    def wall(name: str) -> str:
        f = clients[name]
        if "wall_extrapolated_s" in f:
            return (
                f"{f['wall_extrapolated_s'] * speed:,.0f} (extrapolated from "
                f"{_count(f['jobs'], 'job')}: {f['wall_service_s']:,.0f})"
            )
        return f"{f['wall_service_s']:,.0f}"

    fox = clients["foxnb"]
    stall = _stall_ms(fox["main_thread"])
    gets_ok = (
        fox["task_gets_median"] <= TARGETS["task_gets_median"]
        and fox["task_gets_max"] <= TARGETS["task_gets_max"]
    )
    worst = fox["main_thread"]["worst_gaps"][0]
    parts = [f"{worst['cpu_wait_ms']:.0f} waiting for a CPU"]
    if worst["in_gc_ms"] >= 1:
        parts.append(f"{worst['in_gc_ms']:.0f} in a garbage collection")
    raw = fox["main_thread"]["max_gap_ms"]
    stall_text = f"{stall:.0f} less CPU wait (raw {raw:.0f}: {', '.join(parts)})"
    lines = [
        "# Benchmark: a sweep with foxnb vs. hand-written polling loops",
        "",
        f"Measured by `./dev bench` on {host['date_utc']} UTC; raw figures in "
        "`docs/benchmark.json`. Every client ran against the FoxAPI simulator in a separate "
        f"process, {speed:g}x faster than the service; every time below is in **service "
        f"seconds** (wall seconds x {speed:g}) unless it says otherwise.",
        "",
        f"## A {cfg['jobs']}-job sweep",
        "",
        "| | " + " | ".join(LABELS[n] for n in order) + " | target (foxnb) |",
        "|---|" + "---|" * len(order) + "---|",
        row("wall time (service s)", [wall(n) for n in order], ""),
        row(
            "submission time: start to the last task created (service s)",
            [f"{clients[n]['submission_s'] * speed:,.0f}" for n in order],
            "",
        ),
        row(
            "wall ÷ ideal",
            [f"{clients[n]['wall_over_ideal']:.3f}" for n in order],
            f"≤ {TARGETS['wall_over_ideal']:g} "
            f"{_mark(fox['wall_over_ideal'] <= TARGETS['wall_over_ideal'])}",
        ),
        row(
            "status GETs per job: median (max)",
            [f"{clients[n]['task_gets_median']:g} ({clients[n]['task_gets_max']})" for n in order],
            f"median ≤ {TARGETS['task_gets_median']} (≤ {TARGETS['task_gets_max']}) "
            f"{_mark(gets_ok)}",
        ),
        row(
            "detection latency p50 / p95, % of the job's duration",
            [
                f"{clients[n]['latency_p50_pct']:.1f} / {clients[n]['latency_p95_pct']:.1f}"
                for n in order
            ],
            f"p95 ≤ {TARGETS['latency_p95_pct']:g} % "
            f"{_mark(fox['latency_p95_pct'] <= TARGETS['latency_p95_pct'])}",
        ),
        row(
            "detection latency p50 / p95, service s",
            [
                f"{clients[n]['latency_p50_service_s']:.2f} / "
                f"{clients[n]['latency_p95_service_s']:.2f}"
                for n in order
            ],
            "",
        ),
        row(
            "largest stall of the notebook's main thread (wall ms)",
            [stall_text if n == "foxnb" else "blocked for the whole run" for n in order],
            f"< {TARGETS['main_thread_max_stall_ms']:g} ms "
            f"{_mark(stall < TARGETS['main_thread_max_stall_ms'])}",
        ),
        "",
        _sweep_notes(report),
        "",
        "## foxnb at scale",
        "",
        _scale_table(report),
        "",
        *([store_report.section(report["store"]), ""] if "store" in report else []),
        history.SECTION,
        "## Machine",
        "",
        f"- CPU: {host['cpu']}, {host['cores']} cores; RAM: {host['ram_gb']:.1f} GB",
        f"- OS: {host['os']}; Python {host['python']}",
        f"- foxnb commit: {host['foxnb_commit']}",
        f"- load average when the run started (1/5/15 min): "
        f"{', '.join(f'{x:.2f}' for x in host['load_average_at_start'])}"
        " — other work on the machine shares its cores and shows up in the wall-clock figures",
        f"- simulator speed: {speed:g}x (memory phase: {cfg['memory_speed']:g}x); "
        f"simulator seed {cfg['seed']}",
        "",
        _method(report),
    ]
    return "\n".join(_wrap(block) for block in "\n".join(lines).split("\n\n")) + "\n"


def _wrap(block: str) -> str:
    """A paragraph of prose refilled to 100 columns; tables, lists and headings as they are."""
    if block.startswith(("|", "-", "#")) or "\n|" in block or "\n- " in block:
        return block + "\n"
    text = " ".join(block.split())
    return textwrap.fill(text, 100, break_long_words=False, break_on_hyphens=False) + "\n"


def _sweep_notes(report: dict[str, Any]) -> str:
    clients, cfg = report["clients"], report["config"]
    fox = clients["foxnb"]
    speed = cfg["speed"]
    tail = (fox["wall_s"] - fox["last_server_completion_s"]) * speed
    notes = [
        f"foxnb's submission time (first call to the last task created on the server) was "
        f"{fox['submission_s'] * speed:.1f} service s and the slowest job took "
        f"{fox['slowest_job_s'] * speed:.1f}; it finished (every video downloaded and "
        f"recorded) {tail:.1f} service s after the last task completed on the server. "
        f"`fx.sweep()` itself returned after {fox['sweep_call_s'] * 1000:.0f} wall ms.",
    ]
    stall = fox["main_thread"]
    notes.append(
        f"Main thread while foxnb tracked the sweep: {stall['iterations']:,} iterations of "
        f"`sleep(1 ms)`, p99 gap {stall['p99_gap_ms']:.1f} ms, "
        f"{_count(stall['gaps_over_10ms'], 'gap')} over 10 ms; in all it waited "
        f"{stall['cpu_wait_ms_total'] / 1000:.1f} s for a CPU. "
        f"Less the time spent waiting for a CPU, the largest gap was "
        f"{stall['max_gap_without_cpu_wait_ms']:.0f} ms; less that and garbage collection too "
        f"(what is left for the GIL), {stall['max_gap_without_cpu_wait_or_gc_ms']:.0f} ms. "
        f"The same loop with nothing else running in the process: largest gap "
        f"{stall['control_max_gap_ms']:.0f} ms (the machine's own noise)."
    )
    pauses = stall["gc_pauses"]
    longest = max(pauses, key=lambda p: p["ms"], default=None)
    notes.append(
        "Garbage collection: "
        + (
            f"{len(pauses)} pause{'' if len(pauses) == 1 else 's'} over 5 ms while foxnb "
            f"tracked the sweep, the longest "
            f"{longest['ms']:.0f} ms (generation {longest['generation']}, in the "
            f"{longest['thread']} thread). "
            if longest
            else "no pause over 5 ms while foxnb tracked the sweep. "
        )
        + "CPython's collector stops every thread while it runs, whichever thread triggered "
        f"it; one full collection of this process ({stall['gc_tracked_objects']:,} objects "
        "still tracked: foxnb's engine freezes the ones alive when it starts, see "
        f"foxnb/runtime/engine.py) took {stall['full_gc_ms']:.0f} ms when measured after the run."
    )
    return "\n\n".join(notes)


def _scale_table(report: dict[str, Any]) -> str:
    memory, ledger = report["memory"], report["ledger"]
    growth_ok = memory["memory_growth_mb"] < TARGETS["memory_growth_mb"]
    held = memory["main_thread"]
    share = held["max_gap_foxnb_share_ms"]
    stall_ok = share < TARGETS["main_thread_max_stall_ms"]
    ledger_ok = ledger["seconds_median"] < TARGETS["ledger_load_s"]
    times = ", ".join(f"{s:.2f}" for s in ledger["seconds"])
    return "\n".join(
        [
            "| measure | result | target |",
            "|---|---|---|",
            f"| memory growth while {memory['jobs']:,} jobs are tracked at once | "
            f"**+{memory['memory_growth_mb']:.0f} MB**: RSS +{memory['rss_growth_mb']:.0f} MB "
            f"(from {memory['start_rss_mb']:.0f} to {memory['peak_rss_mb']:.0f} MB), and the "
            f"video process's own pages, {memory['video_process_peak_private_mb']:.0f} MB at "
            f"most (its RSS {memory['video_process_peak_rss_mb']:.0f} MB, the rest libraries "
            f"shared with foxnb's process); {memory['most_tracked_at_once']:,} tracked at "
            f"the same moment (all created after {memory['all_created_s']:.0f} wall s, RSS then "
            f"+{memory['rss_when_all_created_mb']:.0f} MB); `fx.sweep()` returned after "
            f"{memory['sweep_call_s']:.2f} s | < 200 MB {_mark(growth_ok)} |",
            f"| the notebook's main thread meanwhile (sweep call to the last job done) | "
            f"**foxnb's share of any gap at most {share:.0f} ms**{_share_parts(held)}. Largest "
            f"gap {held['max_gap_ms']:.0f} ms; less CPU wait "
            f"{held['max_gap_without_cpu_wait_ms']:.0f} ms; less that and garbage collection "
            f"{held['max_gap_without_cpu_wait_or_gc_ms']:.0f} ms; p99 {held['p99_gap_ms']:.1f} ms"
            f"{_beside(memory)} | < {TARGETS['main_thread_max_stall_ms']:g} ms {_mark(stall_ok)} |",
            f"| loading {ledger['runs']:,} runs ({ledger['events']:,} events, a "
            f"{ledger['file_mb']:.1f} MB SQLite store) into a DataFrame, cold | "
            f"{ledger['seconds_median']:.2f} s (median of {len(ledger['seconds'])} runs in fresh "
            f"processes: {times} s; CPU {ledger['cpu_seconds_median']:.2f} s) | "
            f"< 1 s {_mark(ledger_ok)} |",
            *(scoring.table_rows(report["scoring"]) if "scoring" in report else []),
            *([chain.table_row(report["chain"])] if "chain" in report else []),
        ]
    )


def _share_parts(held: dict[str, Any]) -> str:
    """Where the largest share came from: the main thread's own running, the others'."""
    worst = held["worst_gaps_foxnb_share"][0]
    return (
        f" (a {worst['gap_ms']:.0f} ms gap: {worst['cpu_wait_ms']:.1f} ms waiting for a CPU, "
        f"{worst['ran_ms']:.1f} ms running, foxnb's other threads {worst['others_ms']:.1f} ms "
        "of CPU time)"
    )


def _beside(memory: dict[str, Any]) -> str:
    """What a process running the same loop beside foxnb saw (``benchmarks.beside``)."""
    beside = memory["beside"]
    return (
        f". A process beside it running the same loop, sharing no GIL with foxnb: largest gap "
        f"{beside['max_gap_ms']:.0f} ms, less CPU wait {beside['max_gap_without_cpu_wait_ms']:.0f}"
        f" ms; gaps over 10 ms {beside['gaps_over_10ms']:,} there, "
        f"{memory['main_thread']['gaps_over_10ms']:,} in foxnb's process"
    )


def _method(report: dict[str, Any]) -> str:
    cfg = report["config"]
    speed = cfg["speed"]
    rate, floor = cfg["foxnb_rate_per_s"], cfg["foxnb_min_poll_interval_s"]
    return f"""## How it was measured

**One command.** `./dev bench` sets up `.venv`, then runs `python -m benchmarks.sweep_benchmark
--check`, which writes this file and `docs/benchmark.json`, and exits 1 if foxnb missed a
target. Options (`--jobs`, `--speed`, ...) are listed by `--help`.

**The sweep.** {cfg["jobs"]} jobs on one 1 s, 1280x720 clip, one prompt, seeds 0..{cfg["jobs"] - 1},
alternating `veo-3.1-extend` and `veo-3.1-extend-fast`. The simulator draws each task's
duration from 0.7–1.4x its model's typical 90 s / 45 s (5–10 % of it pending), so jobs last
31–126 service seconds; it reports the typical figure as `estimated_time`, and progress grows
with a seeded ±25 % wobble. Every phase starts a fresh simulator process
(`python -m foxnb.sim --no-distinct-results --state-dir ... --verbose`) with the same seed.
`--no-distinct-results` makes every task return one shared rendering (encoded once before the
phases), so the simulator's MP4 encoder is not what is measured; task timelines are unchanged.

**Time scaling.** The simulator runs {speed:g}x faster than the service. Every interval a client
uses was divided by the same factor: the baselines' 5 s and 0.5 s poll intervals (to
{5 / speed:g} s and {0.5 / speed:g} s of wall time), and foxnb's two wall-clock constants, its
request-rate limit ({rate:g} requests/s by default, given as `rate_per_s={rate * speed:g}`) and
its shortest wait between two queries of one task ({floor:g} s, given as
`policy=RetryPolicy(min_poll_interval_s={floor / speed:g})`). Everything else foxnb does is
timed from what the service reports. Times are reported in service seconds (wall x {speed:g}).

**The clients.** Each ran in a fresh process of its own. foxnb: `foxnb.connect()` to the
simulator's URL and key, `fx.sweep(...)`, then the main thread waits (see below) until every
job has its video. The baselines are plain httpx (`benchmarks/baselines.py`): (a) create a task,
query it until it ends, sleeping 5 s between queries, download, next; (b) the same function
for every job in a `ThreadPoolExecutor(max_workers={cfg["pool_workers"]})`; (c) create every
task, then query every unfinished one, sleep 0.5 s, repeat. All query with
`sync_upstream=true`, and all download every result. (a) ran the first
{_count(cfg["sequential_jobs"], "job")} only; its wall time for {cfg["jobs"]} is extrapolated
(x {cfg["jobs"] / cfg["sequential_jobs"]:g}) and labelled so.

**Wall ÷ ideal.** Wall time runs from the client's first call to its last video saved. The
ideal is the earliest the sweep could be over: the moment its last job completed on the server
(that job's submission time plus its duration, from the simulator's records). foxnb and (c)
submit everything up front, so their own run gives it; (a) and (b) hold jobs back by design,
so their ideal is (c)'s — the same sweep submitted up front. Submission times are in the
table, so the cost of foxnb's rate limit shows there.

**Detection latency.** For each job, the moment the client first saw `completed` (foxnb: the
`completed_at` in its ledger; baselines: noted when the answer arrived) minus the moment the
server first showed it: the later of the task's planned finish and its render's end, read from
the simulator's saved task records (`foxnb.sim.backend.completed_at`). As a share of that job's
duration on the server (created → completed), and in service seconds.

**GETs per job.** Status queries (`GET /v1/tasks/{{id}}`) each task received, counted from the
simulator's access log. Uploads (one per client) and downloads (one per job) are not included.

**Main-thread stall.** While foxnb tracked the sweep, the main thread ran `sleep(1 ms)` in a
loop and recorded every gap between iterations; the largest is the longest the notebook's own
thread was held up. For each gap, the time the kernel kept the thread waiting for a CPU is read
from `/proc/thread-self/schedstat`: that part comes from CPU contention (other processes, the
simulator, foxnb's own thread), and garbage-collector pauses (noted through `gc.callbacks`)
that fell inside it are counted; the rest is sleeping, running and waiting for the GIL. Before
connecting, the same loop ran for 1 s with nothing else running in the process, as a measure
of the machine's own noise. The baselines run their loops on the main thread: a notebook is
blocked for their whole run.

**Memory.** A fresh process connects, notes its RSS, and launches a sweep of
{cfg["memory_jobs"]:,} standard-model jobs on a simulator at {cfg["memory_speed"]:g}x (jobs of
{63 / cfg["memory_speed"]:.0f}–{126 / cfg["memory_speed"]:.0f} wall s); it samples its RSS every 50
ms until all are done (a sampler thread), with the private pages of foxnb's video process (its
child, which decodes the results: the rest of that child's RSS is libraries already counted in
the parent's), while the main thread runs the same 1 ms sleep loop as
in the sweep, from the sweep call to the last job done. A process beside it
(`benchmarks.beside`) runs the same loop, sharing no GIL with foxnb, and at each iteration reads
the schedstat of every other thread of foxnb's process. The stall target applies to foxnb's
share of each gap: the gap less the time the main thread waited for a CPU, but no more than the
CPU time (run and wait) that foxnb's other threads and the main thread itself used during it.
Waiting for the GIL is waiting for a thread that runs or queues for a CPU while it holds it, so
the share includes every GIL wait (and garbage collection); it leaves out only time in which no
thread of foxnb's process ran or queued — the machine's own stalls, which the process beside it
sees too (and a thread blocked in the kernel while it holds the GIL, which foxnb's threads avoid:
they let go of it around every file, socket and database call). This phase is about memory,
not timing: foxnb's rate limit was lifted (1,000 requests/s) so that every task was created
before the first one ended.

**Runs.** A runs store (SQLite, as a work folder has by default) of {cfg["ledger_runs"]:,} runs
made from the foxnb phase's own store (every event its sweep wrote — about ten per run —
repeated with new run and task ids), then what `fx.runs()` does first in a new kernel —
`open_store(None, folder).dataframe()` — timed {_count(cfg["ledger_repeats"], "time")}, each in a
fresh process (foxnb and pandas imported, the store not yet opened; its file in the OS page
cache).

{scoring.method(report["scoring"]) if "scoring" in report else ""}

{chain.method(report["chain"]) if "chain" in report else ""}
"""
