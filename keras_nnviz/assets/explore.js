// The explorer page's script (keras_nnviz/report/explorer.py): pick a sample, a class, a method
// and a layer; fetch the map from the server that served the page (/api/explain) and show it.
// Builds everything with createElement/textContent; reads its data from the JSON block.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("nv-data").textContent);
  var root = document.getElementById("nv-explore");
  var state = { sample: 0, target: "", layer: "", a: D.default_method, b: "" };
  var seq = 0;
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function name(k) {
    return D.class_names && k >= 0 && k < D.class_names.length ? D.class_names[k] : String(k);
  }
  function select(label, options, value, onChange) {
    var wrap = el("label", "nv-field", label + " "), s = el("select");
    options.forEach(function (o) {
      var opt = el("option", "", o[1]);
      opt.value = o[0];
      s.appendChild(opt);
    });
    s.value = value;
    s.addEventListener("change", function () { onChange(s.value); });
    wrap.appendChild(s);
    return { wrap: wrap, select: s };
  }

  // ---- the samples ----
  var list = el("div", "nv-samples");
  D.samples.forEach(function (s) {
    var b = el("button", "nv-sample");
    b.setAttribute("data-sample", s.i);
    if (s.thumb) { var img = el("img"); img.src = s.thumb; img.alt = "sample " + s.i; b.appendChild(img); }
    var words = "#" + s.i;
    if (s.label !== undefined) { words += " · true " + name(s.label); }
    if (s.pred !== undefined) { words += " · pred " + name(s.pred); }
    b.appendChild(el("span", "nv-sample-label", words));
    if (s.tokens) { b.appendChild(el("span", "nv-sample-tokens", s.tokens.join(" "))); }
    if (s.label !== undefined && s.pred !== undefined && s.label !== s.pred) {
      b.classList.add("nv-wrong");
    }
    b.addEventListener("click", function () { state.sample = s.i; state.target = ""; build(); run(); });
    list.appendChild(b);
  });

  // ---- the controls and the two result panels ----
  var controls = el("div", "nv-controls"), panels = el("div", "nv-panels");
  var status = el("div", "nv-status", "");
  var methods = D.methods.map(function (m) { return [m.name, m.title]; });
  function build() {
    controls.replaceChildren();
    var s = D.samples[state.sample];
    var targets = [["", "predicted class" + (s.pred !== undefined ? " (" + name(s.pred) + ")" : "")]];
    (s.top || []).forEach(function (t) {
      targets.push([String(t[0]), name(t[0]) + " · p=" + t[1].toFixed(3)]);
    });
    var layers = [["", "default for the method"]].concat(D.layers.map(function (l) { return [l, l]; }));
    controls.appendChild(select("method", methods, state.a, function (v) { state.a = v; run(); }).wrap);
    controls.appendChild(select("beside it", [["", "—"]].concat(methods), state.b,
      function (v) { state.b = v; run(); }).wrap);
    controls.appendChild(select("class", targets, state.target,
      function (v) { state.target = v; run(); }).wrap);
    controls.appendChild(select("layer", layers, state.layer,
      function (v) { state.layer = v; run(); }).wrap);
    list.querySelectorAll(".nv-sample").forEach(function (b) {
      b.classList.toggle("nv-on", +b.getAttribute("data-sample") === state.sample);
    });
  }
  function show(panel, method, r) {
    panel.replaceChildren();
    var title = D.methods.filter(function (m) { return m.name === r.method; })[0];
    panel.appendChild(el("div", "nv-panel-title", (title ? title.title : r.method) +
      " · " + (r.layer || "the input") + " · class " + name(r.target)));
    if (r.kind === "image") {
      // The input beside its map: the overlay alone hides what it is drawn on.
      var pair = el("div", "nv-pair"), input = el("img", "nv-map"), img = el("img", "nv-map");
      input.src = D.samples[state.sample].thumb;
      input.alt = "sample " + state.sample;
      img.src = r.png;
      img.alt = r.method + " map of sample " + state.sample;
      pair.appendChild(input);
      pair.appendChild(img);
      panel.appendChild(pair);
    } else {
      var s = D.samples[state.sample], box = el("div", "nv-tokens"), top = 0;
      r.scores.forEach(function (v) { top = Math.max(top, Math.abs(v)); });
      r.scores.forEach(function (v, j) {
        var t = el("span", "nv-token", s.tokens && j < s.tokens.length ? s.tokens[j] : String(j));
        var a = top > 0 ? Math.abs(v) / top : 0;
        t.style.background = (v < 0 ? "rgba(33,102,172," : "rgba(178,24,43,") + a.toFixed(3) + ")";
        t.style.color = a > 0.6 ? "#fff" : "#111";
        t.title = v.toPrecision(4);
        box.appendChild(t);
      });
      panel.appendChild(box);
    }
    panel.appendChild(el("div", "nv-time", (r.cached ? "cached" : r.ms.toFixed(0) + " ms") +
      (r.signed ? " · signed map, drawn as magnitude" : "")));
    panel.setAttribute("data-method", r.method);
  }
  function fetchMap(method, panel, mine) {
    var q = "sample=" + state.sample + "&method=" + encodeURIComponent(method) +
      "&target=" + encodeURIComponent(state.target) + "&layer=" + encodeURIComponent(state.layer);
    panel.classList.add("nv-busy");
    return fetch("/api/explain?" + q, { cache: "no-store" })
      .then(function (resp) { return resp.json(); })
      .then(function (r) {
        if (mine !== seq) { return; }
        panel.classList.remove("nv-busy");
        if (r.error) { panel.replaceChildren(el("div", "nv-error", r.error)); return; }
        show(panel, method, r);
      });
  }
  function run() {
    var mine = ++seq;
    panels.replaceChildren();
    var jobs = [state.a].concat(state.b ? [state.b] : []);
    status.textContent = "computing…";
    var chain = Promise.resolve();
    jobs.forEach(function (m) {
      var panel = el("div", "nv-result");
      panels.appendChild(panel);
      chain = chain.then(function () { return fetchMap(m, panel, mine); });
    });
    chain.then(function () {
      if (mine === seq) {
        status.textContent = "";
        document.body.setAttribute("data-shown", String(mine));
      }
    }).catch(function (e) { status.textContent = "failed: " + e; });
  }
  var side = el("div", "nv-side"), main = el("div", "nv-main");
  side.appendChild(el("h2", "", "Samples"));
  side.appendChild(list);
  main.appendChild(controls);
  main.appendChild(status);
  main.appendChild(panels);
  root.appendChild(side);
  root.appendChild(main);
  build();
  run();
  document.body.setAttribute("data-rendered", "1");
})();
