// The attention neuron view (keras_nnviz/plot/neuron_view.py): for a layer, head and query
// token, the query vector q, every key vector k, q×k elementwise, q·k/√d and its softmax.
// Builds its DOM with createElement/textContent only.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("nv-data").textContent);
  var state = { layer: 0, head: 0, query: 0 };
  var controls = document.getElementById("nv-controls");
  var view = document.getElementById("nv-neurons");
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function colour(v, max) {  // blue (negative) - white - red (positive)
    var t = max > 0 ? Math.max(-1, Math.min(1, v / max)) : 0;
    var a = Math.round(255 * (1 - Math.abs(t)));
    return t >= 0 ? "rgb(255," + a + "," + a + ")" : "rgb(" + a + "," + a + ",255)";
  }
  function cells(values, max, title) {
    var row = el("span", "nv-cells");
    values.forEach(function (v, i) {
      var c = el("span", "nv-cell");
      c.style.background = colour(v, max);
      c.title = title + "[" + i + "] = " + v.toPrecision(3);
      row.appendChild(c);
    });
    return row;
  }
  function select(label, n, names, key) {
    var wrap = el("label", "", label + " "), s = el("select");
    s.setAttribute("aria-label", label);
    for (var i = 0; i < n; i++) {
      var o = el("option", "", names ? names[i] : String(i));
      o.value = String(i);
      s.appendChild(o);
    }
    s.value = String(state[key]);
    s.addEventListener("change", function () {
      state[key] = +s.value;
      if (key === "layer") { state.head = 0; state.query = 0; build(); }
      draw();
    });
    wrap.appendChild(s);
    return wrap;
  }
  function build() {
    var layer = D.layers[state.layer];
    controls.replaceChildren(
      select("layer", D.layers.length, D.layers.map(function (l) { return l.name; }), "layer"),
      select("head", layer.query.length, null, "head")
    );
  }
  function label(tokens, i) { return tokens ? tokens[i] : String(i); }
  function draw() {
    var layer = D.layers[state.layer], h = state.head;
    var Q = layer.query[h], K = layer.key[h], q = Q[state.query], d = q.length;
    var prods = K.map(function (k) { return k.map(function (v, i) { return v * q[i]; }); });
    var logits = prods.map(function (p) {
      return p.reduce(function (a, b) { return a + b; }, 0) / Math.sqrt(d);
    });
    var top = Math.max.apply(null, logits);
    var ex = logits.map(function (z) { return Math.exp(z - top); });
    var sum = ex.reduce(function (a, b) { return a + b; }, 0);
    var weights = ex.map(function (e) { return e / sum; });
    var vmax = 0, pmax = 0;
    Q.concat(K).forEach(function (v) { v.forEach(function (x) { vmax = Math.max(vmax, Math.abs(x)); }); });
    prods.forEach(function (p) { p.forEach(function (x) { pmax = Math.max(pmax, Math.abs(x)); }); });
    view.replaceChildren();
    var grid = el("div", "nv-grid");
    var queries = el("div", "nv-queries");
    queries.appendChild(el("div", "nv-head", "query"));
    Q.forEach(function (_, i) {
      var t = el("button", "nv-token" + (i === state.query ? " nv-on" : ""), label(layer.q_tokens, i));
      t.type = "button";
      t.setAttribute("data-query", String(i));
      t.addEventListener("click", function () { state.query = i; draw(); });
      queries.appendChild(t);
    });
    var table = el("div", "nv-table");
    var head = el("div", "nv-row nv-head");
    var widths = [90, d * 7 + 2, d * 7 + 2, 48, 90 + 10 + 48];
    ["key", "k", "q \u00d7 k", "q\u00b7k/\u221ad", "weight"].forEach(function (t, i) {
      var c = el("span", "nv-col" + (i === 3 ? " nv-num" : ""), t);
      c.style.minWidth = c.style.maxWidth = widths[i] + "px";
      head.appendChild(c);
    });
    table.appendChild(head);
    var qrow = el("div", "nv-row nv-qrow");
    qrow.appendChild(el("span", "nv-col nv-key", "q: " + label(layer.q_tokens, state.query)));
    qrow.appendChild(cells(q, vmax, "q"));
    table.appendChild(qrow);
    K.forEach(function (k, j) {
      var row = el("div", "nv-row");
      row.setAttribute("data-key", String(j));
      row.appendChild(el("span", "nv-col nv-key", label(layer.k_tokens, j)));
      row.appendChild(cells(k, vmax, "k"));
      row.appendChild(cells(prods[j], pmax, "q\u00d7k"));
      row.appendChild(el("span", "nv-col nv-num", logits[j].toFixed(2)));
      var bar = el("span", "nv-bar");
      var fill = el("span", "nv-fill");
      fill.style.width = (100 * weights[j]).toFixed(1) + "%";
      bar.appendChild(fill);
      bar.title = "weight " + weights[j].toFixed(3);
      row.appendChild(bar);
      row.appendChild(el("span", "nv-col nv-num", weights[j].toFixed(3)));
      table.appendChild(row);
    });
    grid.appendChild(queries);
    grid.appendChild(table);
    view.appendChild(grid);
    view.appendChild(el("p", "nv-sub", "d = " + d + " per head; colours: q and k on one scale " +
      "(\u00b1" + vmax.toPrecision(3) + "), q\u00d7k on its own (\u00b1" + pmax.toPrecision(3) +
      "). The softmax is over every key: padding and causal masks are not applied."));
    document.body.setAttribute("data-query", String(state.query));
    document.body.setAttribute("data-rendered", String(+(document.body.getAttribute("data-rendered") || 0) + 1));
  }
  build();
  draw();
})();
