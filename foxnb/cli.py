"""The ``foxnb`` command: run the simulator, extend a clip, list and resume runs.

foxnb demo                         # make a sample clip and extend it on the simulator
foxnb extend "Keep panning" --video clip.mp4 --seed 7
foxnb sweep spec.toml              # a sweep from a TOML file (the fields of fx.sweep)
foxnb sweep spec.toml --record-only  # ... recorded for workers, nothing sent here
foxnb worker --store URL [--experiment NAME]   # claim and run cells until none are left
foxnb runs                         # the runs in ./foxnb-runs, compactly (--all: every column)
foxnb resume                       # finish runs a crash or restart left behind
foxnb sim --port 8765 --speed 10   # a standalone simulator (see ``foxnb sim --help``)

``--store`` (or ``FOXNB_STORE``) names the runs store: a SQLite file, or ``postgresql://…``
shared by machines; without it, ``runs.db`` in ``--workdir``.
"""

from __future__ import annotations

import argparse
import functools
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .config import store_from_env
from .errors import FoxError
from .experiments.runs_view import RunsFrame
from .experiments.sweep import Sweep
from .experiments.sweep_spec import load_spec
from .models import ASPECT_RATIOS, MODELS
from .runtime.jobs import Job
from .runtime.store import open_store
from .runtime.tracker import LEASE_S
from .runtime.worker import HOLD, work
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
    spec = args.store or store_from_env()
    if spec is None and not workdir.is_dir():  # nothing to read; do not create the folder
        print(f"no runs in {workdir.resolve()} (no such folder)")
        return 0
    with open_store(spec, workdir) as store:
        df = RunsFrame(store.dataframe())
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


def _sweep(fx: Session, spec: dict[str, Any], args: argparse.Namespace) -> int:
    result = fx.sweep(**spec, dry_run=args.dry_run, launch=not args.record_only)
    if not isinstance(result, Sweep):
        print(repr(result))
        return 0
    if args.record_only:
        print(
            f"recorded sweep {result.name!r}: {len(result.run_ids)} cells in "
            f"{fx.store.location}; start workers with: foxnb worker --store ... "
            f"--experiment {result.name}"
        )
        return 0
    result.wait()
    print(repr(result))
    return 0 if all(job.status == "completed" for job in result.jobs) else 1


def _worker(fx: Session, args: argparse.Namespace) -> int:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    owner = fx.tracker.owner
    print(f"foxnb worker {owner}: claiming runs from {fx.store.location}", flush=True)

    said: set[str] = set()

    def ended(job: Job) -> None:
        if job.done and job.run_id not in said:
            said.add(job.run_id)
            print(f"{job.run_id}: {job.status}", flush=True)

    def taken(job: Job) -> None:
        if not args.quiet:
            job.on_update(ended)

    report = work(
        fx.tracker,
        experiment=args.experiment,
        hold=args.hold,
        on_job=taken,
        should_stop=stop.is_set,
    )
    counts = ", ".join(f"{status} {n}" for status, n in sorted(report.counts.items()))
    print(f"foxnb worker {owner}: {len(report.jobs)} runs ({counts or 'none'})", flush=True)
    return 130 if stop.is_set() else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="foxnb", description=__doc__.split("\n")[0])
    _where_arguments(parser, defaults={"workdir": "foxnb-runs", "store": None, "videos": None})
    # The same options after the command (``foxnb worker --store URL``); given there, they win.
    where = argparse.ArgumentParser(add_help=False)
    _where_arguments(where, defaults=None)
    sub = parser.add_subparsers(dest="command", required=True)
    sub_parser = functools.partial(sub.add_parser, parents=[where])

    ext = sub_parser("extend", help="extend a video by 7 s (real service if a key is set)")
    ext.add_argument("prompt")
    ext.add_argument("--video", required=True, help="local file or http(s) URL")
    ext.add_argument("--model", default=MODELS[0], choices=MODELS)
    ext.add_argument("--aspect-ratio", choices=ASPECT_RATIOS, default=None)
    ext.add_argument("--seed", type=int, default=None)
    ext.add_argument("--negative-prompt", default=None)
    ext.add_argument("--safety-tolerance", type=int, default=None)
    ext.add_argument("--no-audio", action="store_true")
    ext.add_argument("--tag", action="append", default=[])

    demo = sub_parser("demo", help="extend a generated sample clip on the simulator")
    demo.add_argument("--prompt", default="The camera keeps drifting over the hills at dusk")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--speed", type=float, default=10.0, help="simulator speed factor")

    runs = sub_parser("runs", help="list recorded runs (reads only; starts nothing)")
    runs.add_argument("--status", default=None, help="only runs with this status")
    runs.add_argument("--all", action="store_true", help="every column, not the compact view")

    sub_parser("resume", help="re-attach unfinished runs and wait for them")

    sweep = sub_parser("sweep", help="start a sweep written as a TOML file (fx.sweep fields)")
    sweep.add_argument("spec", help="the TOML file")
    sweep.add_argument("--dry-run", action="store_true", help="show the plan, send nothing")
    sweep.add_argument(
        "--record-only", action="store_true", help="record the cells for workers; send nothing"
    )

    worker = sub_parser("worker", help="claim and run cells until none are left")
    worker.add_argument("--experiment", default=None, help="only runs of this experiment")
    worker.add_argument("--hold", type=int, default=HOLD, help="unsent runs held at once")
    worker.add_argument("--lease-s", type=float, default=LEASE_S, help="lease of a claim (s)")
    worker.add_argument("--rate-per-s", type=float, default=10.0, help="requests per second")
    worker.add_argument("--quiet", action="store_true", help="no line per finished run")
    sub.add_parser("sim", help="run a standalone FoxAPI simulator", add_help=False)
    return parser


def _where_arguments(parser: argparse.ArgumentParser, defaults: dict[str, Any] | None) -> None:
    """``--workdir``, ``--store`` and ``--videos``; without ``defaults`` an option not given is
    left out of the result (so it does not hide the same option given before the command)."""

    def default(name: str) -> Any:
        return argparse.SUPPRESS if defaults is None else defaults[name]

    parser.add_argument("--workdir", default=default("workdir"), help="work folder (runs, videos)")
    parser.add_argument(
        "--store",
        default=default("store"),
        help="runs store: a SQLite file or postgresql://… (FOXNB_STORE)",
    )
    parser.add_argument("--videos", default=default("videos"), help="where results are saved")


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
        spec = load_spec(args.spec) if args.command == "sweep" else {}  # checked first
        options = {}
        if args.command == "worker":
            options = {"lease_s": args.lease_s, "rate_per_s": args.rate_per_s}
        fx = connect(
            workdir=args.workdir,
            store=args.store,
            videos=args.videos,
            quiet=args.command == "worker",
            **options,
        )
        if args.command == "worker":
            try:
                return _worker(fx, args)
            finally:
                fx.close()
        if args.command == "sweep":
            return _sweep(fx, spec, args)
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
