"""The simulator's account state as records, and where they live on disk.

With a ``state_dir``, everything a restarted simulator needs is kept there::

    state_dir/
      state.json          account (key, URL-signing secret, balance), tasks, uploads
      uploads/<file-id>/<file name>
      renders/<sha256>.mp4   rendered results, keyed by (input, prompt, seed, audio)
      inputs/             scratch space for inputs fetched from foreign URLs
      lock                held (``flock``) by the simulator using the folder; holds its pid

``state.json`` is rewritten atomically (write a temporary file, then rename) on every change,
so a crash never leaves a half-written file. Without a ``state_dir`` the same layout lives in a
temporary directory that is removed on :meth:`StateStore.close`, and nothing is saved.

Only one simulator may use a ``state_dir`` at a time: two would each rewrite ``state.json``
from their own memory and lose each other's tasks. The first holds an exclusive ``flock`` on
``lock`` until it closes; the operating system drops the lock when its process dies (even by
``kill -9``), so a crashed kernel never leaves the folder blocked. A second simulator, in this
or another process, gets :class:`StateDirInUseError` naming the holder.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from .states import Snapshot, Status, Timeline, observe
from .validate import ExtendParams

__all__ = [
    "AccountState",
    "Outcome",
    "StateDirInUseError",
    "StateStore",
    "TaskRecord",
    "UploadRecord",
    "write_atomic",
]

_STATE_FILE = "state.json"
_LOCK_FILE = "lock"
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Outcome:
    """How a task ended: status, wall-clock instant, and the result file or the error."""

    status: Status
    at: float
    output: str | None = None  # path relative to the store root
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class TaskRecord:
    """Everything known about one task, planned at creation and completed by the worker.

    ``fail_with`` is a fault-injected failure code planned at creation (``None`` normally);
    ``defect`` an output defect planned at creation (:mod:`foxnb.sim.defects`; ``None`` for a
    clean result); ``seed`` is the seed actually used (drawn by the simulator when the request
    had none).
    """

    id: str
    params: ExtendParams
    seed: int
    created: int
    timeline: Timeline
    estimated_time_s: int
    credits: int
    fail_with: str | None = None
    outcome: Outcome | None = None
    defect: str | None = None

    def snapshot(self, at: float) -> Snapshot:
        """The status and progress this task shows at wall-clock instant ``at``."""
        outcome = self.outcome
        ended = {} if outcome is None else {outcome.status: outcome.at}
        return observe(
            self.timeline,
            at,
            done_at=ended.get(Status.COMPLETED),
            failed_at=ended.get(Status.FAILED),
            cancelled_at=ended.get(Status.CANCELLED),
        )

    @property
    def ready_at(self) -> float:
        """When a finished task's outcome shows: the later of its end and the planned finish."""
        assert self.outcome is not None, "only a finished task has a ready time"
        return max(self.outcome.at, self.timeline.finish_at)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for the state file."""
        outcome = None
        if self.outcome is not None:
            outcome = {**asdict(self.outcome), "status": self.outcome.status.value}
        return {
            "id": self.id,
            "params": self.params.to_json(),
            "seed": self.seed,
            "created": self.created,
            "timeline": asdict(self.timeline),
            "estimated_time_s": self.estimated_time_s,
            "credits": self.credits,
            "fail_with": self.fail_with,
            "outcome": outcome,
            "defect": self.defect,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskRecord:
        """Inverse of :meth:`to_json`."""
        outcome = data["outcome"]
        return cls(
            id=data["id"],
            params=ExtendParams.from_json(data["params"]),
            seed=data["seed"],
            created=data["created"],
            timeline=Timeline(**data["timeline"]),
            estimated_time_s=data["estimated_time_s"],
            credits=data["credits"],
            fail_with=data["fail_with"],
            # State saved before defects existed has no such key.
            defect=data.get("defect"),
            outcome=None
            if outcome is None
            else Outcome(**{**outcome, "status": Status(outcome["status"])}),
        )


@dataclass(frozen=True)
class UploadRecord:
    """One uploaded file; its bytes are at ``uploads/<id>/<filename>`` under the store root."""

    id: str
    filename: str
    size: int
    created_at: float
    day: str  # yyyymmdd, part of the public URL path
    auto_cleanup: bool


@dataclass
class AccountState:
    """The whole persisted state of one simulated account."""

    api_key: str
    secret_hex: str
    balance_credits: int
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    uploads: dict[str, UploadRecord] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for the state file."""
        return {**self.account_json(), "tasks": [task.to_json() for task in self.tasks.values()]}

    def account_json(self) -> dict[str, Any]:
        """:meth:`to_json` without the tasks."""
        return {
            "version": _FORMAT_VERSION,
            "api_key": self.api_key,
            "secret_hex": self.secret_hex,
            "balance_credits": self.balance_credits,
            "uploads": [asdict(upload) for upload in self.uploads.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AccountState:
        """Inverse of :meth:`to_json`."""
        if data.get("version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported simulator state version {data.get('version')!r}")
        tasks = (TaskRecord.from_json(item) for item in data["tasks"])
        uploads = (UploadRecord(**item) for item in data["uploads"])
        return cls(
            api_key=data["api_key"],
            secret_hex=data["secret_hex"],
            balance_credits=data["balance_credits"],
            tasks={task.id: task for task in tasks},
            uploads={upload.id: upload for upload in uploads},
        )


class StateDirInUseError(RuntimeError):
    """Another live simulator (this process or another) is using the state folder."""


class StateStore:
    """The directory behind one simulator: the state file (if persistent) and its files.

    A persistent store holds the folder's lock from construction until :meth:`close`.
    """

    def __init__(self, state_dir: Path | None) -> None:
        self._temp: tempfile.TemporaryDirectory[str] | None = None
        self._lock: IO[str] | None = None
        self._task_texts: dict[str, tuple[TaskRecord, str]] = {}
        if state_dir is None:
            self._temp = tempfile.TemporaryDirectory(prefix="foxnb-sim-")
            self.root = Path(self._temp.name)
        else:
            self.root = Path(state_dir)
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock = _lock_folder(self.root)
        for sub in ("uploads", "renders", "inputs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    @property
    def persistent(self) -> bool:
        """Whether state survives this process (a ``state_dir`` was given)."""
        return self._temp is None

    def load(self) -> AccountState | None:
        """The saved state, or ``None`` if there is none (or the store is not persistent)."""
        path = self.root / _STATE_FILE
        if not self.persistent or not path.exists():
            return None
        return AccountState.from_json(json.loads(path.read_text(encoding="utf-8")))

    def save(self, state: AccountState) -> None:
        """Atomically replace the state file (a no-op for a temporary store)."""
        if self.persistent:
            write_atomic(self.root / _STATE_FILE, self._encode(state).encode("utf-8"))

    def _encode(self, state: AccountState) -> str:
        """The state file's text: the JSON of ``state.to_json()``.

        The state is saved on every create and every finish. Each task's JSON is kept from the
        save before while its record is the same object (records are frozen and replaced when
        they change), so a save encodes the one or two tasks that changed, not all of them:
        encoding every task each time made a simulator serving 500 tasks spend a third of its
        CPU here.
        """
        texts = []
        for task in state.tasks.values():
            kept = self._task_texts.get(task.id)
            if kept is None or kept[0] is not task:
                kept = (task, json.dumps(task.to_json(), sort_keys=True))
                self._task_texts[task.id] = kept
            texts.append(kept[1])
        account = json.dumps(state.account_json(), sort_keys=True)
        tasks = ",\n".join(texts)
        return f'{account[:-1]}, "tasks": [\n{tasks}\n]}}'

    def upload_path(self, upload: UploadRecord) -> Path:
        """Where an upload's bytes are stored."""
        return self.root / "uploads" / upload.id / upload.filename

    def render_path(self, key: str) -> Path:
        """Where the render with cache key ``key`` is stored."""
        return self.root / "renders" / f"{key}.mp4"

    def input_path(self, task_id: str) -> Path:
        """Scratch path for a task's input fetched from a foreign URL."""
        return self.root / "inputs" / f"{task_id}.mp4"

    def resolve(self, relative: str) -> Path:
        """A path stored relative to the root (as in :attr:`Outcome.output`), made absolute."""
        return self.root / relative

    def relative(self, path: Path) -> str:
        """``path`` relative to the root, for storing in records."""
        return path.relative_to(self.root).as_posix()

    def close(self) -> None:
        """Release the folder's lock, or delete the temporary directory if this store made one."""
        if self._temp is not None:
            self._temp.cleanup()
        if self._lock is not None:
            self._lock.close()  # closing the file releases its flock
            self._lock = None


def _lock_folder(root: Path) -> IO[str]:
    """Take ``root``'s lock for this store, or raise :class:`StateDirInUseError`."""
    # Not a `with` block: the open file is the lock, held until StateStore.close().
    handle = open(root / _LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        if holder == str(os.getpid()):
            who = "another Simulator in this process; stop() it first"
        else:
            who = f"process {holder or '(unknown)'}, e.g. another notebook kernel"
        raise StateDirInUseError(
            f"the simulator state folder {root} is in use by {who}. One simulator serves a "
            "state folder at a time: stop the other one (or its kernel), or use another "
            "folder: foxnb.connect(workdir=...) keeps its simulator in <workdir>/.sim, "
            "Simulator(state_dir=...) in the folder given."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary sibling and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
