"""Promises checked in a fresh interpreter: import hygiene, and the engine's gc.freeze."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import foxnb

ROOT = Path(foxnb.__file__).parent


def test_import_has_no_side_effects() -> None:
    """Importing foxnb starts no thread, no server and loads no heavy library: each public name
    is loaded on first use, and the simulator alone never loads pandas."""
    heavy = "('uvicorn', 'ipywidgets', 'pandas', 'httpx')"
    code = (
        "import threading, sys, foxnb;"
        f"print(threading.active_count(), *(m in sys.modules for m in {heavy}));"
        "import foxnb.sim; print('pandas' in sys.modules);"
        "foxnb.connect; print('pandas' in sys.modules, foxnb.connect is foxnb.session.connect)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "False", "False", "False", "False", "False", "True", "True"]


def test_engine_start_freezes_the_objects_alive_then() -> None:
    """Not on import; when the engine starts, so full collections skip long-lived objects."""
    code = (
        "import gc, foxnb;"
        "before = gc.get_freeze_count();"
        "from foxnb.runtime.engine import get_engine; get_engine();"
        "print(before, gc.get_freeze_count() > 1000)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "True"]


def test_the_installed_version_is_the_one_in_version_py() -> None:
    """pyproject.toml reads the version from foxnb/_version.py: the two cannot disagree."""
    assert importlib.metadata.version("foxnb") == foxnb.__version__


BUSY_FREEZE = """
import asyncio, gc, sys, time
from foxnb.runtime import engine

engine.BUSY_JOBS = 50
eng = engine.Engine()


async def make_gate():
    return asyncio.Event()


def frozen(*objects):  # in no generation: the freeze count alone also falls as frozen ones die
    ids = {id(o) for o in objects}
    return not any(id(o) in ids for g in range(3) for o in gc.get_objects(g))


gate = eng.call(make_gate())
futures = [eng.submit(gate.wait()) for _ in range(49)]
print("below", gc.get_freeze_count())
print("switch interval", sys.getswitchinterval())
futures.append(eng.submit(gate.wait()))
at_busy = gc.get_freeze_count()
print("busy", at_busy > 0, sys.getswitchinterval())
alive = [[n] for n in range(20000)]
gc.collect()
print("survivors frozen", frozen(alive, alive[0], alive[-1]))
young = [[n] for n in range(5000)]
gc.collect(1)
print("generation 1 too", frozen(young, young[0], young[-1]))
newest = [[n] for n in range(5000)]
gc.collect(0)
print("young ones too", frozen(newest, newest[0], newest[-1]))
thresholds = gc.get_threshold()
gc.set_threshold(100000)  # no young collection of CPython's own for a while: only the engine's
made = [[n] for n in range(3000)]
time.sleep(3 * engine.YOUNG_COLLECTION_EVERY_S)
in_a_generation = any(o is made for g in range(3) for o in gc.get_objects(g))
print("young ones collected by the engine", not in_a_generation)  # collected, then frozen
gc.set_threshold(*thresholds)
gc.disable()  # no collection until the check below: a full one after the thaw refreezes
eng.loop.call_soon_threadsafe(gate.set)
for future in futures:
    future.result(10)
deadline = time.monotonic() + 10  # the last future's done callback may still be running
while gc.get_freeze_count() and time.monotonic() < deadline:
    time.sleep(0.01)
print("thawed", gc.get_freeze_count(), sys.getswitchinterval())
gc.enable()
sys.setswitchinterval(0.002)  # the user's own choice: left alone
second = eng.call(make_gate())
futures = [eng.submit(second.wait()) for _ in range(50)]
print("busy again", gc.get_freeze_count() > 0, sys.getswitchinterval())
eng.loop.call_soon_threadsafe(second.set)
for future in futures:
    future.result(10)
while gc.get_freeze_count() and time.monotonic() < deadline + 10:
    time.sleep(0.01)
print("idle again", sys.getswitchinterval())
sys.setswitchinterval(0.005)
gc.collect()
after_idle = gc.get_freeze_count()
print("frozen once more", after_idle >= 20000)
more = [[n] for n in range(20000)]
gc.collect(1)
gc.collect()
# not frozen: still in a generation (frozen objects dying may lower the freeze count meanwhile)
print("then left alone", any(o is more for g in range(3) for o in gc.get_objects(g)))
"""


def test_a_busy_engine_freezes_what_survives_collections() -> None:
    """While many jobs run, survivors of any collection are frozen (the next one skips them) and
    the engine collects the young generation itself every 100 ms, and the thread switch interval
    is shortened (a user's own interval is kept); when the last job ends
    everything is thawed, the interval is CPython's again, and one more full collection
    refreezes, and only a full one does then."""
    out = subprocess.run(
        [sys.executable, "-c", BUSY_FREEZE], capture_output=True, text=True, check=True
    )
    assert out.stdout.splitlines() == [
        "below 0",
        "switch interval 0.005",
        "busy True 0.001",
        "survivors frozen True",
        "generation 1 too True",
        "young ones too True",
        "young ones collected by the engine True",
        "thawed 0 0.005",
        "busy again True 0.002",
        "idle again 0.002",
        "frozen once more True",
        "then left alone True",
    ]
