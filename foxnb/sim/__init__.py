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
serves their files. With ``FOXNB_SIM_SHARED_RENDERS=<folder>`` in the environment, every
simulator also keeps a copy of each new render in that folder and copies one it finds there
instead of encoding it again (the test suite shares one folder per run).

**Faithful** (from FoxAPI's documentation): endpoints and paths, including
``/v1/files/upload/url`` (documented on the upload pages; the body's key names ``url`` and
``file_name`` are the ones a public client sends), bearer auth, request fields and their
validation, the create and task JSON shapes, the status flow, the error body
``{"error": {"message", "type", "code"?}}`` and its types and HTTP statuses (413
``file_too_large_error`` for an upload over the file-size limit, as FoxAPI's OpenAPI lists),
task error ``{"code", "message", "type": "task_error"}``, the task-id format, upload response
fields and ``auto_cleanup`` (evict oldest vs 403), 24 h result URLs, the fixed 7 s extension,
and the 720p/1080p, 16:9/9:16 input constraints.

**aspect_ratio**: answered, not honoured. An extension continues the input's own picture,
and the simulator's result is the input followed by the new seconds in one file, so an output
shape other than the input's cannot exist (honouring it would mean cropping or padding the
input part, so the result's first part would no longer be the input). A create whose
``aspect_ratio`` contradicts the input (its displayed shape, rotation flag included) is
therefore a 422 ``invalid_parameter`` naming ``aspect_ratio``, as FoxAPI answers invalid
parameter values. The simulator can see the input at create time when it is one of its own
uploads or results (almost always: clients upload first or chain results); for any other URL
the same check runs once the task has fetched the input, and fails the task with
``aspect_ratio_mismatch``. A request without ``aspect_ratio`` takes the input's shape, so
clients that leave it out keep working with portrait clips.

**Invented** (the docs are silent; choices explained in the module that makes them): timings
and credit prices (:mod:`~foxnb.sim.catalog`); the result being the input plus 7 s in one file
(:mod:`~foxnb.sim.render`); task failure codes ``video_fetch_failed``,
``video_decode_failed`` and ``aspect_ratio_mismatch``; ``video`` accepted as an alias of
``video_url``; a fresh result URL on re-query after expiry (:mod:`~foxnb.sim.signing`);
``usage.credits_consumed`` and ``task_info`` in the task JSON, the requested model name echoed
back (:mod:`~foxnb.sim.payloads`); the 403 ``storage_quota_exceeded`` body; 2 GB storage quota;
the 100 MiB file-size limit (JSON 413; the edge's HTML 413 only when configured or injected);
``/v1/files/upload/url`` fetching loopback URLs only unless ``fetch_remote_uploads=True``, and
its 422 codes ``url_not_allowed`` / ``url_fetch_failed`` (:mod:`~foxnb.sim.intake`); CORS
headers on every response and unauthenticated preflights (:mod:`~foxnb.sim.cors`); ``param``
on 422 errors; ``Retry-After`` only when configured; no cancel endpoint (``cancelled`` appears
only when a test calls ``sim.backend.cancel_task``). Failed tasks' messages never show the
simulator's local paths.
"""

from .cli import main
from .faults import Faults
from .server import Simulator

__all__ = ["Faults", "Simulator", "main"]
