"""Errors from code: fx.extend() names every problem at once; IPython shows it short (%tb:
in full); plain Python's traceback is unchanged.

The IPython and plain-Python checks run in processes of their own.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import connect

import foxnb
from foxnb.sim import Simulator

URL = "https://example.com/in.mp4"


def test_extend_names_a_bad_seed_and_a_480p_clip_together(
    sim: Simulator, tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A bad seed does not hide the 480p clip, nor misspelt options; nothing is recorded."""
    fx = connect(sim, tmp_path)
    with pytest.raises(foxnb.ValidationError) as info:
        fx.extend("Pan left", clips["480p"], seed=-3, tags=[1], sede=4, modle="x")
    error = info.value
    assert set(error.fields) == {"seed", "video", "tags", "sede", "modle"}
    assert "854x480" in str(error) and "did you mean 'seed'" in str(error)
    assert sum(sim.backend.requests.values()) == 0 and fx.runs().empty
    with pytest.raises(foxnb.VideoInputError):  # one problem: its own type
        fx.extend("Pan left", clips["480p"], seed=3)


def run_in_ipython(*cells: str) -> list[str]:
    """Run ``cells`` in a fresh IPython shell (a process of its own); each cell's output."""
    script = textwrap.dedent(
        """
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance(colors="nocolor")
        for cell in sys.argv[1:]:
            shell.run_cell(cell)
            print("=====", flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *cells], capture_output=True, text=True, timeout=60
    )
    return done.stdout.split("=====\n")[:-1]


def test_ipython_shows_the_short_message_then_tb_shows_all() -> None:
    """In IPython: the message and the user's line, no foxnb frames; %tb: the full traceback."""
    call = "from foxnb import ExtendRequest\nExtendRequest(prompt='', video='URL', seed=-1)"
    short, full = run_in_ipython(call.replace("URL", URL), "%tb")
    assert "prompt: is empty" in short and "seed: must be" in short
    assert "at line 2 of the cell: ExtendRequest(prompt=''" in short and "%tb" in short
    assert "models.py" not in short and len(short.splitlines()) <= 6
    assert "models.py" in full and "__post_init__" in full and "seed: must be" in full


def test_plain_python_traceback_is_unchanged() -> None:
    """Outside IPython the usual traceback, foxnb's frames included, goes to stderr."""
    code = f"from foxnb import ExtendRequest\nExtendRequest(prompt='', video={URL!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr and "models.py" in done.stderr
