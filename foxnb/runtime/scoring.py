"""Scoring every completed run in the background: one worker thread, one ledger event per run.

When a run's video is saved the runner records ``completed`` and hands the run id to the
session's ``ScoreWorker``; the worker scores the result against the clip it extends
(``foxnb.scores.score_extension``) and records the scores as one ledger event, so
``fx.runs()`` shows them a moment after the run completed. Runs that complete together (a
sweep's burst) have their events recorded together, one store transaction for up to
``WRITE_BATCH`` runs or ``WRITE_WAIT_S`` of scoring, whichever comes first. The work runs on
the worker's own thread, never on the engine loop (which keeps polling and downloading) nor in
the notebook.

What is scored against what:

- the result is the run's ``video_path``, checked against the sha256 recorded when it was
  downloaded (a file changed since is not scored);
- a local input is the run's ``video``, checked against its recorded ``input_sha256``;
- an input given as a URL is fetched once into ``<workdir>/inputs/`` (without the API key,
  as results are) and shared by every run extending that URL.

Identical files score identically: a result already scored against the same input (same
sha256s, same audio setting) gets its scores again without decoding anything, so a sweep
whose cells share one video (a simulator run with shared renderings, a re-run) scores it once.
The decoding runs in foxnb's video process (``foxnb._video_process``), at a lower CPU
priority and with a GIL of its own; the worker thread hashes files, waits and records. (The
thread itself once ran at the lower priority, Linux ``nice`` 10; sharing the GIL with the
notebook and the engine, it made both wait whenever it was starved of a CPU while holding it,
up to 65 ms in the 10,000-job benchmark.)

A run that cannot be scored never fails: its score columns stay empty and ``score_error``
(a short code) and ``score_notes`` (``not scored: …``) say why. Codes: ``no_result``,
``result_changed``, ``input_missing``, ``input_changed``, ``input_fetch_failed``,
``unreadable``, ``internal``.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .._files import sha256_file
from .._video_process import VideoProcessCrashed, run_in_video_process
from ..errors import FoxError, ScoreError
from ..models import EXTENSION_S, is_url
from ..scores import SCORE_COLUMNS, SCORES_VERSION, score_extension
from .store import RunStore

log = logging.getLogger("foxnb")

SCORE_FIELDS: tuple[str, ...] = (*(name for name, _ in SCORE_COLUMNS), "scored_at", "score_error")
"""Every ledger field a scoring event writes."""

Fetch = Callable[[str, Path], None]
"""Saves the video at a URL to a local path (the session's download, without the key)."""

ScoredFields = dict[str, Any]

WRITE_BATCH = 64
"""Most scored runs recorded in one store transaction (each one is a durable commit)."""
WRITE_WAIT_S = 0.5
"""Longest a scored run waits for the others of its batch before they are all recorded."""
_MEMO_SIZE = 256


class NotScored(Exception):
    """Why a run cannot be scored: ``code`` (see the module docstring) and a message."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def needs_scores(run: dict[str, Any], force: bool = False) -> bool:
    """True when ``run`` is completed and has no scores of the current version (or ``force``)."""
    if run.get("status") != "completed":
        return False
    return force or run.get("scores_version") != SCORES_VERSION or "scored_at" not in run


def failed_fields(code: str, message: str, at: float) -> ScoredFields:
    """The event of a run that could not be scored: empty scores, the reason."""
    fields: ScoredFields = {name: None for name in SCORE_FIELDS}
    fields.update(
        scores_version=SCORES_VERSION,
        scored_at=at,
        score_error=code,
        score_notes=f"not scored: {message}",
    )
    return fields


class ScoreWorker:
    """Scores runs on one background thread; see the module docstring.

    ``submit(run_id)`` queues a run and returns a future of the fields recorded for it (the
    same future while it is queued). ``fetch`` downloads an input given as a URL.
    """

    def __init__(
        self,
        ledger: RunStore,
        inputs_dir: Path,
        fetch: Fetch | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.ledger = ledger
        self.inputs_dir = inputs_dir
        self.fetch = fetch
        self.clock = clock
        self._queue: queue.Queue[str] = queue.Queue()
        self._futures: dict[str, concurrent.futures.Future[ScoredFields]] = {}
        self._force: set[str] = set()
        self._lock = threading.Lock()
        self._fetch_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # (input sha256, result sha256, generate_audio) -> the scores of that pair
        self._memo: dict[tuple[str, str, object], ScoredFields] = {}

    def submit(self, run_id: str, force: bool = False) -> concurrent.futures.Future[ScoredFields]:
        """Queue ``run_id`` for scoring (at once; never blocks). ``force`` re-scores a run
        that already has scores; without it such a run's future holds its recorded scores."""
        with self._lock:
            future = self._futures.get(run_id)
            if future is not None:
                if force:
                    self._force.add(run_id)
                return future
            future = concurrent.futures.Future()
            self._futures[run_id] = future
            if force:
                self._force.add(run_id)
            # Queued under the lock: the worker only ends after seeing an empty queue under it.
            self._queue.put(run_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="foxnb-score", daemon=True)
                self._thread.start()
        return future

    def pending(self, run_id: str) -> concurrent.futures.Future[ScoredFields] | None:
        """The future of ``run_id`` while it is queued or being scored, else None."""
        with self._lock:
            return self._futures.get(run_id)

    def score_all(self, run_ids: Iterable[str], force: bool = False) -> dict[str, ScoredFields]:
        """Score ``run_ids`` on the worker and wait for all of them; their recorded fields."""
        futures = {run_id: self.submit(run_id, force) for run_id in run_ids}
        return {run_id: future.result() for run_id, future in futures.items()}

    # ------------------------------------------------------------------ the worker thread

    def _work(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=5.0)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None  # a later submit starts a new thread
                        return
                continue
            batch = [first]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            # One read per batch (a big sweep completes in bursts), of these runs only.
            try:
                found = self.ledger.peek(batch)
            except Exception as exc:  # e.g. the store went away: say so to every waiter
                log.warning("foxnb: could not read %d run(s) to score: %s", len(batch), exc)
                for run_id in batch:
                    self._settle(run_id, exc)
                continue
            scored: list[tuple[str, ScoredFields]] = []  # to record together
            started = time.monotonic()
            for run_id in batch:
                held = found.get(run_id)
                fields = self._outcome(run_id, None if held is None else held.run)
                if fields is not None:
                    scored.append((run_id, fields))
                if len(scored) >= WRITE_BATCH or time.monotonic() - started >= WRITE_WAIT_S:
                    self._record(scored)
                    scored, started = [], time.monotonic()
            self._record(scored)

    def _settle(self, run_id: str, outcome: ScoredFields | BaseException) -> None:
        """Resolve ``run_id``'s future (if anyone waits) with its fields or the error."""
        with self._lock:
            future = self._futures.pop(run_id, None)
            self._force.discard(run_id)
        if future is None:
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def _outcome(self, run_id: str, run: dict[str, Any] | None) -> ScoredFields | None:
        """Score ``run``: the fields to record, or None when its future is already settled
        (nothing to record, or scoring failed)."""
        with self._lock:
            force = run_id in self._force
        try:
            if run is None or run.get("status") != "completed":
                self._settle(run_id, {})  # nothing to score (yet): record nothing
            elif not needs_scores(run, force):
                self._settle(run_id, {name: run.get(name) for name in SCORE_FIELDS})
            else:
                return self.score_run(run)
        except BaseException as exc:  # the worker must survive anything
            log.exception("foxnb: scoring %s failed", run_id)
            self._settle(run_id, exc)
        return None

    def _record(self, scored: list[tuple[str, ScoredFields]]) -> None:
        """Record the scores of several runs in one transaction, then settle their futures."""
        if not scored:
            return
        try:
            at = self.clock()
            self.ledger.append_many((run_id, at, fields) for run_id, fields in scored)
        except BaseException as exc:  # e.g. the store went away: say so to every waiter
            log.warning("foxnb: could not record the scores of %d run(s): %s", len(scored), exc)
            for run_id, _ in scored:
                self._settle(run_id, exc)
            return
        for run_id, fields in scored:
            self._settle(run_id, fields)

    def score_run(self, run: dict[str, Any]) -> ScoredFields:
        """The scores of one completed run as ledger fields (never raises for a bad file)."""
        try:
            result, result_sha = _checked_result(run)
            clip, clip_sha = self._input_of(run)
            key = (clip_sha, result_sha, run.get("generate_audio"))
            known = self._memo.get(key)
            if known is not None:
                return {**known, "scored_at": self.clock()}
            scores = run_in_video_process(
                score_extension,
                clip,
                result,
                generate_audio=run.get("generate_audio"),
                extension_s=EXTENSION_S,
            )
        except NotScored as exc:
            return failed_fields(exc.code, str(exc), self.clock())
        except ScoreError as exc:
            return failed_fields("unreadable", str(exc), self.clock())
        except VideoProcessCrashed:
            return failed_fields("unreadable", "FFmpeg crashed reading it", self.clock())
        except Exception as exc:
            log.exception("foxnb: unexpected error scoring %s", run.get("run_id"))
            return failed_fields("internal", f"internal error: {exc!r}", self.clock())
        fields = {**scores.as_fields(), "score_error": None}
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.pop(next(iter(self._memo)))
        self._memo[key] = fields
        return {**fields, "scored_at": self.clock()}

    def _input_of(self, run: dict[str, Any]) -> tuple[Path, str]:
        """The clip ``run`` extends, as a local file (fetched once when it is a URL), and its
        sha256."""
        video = str(run.get("video") or "")
        if not video:
            raise NotScored("input_missing", "the run records no input video")
        if not is_url(video):
            path = Path(video)
            if not path.is_file():
                raise NotScored("input_missing", f"its input {path.name} no longer exists")
            expected = run.get("input_sha256")
            actual = sha256_file(path)
            if expected and actual != expected:
                raise NotScored(
                    "input_changed", f"its input {path.name} changed since the run was made"
                )
            return path, actual
        name = hashlib.sha256(video.encode()).hexdigest()[:24] + ".mp4"
        dest = self.inputs_dir / name
        with self._fetch_lock:
            if dest.is_file():
                return dest, sha256_file(dest)
            if self.fetch is None:
                raise NotScored("input_fetch_failed", "its input is a URL and nothing can fetch it")
            try:
                self.fetch(video, dest)
            except FoxError as exc:
                raise NotScored(
                    "input_fetch_failed", f"its input URL could not be fetched ({exc})"
                ) from exc
        return dest, sha256_file(dest)


def _checked_result(run: dict[str, Any]) -> tuple[Path, str]:
    """The run's saved result, if it is still the file that was downloaded, and its sha256."""
    path_text = run.get("video_path")
    if not path_text:
        raise NotScored("no_result", "no result video was recorded")
    path = Path(str(path_text))
    if not path.is_file():
        raise NotScored("no_result", f"its result {path.name} no longer exists")
    expected = run.get("sha256")
    actual = sha256_file(path)
    if expected and actual != expected:
        raise NotScored("result_changed", f"its result {path.name} changed since the download")
    return path, actual
