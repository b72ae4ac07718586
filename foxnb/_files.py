"""Files written safely: atomic saves, sha256 of a file, clean-up after a killed writer.

``AtomicWriter`` writes beside the target and renames, so readers see nothing or the whole
file; ``remove_stale_parts`` deletes what a killed process left half-written;
``sha256_file`` hashes a file in chunks.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import secrets
import shutil
import socket
from pathlib import Path
from types import TracebackType

from .errors import DownloadError


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


PART_SUFFIX = ".part"


def _part_name(dest_name: str) -> str:
    """The temporary name of a file being written: ``<name>.<pid>@<host>.part``."""
    return f"{dest_name}.{os.getpid()}@{socket.gethostname()}{PART_SUFFIX}"


def _writer_gone(part: Path) -> bool:
    """True when ``part`` was written by a process of this machine that no longer exists."""
    owner, at, host = part.name.removesuffix(PART_SUFFIX).rpartition("@")
    pid = owner.rpartition(".")[2]
    if not at or host != socket.gethostname() or not pid.isdigit() or len(pid) > 9:
        return False  # another machine's file, or not one of ours: its owner is unknown
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (owned by another user) or cannot be asked
    return False


def remove_stale_parts(folder: Path, pattern: str = "*") -> list[Path]:
    """Delete the temporary files in ``folder`` whose writer has died; return them.

    A process killed while saving a file (``kill -9``, a crashed or restarted kernel) leaves
    its ``.part`` file behind. Only files of processes of this machine that provably no
    longer exist are removed: a download still running in another kernel keeps its file.
    ``pattern`` narrows the search to the temporary files of some names (a glob).
    """
    if not folder.is_dir():
        return []
    removed = []
    for part in folder.glob(pattern + PART_SUFFIX):
        if _writer_gone(part):
            part.unlink(missing_ok=True)
            removed.append(part)
    return removed


class AtomicWriter:
    """Write a file so readers see either nothing or the whole of it.

    Bytes go to ``<dest>.<pid>@<host>.part`` beside the target, hashed on the way;
    ``commit()`` flushes, fsyncs and renames. Leaving the ``with`` block without ``commit()``
    (an error, a size cap, a full disk) removes the partial file. A disk error (no space
    left, a file size limit, a read-only folder) is raised as the ``OSError`` it is, after
    that clean-up; callers say what it means for them. Opening a writer first removes the
    partial files of ``dest`` left by dead processes (see ``remove_stale_parts``).
    """

    def __init__(self, dest: Path, max_bytes: int | None = None):
        self.dest = dest
        self.max_bytes = max_bytes
        self.size = 0
        self._tmp = dest.with_name(_part_name(dest.name))
        self._digest = hashlib.sha256()

    def __enter__(self) -> AtomicWriter:
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(self.dest.parent, glob.escape(self.dest.name) + ".*")
        self._fh = open(self._tmp, "wb")
        return self

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise DownloadError(
                f"the result is larger than the {self.max_bytes:,}-byte cap; not saved",
                code="too_large",
            )
        self._digest.update(chunk)
        self._fh.write(chunk)

    def commit(self) -> str:
        """Make the file visible under its final name; returns its sha256."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self._tmp, self.dest)
        return self._digest.hexdigest()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Closing flushes buffered bytes, which fails again on a full disk; the file is
        # abandoned either way (the descriptor is closed even then).
        with contextlib.suppress(OSError):
            self._fh.close()
        self._tmp.unlink(missing_ok=True)


def replace_folder(build: Path, dest: Path) -> None:
    """Rename the finished folder ``build`` to ``dest``; an existing ``dest`` is moved aside
    first, put back if the rename fails, and deleted once ``build`` is in place."""
    if not dest.exists():
        build.rename(dest)
        return
    old = dest.with_name(f".{dest.name}.replaced-{secrets.token_hex(4)}")
    dest.rename(old)
    try:
        build.rename(dest)
    except BaseException:
        old.rename(dest)
        raise
    shutil.rmtree(old, ignore_errors=True)


def json_format_of(path: Path) -> object:
    """The ``format`` field of the JSON object in ``path`` (None if unreadable or absent):
    how foxnb recognises the folders it wrote (reports, exports) before replacing one."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document.get("format") if isinstance(document, dict) else None
