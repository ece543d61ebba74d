// The architecture graph's tools (keras_nnviz/plot/architecture.py and keras_nnviz/report/_page.py):
// zoom in / out / fit, search by layer name (opens the nested models around a match,
// highlights it and scrolls to it) and export of the drawn SVG. Builds its toolbar with createElement/textContent only.
// nvGraphTools(place, area, graph, api) -> {decorate(), ancestors(id)}: place(bar) puts the
// toolbar in the page; api.openTo(id) opens the groups around a layer and redraws;
// api.select(id) shows the layer's details.
function nvGraphTools(place, area, graph, api) {
  "use strict";
  var zoom = 1, matches = [], at = -1;
  var byId = {};
  graph.nodes.forEach(function (n) { byId[n.id] = n; });
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  var bar = el("div", "nv-graph-tools");
  var search = el("input", "nv-graph-search");
  search.type = "search";
  search.placeholder = "find a layer";
  search.setAttribute("aria-label", "find a layer by name");
  var count = el("span", "nv-graph-count", "");
  var out = el("button", "", "\u2212"), inn = el("button", "", "+"), fit = el("button", "", "fit");
  var save = el("button", "", "SVG");
  out.title = "zoom out"; inn.title = "zoom in"; fit.title = "fit the width";
  save.title = "download the graph as drawn (SVG)";
  [search, count, out, inn, fit, save].forEach(function (b) { bar.appendChild(b); });
  place(bar);

  function svgEl() { return area.querySelector("svg"); }
  function natural(svg) {
    var vb = (svg.getAttribute("viewBox") || "0 0 100 100").split(" ");
    return { w: +vb[2], h: +vb[3] };
  }
  function applyZoom() {
    var svg = svgEl();
    if (!svg) { return; }
    var n = natural(svg);
    svg.setAttribute("width", (n.w * zoom).toFixed(0));
    svg.setAttribute("height", (n.h * zoom).toFixed(0));
    area.setAttribute("data-zoom", zoom.toFixed(3));
  }
  function setZoom(z) { zoom = Math.max(0.1, Math.min(4, z)); applyZoom(); }
  out.addEventListener("click", function () { setZoom(zoom / 1.25); });
  inn.addEventListener("click", function () { setZoom(zoom * 1.25); });
  fit.addEventListener("click", function () {
    var svg = svgEl();
    if (svg) { setZoom((area.clientWidth - 4) / natural(svg).w); }
  });
  save.addEventListener("click", function () {
    var svg = svgEl();
    if (!svg) { return; }
    var text = new XMLSerializer().serializeToString(svg);
    var a = el("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
    a.download = "architecture.svg";
    document.body.appendChild(a);
    a.click();
    a.remove();
  });

  function highlight() {
    var svg = svgEl();
    if (!svg) { return; }
    svg.querySelectorAll(".nv-match").forEach(function (g) { g.classList.remove("nv-match"); });
    matches.forEach(function (id, k) {
      svg.querySelectorAll(".nv-node").forEach(function (g) {
        if (g.getAttribute("data-id") === id) {
          g.classList.add("nv-match");
          if (k === at) { g.classList.add("nv-current"); } else { g.classList.remove("nv-current"); }
        }
      });
    });
  }
  function focus() {
    if (at < 0 || !matches.length) { return; }
    var id = matches[at];
    api.openTo(id); // redraws; decorate() re-applies zoom and highlight
    var svg = svgEl(), target = null;
    if (svg) {
      svg.querySelectorAll(".nv-node").forEach(function (g) {
        if (g.getAttribute("data-id") === id) { target = g; }
      });
    }
    if (target) {
      var box = target.getBoundingClientRect(), host = area.getBoundingClientRect();
      area.scrollTop += box.top - host.top - area.clientHeight / 2 + box.height / 2;
      area.scrollLeft += box.left - host.left - area.clientWidth / 2 + box.width / 2;
    }
    count.textContent = (at + 1) + " of " + matches.length;
    api.select(id);
  }
  function find() {
    var q = search.value.trim().toLowerCase();
    matches = q ? graph.nodes.filter(function (n) {
      return !n.is_group && n.id.toLowerCase().indexOf(q) >= 0;
    }).map(function (n) { return n.id; }) : [];
    at = matches.length ? 0 : -1;
    count.textContent = q ? (matches.length ? "" : "no layer matches") : "";
    if (matches.length) { focus(); } else { highlight(); }
  }
  search.addEventListener("input", find);
  search.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && matches.length) {
      ev.preventDefault();
      at = (at + (ev.shiftKey ? matches.length - 1 : 1)) % matches.length;
      focus();
    }
  });
  return {
    decorate: function () { applyZoom(); highlight(); },
    ancestors: function (id) {
      var chain = [], g = byId[id] ? byId[id].group : null;
      while (g) { chain.push(g); g = byId[g] ? byId[g].group : null; }
      return chain;
    }
  };
}
