"""The report page's style sheet and script (inlined into every report; no external files)."""

CSS = """
:root { --fg: #1d2330; --muted: #5b6474; --line: #dde1e8; --bg: #f5f6f8; --card: #fff;
        --accent: #1f6fb4; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); background: var(--bg); }
.nv-header { padding: 18px 24px 10px; background: var(--card);
             border-bottom: 1px solid var(--line); }
.nv-header h1 { margin: 0 0 4px; font-size: 22px; }
.nv-subtitle { margin: 0 0 6px; color: var(--muted); }
.nv-facts { display: flex; flex-wrap: wrap; gap: 2px 18px; margin: 6px 0; font-size: 13px; }
.nv-facts > div { display: flex; gap: 4px; min-width: 0; }
.nv-facts dt { color: var(--muted); white-space: nowrap; }
.nv-facts dt::after { content: ":"; }
.nv-facts dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.nv-toolbar { position: sticky; top: 0; z-index: 5; display: flex; align-items: center; gap: 10px;
              padding: 8px 24px; background: #eef3fa; border-bottom: 1px solid var(--line); }
.nv-toolbar input[type=range] { width: min(420px, 40vw); }
.nv-toolbar button { font: inherit; padding: 3px 10px; border: 1px solid var(--accent);
                     background: #fff; color: var(--accent); border-radius: 4px; cursor: pointer; }
#nv-epoch-label { font-weight: 600; font-variant-numeric: tabular-nums; min-width: 9em; }
.nv-hint { color: var(--muted); font-size: 12px; }
.nv-layout { display: flex; align-items: flex-start; }
.nv-nav { position: sticky; top: 44px; flex: 0 0 210px; max-height: calc(100vh - 50px);
          overflow: auto; padding: 14px 8px 14px 20px; font-size: 13px; }
.nv-nav ul { list-style: none; margin: 0; padding: 0; }
.nv-nav ul ul { padding-left: 12px; margin-bottom: 10px; }
.nv-nav a { color: var(--fg); text-decoration: none; display: block; padding: 1px 0;
            overflow-wrap: anywhere; }
.nv-nav a:hover { color: var(--accent); }
.nv-nav-model > a { font-weight: 600; }
.nv-main { flex: 1; min-width: 0; padding: 12px 24px 40px 8px; }
.nv-part > h2 { margin: 14px 0 4px; font-size: 19px; overflow-wrap: anywhere; }
.nv-section { background: var(--card); border: 1px solid var(--line); border-radius: 6px;
              padding: 12px 16px; margin: 12px 0; }
.nv-section h3 { margin: 0 0 4px; font-size: 16px; }
.nv-gallery { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; margin-top: 8px; }
.nv-figure { margin: 0; max-width: 100%; }
.nv-figure-title { font-weight: 600; font-size: 13px; margin-bottom: 3px; overflow-wrap: anywhere; }
.nv-img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line);
          background: #fff; }
.nv-pixel { image-rendering: pixelated; }
.nv-frame-controls { display: flex; align-items: center; gap: 8px; margin-top: 4px;
                      font-size: 12px; }
.nv-frame-slider { flex: 1; min-width: 80px; }
.nv-frame-label { color: var(--muted); font-variant-numeric: tabular-nums; }
.nv-caption { color: var(--muted); font-size: 12px; max-width: 640px; overflow-wrap: anywhere; }
.nv-curves { display: flex; flex-wrap: wrap; gap: 12px; }
.nv-chart { background: #fff; }
.nv-chart-title { font-weight: 600; font-size: 13px; fill: var(--fg); }
.nv-plot-area { fill: #fbfcfd; stroke: var(--line); }
.nv-grid { stroke: #e9ecf1; }
.nv-tick, .nv-legend, .nv-axis-label { font-size: 11px; fill: var(--muted); }
.nv-marker { stroke: #c33; stroke-width: 1.2; stroke-dasharray: 3 3; }
.nv-table-wrap { overflow-x: auto; margin: 6px 0; }
.nv-table { border-collapse: collapse; font-size: 12.5px; }
.nv-table caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
.nv-table th, .nv-table td { padding: 3px 10px; border-bottom: 1px solid var(--line);
                             text-align: left; white-space: nowrap; }
.nv-table th { background: #f0f2f5; position: sticky; top: 0; }
.nv-table .nv-num { text-align: right; font-variant-numeric: tabular-nums; }
.nv-note { color: var(--muted); margin: 6px 0; }
.nv-warning { background: #fff4e5; border: 1px solid #f0c36d; padding: 6px 10px; border-radius: 4px;
              margin: 6px 0; overflow-wrap: anywhere; }
"""

