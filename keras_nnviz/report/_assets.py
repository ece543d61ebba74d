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
.nv-sticky { position: sticky; top: 0; z-index: 5; }
.nv-toolbar { display: flex; align-items: center; gap: 10px;
              padding: 8px 24px; background: #eef3fa; border-bottom: 1px solid var(--line); }
.nv-toolbar input[type=range] { width: min(420px, 40vw); }
.nv-toolbar button { font: inherit; padding: 3px 10px; border: 1px solid var(--accent);
                     background: #fff; color: var(--accent); border-radius: 4px; cursor: pointer; }
#nv-epoch-label { font-weight: 600; font-variant-numeric: tabular-nums; min-width: 9em; }
.nv-hint { color: var(--muted); font-size: 12px; }
.nv-layout { display: flex; align-items: flex-start; }
.nv-nav { position: sticky; top: 44px; flex: 0 0 210px; max-height: calc(100vh - 50px);
          overflow: auto; padding: 14px 8px 14px 20px; font-size: 13px; }
.nv-has-live .nv-nav { top: 82px; }
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
.nv-alarm { background: #fdecea; border: 2px solid #d93025; color: #8c1d13; font-weight: 600;
            padding: 8px 24px; margin: 0; overflow-wrap: anywhere; }
.nv-live { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; padding: 6px 24px;
           background: #e6f4ea; border-bottom: 1px solid #a8d5b5; color: #0d652d; }
.nv-live.nv-stale { background: #fff4e5; border-color: #f0c36d; color: #7a4b00; }
.nv-live button { font: inherit; font-size: 12px; padding: 1px 8px; border: 1px solid currentColor;
                  background: transparent; color: inherit; border-radius: 4px; cursor: pointer; }
.nv-fold { margin: 6px 0; }
.nv-fold > summary { cursor: pointer; color: var(--accent); padding: 2px 0; }
.nv-arch { display: flex; gap: 14px; align-items: flex-start; flex-wrap: wrap; }
.nv-arch-graph { flex: 1 1 420px; min-width: 280px; max-height: 640px; overflow: auto;
                 border: 1px solid var(--line); border-radius: 6px; background: #fff; }
.nv-arch-panel { flex: 1 1 360px; min-width: 280px; }
.nv-arch-panel dl { display: grid; grid-template-columns: auto 1fr; gap: 1px 10px; margin: 4px 0;
                    font-size: 13px; }
.nv-arch-panel dt { color: var(--muted); }
.nv-arch-panel dd { margin: 0; overflow-wrap: anywhere; }
.nv-arch-panel h4 { margin: 2px 0 6px; font-size: 15px; overflow-wrap: anywhere; }
.nv-arch-panel .nv-gallery { margin-top: 4px; }
.nv-hist { stroke: #9bb7d4; stroke-opacity: 0.5; stroke-width: 1; }
.nv-hist-on { stroke: #d62728; stroke-opacity: 1; stroke-width: 2; }
.nv-node, .nv-group { cursor: pointer; }
.nv-node:hover rect { stroke-width: 2.2; }
.nv-selected rect { stroke: #d62728 !important; stroke-width: 2.5; }
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
  var panelFigures = [];  // the selected layer's pictures in an architecture panel

  function currentEpoch() {
    return epochSlider ? +epochSlider.value : Infinity;
  }

  function setEpoch(epoch) {
    figures.concat(panelFigures).forEach(function (fig) {
      if (fig.frames.length > 1) { show(fig, frameAt(fig, epoch)); }
    });
    // Queried each time: a layer's charts are added to the page when it is clicked.
    document.querySelectorAll("svg.nv-hists").forEach(function (svg) {
      var lines = svg.querySelectorAll(".nv-hist"), best = null;
      lines.forEach(function (l) {
        var e = +l.getAttribute("data-epoch");
        if (e <= epoch && (best === null || e > best)) { best = e; }
      });
      lines.forEach(function (l) {
        l.classList.toggle("nv-hist-on", +l.getAttribute("data-epoch") === best);
      });
    });
    document.querySelectorAll(".nv-marker").forEach(function (m) {
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
  // ---- architecture graphs: click a nested model to open it, a layer for its pictures ----
  function element(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  function svgNode(text) {
    return new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
  }

  function panelFigure(fid, info) {
    var frames = data.frames[fid] || [];
    var box = element("figure", "nv-figure");
    box.appendChild(element("div", "nv-figure-title", info.section + " · " + info.title));
    var img = element("img", "nv-img");
    img.setAttribute("alt", info.title);
    img.style.maxWidth = "340px";
    box.appendChild(img);
    var label = element("span", "nv-frame-label");
    var controls = element("div", "nv-frame-controls");
    controls.appendChild(label);
    box.appendChild(controls);
    var fig = { el: box, frames: frames, img: img, slider: null, label: label, caption: null };
    show(fig, frames.length > 1 ? frameAt(fig, currentEpoch()) : frames.length - 1);
    panelFigures.push(fig);
    return box;
  }

  function showLayer(graph, panel, node) {
    panelFigures = [];
    panel.replaceChildren();
    panel.appendChild(element("h4", "", node.id));
    var dl = element("dl");
    [["type", node.type], ["output shape", node.shape],
     ["parameters", Number(node.params).toLocaleString()],
     ["inside", node.group || "the model"]].forEach(function (row) {
      dl.appendChild(element("dt", "", row[0]));
      dl.appendChild(element("dd", "", row[1]));
    });
    panel.appendChild(dl);
    var gallery = element("div", "nv-gallery");
    var shown = 0;
    Object.keys(data.tags).forEach(function (fid) {
      var info = data.tags[fid];
      if (info.part !== graph.part || shown >= 12) { return; }
      if (info.tag === node.id || info.tag.indexOf(node.id + "/") === 0) {
        gallery.appendChild(panelFigure(fid, info));
        shown += 1;
      }
    });
    (graph.series[node.id] || []).forEach(function (text) {
      var holder = element("div", "nv-figure");
      holder.appendChild(svgNode(text));
      gallery.appendChild(holder);
      shown += 1;
    });
    if (shown) {
      panel.appendChild(gallery);
    } else {
      panel.appendChild(element("p", "nv-note", "No callback recorded this layer. " +
        "ActivationMaps(layers=[...]), WeightMatrices, GradientFlow and DeadUnits do."));
    }
    if (epochSlider) { setEpoch(+epochSlider.value); }
    panel.setAttribute("data-layer", node.id);
  }

  document.querySelectorAll(".nv-arch[data-graph]").forEach(function (host) {
    var graph = data.graphs[host.getAttribute("data-graph")];
    if (!graph) { return; }
    var byId = {};
    graph.nodes.forEach(function (n) { byId[n.id] = n; });
    var open = {}, selected = null;
    var area = host.querySelector(".nv-arch-graph"), panel = host.querySelector(".nv-arch-panel");
    function draw() {
      var key = graph.groups.filter(function (g) { return open[g]; }).join("\u0000");
      var text = graph.svgs[key];
      if (text === undefined) { text = graph.svgs[graph.fallback]; }
      area.replaceChildren(svgNode(text));
      area.querySelectorAll(".nv-node,.nv-group").forEach(function (el) {
        var id = el.getAttribute("data-id");
        if (selected && id === selected) { el.classList.add("nv-selected"); }
        el.addEventListener("click", function (ev) {
          ev.stopPropagation();
          var g = el.getAttribute("data-group");
          if (g && (el.classList.contains("nv-group") || el.classList.contains("nv-closed"))) {
            open[g] = !open[g];
            if (byId[g]) { selected = g; showLayer(graph, panel, byId[g]); }
            draw();
            return;
          }
          if (byId[id]) { selected = id; showLayer(graph, panel, byId[id]); draw(); }
        });
      });
    }
    draw();
  });

  // ---- a page written while training runs: follow it until the fit ends ----
  var live = data.live;
  if (live) {
    var storeKey = "nv-live:" + location.pathname;
    var paused = false;
    var text = document.getElementById("nv-live-text");
    var how = document.getElementById("nv-live-how");
    var pause = document.getElementById("nv-live-pause");
    try {
      var saved = JSON.parse(sessionStorage.getItem(storeKey) || "{}");
      paused = !!saved.paused;
      if (saved.y) { window.scrollTo(0, saved.y); }
    } catch (e) { /* storage may be off for file:// pages: start at the top */ }
    function remember() {
      try {
        sessionStorage.setItem(storeKey, JSON.stringify({ y: window.scrollY, paused: paused }));
      } catch (e) { /* nothing to keep */ }
    }
    function label() { pause.textContent = paused ? "resume updates" : "pause updates"; }
    label();
    pause.addEventListener("click", function () { paused = !paused; remember(); label(); });
    function reload() { remember(); location.reload(); }
    function later() { setTimeout(tick, live.every_ms); }
    function tick() {
      if (paused) { later(); return; }
      if (live.state_url) {
        fetch(live.state_url, { cache: "no-store" })
          .then(function (r) { return r.json(); })
          .then(function (s) { if (s.state !== live.state) { reload(); } else { later(); } })
          .catch(later);
        return;
      }
      if (Date.now() - live.written_ms > live.stale_ms) {
        // An interrupted fit writes no final page: stop reloading and say so.
        document.getElementById("nv-live").classList.add("nv-stale");
        text.textContent = "no news since epoch " + live.epoch +
          " — training stopped or was interrupted";
        how.textContent = "reload the page by hand to check again";
        pause.style.display = "none";
        return;
      }
      reload();
    }
    later();
  }
  document.body.setAttribute("data-rendered", "1");
})();
"""
