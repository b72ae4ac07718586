"""``fx.chain()``: extend a clip, then extend the best result, hop after hop.

    chain = fx.chain("clip.mp4", prompts=["Dusk falls", "Night comes", "Dawn breaks"],
                     seed=1, best_of=3, pick="seam_jump", budget_credits=1000)
    chain                 # live: each hop's candidates; at the end a drift plot
    chain.wait()
    chain.video_path      # the last hop's chosen result: the whole clip, 2 s + 3 × 7 s
    chain.df              # every candidate, with its hop, scores and whether it was chosen
    chain.drift           # per hop: the chosen run's seam_jump and color_shift

Each hop extends the previous hop's chosen result with its prompt, ``best_of`` times (seeds
``seed``, ``seed + 1``, …). Every candidate is a recorded run (``experiment`` = the chain's
``name``, ``hop`` and ``candidate``, both counted from 1), scored as it completes; then one
is chosen (``foxnb.experiments.choose``): a candidate you starred, else the best by ``pick``
(``"seam_jump"`` — the smoothest seam — ``"color_shift"``, ``"seam_ssim"``, …), or with
``pick="manual"`` the one you star (``fx.star(run)`` or the ★ buttons of the chain's view).
``chain.wait()`` returns when the chain ends or needs your pick (``chain.needs_pick``).

Running the same chain again pays for nothing it already has: a hop whose prompt, input and
seeds match completed runs reuses them (no new run, 0 credits), so changing hop k's prompt
re-runs hop k and everything after it, and reuses the hops before. Runs still in flight from
an earlier call are re-attached, not resent. ``budget_credits`` caps what the chain's runs may
reserve in all, as for sweeps (the runs store's send rule, which holds for every writer).
After a crash or a kernel restart, ``fx.resume()`` continues the chain (its plan is kept in
``<workdir>/chains/``), or call ``fx.chain(...)`` again with the same arguments.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from .._html.drift import SvgImage, drift_svg
from ..errors import FoxError, JobTimeoutError
from ..runtime.jobs import Job
from ..runtime.reuse import IntactVideos
from ..runtime.store import SendRule
from ..runtime.tracker import Tracker
from .cells import cell_job, planning, record
from .chain_spec import ChainSpec, save_spec
from .choose import MANUAL, choose
from .outcomes import Judgements
from .plan import cell_requests, plan_cells

log = logging.getLogger("foxnb")

PICK_POLL_S = 0.5
"""How often a chain waiting for your star looks at the ledger (another kernel may star)."""
DRIFT_COLUMNS = ("seam_jump", "color_shift", "seam_ssim", "flicker", "prefix_psnr")


@dataclass
class Hop:
    """One hop: its prompt and input, its candidates' jobs, the chosen run and why.

    ``state``: ``waiting`` (an earlier hop is not done), ``running``, ``scoring``,
    ``picking`` (waiting for your star), ``done`` or ``stopped``.
    """

    index: int
    prompt: str
    input: str | None = None
    jobs: list[Job] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    chosen: str | None = None
    reason: str = ""
    state: str = "waiting"


class _Stopped(Exception):
    """Ends the driver with a reason (the chain's ``stopped``)."""


class Chain:
    """A running chain; see the module docstring. Made by ``fx.chain()``."""

    def __init__(self, tracker: Tracker, spec: ChainSpec, judgements: Judgements | None = None):
        self.spec = spec
        #: Where the view's ★ buttons record your picks (the session's).
        self.judgements = judgements
        self.name = spec.name
        self.pick = spec.pick
        self.hops = [Hop(i, prompt) for i, prompt in enumerate(spec.prompts)]
        #: Why the chain stopped before its last hop, or None.
        self.stopped: str | None = None
        self.axes = ["hop", "candidate"]
        self._tracker = tracker
        model = str(spec.fields.get("model", "veo-3.1-extend"))
        self._rule = SendRule(
            spec.name, backend=tracker.backend, models=frozenset({model}), per_writer=True
        )
        self._done = threading.Event()
        self._wake = threading.Event()
        # wait() asks the driver to look at the ledger again (request numbers); the driver
        # answers with the number it had when its look began, so a look that began before
        # a star was recorded never counts as having seen it.
        self._checked = threading.Condition()
        self._asked = 0
        self._answered = 0
        self._stop_asked: str | None = None
        self._callbacks: list[Callable[[Chain], None]] = []
        self._thread = threading.Thread(target=self._drive, name="foxnb-chain", daemon=True)

    # ------------------------------------------------------------------ reading

    @property
    def done(self) -> bool:
        """True once the chain has ended (every hop chosen, or stopped)."""
        return self._done.is_set()

    @property
    def needs_pick(self) -> Hop | None:
        """The hop waiting for you to star one of its candidates, if any."""
        return next((hop for hop in self.hops if hop.state == "picking"), None)

    @property
    def credits(self) -> float:
        """Credits reserved by the runs this chain uses, whichever call paid for them."""
        return self.credit_totals()[0]

    @property
    def new_credits(self) -> float:
        """Credits reserved by the runs this call sent (0 when every hop was reused)."""
        return self.credit_totals()[1]

    @property
    def new_runs(self) -> list[str]:
        """Run ids sent by this call (the others were reused or re-attached)."""
        return [run_id for hop in self.hops for run_id in hop.submitted]

    def credit_totals(self) -> tuple[float, float]:
        """``(credits, new_credits)`` from one read of the store."""
        held = self._tracker.store.peek({job.run_id for hop in self.hops for job in hop.jobs})
        cost = {run_id: float(h.run.get("credits") or 0.0) for run_id, h in held.items()}
        return sum(cost.values()), sum(cost.get(r, 0.0) for r in set(self.new_runs))

    @property
    def video_path(self) -> Path | None:
        """The chosen result of the last hop done so far (None before the first)."""
        chosen = [hop.chosen for hop in self.hops if hop.chosen]
        if not chosen:
            return None
        run = self._tracker.store.get(chosen[-1]) or {}
        return Path(run["video_path"]) if run.get("video_path") else None

    @property
    def df(self) -> pd.DataFrame:
        """Every candidate of every hop as ``fx.runs()`` rows, with ``hop``, ``candidate``
        (1-based) and ``chosen`` first."""
        order = [(hop, i, job) for hop in self.hops for i, job in enumerate(hop.jobs)]
        self._tracker.link.flush_blocking()
        runs = self._tracker.store.dataframe().set_index("run_id")
        frame = runs.loc[[job.run_id for _, _, job in order]].reset_index()
        frame["hop"] = pd.array([hop.index + 1 for hop, _, _ in order], dtype="Int64")
        frame["candidate"] = pd.array([i + 1 for _, i, _ in order], dtype="Int64")
        frame["chosen"] = [job.run_id == hop.chosen for hop, _, job in order]
        first = ["run_id", "hop", "candidate", "chosen", "prompt", "seed"]
        result: pd.DataFrame = frame[first + [c for c in frame.columns if c not in first]]
        return result

    @property
    def drift(self) -> pd.DataFrame:
        """One row per hop with a chosen run: its scores (``DRIFT_COLUMNS``) hop by hop."""
        runs = {
            r: h.run
            for r, h in self._tracker.store.peek(h.chosen for h in self.hops if h.chosen).items()
        }
        rows = []
        for hop in self.hops:
            if hop.chosen is None:
                continue
            run = runs.get(hop.chosen, {})
            rows.append(
                {
                    "hop": hop.index + 1,
                    "prompt": hop.prompt,
                    "run_id": hop.chosen,
                    **{name: run.get(name) for name in DRIFT_COLUMNS},
                }
            )
        frame = pd.DataFrame(rows, columns=["hop", "prompt", "run_id", *DRIFT_COLUMNS])
        typed: pd.DataFrame = frame.astype({name: "float64" for name in DRIFT_COLUMNS})
        return typed

    @property
    def backend(self) -> str:
        """``"sim"`` or ``"real"``: where this chain's runs go."""
        return self._tracker.backend

    def drift_plot(self, scores: tuple[str, ...] = ("seam_jump", "color_shift")) -> SvgImage:
        """The drift so far as a static image: one panel per score, a point per hop."""
        drift = self.drift
        series = {name: [None if pd.isna(v) else float(v) for v in drift[name]] for name in scores}
        return SvgImage(drift_svg([int(h) for h in drift["hop"]], series))

    def on_update(self, callback: Callable[[Chain], None]) -> None:
        """Call ``callback(chain)`` whenever a hop or a candidate changes (any thread)."""
        self._callbacks.append(callback)
        if self.done:
            callback(self)

    # ------------------------------------------------------------------ control

    def wait(self, timeout: float | None = None) -> Chain:
        """Block until the chain ends or needs your pick (see ``needs_pick``); returns it.

        Raises ``JobTimeoutError`` if ``timeout`` seconds pass first (the chain goes on).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.wait(0.1):
            if self.needs_pick is not None and self._still_waiting():
                return self
            if deadline is not None and time.monotonic() >= deadline:
                raise JobTimeoutError(
                    f"chain {self.name!r} not finished after {timeout} s ({self._summary()}); "
                    "it keeps running in the background"
                )
        return self

    def _still_waiting(self) -> bool:
        """True when the driver, having looked at the ledger again, still needs a pick (a
        star recorded a moment ago is seen first)."""
        with self._checked:
            self._asked += 1
            asked = self._asked
            self._wake.set()
            self._checked.wait_for(lambda: self._answered >= asked or self.done, timeout=2.0)
        return self.needs_pick is not None

    def stop(self) -> None:
        """Start no further hop and send no further run. Runs already sent keep running (and
        are billed: FoxAPI cannot cancel); a chain waiting for your pick stops waiting."""
        self._stop_asked = "you called stop()"
        tracker = self._tracker
        tracker.store.stop_experiment(self.name, "you called the chain's stop()")
        tracker.engine.loop.call_soon_threadsafe(tracker.runner.poke, self.name)
        self._wake.set()

    def wake(self) -> None:
        """Look at the ledger again now (a judgement was recorded)."""
        self._wake.set()

    def start(self) -> Chain:
        """Run the hops on a background thread (``fx.chain`` does this)."""
        self._thread.start()
        return self

    # ------------------------------------------------------------------ the driver thread

    def _drive(self) -> None:
        try:
            current = self.spec.video
            for hop in self.hops:
                if self._stop_asked:
                    raise _Stopped(self._stop_asked)
                hop.input = current
                current = self._run_hop(hop)
            self._end("done", None)
        except _Stopped as stop:
            self._end("stopped", str(stop))
        except Exception as exc:  # the chain stops; its runs stay recorded and resumable
            log.exception("foxnb: chain %s failed", self.name)
            self._end("stopped", f"internal error: {exc!r}")

    def _run_hop(self, hop: Hop) -> str:
        """Run one hop to its chosen result; returns that result's path."""
        spec, tracker = self.spec, self._tracker
        assert hop.input is not None
        hop.state = "running"
        seeds = spec.seeds()
        grid = [{**spec.fields, "prompt": hop.prompt, "seed": seed} for seed in seeds]
        requests, source = cell_requests(
            hop.input,
            ["seed"],
            grid,
            check_url=tracker.check_url,
            max_upload_bytes=tracker.client.max_upload_bytes,
        )
        input_sha256 = source.sha256
        budget: dict[str, Any] = {}
        if spec.budget_credits is not None:
            budget["budget_credits"] = spec.budget_credits
        if source.duration_s is not None:  # so each result's duration is checked against it
            budget["input_duration_s"] = source.duration_s
        intact = IntactVideos(tracker.owner.host)
        # Planned and recorded in the store's critical section for the chain, so two
        # processes running the same chain make one set of runs per hop (see ``cells``).
        with planning(tracker, spec.name) as (txn, runs):
            cells = plan_cells(
                runs, spec.name, requests, ["seed"], grid, input_sha256, False, intact
            )
            if hop.index == 0:
                tracker.store.set_budget(spec.name, spec.budget_credits)
            events = [
                tracker.first_event(
                    cell.request,
                    list(spec.tags),
                    input_sha256,
                    experiment=spec.name,
                    hop=hop.index + 1,  # 1-based, as chain.df and the views number them
                    candidate=cell.index + 1,
                    **budget,
                )
                if cell.action == "submit"
                else None
                for cell in cells
            ]
            # A reused candidate is the completed run itself: no new run.
            run_ids, claims = record(tracker, txn, cells, events)
        for cell, run_id in zip(cells, run_ids, strict=True):
            job = cell_job(tracker, cell, run_id, source, self._rule, claims)
            if cell.action == "submit":
                hop.submitted.append(run_id)
            job.on_update(lambda _job: self._notify())
            hop.jobs.append(job)
        self._notify()
        for job in hop.jobs:
            # A failed candidate is one fewer to choose from; its row says why.
            with contextlib.suppress(FoxError):
                job.wait()
        hop.state = "scoring"
        self._notify()
        done = [job.run_id for job in hop.jobs if job.status == "completed"]
        tracker.scorer.score_all(done)
        return self._choose(hop)

    def _choose(self, hop: Hop) -> str:
        """Wait until a candidate of ``hop`` is chosen; returns its video's path."""
        ids = [job.run_id for job in hop.jobs]
        while True:
            with self._checked:
                asked = self._asked  # the requests this look answers
            self._tracker.link.flush_blocking()
            runs = {r: held.run for r, held in self._tracker.store.peek(ids).items()}
            choice = choose([runs[run_id] for run_id in ids], self.pick)
            if choice.run_id is not None:
                hop.chosen, hop.reason, hop.state = choice.run_id, choice.reason, "done"
                self._looked(asked)
                self._notify()
                return str(runs[choice.run_id]["video_path"])
            if not any(runs[run_id].get("status") == "completed" for run_id in ids):
                hop.state = "stopped"
                raise _Stopped(f"hop {hop.index + 1}: {self._no_result(hop, runs)}")
            if self._stop_asked:
                hop.state = "stopped"
                raise _Stopped(self._stop_asked)
            if hop.state != "picking" or hop.reason != choice.reason:
                hop.state, hop.reason = "picking", choice.reason
                self._notify()
            self._looked(asked)
            self._wake.wait(PICK_POLL_S)
            self._wake.clear()

    def _looked(self, asked: int) -> None:
        """The hop's state now reflects a look at the ledger begun after request ``asked``."""
        with self._checked:
            self._answered = max(self._answered, asked)
            self._checked.notify_all()

    def _no_result(self, hop: Hop, runs: dict[str, dict[str, Any]]) -> str:
        parts = []
        for job in hop.jobs:
            run = runs[job.run_id]
            code = run.get("error_code")
            parts.append(f"{job.run_id} {run.get('status')}" + (f" ({code})" if code else ""))
        state = self._tracker.store.experiment(self.name, time.time(), self.backend)
        why = f"; {state.stopped}" if state.stopped else ""
        return "no candidate completed: " + ", ".join(parts) + why

    def _end(self, state: str, reason: str | None) -> None:
        self.stopped = reason
        for hop in self.hops:
            if hop.state in ("waiting", "running", "scoring", "picking") and state == "stopped":
                hop.state = "stopped" if hop.jobs else "waiting"
        # "running" stays only in the file of a chain whose process died: fx.resume() goes on.
        self.spec = replace(self.spec, state=state, reason=reason)
        try:
            self.spec = save_spec(self._tracker.workdir, self.spec)
        except OSError:
            log.exception("foxnb: could not record the end of chain %s", self.name)
        self._done.set()
        with self._checked:
            self._checked.notify_all()
        self._notify()

    def _notify(self) -> None:
        for callback in list(self._callbacks):
            try:
                callback(self)
            except Exception:  # a broken display must not stop the chain
                log.exception("foxnb: an on_update callback failed for chain %s", self.name)

    def _summary(self) -> str:
        states = ", ".join(f"hop {hop.index + 1} {hop.state}" for hop in self.hops)
        return states + (f"; stopped: {self.stopped}" if self.stopped else "")

    def __repr__(self) -> str:
        final = "" if self.pick == MANUAL else f", pick={self.pick}"
        credits, new = self.credit_totals()
        return (
            f"<Chain {self.name!r}: {len(self.hops)} hops × best of {self.spec.best_of}"
            f"{final}; {self._summary()}; {credits:g} credits, {new:g} new>"
        )

    def _ipython_display_(self) -> None:
        """In a notebook, a live view that becomes a saved snapshot with the drift plot."""
        # The display hook: an upward import for display only (named in the layer test).
        from ..widgets.chain_view import show_chain

        show_chain(self)


def start_chain(tracker: Tracker, spec: ChainSpec, judgements: Judgements | None = None) -> Chain:
    """Check every hop's requests against the input, record the spec, start the driver."""
    grid = [
        {**spec.fields, "prompt": prompt, "seed": seed}
        for prompt in spec.prompts
        for seed in spec.seeds()
    ]
    cell_requests(spec.video, ["prompt", "seed"], grid)  # every field checked before any cost
    spec = save_spec(tracker.workdir, replace(spec, state="running", reason=None))
    chain = Chain(tracker, spec, judgements)
    return chain.start()
