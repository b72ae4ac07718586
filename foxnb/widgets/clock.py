"""``StatusClock``: a job's status line whose time moves every second in the browser.

    processing 40% · 12 s elapsed · ~8 s left

The kernel sends the status, progress, elapsed time and estimate when they change (at each
status read, at most four times a second); between two reads the browser itself advances
"elapsed" and counts "left" down once a second, with no kernel traffic. When the estimate
runs out before the job ends, the line says "finishing any moment" for a few seconds, then
how far past the estimate the job is, instead of sitting at "~0 s left".

Why anywidget: a clock needs JavaScript that runs per widget. ``ipywidgets.HTML`` never runs
scripts, and a ``<script>`` in an output runs only in trusted outputs and not inside widgets;
an anywidget is one small ES module that JupyterLab, Notebook 7, VS Code, Colab (with its
custom widget manager, enabled by ``foxnb._frontend.prepare_widgets``) and marimo all load
without a build step or a frontend extension of foxnb's own.

``value`` holds the same line as HTML, as the kernel last drew it (for code and tests).
"""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets

from .._frontend import prepare_widgets

# Kept in step with foxnb._html.base.format_duration and _html.job.status_html.
_ESM = """
function fmt(s) {
  s = Math.max(0, Math.round(s));
  return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s";
}
export function left(etaS, sinceS) {
  const rest = etaS - sinceS;
  if (rest >= 1.5) return "~" + fmt(rest) + " left";
  if (rest > -GRACE_S) return "finishing any moment";
  return fmt(-rest) + " past the estimate";
}
function render({ model, el }) {
  let anchor = performance.now();
  function draw() {
    const done = model.get("done");
    const since = done ? 0 : (performance.now() - anchor) / 1000;
    const word = document.createElement("b");
    word.textContent = model.get("status");
    const parts = [];
    const elapsed = model.get("elapsed_s");
    if (elapsed >= 0) {
      parts.push(done ? "after " + fmt(elapsed) : fmt(elapsed + since) + " elapsed");
    }
    const eta = model.get("eta_s");
    if (eta >= 0 && !done) parts.push(left(eta, since));
    el.replaceChildren(word, " " + model.get("progress_pct") + "%" +
                       (parts.length ? " · " + parts.join(" · ") : ""));
  }
  function reanchor() { anchor = performance.now(); draw(); }
  for (const name of ["status", "progress_pct", "elapsed_s", "eta_s", "done"]) {
    model.on("change:" + name, reanchor);
  }
  const timer = setInterval(draw, 1000);
  draw();
  return () => clearInterval(timer);
}
export default { render };
"""
GRACE_S = 8
"""How long past the estimate the line says "finishing any moment" before counting over."""


class StatusClock(anywidget.AnyWidget):
    """The status line of a job card (class ``foxnb-status``); see the module docstring."""

    _esm = traitlets.Unicode(_ESM.replace("GRACE_S", str(GRACE_S))).tag(sync=True)
    status = traitlets.Unicode("queued").tag(sync=True)
    progress_pct = traitlets.Int(0).tag(sync=True)
    elapsed_s = traitlets.Float(-1.0).tag(sync=True)
    """Seconds since submission as the kernel last saw them; -1: not submitted yet."""
    eta_s = traitlets.Float(-1.0).tag(sync=True)
    """Estimated seconds left as the kernel last saw them; -1: no estimate."""
    done = traitlets.Bool(False).tag(sync=True)
    value = traitlets.Unicode("")
    """The line as HTML, as the kernel last drew it (not sent: the browser draws its own)."""

    def __init__(self, **kwargs: Any):
        prepare_widgets()
        super().__init__(**kwargs)
        self.add_class("foxnb-status")
