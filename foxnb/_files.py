"""Files written safely: atomic saves, sha256 of a file, clean-up after a killed writer.

``AtomicWriter`` writes beside the target and renames, so readers see nothing or the whole
file; ``remove_stale_parts`` deletes what a killed process left half-written, and
``remove_stale_dirs`` the folders it was building (a report); ``sha256_file`` hashes a file in
chunks. Temporary names carry their writer (``owner_tag()``: process id and host), so only
what a dead process of this machine left is ever removed.
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
import threading
import time
from pathlib import Path
from types import TracebackType

from .errors import DownloadError, ValidationError


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


PART_SUFFIX = ".part"


def owner_tag() -> str:
    """``<pid>@<host>``: who writes a temporary file or folder, as its name records it."""
    return f"{os.getpid()}@{socket.gethostname()}"


def _part_name(dest_name: str) -> str:
    """The temporary name of a file being written: ``<name>.<pid>@<host>.part``."""
    return f"{dest_name}.{owner_tag()}{PART_SUFFIX}"


def _writer_gone(part: Path) -> bool:
    """True when ``part`` was written by a process of this machine that no longer exists."""
    return owner_gone(part.name.removesuffix(PART_SUFFIX))


def owner_gone(name: str) -> bool:
    """True when ``name`` ends in an ``owner_tag()`` (after a ``.`` or ``-``) of a process of
    this machine that no longer exists; False for anything else, live or unknown."""
    owner, at, host = name.rpartition("@")
    pid = owner.replace("-", ".").rpartition(".")[2]
    if not at or host != socket.gethostname() or not pid.isdigit() or len(pid) > 9:
        return False  # another machine's file, or not one of ours: its owner is unknown
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (owned by another user) or cannot be asked
    return False


_swept: set[Path] = set()  # folders whose every .part this process has looked at
_swept_lock = threading.Lock()


def _sweep_once(folder: Path) -> None:
    """``remove_stale_parts(folder)`` unless this process already swept all of ``folder``."""
    with _swept_lock:
        if folder in _swept:
            return
    remove_stale_parts(folder)


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
    if pattern == "*":  # e.g. connect()'s sweep: its first writer need not list it again
        with _swept_lock:
            _swept.add(folder)
    return removed


def remove_stale_dirs(folder: Path, pattern: str) -> list[Path]:
    """Delete the folders matching ``pattern`` in ``folder`` whose name ends in the
    ``owner_tag()`` of a dead process of this machine (e.g. a report it was building when it
    was killed); return them."""
    if not folder.is_dir():
        return []
    removed = []
    for leftover in folder.glob(pattern):
        if leftover.is_dir() and not leftover.is_symlink() and owner_gone(leftover.name):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed


class AtomicWriter:
    """Write a file so readers see either nothing or the whole of it.

    Bytes go to ``<dest>.<pid>@<host>.part`` beside the target, hashed on the way;
    ``commit()`` flushes, fsyncs and renames. Leaving the ``with`` block without ``commit()``
    (an error, a size cap, a full disk) removes the partial file. A disk error (no space
    left, a file size limit, a read-only folder) is raised as the ``OSError`` it is, after
    that clean-up; callers say what it means for them. The first writer a process opens in a
    folder removes the partial files dead processes left there (see ``remove_stale_parts``);
    later ones do not list the folder again (10,000 downloads into one folder listed it
    10,000 times, on the engine's loop).
    """

    def __init__(self, dest: Path, max_bytes: int | None = None):
        self.dest = dest
        self.max_bytes = max_bytes
        self.size = 0
        self._tmp = dest.with_name(_part_name(dest.name))
        self._digest = hashlib.sha256()

    def __enter__(self) -> AtomicWriter:
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        _sweep_once(self.dest.parent)
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

    def flush(self) -> Path:
        """Put every byte written so far on disk; returns the temporary file, to be read (a
        check before ``commit``) but not changed."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        return self._tmp

    def commit(self, dest: Path | None = None) -> str:
        """Make the file visible under its final name (or ``dest``, in the same folder);
        returns its sha256."""
        self.flush()
        self._fh.close()
        os.replace(self._tmp, dest or self.dest)
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


TEMP_FOLDER_PREFIX = ".foxnb-"
_LEGACY_AGE_S = 3600.0


def temp_folder_beside(dest: Path, purpose: str) -> Path:
    """A hidden folder beside ``dest`` to build it in (or to move an old one aside):
    ``.foxnb-<purpose>-<hex>.<pid>@<host>`` — short whatever ``dest`` is called, and naming
    its writer, so ``remove_leftovers_beside`` can remove it once that process is gone."""
    return dest.parent / f"{TEMP_FOLDER_PREFIX}{purpose}-{secrets.token_hex(4)}.{owner_tag()}"


def remove_leftovers_beside(dest: Path) -> list[Path]:
    """Remove what killed processes left beside ``dest`` (``temp_folder_beside`` folders of
    dead writers), and an older foxnb's ``.NAME.building-*``-style folders of ``dest`` once
    they are an hour old; return them."""
    removed = remove_stale_dirs(dest.parent, TEMP_FOLDER_PREFIX + "*")
    cutoff_s = time.time() - _LEGACY_AGE_S
    name = glob.escape(dest.name)
    for kind in ("building", "replaced", "exporting"):
        for legacy in dest.parent.glob(f".{name}.{kind}-*"):
            if legacy.is_dir() and not legacy.is_symlink() and legacy.stat().st_mtime < cutoff_s:
                shutil.rmtree(legacy, ignore_errors=True)
                removed.append(legacy)
    return removed


def check_folder_path(dest: Path, shown: str) -> None:
    """Refuse (``ValidationError`` on ``path``) a folder path the file system cannot hold: a
    name over its limit (255 bytes on most), or a path too long for the files put inside."""
    name_max, path_max = 255, 4096
    for ancestor in dest.parents:  # the nearest folder that exists says what its disk allows
        try:
            name_max = os.pathconf(ancestor, "PC_NAME_MAX")
            path_max = os.pathconf(ancestor, "PC_PATH_MAX")
            break
        except (OSError, ValueError):
            continue
    for part in dest.parts:
        size = len(os.fsencode(part))
        if size > name_max:
            raise ValidationError(
                "path",
                f"{shown}: the folder name {part[:40]!r}… is {size} bytes long; this file "
                f"system allows at most {name_max} bytes per name",
                "a shorter folder name",
            )
    room = len("/videos/r20260101-000000-abcdef012345.mp4") + 32  # for the files put inside
    if len(os.fsencode(str(dest))) + room > path_max:
        raise ValidationError(
            "path",
            f"{shown} is too long a path for this file system ({path_max} bytes, with room "
            "for the files inside)",
            "a shorter path",
        )


def replace_folder(build: Path, dest: Path) -> None:
    """Rename the finished folder ``build`` to ``dest``; an existing ``dest`` is moved aside
    first, put back if the rename fails, and deleted once ``build`` is in place."""
    if not dest.exists():
        build.rename(dest)
        return
    old = temp_folder_beside(dest, "replaced")
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
