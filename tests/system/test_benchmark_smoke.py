"""The sweep benchmark stays runnable: a 6-job run of the real command, end to end.

Its figures mean little at this size (the targets are checked by the full benchmark, not
here); what is checked is that every phase ran against real simulator processes and that the
report and the raw figures are complete and consistent.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ("foxnb", "sequential", "thread_pool", "fixed_interval")


@pytest.mark.slow
def test_small_benchmark_writes_a_complete_report(tmp_path: Path) -> None:
    """6 jobs at 80x, 20 jobs at once, a 200-run ledger, one scoring per size, a 3-hop chain:
    exit 0, a full table, sane figures, and the simulator's key nowhere in the output."""
    out = tmp_path / "benchmark.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.sweep_benchmark",
            "--jobs=6",
            "--speed=80",
            "--sequential-jobs=1",
            "--memory-jobs=20",
            "--memory-speed=20",  # jobs of seconds: all 20 are out before one ends
            "--ledger-runs=200",
            "--ledger-repeats=1",
            "--scoring-repeats=1",
            "--store-jobs=8",
            "--store-runs=200",
            "--chain-speed=80",
            "--chain-best-of=1",  # the chain phase runs; the full benchmark times 3 × 3
            f"--out={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,  # a hang guard only: about 90 s alone, minutes on a slow, busy machine
    )
    assert done.returncode == 0, done.stderr[-3000:]

    text = out.read_text(encoding="utf-8")
    figures = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    for output in (text, json.dumps(figures), done.stdout, done.stderr):
        assert "sk-sim-bench" not in output  # the simulator's key is never shown

    table = [line for line in text.splitlines() if line.startswith("| ")]
    sweep_rows = [row for row in table if row.count("|") == 7]  # 6 columns: 4 clients
    assert len(sweep_rows) == 8, sweep_rows  # header + 7 measures
    for row in sweep_rows[1:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert all(cells[1:5]), row  # a figure for every client
    assert "extrapolated from 1 job" in text
    assert re.search(r"memory growth while 20 jobs", text)
    # the process beside foxnb's watched as long as foxnb's main thread
    assert re.search(r"A process beside it running the same loop, sharing no GIL", text)
    assert re.search(r"foxnb's share of any gap at most \d+ ms\*\* \(a \d+ ms gap: ", text)
    assert re.search(r"loading 200 runs \(\d[\d,]* events, a [\d.]+ MB SQLite store\)", text)
    assert re.search(r"scoring one 9 s 720p result .* \| ≤ 0\.5 s", text)
    assert re.search(r"scoring one 9 s 1080p result .* \| ≤ 1 s", text)
    assert re.search(r"3 hops × best of 1 on the simulator at 80× .* for 3 runs", text)
    for heading in ("## A 6-job sweep", "## foxnb at scale", "## Machine", "## How it was"):
        assert heading in text
    assert "## The runs store: many writers" in text
    assert re.search(r"8 cells by four `foxnb worker` processes: wall ÷ ideal \| \d", text)

    clients = figures["clients"]
    assert set(clients) == set(CLIENTS)
    for name, f in clients.items():
        expected_jobs = 1 if name == "sequential" else 6
        assert f["jobs"] == expected_jobs and f["jobs_not_completed"] == 0, name
        assert f["requests"]["creates"] == expected_jobs, name
        assert f["requests"]["downloads"] == expected_jobs, name
        assert f["requests"]["error_answers"] == 0, name
        assert 1 <= f["task_gets_median"] <= f["task_gets_max"], name
        assert 0 <= f["latency_p50_pct"] <= f["latency_p95_pct"], name
    for name in ("foxnb", "fixed_interval"):  # measured against their own last completion
        assert clients[name]["wall_over_ideal"] >= 1.0, name
    assert clients["sequential"]["wall_extrapolated_s"] > clients["sequential"]["wall_s"]
    assert clients["foxnb"]["main_thread"]["iterations"] > 0

    memory, ledger = figures["memory"], figures["ledger"]
    assert memory["statuses"] == {"completed": 20}
    assert memory["most_tracked_at_once"] == 20 and memory["rss_growth_mb"] > 0
    assert memory["video_process_peak_private_mb"] > 0  # it decoded the results
    assert memory["memory_growth_mb"] >= memory["rss_growth_mb"]
    assert memory["beside"]["iterations"] > 0 and memory["beside"]["max_gap_ms"] >= 1.0
    held = memory["main_thread"]
    # the share is the gap less CPU wait at most, and the report's worst gap is the largest
    assert 0 <= held["max_gap_foxnb_share_ms"] <= held["max_gap_without_cpu_wait_ms"]
    assert held["worst_gaps_foxnb_share"][0]["share_ms"] == held["max_gap_foxnb_share_ms"]
    assert ledger["rows"] == [200] and ledger["events"] > 200
    scored = figures["scoring"]["sizes"]
    assert set(scored) == {"720p", "1080p"}
    for size in scored.values():
        assert len(size["cpu_s"]) == 1 and size["cpu_s_median"] > 0
        assert size["scores"]["duration_ok"] and not size["scores"]["cut_at_seam"]
    chained = figures["chain"]
    assert chained["runs"] == 3 and chained["statuses"] == ["completed"], chained
    store = figures["store"]
    for kind in ("sqlite", "postgres"):
        for phase in ("one_process", "four_workers"):
            assert store[kind][phase]["completed"] == 8, (kind, phase)
            assert (
                store[kind][phase]["tasks"] == 8 and store[kind][phase]["runs_with_two_tasks"] == 0
            )
        assert store[kind]["costs"]["rows"] == 300 and store[kind]["loop"]["link"]["jobs"] == 80