# Reads the frames from the JSON block (never from HTML), sets only src/value/textContent.
JS = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("nv-data").textContent);
  var figures = [];
  document.querySelectorAll("figure[data-frames]").forEach(function (el) {
    var frames = data.frames[el.getAttribute("data-frames")] || [];
    var fig = {
      el: el, frames: frames,
      img: el.querySelector("img"),
      slider: el.querySelector(".nv-frame-slider"),
      label: el.querySelector(".nv-frame-label"),
      caption: el.querySelector(".nv-caption")
    };
    if (fig.slider) {
      fig.slider.addEventListener("input", function () { show(fig, +fig.slider.value); });
    }
    figures.push(fig);
  });

  function show(fig, i) {
    var f = fig.frames[i];
    if (!f) { return; }
    if (fig.img.getAttribute("src") !== f.src) { fig.img.setAttribute("src", f.src); }
    if (fig.slider) { fig.slider.value = String(i); }
    if (fig.label) { fig.label.textContent = f.label; }
    if (fig.caption && f.caption) { fig.caption.textContent = f.caption; }
    fig.el.setAttribute("data-index", String(i));
  }

  // The frame to show at an epoch: the last one taken at or before it (schedules differ).
  function frameAt(fig, epoch) {
    var best = 0;
    for (var i = 0; i < fig.frames.length; i++) {
      var e = fig.frames[i].epoch;
      if (e !== null && e !== undefined && e <= epoch) { best = i; }
    }
    return best;
  }

  var epochSlider = document.getElementById("nv-epoch");
  var epochLabel = document.getElementById("nv-epoch-label");
  var markers = document.querySelectorAll(".nv-marker");

  function setEpoch(epoch) {
    figures.forEach(function (fig) {
      if (fig.frames.length > 1) { show(fig, frameAt(fig, epoch)); }
    });
    markers.forEach(function (m) {
      var e0 = +m.getAttribute("data-e0"), e1 = +m.getAttribute("data-e1");
      var x0 = +m.getAttribute("data-x0"), x1 = +m.getAttribute("data-x1");
      var t = Math.max(0, Math.min(1, (epoch - e0) / ((e1 - e0) || 1)));
      var x = (x0 + t * (x1 - x0)).toFixed(1);
      m.setAttribute("x1", x); m.setAttribute("x2", x);
      m.style.display = epoch < e0 ? "none" : "";
    });
    if (epochLabel && epochSlider) {
      epochLabel.textContent = (epoch === 0 ? "before training" : "epoch " + epoch) +
        " of " + epochSlider.max;
    }
  }

  if (epochSlider) {
    epochSlider.addEventListener("input", function () { setEpoch(+epochSlider.value); });
    var play = document.getElementById("nv-play");
    var timer = null;
    play.addEventListener("click", function () {
      if (timer) { clearInterval(timer); timer = null; play.textContent = "\\u25B6 play"; return; }
      if (+epochSlider.value >= +epochSlider.max) { epochSlider.value = epochSlider.min; }
      setEpoch(+epochSlider.value);
      play.textContent = "\\u275A\\u275A pause";
      timer = setInterval(function () {
        var next = +epochSlider.value + 1;
        if (next > +epochSlider.max) {
          clearInterval(timer); timer = null; play.textContent = "\\u25B6 play"; return;
        }
        epochSlider.value = String(next);
        setEpoch(next);
      }, 700);
    });
    setEpoch(+epochSlider.value);
  }
  document.body.setAttribute("data-rendered", "1");
})();
"""
