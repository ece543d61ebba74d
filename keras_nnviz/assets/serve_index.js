// The runs table of `nnviz serve` (keras_nnviz/cli/_serve_pages.py): polls /api/runs. Columns:
// the run, its models and progress, the latest fit's final metrics and the hyperparameters
// (Report(hparams=) or a KerasTuner trial); a click on a header sorts, ticked runs compare.
(function () {
  "use strict";
  var boot = JSON.parse(document.getElementById("nv-data").textContent);
  var body = document.getElementById("nv-runs"), head = document.getElementById("nv-head");
  var link = document.getElementById("nv-compare-link");
  var sort = { key: "run", down: false }, ticked = {}, last = boot.runs;
  function cell(row, text, cls) {
    var td = document.createElement("td"); td.textContent = text;
    if (cls) { td.className = cls; } row.appendChild(td); return td;
  }
  function fmt(v) {
    if (typeof v === "number") { return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : String(+v.toPrecision(4)); }
    return v === undefined || v === null ? "" : String(v);
  }
  function progress(r) {
    return r.error ? "cannot read: " + r.error
      : r.stopped ? "stopped (no update since " + r.since + ") after epoch " + r.epoch
      : r.running ? "training — epoch " + r.epoch + (r.epochs ? " of " + r.epochs : "")
      : (r.epoch ? r.epoch + " epochs" : "—");
  }
  function value(r, key) {
    if (key === "run") { return r.run; }
    if (key === "models") { return (r.models || []).join(", "); }
    if (key === "progress") { return r.epoch || 0; }
    if (key.indexOf("m:") === 0) { return (r.metrics || {})[key.slice(2)]; }
    return (r.hparams || {})[key.slice(2)];
  }
  function updateLink() {
    var runs = Object.keys(ticked).filter(function (k) { return ticked[k]; });
    link.href = "/compare?runs=" + runs.map(encodeURIComponent).join(",");
    link.classList.toggle("nv-off", runs.length < 2);
    link.textContent = runs.length < 2 ? "tick two runs or more to compare them"
      : "compare " + runs.length + " runs";
  }
  function draw(runs) {
    last = runs;
    var metrics = {}, hparams = {};
    runs.forEach(function (r) {
      Object.keys(r.metrics || {}).forEach(function (k) { metrics[k] = 1; });
      Object.keys(r.hparams || {}).forEach(function (k) { hparams[k] = 1; });
    });
    var cols = [["", ""], ["run", "run"], ["models", "models"], ["progress", "progress"]]
      .concat(Object.keys(hparams).sort().map(function (k) { return ["h:" + k, k]; }))
      .concat(Object.keys(metrics).sort().map(function (k) { return ["m:" + k, k]; }));
    head.replaceChildren();
    cols.forEach(function (c) {
      var th = document.createElement("th");
      th.textContent = c[1] + (sort.key === c[0] && c[0] ? (sort.down ? " ▼" : " ▲") : "");
      if (c[0].indexOf("h:") === 0) { th.className = "nv-hp"; }
      if (c[0]) {
        th.setAttribute("data-key", c[0]);
        th.addEventListener("click", function () {
          sort = { key: c[0], down: sort.key === c[0] ? !sort.down : false };
          draw(last);
        });
      }
      head.appendChild(th);
    });
    var rows = runs.slice().sort(function (a, b) {
      var x = value(a, sort.key), y = value(b, sort.key);
      if (x === undefined || x === null) { return 1; }
      if (y === undefined || y === null) { return -1; }
      var c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return sort.down ? -c : c;
    });
    body.replaceChildren();
    rows.forEach(function (r) {
      var row = document.createElement("tr");
      row.setAttribute("data-run", r.run);
      var box = document.createElement("input");
      box.type = "checkbox"; box.checked = !!ticked[r.run];
      box.setAttribute("aria-label", "compare " + (r.run || "the folder itself"));
      box.addEventListener("change", function () { ticked[r.run] = box.checked; updateLink(); });
      cell(row, "").appendChild(box);
      var a = document.createElement("a");
      // Each segment encoded whole: a folder named "run?x" or "a#b" is a path, not a query.
      a.href = "/run/" + (r.run ? r.run.split("/").map(encodeURIComponent).join("/") + "/" : "");
      a.textContent = r.run || "(the folder itself)";
      cell(row, "").appendChild(a);
      cell(row, (r.models || []).join(", "));
      cell(row, progress(r), r.running ? "running" : "");
      cols.slice(4).forEach(function (c) { cell(row, fmt(value(r, c[0])), "nv-num"); });
      body.appendChild(row);
    });
    document.getElementById("nv-count").textContent = String(runs.length);
    document.body.setAttribute("data-runs", String(runs.length));
    updateLink();
  }
  function poll() {
    fetch("/api/runs", { cache: "no-store" }).then(function (r) { return r.json(); })
      .then(draw).catch(function () {}).then(function () { setTimeout(poll, boot.every_ms); });
  }
  draw(boot.runs);
  setTimeout(poll, boot.every_ms);
  document.body.setAttribute("data-rendered", "1");
})();
