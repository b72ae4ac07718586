"""The one stylesheet of foxnb's HTML: colours and inline styles shared by every view.

Styles are inline because a saved notebook's snapshot, a report opened from disk, GitHub and
nbviewer show foxnb's HTML without loading any stylesheet of foxnb's. Each view builds its
markup from these names, so a colour or a text style is defined once.

Every colour is a JupyterLab theme variable (``--jp-*``) with a light fallback, so the same
markup reads well in JupyterLab's light and dark themes (and in any frontend that defines the
variables, as VS Code does for widgets), and falls back to a light page elsewhere. A report
defines the variables itself, light or dark after ``prefers-color-scheme``
(``THEME_VARIABLES``).

Status colours cannot be one fixed colour: no green is readable (4.5:1) on both white and
near-black. So each is its hue mixed with the theme's strongest text colour
(``--jp-ui-font-color0``: black in light themes, white in dark ones): darker on light
pages, lighter on dark ones.
"""

from __future__ import annotations


def _var(name: str, light: str) -> str:
    return f"var(--jp-{name},{light})"


def _readable(hue: str) -> str:
    """``hue`` as text colour readable on the theme's background (see the module docstring)."""
    return f"color-mix(in srgb,{hue} 62%,{_var('ui-font-color0', '#000')})"


TEXT = _var("ui-font-color1", "#1f2328")
MUTED_TEXT = (
    f"color-mix(in srgb,{_var('ui-font-color0', '#000')} 62%,{_var('layout-color0', '#fff')})"
)
"""Secondary text: the theme's text colour 62 % of the way from its background, readable
(≥ 4.5:1) on the greys JupyterLab paints under cells; its own ``--jp-ui-font-color2`` (54 %
black) falls just under 4.5:1 on its ``#f5f5f5`` and ``#eee``."""
BACKGROUND = _var("layout-color0", "#ffffff")
SUBTLE_BACKGROUND = _var("layout-color1", "#f6f8fa")
BORDER = _var("border-color1", "#d0d7de")
TRACK = _var("border-color2", "#eaeef2")

GOOD_HUE = "#1a7f37"
WARN_HUE = "#9a6700"
BAD_HUE = "#cf222e"
RUNNING_HUE = "#0969da"
QUEUED_HUE = "#6e7781"
GOOD = _readable(GOOD_HUE)
WARN = _readable(WARN_HUE)
BAD = _readable(BAD_HUE)
RUNNING = _readable(RUNNING_HUE)
QUEUED = _readable(QUEUED_HUE)

MUTED = f"color:{MUTED_TEXT};font-size:0.9em;line-height:1.4"
"""Secondary text: help lines, captions, labels."""
BOX = f"border:1px solid {BORDER};border-radius:6px;padding:8px 10px;margin:4px 0"
"""The frame around a box of foxnb's output."""
CARD_MAX_WIDTH_PX = 760
CARD = BOX + f";max-width:{CARD_MAX_WIDTH_PX}px;box-sizing:border-box"
"""The frame of one job's card or snapshot, and of the session banner."""
ERROR_BOX = (
    f"border:1px solid {BAD_HUE};color:{TEXT};border-radius:6px;padding:6px 10px;margin:4px 0;"
    f"line-height:1.4;background:color-mix(in srgb,{BAD_HUE} 12%,{BACKGROUND})"
)
"""A readable error: code and message, on a red tint of the theme's background."""
STATUS_BOX = (
    f"border:1px solid {BORDER};border-radius:6px;background:{SUBTLE_BACKGROUND};"
    f"color:{TEXT};padding:8px"
)
"""Where a video would be, for a run that did not complete."""
EMPTY_BOX = f"border:1px dashed {BORDER};border-radius:6px;color:{MUTED_TEXT};padding:8px"
"""A grid cell with no run."""
VIDEO_WIDTH_PX = 480
"""The width of a video in every card and snapshot (a grid's tiles set their own)."""
VIDEO = f"display:block;width:{VIDEO_WIDTH_PX}px;max-width:100%;height:auto"
TILE_VIDEO = "display:block;width:100%;height:auto"
"""A video filling its grid tile."""
CODE_BLOCK = (
    f"margin:2px 0;padding:6px;background:{SUBTLE_BACKGROUND};color:{TEXT};"
    f"border:1px solid {BORDER};border-radius:4px;white-space:pre-wrap;overflow-wrap:anywhere"
)
BUTTON = (
    f"cursor:pointer;background:{SUBTLE_BACKGROUND};color:{TEXT};border:1px solid {BORDER};"
    "border-radius:4px;padding:2px 8px;font:inherit;font-size:0.9em"
)
"""A button made by one of foxnb's scripts (play row)."""
# Left-aligned explicitly: JupyterLab's stylesheet right-aligns table cells.
CELL = "text-align:left;vertical-align:top;padding:4px 6px"

WIDGET_TEXT_CSS = (
    "<style>.foxnb-form .widget-label,.foxnb-form .jupyter-widget-Collapse-header,"
    f".foxnb-form .lm-Collapse-header,.foxnb-form .p-Collapse-header{{color:{TEXT}}}</style>"
)
"""ipywidgets draws field labels and the Advanced header in a grey under 4.5:1 on grey cells;
the form carries this rule (in its banner) to draw them in the text colour."""

STATUS_COLOURS = {
    "completed": GOOD,
    "detached": WARN,
    "download_failed": WARN,
    "failed": BAD,
    "cancelled": BAD,
    "not_submitted": BAD,
    "submission_unknown": BAD,
    "queued": QUEUED,
}
"""The colour of a status word; statuses not listed are running (``RUNNING``)."""

_LIGHT = {
    "ui-font-color0": "#000000",
    "ui-font-color1": "#1f2328",
    "ui-font-color2": "#57606a",
    "layout-color0": "#ffffff",
    "layout-color1": "#f6f8fa",
    "border-color1": "#d0d7de",
    "border-color2": "#eaeef2",
}
_DARK = {
    "ui-font-color0": "#ffffff",
    "ui-font-color1": "#e6edf3",
    "ui-font-color2": "#9ea7b3",
    "layout-color0": "#0d1117",
    "layout-color1": "#161b22",
    "border-color1": "#3d444d",
    "border-color2": "#262c36",
}


def _declarations(values: dict[str, str]) -> str:
    return ";".join(f"--jp-{name}:{value}" for name, value in values.items())


THEME_VARIABLES = (
    f":root{{color-scheme:light dark;{_declarations(_LIGHT)}}}"
    f"@media (prefers-color-scheme: dark){{:root{{{_declarations(_DARK)}}}}}"
    f"body{{background:{BACKGROUND};color:{TEXT}}}"
    f"a{{color:{RUNNING}}}"
)
"""CSS for a standalone page (a report): the variables above, light or dark as the reader's
system prefers, so the same inline styles follow the reader's theme."""
