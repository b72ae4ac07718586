"""Presentation rules that hold for every view: theme colours, natural axes, honest time."""

from __future__ import annotations

import re
from pathlib import Path

import foxnb
from foxnb import Job
from foxnb._html import style
from foxnb._html.form import code_html, disabled_reason_html
from foxnb._html.grid import CellView, grid_html
from foxnb._html.job import JobView, banner_html, left_text, snapshot_html, status_html
from foxnb._html.sweep import CellState, header_html, tiles_html
from foxnb.experiments.compare import natural_order
from foxnb.models import ExtendRequest

# A colour given as a literal (#abc, rgb(), a name) rather than through a theme variable.
_BARE_COLOUR = re.compile(r"(?<![-\w])(color|background|background-color):\s*(#|rgb|white|black)")


def make_job(**request: object) -> Job:
    req = ExtendRequest(prompt="pan left", video="https://example.com/in.mp4", **request)  # type: ignore[arg-type]
    return Job("r20260101-000000-abcdef", req, backend="sim")


def every_view() -> dict[str, str]:
    failed = make_job(seed=3)
    failed.set_state(status="failed", error=foxnb.TaskFailedError("refused"), error_code="E1")
    cells = {
        (0, 0): CellView("r1", "failed", error_code="E1"),
        (0, 1): CellView("r2", "not_submitted"),
    }
    return {
        "snapshot": snapshot_html(JobView.of(failed), ""),
        "banner": banner_html("sim", "http://127.0.0.1:1", "sk-…abcd", "/tmp/runs"),
        "code": code_html("job = fx.extend('x', video='y')"),
        "grid": grid_html("prompt", "seed", ["p"], [1, 2, 3], cells),
        "tiles": tiles_html([CellState("a", "failed", 40, True, "a")], ["seed"]),
        "sweep": header_html("s", "sim", [CellState("a", "failed", 40, True)], 3.0),
        "reason": disabled_reason_html({"prompt": "is required"}),
    }


def test_every_colour_is_a_theme_variable_with_a_light_fallback() -> None:
    """No view sets a literal colour: each follows JupyterLab's light and dark themes."""
    for name, html in every_view().items():
        assert not _BARE_COLOUR.search(html), (name, _BARE_COLOUR.search(html))
    for constant in (style.TEXT, style.BACKGROUND, style.BORDER):
        assert re.fullmatch(r"var\(--jp-[\w-]+,#[0-9a-f]{6}\)", constant), constant
    for status_colour in style.STATUS_COLOURS.values():
        assert "var(--jp-ui-font-color0,#000)" in status_colour  # darker on light, lighter on dark
    assert "@media (prefers-color-scheme: dark)" in style.THEME_VARIABLES


def test_the_code_box_and_failed_tiles_set_their_text_colour_with_their_background() -> None:
    """A box with its own background also sets its text colour (the dark-theme bug)."""
    views = every_view()
    assert f"background:{style.SUBTLE_BACKGROUND};color:{style.TEXT}" in views["code"]
    assert views["grid"].count(style.STATUS_BOX) == 2


def test_axes_sort_numbers_by_value_and_keep_text_in_order() -> None:
    """Seeds 7, 42, 43, 5, 3, 99 read 3, 5, 7, 42, 43, 99; prompts keep the sweep's order."""
    assert natural_order([7, 42, 43, 5, 3, 99]) == [3, 5, 7, 42, 43, 99]
    assert natural_order([2.5, None, 1]) == [1, 2.5, None]
    assert natural_order([True, False]) == [False, True]
    assert natural_order(["storm", "dusk", None]) == ["storm", "dusk", None]
    assert natural_order([1, "a"]) == [1, "a"]


def test_time_left_never_reads_zero() -> None:
    """Under 1.5 s the line says "finishing any moment", never "~0 s left"; done: no ETA."""
    assert left_text(9.0) == "~9 s left" and left_text(0.2) == "finishing any moment"
    assert "~0 s" not in status_html("processing", 99, 17.0, 0.0)
    assert "left" not in status_html("completed", 100, 17.0, 3.0, done=True)


def test_two_runs_differing_by_seed_look_different() -> None:
    """A card's header lists the request's fields, so seed 1 and seed 2 differ on sight."""
    from foxnb._html.job import header_html as job_header

    one, two = (JobView.of(make_job(seed=s, generate_audio=False)) for s in (1, 2))
    first = job_header(one.run_id, "veo-3.1-extend", "pan left", one.params)
    second = job_header(two.run_id, "veo-3.1-extend", "pan left", two.params)
    assert first != second and "seed 1" in first and "seed 2" in second
    assert "in.mp4 · audio off · seed 1" in first  # aspect_ratio None: not sent, not shown


def test_disabled_submit_names_every_field_at_fault() -> None:
    """The reason next to Submit names the fields; markup in a message is escaped."""
    text = disabled_reason_html({"prompt": "is required", "seed": "<b>x</b> is not an integer"})
    assert "Submit needs a valid prompt and seed (see the messages under them)." in text
    assert disabled_reason_html({}) == ""


def test_videos_are_one_width_in_cards_and_fill_grid_tiles(tmp_path: Path) -> None:
    """Cards and snapshots: 480 px (shrinking to fit); in a grid a video fills its tile."""
    from foxnb._html.video import video_html

    assert f"width:{style.VIDEO_WIDTH_PX}px;max-width:100%" in video_html("/files/a.mp4")
    assert "width:100%" in video_html("/files/a.mp4", fill=True)
