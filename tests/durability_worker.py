"""A foxnb process whose runs store becomes unwritable mid-run, for tests/system/test_durability.

    FOXAPI_API_KEY=... FOXAPI_BASE_URL=http://127.0.0.1:PORT \\
        python tests/durability_worker.py ledger WORKDIR CLIP PHASE

``PHASE`` is when the store stops taking writes: ``after-create`` (the create request is in
flight: its answer, the task id, cannot be written) or ``before-create`` (during the upload:
the create request must then not be sent). This process lowers its own RLIMIT_FSIZE to the
size of the store's largest file, its write-ahead log, so every commit fails with EFBIG; after
a second the limit is lifted; the worker prints one JSON line
with what it saw, then waits for the job (after ``before-create``: calls ``fx.resume()``) and
prints a second JSON line.

    python tests/durability_worker.py report WORKDIR REPORT_PATH
    python tests/durability_worker.py export WORKDIR EXPORT_PATH
    python tests/durability_worker.py form-upload WORKDIR

start writing a report (an export; or save a form upload) and block half-way, after
printing ``READY``, for the test to ``kill -9`` them.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

import foxnb
from foxnb.runtime.store import STORE_NAME


def wait_until(condition: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {condition}")
        time.sleep(0.002)


class Lock:
    """Makes the store unwritable (a file size limit on this process) and writable again."""

    def __init__(self, store: Path):
        self.files = [store, store.with_name(store.name + "-wal")]
        self.hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed

    def lock(self) -> None:
        largest = max(f.stat().st_size for f in self.files if f.exists())
        resource.setrlimit(resource.RLIMIT_FSIZE, (largest, self.hard))

    def unlock(self) -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.hard, self.hard))


def ledger_case(workdir: str, clip: str, phase: str) -> None:
    fx = foxnb.connect(workdir=workdir, quiet=True)
    lock = Lock(Path(workdir) / STORE_NAME)
    job = fx.extend("The camera keeps panning", clip, seed=1)
    if phase == "after-create":
        wait_until(lambda: job.status == "submitting")
    lock.lock()
    wait_until(lambda: job.warning is not None)
    if phase == "after-create":
        wait_until(lambda: job.task_id is not None)
    else:  # the warning may come first (the run's own first event waits too)
        wait_until(lambda: job.status == "not_submitted")
    time.sleep(1.0)  # the job carries on (polling) while the store refuses writes
    recorded = fx.store.task_ids(job.run_id)  # reads still work
    seen = {
        "task_id": job.task_id,
        "status": job.status,
        "warning": job.warning,
        "error_code": job.state.error_code,
        "task_id_in_ledger": bool(job.task_id) and str(job.task_id) in recorded,
        "done": job.done,
    }
    lock.unlock()
    print(json.dumps(seen), flush=True)
    if phase == "before-create":
        wait_until(lambda: job.done)  # its waiting records are written first
        jobs = fx.resume()
        for resumed in jobs:
            resumed.wait(60)
        job = jobs[0]
    else:
        job.wait(60)
    final = {"run_id": job.run_id, "status": job.status, "warning": job.warning}
    print(json.dumps({**final, "task_id": job.task_id, "sha256": job.sha256}), flush=True)


def folder_case(what: str, workdir: str, dest: str) -> None:
    """Start ``fx.report(..., overwrite=True)`` or ``fx.export(..., overwrite=True)`` and block
    once its videos are copied into the hidden folder it builds."""
    from foxnb.experiments import report as report_module
    from foxnb.experiments.export import files as export_module

    module: Any = report_module if what == "report" else export_module
    fx = foxnb.connect(workdir=workdir, quiet=True)
    real_copy = module.copy_videos

    def copy_then_block(*args: Any, **kwargs: Any) -> Any:
        copied = real_copy(*args, **kwargs)
        print("READY", flush=True)
        time.sleep(600)
        return copied

    module.copy_videos = copy_then_block
    if what == "report":
        fx.report("leftovers", dest, overwrite=True)
    else:
        fx.export(fx.runs(), dest, overwrite=True)


def form_upload_case(workdir: str) -> None:
    """Save a form upload, blocking before its temporary file is renamed into place."""
    from foxnb import _files
    from foxnb.widgets.form import save_upload

    def block(self: Any, dest: Any = None) -> str:
        self.flush()
        print("READY", flush=True)
        time.sleep(600)
        return ""

    _files.AtomicWriter.commit = block  # type: ignore[method-assign]
    save_upload(Path(workdir) / "inputs", "clip.mp4", b"\0" * (2 << 20))


def main() -> None:
    case, *args = sys.argv[1:]
    if case == "ledger":
        ledger_case(*args)
    elif case in ("report", "export"):
        folder_case(case, *args)
    else:
        form_upload_case(*args)


if __name__ == "__main__":
    main()
