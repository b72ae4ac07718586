"""A local FoxAPI simulator for veo-3.1-extend and veo-3.1-extend-fast, serving real HTTP.

Start one in Python (a daemon thread on 127.0.0.1, a free port)::

    from foxnb.sim import Simulator, Faults

    with Simulator(speed=20) as sim:
        print(sim.url, sim.api_key)   # use as FOXAPI_BASE_URL / FOXAPI_API_KEY
        ...

or from a shell, serving until Ctrl-C::

    python -m foxnb.sim --port 8765 --speed 10 --fault rate_limit=0.1 --state-dir ./sim-state

**Speed.** ``speed`` divides every simulated duration: a standard extend takes about 90 s at
``speed=1`` (fast: 45 s), 0.7–1.4× that per task, 5–10 % of it pending; result URLs stay
valid 24 h / speed; queries without ``sync_upstream=true`` lag by 2 s / speed. Rendering the
real MP4 takes 1–3 s of CPU whatever the speed, and completion waits for it.
``distinct_results=False`` (``--no-distinct-results``) gives every task of one input a shared
rendering, for load tests and the benchmark; timelines are unchanged.

**Faults.** ``Faults(rate_limit=0.2, retry_after_s=1, lost_response=0.05, ...)`` with
``fault_seed`` gives reproducible random faults (``--fault KEY=VALUE`` / ``--fault-seed`` on
the command line); ``sim.inject("create", "lost_response")``, ``sim.inject("task", "500",
count=3)``, ``sim.inject("create", "429", retry_after_s=1.5)``,
``sim.inject("download", "expired")`` script one-shot faults, consumed in order per endpoint.
See :mod:`foxnb.sim.faults` for the full list.

**Output defects.** ``sim.inject("create", "defect", defect="cut")`` (or ``Faults(defect=0.2)``
for a seeded random rate) makes a task complete normally with a flawed result: a hard ``cut``
at the seam, an altered ``prefix``, ``flicker``, ``color_drift``, a ``short`` new part or
``no_audio``. ``sim.backend.task(task_id).defect`` is the ground truth; see
:mod:`foxnb.sim.defects`. Clean results are unchanged.

**State.** ``state_dir=`` keeps tasks, uploads and results on disk; a new simulator on the
same directory (another process, another port) continues the tasks on the wall clock and
serves their files.

**Faithful** (from FoxAPI's documentation): endpoints and paths, bearer auth, request fields
and their validation, the create and task JSON shapes, the status flow, the error body
``{"error": {"message", "type", "code"?}}`` and its types and HTTP statuses, task error
``{"code", "message", "type": "task_error"}``, the task-id format, upload response fields and
``auto_cleanup`` (evict oldest vs 403), 24 h result URLs, the fixed 7 s extension, and the
720p/1080p, 16:9/9:16 input constraints.

**Invented** (the docs are silent; choices explained in the module that makes them): timings
and credit prices (:mod:`~foxnb.sim.catalog`); the result being the input plus 7 s in one file
(:mod:`~foxnb.sim.render`); task failure codes ``video_fetch_failed`` and
``video_decode_failed``; ``video`` accepted as an alias of ``video_url``; a fresh result URL
on re-query after expiry (:mod:`~foxnb.sim.signing`); ``usage.credits_consumed`` and
``task_info`` in the task JSON, the requested model name echoed back
(:mod:`~foxnb.sim.payloads`); the 403 ``storage_quota_exceeded`` body; 2 GB storage quota and
100 MB edge body limit; ``param`` on 422 errors; ``Retry-After`` only when configured; no
cancel endpoint (``cancelled`` appears only when a test calls ``sim.backend.cancel_task``).
"""

from .cli import main
from .faults import Faults
from .server import Simulator

__all__ = ["Faults", "Simulator", "main"]
