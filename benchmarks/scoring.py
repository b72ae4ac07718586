"""Scoring speed: the CPU time ``score_extension`` takes on a 9 s 720p and a 9 s 1080p result.

``python -m benchmarks.scoring`` (about 20 s) prints the figures and whether they meet the
targets (0.5 s of CPU for 720p, 1 s for 1080p); ``--json`` prints them as JSON instead, which
is how ``./dev bench`` runs it, in a fresh process, as one phase of the sweep benchmark.

For each size: a 2 s, 24 fps sample clip (``foxnb.sample``), extended by the simulator's
renderer to the merged 9 s result a real extension returns (the input, then 7 s of camera move
over its last frame), then ``score_extension(clip, result, generate_audio=True)`` timed
``--repeats`` times in this process. The figure is process CPU time (every thread counts; the
scorer uses one), median of the runs; one untimed call before them loads the codecs. Wall time
is given too: on a busy machine it is the one that grows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from foxnb.sample import make_sample_clip
from foxnb.scores import score_extension
from foxnb.sim.render import render_extension

#: CPU seconds allowed to score one 9 s result (issue 13).
TARGETS_CPU_S = {"720p": 0.5, "1080p": 1.0}
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
INPUT_S = 2.0
INPUT_FPS = 24


def make_result(folder: Path, label: str) -> tuple[Path, Path]:
    """A sample clip of ``INPUT_S`` at the size ``label`` names, and its simulated result."""
    width, height = SIZES[label]
    clip = make_sample_clip(
        folder / f"clip-{label}.mp4",
        width=width,
        height=height,
        duration_s=INPUT_S,
        fps=INPUT_FPS,
    )
    result = folder / f"result-{label}.mp4"
    render_extension(clip, result, prompt="the camera drifts left", seed=3, generate_audio=True)
    return clip, result


def time_scoring(clip: Path, result: Path, repeats: int) -> dict[str, Any]:
    """Score ``result`` ``repeats`` times (after one untimed call); CPU and wall seconds."""
    scores = score_extension(clip, result, generate_audio=True)
    cpu_s, wall_s = [], []
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        score_extension(clip, result, generate_audio=True)
        cpu_s.append(time.process_time() - cpu)
        wall_s.append(time.perf_counter() - wall)
    return {
        "cpu_s": cpu_s,
        "wall_s": wall_s,
        "cpu_s_median": statistics.median(cpu_s),
        "wall_s_median": statistics.median(wall_s),
        "result_mb": result.stat().st_size / 1024**2,
        "scores": scores.as_fields(),
    }


def run(folder: Path, repeats: int) -> dict[str, Any]:
    """Every size's figures, the targets, and the load on the machine when it started."""
    figures: dict[str, Any] = {
        "repeats": repeats,
        "input_s": INPUT_S,
        "input_fps": INPUT_FPS,
        "load_average_at_start": os.getloadavg(),
        "targets_cpu_s": TARGETS_CPU_S,
        "sizes": {},
    }
    for label in SIZES:
        clip, result = make_result(folder, label)
        figures["sizes"][label] = time_scoring(clip, result, repeats)
    return figures


def misses(figures: dict[str, Any]) -> list[str]:
    """The targets missed, in words (empty: all met)."""
    return [
        f"scoring a 9 s {label} result: {size['cpu_s_median']:.2f} s CPU > {TARGETS_CPU_S[label]} s"
        for label, size in figures["sizes"].items()
        if size["cpu_s_median"] > TARGETS_CPU_S[label]
    ]


def describe(figures: dict[str, Any]) -> str:
    """The figures as a few lines of text."""
    load = ", ".join(f"{x:.2f}" for x in figures["load_average_at_start"])
    lines = [f"scoring a 9 s simulator result (load average {load} when it started):"]
    for label, size in figures["sizes"].items():
        target = TARGETS_CPU_S[label]
        verdict = "meets" if size["cpu_s_median"] <= target else "MISSES"
        lines.append(
            f"  {label}: {size['cpu_s_median']:.3f} s CPU, {size['wall_s_median']:.3f} s wall "
            f"(median of {figures['repeats']}; CPU range {min(size['cpu_s']):.3f}-"
            f"{max(size['cpu_s']):.3f} s; {size['result_mb']:.2f} MB) - {verdict} the "
            f"{target:g} s target"
        )
    return "\n".join(lines)


def table_rows(figures: dict[str, Any]) -> list[str]:
    """Rows for the "foxnb at scale" table of ``docs/benchmark.md`` (measure | result | target)."""
    rows = []
    for label, size in figures["sizes"].items():
        target = TARGETS_CPU_S[label]
        mark = "✓" if size["cpu_s_median"] <= target else "✗ missed"
        cpu = ", ".join(f"{x:.2f}" for x in size["cpu_s"])
        rows.append(
            f"| scoring one 9 s {label} result (`score_extension`, CPU) | "
            f"{size['cpu_s_median']:.2f} s (median of {figures['repeats']}: {cpu} s; wall "
            f"{size['wall_s_median']:.2f} s) | ≤ {target:g} s {mark} |"
        )
    return rows


def method(figures: dict[str, Any]) -> str:
    """The "how it was measured" paragraph of ``docs/benchmark.md``."""
    return (
        f"**Scoring.** In a fresh process (`python -m benchmarks.scoring`): a "
        f"{figures['input_s']:g} s, {figures['input_fps']} fps sample clip at 1280x720 and at "
        "1920x1080, each extended by the simulator's renderer to the merged 9 s result (the "
        "input, then 7 s of camera move over its last frame; H.264 at CRF 26), then "
        "`score_extension(clip, result, generate_audio=True)` called once untimed and "
        f"{figures['repeats']} times timed. The figure is the process's CPU time per call "
        "(`time.process_time()`, all threads; the scorer decodes on one), median of the calls."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per size (7)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="foxnb-scoring-") as work:
        figures = run(Path(work), max(1, args.repeats))
    print(json.dumps(figures) if args.json else describe(figures))
    missed = misses(figures)
    if missed:
        print("MISSED: " + "; ".join(missed), file=sys.stderr)
    return 1 if missed and args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
