"""Command line for the simulator: ``python -m foxnb.sim [options]``.

Starts a simulator, prints the base URL and API key to use, and serves until Ctrl-C (SIGINT)
or SIGTERM, then stops cleanly (running renders finish, the state folder's lock is released)::

    python -m foxnb.sim --port 8765 --speed 10 --fault rate_limit=0.1 --state-dir ./sim-state
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .faults import Faults
from .intake import DEFAULT_MAX_FILE_BYTES
from .payloads import RESULT_SHAPES
from .server import Simulator
from .store import StateDirInUseError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m foxnb.sim`` (also used by ``foxnb sim``)."""
    parser = argparse.ArgumentParser(
        prog="python -m foxnb.sim",
        description="Serve a local FoxAPI simulator (veo-3.1-extend / -fast) until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one")
    parser.add_argument("--speed", type=float, default=1.0, help="time speed-up factor")
    parser.add_argument("--api-key", help="key to accept (default: stored or generated sk-sim-…)")
    parser.add_argument("--seed", type=int, default=0, help="seed for ids, durations and seeds")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="random fault setting, repeatable: rate_limit=0.2, retry_after_s=1, "
        "rate_limit_rps=5, error_500=0.1, error_503=0.1, latency_s=0.1-0.5, drop=0.05, "
        "lost_response=0.05, task_failure=0.1, failure_code=generation_failed, "
        "empty_results=0.2, edge_html=0.01, truncated=0.01, endpoints=create,task, "
        "defect=0.3 (flawed results), defect_kinds=cut,prefix,flicker,color_drift,short,no_audio",
    )
    parser.add_argument("--fault-seed", type=int, default=0, help="seed of the fault RNG")
    parser.add_argument("--state-dir", type=Path, help="keep tasks and files here across restarts")
    parser.add_argument("--balance-credits", type=int, default=10_000, help="starting credits")
    parser.add_argument("--result-shape", choices=RESULT_SHAPES, default="results")
    parser.add_argument("--upstream-lag-s", type=float, default=2.0, help="sim seconds of lag")
    parser.add_argument("--result-ttl-s", type=float, help="wall seconds result URLs stay valid")
    parser.add_argument(
        "--max-file-bytes",
        type=int,
        default=DEFAULT_MAX_FILE_BYTES,
        help="upload file-size limit, answered with a JSON 413 (default 100 MiB)",
    )
    parser.add_argument(
        "--edge-max-body-bytes",
        type=int,
        help="the edge's request-body limit, answered with an HTML 413 page (default: none)",
    )
    parser.add_argument(
        "--fetch-remote-uploads",
        action="store_true",
        help="let /v1/files/upload/url fetch from hosts other than loopback",
    )
    parser.add_argument(
        "--distinct-results",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="render each distinct (input, prompt, seed, audio) on its own (default); "
        "--no-distinct-results gives every task of one input a shared rendering, for load "
        "tests and benchmarks (timelines unchanged)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator from command-line arguments; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        faults = Faults.parse(args.fault)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        sim = Simulator(
            api_key=args.api_key,
            port=args.port,
            host=args.host,
            speed=args.speed,
            faults=faults,
            fault_seed=args.fault_seed,
            seed=args.seed,
            state_dir=args.state_dir,
            balance_credits=args.balance_credits,
            result_shape=args.result_shape,
            upstream_lag_s=args.upstream_lag_s,
            result_ttl_s=args.result_ttl_s,
            max_file_bytes=args.max_file_bytes,
            max_upload_bytes=args.edge_max_body_bytes,
            fetch_remote_uploads=args.fetch_remote_uploads,
            distinct_results=args.distinct_results,
            quiet=not args.verbose,
        )
    except StateDirInUseError as exc:  # another simulator serves that folder: say so, briefly
        print(f"foxnb sim: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    # Handlers of our own, as servers have: Python leaves SIGINT ignored when the process
    # started with it ignored (a background job of a shell script), and SIGTERM would kill the
    # process without stopping the simulator. Only the main thread may set them.
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda _signum, _frame: stop.set())
    with sim:
        print(f"FoxAPI simulator serving at {sim.url} (speed x{args.speed:g})", flush=True)
        print(f"  export FOXAPI_BASE_URL={sim.url}", flush=True)
        print(f"  export FOXAPI_API_KEY={sim.api_key}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
        print("Stopping.", flush=True)
    return 0
