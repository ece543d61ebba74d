// The run list of `nnviz serve` (keras_nnviz/cli/_serve_pages.py): polls /api/runs.
(function () {
  "use strict";
  var boot = JSON.parse(document.getElementById("nv-data").textContent);
  var body = document.getElementById("nv-runs");
  function cell(row, text, cls) {
    var td = document.createElement("td"); td.textContent = text;
    if (cls) { td.className = cls; } row.appendChild(td); return td;
  }
  function draw(runs) {
    body.replaceChildren();
    runs.forEach(function (r) {
      var row = document.createElement("tr");
      var link = document.createElement("a");
      // Each segment encoded whole: a folder named "run?x" or "a#b" is a path, not a query.
      link.href = "/run/" + (r.run ? r.run.split("/").map(encodeURIComponent).join("/") + "/" : "");
      link.textContent = r.run || "(the folder itself)";
      cell(row, "").appendChild(link);
      cell(row, (r.models || []).join(", "));
      cell(row, r.error ? "cannot read: " + r.error
        : r.stopped ? "stopped (no update since " + r.since + ") after epoch " + r.epoch
        : r.running ? "training — epoch " + r.epoch + (r.epochs ? " of " + r.epochs : "")
        : (r.epoch ? r.epoch + " epochs" : "—"), r.running ? "running" : "");
      body.appendChild(row);
    });
    document.getElementById("nv-count").textContent = String(runs.length);
    document.body.setAttribute("data-runs", String(runs.length));
  }
  function poll() {
    fetch("/api/runs", { cache: "no-store" }).then(function (r) { return r.json(); })
      .then(draw).catch(function () {}).then(function () { setTimeout(poll, boot.every_ms); });
  }
  draw(boot.runs);
  setTimeout(poll, boot.every_ms);
  document.body.setAttribute("data-rendered", "1");
})();
