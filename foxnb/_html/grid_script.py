"""The comparison grid's controls, as one constant script: play rows, scrub, tile size, audio.

JavaScript runs only in trusted outputs in JupyterLab (and never on GitHub or nbviewer), so
every control is created by the script itself: where scripts do not run, no dead control
appears and every video keeps its own controls. The script finds its grid as its previous
sibling and holds no data of the runs. What it adds:

- above the grid: "▶ play all", one scrub bar for every video, and a tile-size slider
  ("fit" returns to tiles that fit the output's width);
- in each row header with videos: "▶ play row" and the row's own scrub bar;
- playing starts at the extension point (``data-foxnb-extension-s`` seconds before the end),
  since the first seconds are the same input clip in every cell;
- one video's audio at a time: of the videos playing together only the first is heard, and
  unmuting or playing one video with sound mutes every other.

The pause glyph is drawn with "▮▮" (U+25AE, in the same font block as "▶"): "⏸" (U+23F8)
has no glyph in Debian's default fonts and rendered as a box in Chromium.
"""

from __future__ import annotations

from . import style

PLAY_ROWS_SCRIPT = """<script class="foxnb-play-rows">
(function (script) {
  var wrap = script && script.previousElementSibling;
  var table = wrap && wrap.querySelector("table.foxnb-grid");
  if (!table || table.dataset.foxnbPlayRows) return;
  table.dataset.foxnbPlayRows = "ready";
  var extensionS = parseFloat(table.dataset.foxnbExtensionS || "0");
  var all = Array.prototype.slice.call(table.querySelectorAll("video"));
  if (!all.length) return;
  var css = "__BUTTON_CSS__";
  function startOf(v) {
    return isFinite(v.duration) ? Math.max(0, v.duration - extensionS) : 0;
  }
  function settle(video) {  // resolves once the video can show its frame (or after 5 s)
    return new Promise(function (done) {
      var timer = setTimeout(finish, 5000);
      function check() { if (!video.seeking && video.readyState >= 2) finish(); }
      function finish() {
        clearTimeout(timer);
        video.removeEventListener("seeked", check);
        video.removeEventListener("canplay", check);
        done();
      }
      video.addEventListener("seeked", check);
      video.addEventListener("canplay", check);
      check();
    });
  }
  function loaded(v) {
    return new Promise(function (done) {
      if (v.readyState >= 1) return done();
      v.preload = "auto";
      v.addEventListener("loadedmetadata", function () { done(); }, {once: true});
      setTimeout(done, 5000);
    });
  }
  var grouped = false;  // true while a group starts: their play events must not mute others
  all.forEach(function (v) {
    function solo() {
      if (grouped || v.muted || v.paused) return;
      all.forEach(function (o) { if (o !== v) o.muted = true; });
    }
    v.addEventListener("play", solo);
    v.addEventListener("volumechange", solo);
  });
  function control(videos, label, title) {
    var box = document.createElement("span");
    box.className = "foxnb-row-controls";
    box.style.cssText = "display:flex;flex-wrap:wrap;gap:4px;align-items:center;margin-top:6px";
    var button = document.createElement("button");
    var scrub = document.createElement("input");
    var starting = false;
    function playing() { return videos.some(function (v) { return !v.paused; }); }
    function relabel() {
      button.textContent = starting || playing() ? "\\u25ae\\u25ae pause " + label
                                                 : "\\u25b6 play " + label;
    }
    button.type = "button";
    button.className = "foxnb-play-" + label;
    button.title = title;
    button.style.cssText = css;
    scrub.type = "range";
    scrub.className = "foxnb-scrub";
    scrub.min = "0"; scrub.max = "1"; scrub.step = "0.01"; scrub.value = "0";
    scrub.title = "Move every video of this " + label + " to the same moment";
    scrub.style.cssText = "width:8em;max-width:100%";
    function longest() {
      return Math.max.apply(null, videos.map(function (v) {
        return isFinite(v.duration) ? v.duration : 0; }));
    }
    scrub.addEventListener("input", function () {
      var t = parseFloat(scrub.value) * longest();
      videos.forEach(function (v) { v.currentTime = Math.min(t, v.duration || t); });
    });
    videos[0].addEventListener("timeupdate", function () {
      var total = longest();
      if (total > 0) scrub.value = String(videos[0].currentTime / total);
    });
    button.addEventListener("click", function () {
      if (starting) return;
      if (playing()) {
        videos.forEach(function (v) { v.pause(); });
        relabel();  // "pause" events come a moment later
        return;
      }
      all.forEach(function (v) { if (videos.indexOf(v) < 0) v.pause(); });
      starting = true;
      relabel();
      Promise.all(videos.map(loaded)).then(function () {
        videos.forEach(function (v, i) {
          v.pause(); v.preload = "auto"; v.muted = i > 0; v.currentTime = startOf(v);
        });
        return Promise.all(videos.map(settle));
      }).then(function () {
        grouped = true;
        return Promise.all(videos.map(function (v) { return v.play().catch(function () {}); }));
      }).then(function () { grouped = false; starting = false; relabel(); });
    });
    videos.forEach(function (v) {
      v.addEventListener("play", relabel);
      v.addEventListener("pause", relabel);
    });
    relabel();
    box.appendChild(button);
    box.appendChild(scrub);
    return box;
  }
  Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
    var videos = Array.prototype.slice.call(row.querySelectorAll("video"));
    var header = row.querySelector("th");
    if (!videos.length || !header) return;
    header.appendChild(control(videos, "row",
      "Play this row's videos together from the extension point (click again to pause)"));
  });
  var bar = document.createElement("div");
  bar.className = "foxnb-grid-controls";
  bar.style.cssText = "display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin:4px 0;" +
    "color:var(--jp-ui-font-color1,#1f2328);font-size:0.9em";
  bar.appendChild(control(all, "all",
    "Play every video together from the extension point (click again to pause)"));
  var size = document.createElement("label");
  size.textContent = "tile size ";
  var slider = document.createElement("input");
  slider.type = "range"; slider.className = "foxnb-tile-size";
  slider.min = "120"; slider.max = "640"; slider.step = "20";
  slider.value = String(parseInt(wrap.style.getPropertyValue("--foxnb-tile"), 10) || 280);
  slider.title = "Tile width in pixels (wider than the output scrolls sideways)";
  var fit = document.createElement("button");
  fit.type = "button"; fit.textContent = "fit"; fit.className = "foxnb-tile-fit";
  fit.title = "Tiles that fit the output's width"; fit.style.cssText = css;
  var preferred = slider.value + "px";
  slider.addEventListener("input", function () {
    wrap.style.setProperty("--foxnb-tile", slider.value + "px");
    wrap.style.setProperty("--foxnb-tile-min", slider.value + "px");
  });
  fit.addEventListener("click", function () {
    wrap.style.setProperty("--foxnb-tile", preferred);
    wrap.style.removeProperty("--foxnb-tile-min");
    slider.value = parseInt(preferred, 10);
  });
  size.appendChild(slider);
  bar.appendChild(size);
  bar.appendChild(fit);
  wrap.parentNode.insertBefore(bar, wrap);
})(document.currentScript);
</script>""".replace("__BUTTON_CSS__", style.BUTTON)
"""The script ``grid_html(..., play_rows=True)`` appends after the grid."""
