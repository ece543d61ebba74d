// The compare page of `nnviz serve` (keras_nnviz/cli/_serve_pages.py): the runs' curves
// overlaid (exponential smoothing), and one section of each run side by side at an epoch.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("nv-data").textContent);
  var root = document.getElementById("nv-compare");
  var COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"];
  var NS = "http://www.w3.org/2000/svg";
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function union(get) {
    var seen = {};
    D.runs.forEach(function (r) { Object.keys(get(r)).forEach(function (k) { seen[k] = 1; }); });
    return Object.keys(seen).sort();
  }
  var metrics = union(function (r) { return r.curves; });
  var sections = union(function (r) { return r.frames; });
  var state = { metric: metrics.indexOf("loss") >= 0 ? "loss" : metrics[0], smooth: 0,
    section: sections[0], epoch: null };

  function smooth(points, s) {
    var out = [], m = null;
    points.forEach(function (p) { m = m === null ? p[1] : s * m + (1 - s) * p[1]; out.push([p[0], m]); });
    return out;
  }
  function chart() {
    var w = 640, h = 300, L = 56, R = 12, T = 14, B = 34;
    var box = svg("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h, id: "nv-chart" });
    var series = D.runs.map(function (r) { return smooth(r.curves[state.metric] || [], state.smooth); });
    var xs = [], ys = [];
    series.forEach(function (s) { s.forEach(function (p) { xs.push(p[0]); ys.push(p[1]); }); });
    if (!xs.length) { box.appendChild(svg("text", { x: 20, y: 40 }, "no values of " + state.metric)); return box; }
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    if (x1 === x0) { x1 = x0 + 1; } if (y1 === y0) { y1 = y0 + 1; }
    function X(v) { return L + (v - x0) / (x1 - x0) * (w - L - R); }
    function Y(v) { return T + (1 - (v - y0) / (y1 - y0)) * (h - T - B); }
    box.appendChild(svg("rect", { x: L, y: T, width: w - L - R, height: h - T - B, fill: "#fbfcfd", stroke: "#dde1e8" }));
    for (var k = 0; k <= 4; k++) {
      var yv = y0 + k * (y1 - y0) / 4;
      box.appendChild(svg("text", { x: L - 6, y: Y(yv) + 4, "text-anchor": "end", "font-size": 11, fill: "#5b6474" }, String(+yv.toPrecision(3))));
    }
    box.appendChild(svg("text", { x: L, y: h - 8, "font-size": 11, fill: "#5b6474" }, "epoch " + x0));
    box.appendChild(svg("text", { x: w - R, y: h - 8, "text-anchor": "end", "font-size": 11, fill: "#5b6474" }, "epoch " + x1));
    series.forEach(function (s, i) {
      if (!s.length) { return; }
      var d = s.map(function (p, j) { return (j ? "L" : "M") + X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1); }).join(" ");
      box.appendChild(svg("path", { d: d, fill: "none", stroke: COLOURS[i % COLOURS.length], "stroke-width": 2, "class": "nv-series", "data-run": D.runs[i].run }));
    });
    return box;
  }
  function framesAt(r) {
    var list = r.frames[state.section] || [], best = null;
    list.forEach(function (f) { if (state.epoch === null || f[0] <= state.epoch) { best = f; } });
    return best;
  }
  function epochs() {
    var seen = {};
    D.runs.forEach(function (r) { (r.frames[state.section] || []).forEach(function (f) { seen[f[0]] = 1; }); });
    return Object.keys(seen).map(Number).sort(function (a, b) { return a - b; });
  }
  var curvePanel = el("div", "nv-block"), sectionPanel = el("div", "nv-block");
  function drawCurves() {
    curvePanel.replaceChildren();
    var controls = el("div", "nv-row");
    var pick = el("select");
    metrics.forEach(function (m) { var o = el("option", "", m); o.value = m; pick.appendChild(o); });
    pick.value = state.metric;
    pick.addEventListener("change", function () { state.metric = pick.value; drawCurves(); });
    var slider = el("input"); slider.type = "range"; slider.min = "0"; slider.max = "0.95"; slider.step = "0.05";
    slider.value = String(state.smooth); slider.id = "nv-smooth";
    slider.addEventListener("input", function () { state.smooth = +slider.value; drawCurves(); });
    controls.appendChild(el("label", "", "curve "));
    controls.appendChild(pick);
    controls.appendChild(el("label", "", " smoothing " + state.smooth.toFixed(2) + " "));
    controls.appendChild(slider);
    curvePanel.appendChild(controls);
    curvePanel.appendChild(chart());
    var legend = el("div", "nv-legend");
    D.runs.forEach(function (r, i) {
      var s = el("span", "nv-swatch"); s.style.background = COLOURS[i % COLOURS.length];
      legend.appendChild(s); legend.appendChild(document.createTextNode(r.run || "(the folder itself)"));
    });
    curvePanel.appendChild(legend);
  }
  function drawSection() {
    sectionPanel.replaceChildren();
    if (!sections.length) { sectionPanel.appendChild(el("p", "sub", "These runs recorded no pictures.")); return; }
    var list = epochs();
    if (state.epoch === null || list.indexOf(state.epoch) < 0) { state.epoch = list[list.length - 1]; }
    var controls = el("div", "nv-row"), pick = el("select");
    sections.forEach(function (s) { var o = el("option", "", s); o.value = s; pick.appendChild(o); });
    pick.value = state.section;
    pick.addEventListener("change", function () { state.section = pick.value; state.epoch = null; drawSection(); });
    var slider = el("input"); slider.type = "range"; slider.min = "0"; slider.max = String(list.length - 1);
    slider.value = String(list.indexOf(state.epoch)); slider.id = "nv-epoch";
    slider.addEventListener("input", function () { state.epoch = list[+slider.value]; drawSection(); });
    controls.appendChild(el("label", "", "section "));
    controls.appendChild(pick);
    controls.appendChild(el("label", "", " epoch " + state.epoch + " "));
    controls.appendChild(slider);
    sectionPanel.appendChild(controls);
    var row = el("div", "nv-side-by-side");
    D.runs.forEach(function (r) {
      var col = el("figure", "nv-run-frame"), f = framesAt(r);
      col.appendChild(el("figcaption", "", (r.run || "(the folder itself)") + (f ? " · epoch " + f[0] : "")));
      if (f) { var img = el("img"); img.src = f[1]; img.alt = state.section + " of " + r.run; col.appendChild(img); }
      else { col.appendChild(el("p", "sub", "no picture of this section")); }
      row.appendChild(col);
    });
    sectionPanel.appendChild(row);
  }
  root.appendChild(el("h2", "", "Curves"));
  root.appendChild(curvePanel);
  root.appendChild(el("h2", "", "The same section, side by side"));
  root.appendChild(sectionPanel);
  drawCurves();
  drawSection();
  document.body.setAttribute("data-rendered", "1");
})();
