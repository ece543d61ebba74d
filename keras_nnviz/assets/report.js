// The report page's script, inlined into every report (keras_nnviz/report/_page.py).
// Reads the frames from the JSON block (never from HTML), sets only src/value/textContent.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("nv-data").textContent);
  var embeddings = nvEmbeddings(data);  // assets/embedding.js
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
    if (fig.img && fig.img.classList.contains("nv-zoomable")) {
      fig.img.addEventListener("click", function () {
        var k = fig.img.classList.toggle("nv-zoomed") ? 2 : 0.5;
        ["width", "height"].forEach(function (a) {
          fig.img.setAttribute(a, String(Math.round(+fig.img.getAttribute(a) * k)));
        });
        fig.img.title = k === 2 ? "click to shrink" : "click to enlarge";
      });
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
    embeddings.setEpoch(epoch);
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
      epochLabel.textContent = epoch === 0 ? "before training" :
        "epoch " + epoch + " of " + epochSlider.max;
    }
  }

  if (epochSlider) {
    epochSlider.addEventListener("input", function () { setEpoch(+epochSlider.value); });
    var play = document.getElementById("nv-play");
    var timer = null;
    play.addEventListener("click", function () {
      if (timer) { clearInterval(timer); timer = null; play.textContent = "\u25B6 play"; return; }
      if (+epochSlider.value >= +epochSlider.max) { epochSlider.value = epochSlider.min; }
      setEpoch(+epochSlider.value);
      play.textContent = "\u275A\u275A pause";
      timer = setInterval(function () {
        var next = +epochSlider.value + 1;
        if (next > +epochSlider.max) {
          clearInterval(timer); timer = null; play.textContent = "\u25B6 play"; return;
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
    var weights = (graph.weights || {})[node.id] || [];
    if (weights.length) {
      var table = element("table", "nv-table nv-weight-stats");
      var head = element("tr");
      ["weight", "shape", "mean", "std", "min", "max", "norm"].forEach(function (h, i) {
        head.appendChild(element("th", i > 1 ? "nv-num" : "", h));
      });
      table.appendChild(head);
      weights.forEach(function (w) {
        var row = element("tr");
        row.appendChild(element("td", "", w.name));
        row.appendChild(element("td", "", "(" + w.shape.join(", ") + ")"));
        ["mean", "std", "min", "max", "norm"].forEach(function (k) {
          var v = w[k];
          row.appendChild(element("td", "nv-num", v === null ? "nan" : Number(v).toPrecision(3)));
        });
        table.appendChild(row);
      });
      panel.appendChild(table);
    }
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
      panel.appendChild(element("p", "nv-note", graph.empty));
    }
    if (epochSlider) { setEpoch(+epochSlider.value); }
    panel.setAttribute("data-layer", node.id);
  }

  document.querySelectorAll(".nv-arch[data-graph]").forEach(function (host) {
    var graph = data.graphs[host.getAttribute("data-graph")];
    if (!graph) { return; }
    var byId = {};
    graph.nodes.forEach(function (n) { byId[n.id] = n; });
    var open = {}, selected = null, tools = null, last = null;
    var area = host.querySelector(".nv-arch-graph"), panel = host.querySelector(".nv-arch-panel");
    tools = nvGraphTools(function (bar) { host.insertBefore(bar, area); }, area, graph, {
      openTo: function (id) {
        tools.ancestors(id).forEach(function (g) { open[g] = true; });
        last = tools.ancestors(id)[0] || null;
        draw();
      },
      openAll: function (flag) {
        graph.groups.forEach(function (g) { open[g] = flag; });
        last = null;
        draw();
      },
      select: function (id) { selected = id; showLayer(graph, panel, byId[id]); draw(); }
    });
    function draw() {
      var text = graph.svgs[tools.key(open, last)];
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
            last = g;
            if (byId[g]) { selected = g; showLayer(graph, panel, byId[g]); }
            draw();
            return;
          }
          if (byId[id]) { selected = id; showLayer(graph, panel, byId[id]); draw(); }
        });
      });
      tools.decorate();
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
