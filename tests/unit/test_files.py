"""Atomic writes: what dead writers left is removed once per folder, not on every file."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from foxnb._files import AtomicWriter


def dead_pid() -> int:
    """The pid of a process of this machine that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def save(dest: Path, data: bytes) -> None:
    with AtomicWriter(dest) as writer:
        writer.write(data)
        writer.commit()


def test_the_first_writer_in_a_folder_removes_what_dead_writers_left(tmp_path: Path) -> None:
    host = socket.gethostname()
    left = tmp_path / f"r1.mp4.{dead_pid()}@{host}.part"
    elsewhere = tmp_path / f"r2.mp4.{dead_pid()}@another-machine.part"
    for part in (left, elsewhere):
        part.write_bytes(b"half a video")
    save(tmp_path / "r3.mp4", b"a whole video")
    assert sorted(p.name for p in tmp_path.iterdir()) == [elsewhere.name, "r3.mp4"]

    # Later writers in the folder do not list it again (connect() and resume() do).
    later = tmp_path / f"r4.mp4.{dead_pid()}@{host}.part"
    later.write_bytes(b"half a video")
    save(tmp_path / "r5.mp4", b"another whole video")
    assert later.exists() and (tmp_path / "r5.mp4").read_bytes() == b"another whole video"
