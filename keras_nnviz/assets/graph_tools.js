// The architecture graph's tools (keras_nnviz/plot/architecture.py and keras_nnviz/report/_page.py):
// zoom in / out / fit, search by layer name (opens the nested models around a match,
// highlights it and scrolls to it) and export of the drawn SVG. Builds its toolbar with createElement/textContent only.
// nvGraphTools(place, area, graph, api) -> {decorate(), ancestors(id), key(open, last)}:
// place(bar) puts the toolbar in the page; api.openTo(id) opens the groups around a layer and
// redraws; api.openAll(flag) opens (true) or closes every group; api.select(id) shows the
// layer's details. key(open, last) is the drawing to show for the open groups.
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
  var save = el("button", "", "SVG"), png = el("button", "", "PNG");
  var all = el("button", "", "expand all"), none = el("button", "", "collapse all");
  out.title = "zoom out"; inn.title = "zoom in"; fit.title = "fit the width";
  save.title = "download the graph as drawn (SVG)";
  png.title = "download the graph as drawn (PNG, twice the size)";
  all.title = "open every nested model and repeated block";
  none.title = "close every nested model and repeated block";
  var tools = [search, count, out, inn, fit, save, png];
  if (graph.groups.length) { tools.push(all, none); }
  tools.forEach(function (b) { bar.appendChild(b); });
  all.addEventListener("click", function () { api.openAll(true); });
  none.addEventListener("click", function () { api.openAll(false); });
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
    download(URL.createObjectURL(new Blob([text], { type: "image/svg+xml" })), "architecture.svg");
  });

  function download(href, name) {
    var a = el("a");
    a.href = href;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }
  // PNG: the SVG drawn onto a canvas through a data: image (the page's CSP allows data: images
  // and nothing from the network), at twice its natural size.
  png.addEventListener("click", function () {
    var svg = svgEl();
    if (!svg) { return; }
    var n = natural(svg), copy = svg.cloneNode(true);
    copy.setAttribute("width", String(n.w)); copy.setAttribute("height", String(n.h));
    var text = new XMLSerializer().serializeToString(copy);
    var img = new Image();
    img.onload = function () {
      var canvas = el("canvas"), k = 2;
      canvas.width = Math.ceil(n.w * k); canvas.height = Math.ceil(n.h * k);
      var ctx = canvas.getContext("2d");
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      canvas.toBlob(function (blob) {
        area.setAttribute("data-png-bytes", String(blob ? blob.size : 0));
        if (blob) { download(URL.createObjectURL(blob), "architecture.png"); }
      }, "image/png");
    };
    img.src = "data:image/svg+xml;base64," + btoa(unescape(encodeURIComponent(text)));
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
  function ancestors(id) {
    var chain = [], g = byId[id] ? byId[id].group : null;
    while (g) { chain.push(g); g = byId[g] ? byId[g].group : null; }
    return chain;
  }
  function keyOf(open) {
    return graph.groups.filter(function (g) { return open[g]; }).join("\u0000");
  }
  return {
    decorate: function () { applyZoom(); highlight(); },
    ancestors: ancestors,
    // The drawing for the open groups; a combination without its own drawing shows the group
    // toggled last with the groups around it (the others close: one block open at a time).
    key: function (open, last) {
      var k = keyOf(open);
      if (graph.svgs[k] !== undefined || !last) { return k; }
      var keep = !!open[last];
      Object.keys(open).forEach(function (g) { open[g] = false; });
      ancestors(last).forEach(function (g) { open[g] = true; });
      open[last] = keep;
      return keyOf(open);
    }
  };
}
