"""One writer of a shared runs store, as a process of its own, for ``test_many_writers.py``.

    FOXAPI_API_KEY=... FOXAPI_BASE_URL=... python tests/writer_child.py '{"do": "sweep", ...}'

The command (JSON) names the action, the work folder, the store, the clip and the grid. The
child connects, prints ``READY``, and — with ``"go": true`` — waits for a line on stdin before
acting, so the test can start several writers at the same moment. It prints ``SWEPT <run ids>``
once a sweep call returned, and a last line of JSON: the run ids it worked on or watched.

Actions:

- ``sweep``: ``fx.sweep(...)`` and wait for every cell (``launch: false``: record only);
- ``resume``: ``fx.resume()`` and wait for every job;
- ``two_sessions``: two sessions of this process start the same sweep from two threads;
- ``threads_resume``: one session, ``fx.resume()`` from two threads at once;
- ``resume_twice``: ``fx.resume()`` twice in a row.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from typing import Any

import foxnb
from foxnb.errors import FoxError

WAIT_S = 120.0


def wait_all(jobs: list[foxnb.Job]) -> None:
    for job in jobs:
        # A run that ended without a video is no error here: the test reads why from the store.
        with contextlib.suppress(FoxError):
            job.wait(WAIT_S)


def session(cmd: dict[str, Any]) -> foxnb.Session:
    return foxnb.connect(
        workdir=cmd["workdir"], store=cmd["store"], quiet=True, rate_per_s=cmd.get("rate", 200.0)
    )


def sweep(fx: foxnb.Session, cmd: dict[str, Any]) -> foxnb.Sweep:
    result = fx.sweep(cmd["clip"], name=cmd["name"], launch=cmd.get("launch", True), **cmd["grid"])
    assert isinstance(result, foxnb.Sweep)
    print("SWEPT " + " ".join(result.run_ids), flush=True)
    return result


def in_threads(*actions: Any) -> list[Any]:
    """Run the actions in threads that start at the same moment; their results."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = actions[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def main() -> None:
    cmd = json.loads(sys.argv[1])
    fx = session(cmd)
    other = session(cmd) if cmd["do"] == "two_sessions" else None
    print("READY", flush=True)
    if cmd.get("go"):
        sys.stdin.readline()
    touched: list[str] = []
    if cmd["do"] == "sweep":
        done = sweep(fx, cmd)
        wait_all(done.jobs)
        touched = done.run_ids
    elif cmd["do"] == "resume":
        jobs = fx.resume()
        wait_all(jobs)
        touched = [job.run_id for job in jobs]
    elif cmd["do"] == "two_sessions":
        assert other is not None
        sweeps = in_threads(lambda: sweep(fx, cmd), lambda: sweep(other, cmd))
        for each in sweeps:
            wait_all(each.jobs)
        assert sweeps[0].run_ids == sweeps[1].run_ids, "two sets of cells"
        touched = sweeps[0].run_ids
        other.close()
    elif cmd["do"] == "threads_resume":
        both = in_threads(fx.resume, fx.resume)
        for jobs in both:
            wait_all(jobs)
        touched = [job.run_id for jobs in both for job in jobs]
    elif cmd["do"] == "resume_twice":
        first = fx.resume()
        second = fx.resume()
        wait_all(first + second)
        touched = [job.run_id for job in first + second]
    else:
        raise ValueError(cmd["do"])
    fx.close()
    print(json.dumps({"touched": touched}), flush=True)


if __name__ == "__main__":
    main()
