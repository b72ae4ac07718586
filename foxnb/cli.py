"""The ``foxnb`` command: run the simulator, extend a clip, list and resume runs.

foxnb demo                         # make a sample clip and extend it on the simulator
foxnb extend "Keep panning" --video clip.mp4 --seed 7
foxnb runs                         # the runs in ./foxnb-runs, compactly (--all: every column)
foxnb resume                       # finish runs a crash or restart left behind
foxnb sim --port 8765 --speed 10   # a standalone simulator (see ``foxnb sim --help``)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .errors import FoxError
from .experiments.runs_view import RunsFrame
from .models import ASPECT_RATIOS, MODELS
from .runtime.jobs import Job
from .runtime.ledger import Ledger
from .sample import make_sample_clip
from .session import Session, connect
from .widgets.text import print_progress as _progress_printer


def _finish(jobs: Sequence[Job]) -> int:
    failures = 0
    for job in jobs:
        try:
            job.wait()
            print(f"{job.run_id}: video saved to {job.video_path}")
        except FoxError as exc:
            failures += 1
            print(f"{job.run_id}: {job.status}: {exc}", file=sys.stderr)
    return 1 if failures else 0


def _extend(fx: Session, args: argparse.Namespace) -> int:
    job = fx.extend(
        args.prompt,
        args.video,
        model=args.model,
        aspect_ratio=args.aspect_ratio,
        generate_audio=not args.no_audio,
        seed=args.seed,
        negative_prompt=args.negative_prompt,
        safety_tolerance=args.safety_tolerance,
        tags=args.tag or None,
    )
    _watch(job)
    return _finish([job])


def _demo(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir)
    clip = workdir / "samples" / "sample-720p.mp4"
    if not clip.exists():
        clip.parent.mkdir(parents=True, exist_ok=True)
        make_sample_clip(clip, duration_s=2.0)
        print(f"made a 2 s 1280x720 sample clip: {clip}")
    from .sim import Simulator

    with Simulator(speed=args.speed, state_dir=workdir.resolve() / ".sim") as sim:
        fx = connect(simulator=sim, workdir=workdir)
        job = fx.extend(args.prompt, clip, seed=args.seed)
        _watch(job)
        return _finish([job])


def _runs(args: argparse.Namespace) -> int:
    """Print the recorded runs. Only reads: no simulator or connection is started, so it
    works while a notebook's session holds the folder."""
    workdir = Path(args.workdir).expanduser()
    if not workdir.is_dir():  # nothing to read; do not create the folder
        print(f"no runs in {workdir.resolve()} (no such folder)")
        return 0
    df = RunsFrame(Ledger(workdir).dataframe())
    if args.status:
        df = df[df["status"] == args.status]
    if df.empty:
        print(
            f"no runs in {workdir.resolve()}"
            + (f" with status {args.status}" if args.status else "")
        )
    elif args.all:
        with pd.option_context("display.max_columns", None, "display.width", None):
            print(df.full().to_string(index=False, max_colwidth=40))
    else:
        print(repr(df))
    return 0


def _watch(job: Job) -> None:
    """Progress as lines when output is not a terminal (job.wait() draws one line on one)."""
    if not sys.stdout.isatty():
        _progress_printer(job)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="foxnb", description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default="foxnb-runs", help="run ledger folder")
    sub = parser.add_subparsers(dest="command", required=True)

    ext = sub.add_parser("extend", help="extend a video by 7 s (real service if a key is set)")
    ext.add_argument("prompt")
    ext.add_argument("--video", required=True, help="local file or http(s) URL")
    ext.add_argument("--model", default=MODELS[0], choices=MODELS)
    ext.add_argument("--aspect-ratio", choices=ASPECT_RATIOS, default=None)
    ext.add_argument("--seed", type=int, default=None)
    ext.add_argument("--negative-prompt", default=None)
    ext.add_argument("--safety-tolerance", type=int, default=None)
    ext.add_argument("--no-audio", action="store_true")
    ext.add_argument("--tag", action="append", default=[])

    demo = sub.add_parser("demo", help="extend a generated sample clip on the simulator")
    demo.add_argument("--prompt", default="The camera keeps drifting over the hills at dusk")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--speed", type=float, default=10.0, help="simulator speed factor")

    runs = sub.add_parser("runs", help="list recorded runs (reads only; starts nothing)")
    runs.add_argument("--status", default=None, help="only runs with this status")
    runs.add_argument("--all", action="store_true", help="every column, not the compact view")

    sub.add_parser("resume", help="re-attach unfinished runs and wait for them")
    sub.add_parser("sim", help="run a standalone FoxAPI simulator", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``foxnb`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "sim" in argv[:1]:
        from .sim import main as sim_main

        return sim_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "runs":
            return _runs(args)
        if args.command == "demo":
            return _demo(args)
        fx = connect(workdir=args.workdir)
        if args.command == "extend":
            return _extend(fx, args)
        jobs = fx.resume()
        print(f"resumed {len(jobs)} run(s)")
        for job in jobs:
            _watch(job)
        return _finish(jobs)
    except FoxError as exc:
        print(f"foxnb: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        from .sim.store import StateDirInUseError  # loaded only when it can be the cause

        if not isinstance(exc, StateDirInUseError):
            raise
        # The simulator's folder is held by another session (a notebook kernel): one line.
        print(f"foxnb: {exc} (foxnb runs reads the runs without it)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
