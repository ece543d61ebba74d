"""The pages and JSON of ``nnviz serve`` (see :mod:`keras_nnviz.cli.serve`): the runs of a
folder, their states (a killed fit reads "stopped"), their live reports and the error page."""

from __future__ import annotations

import os
import urllib.parse
from http import HTTPStatus
from pathlib import Path
from typing import Any

from ..errors import NNVizError
from ..html import document, esc
from ..io import JOURNAL_NAME, MANIFEST_NAME
from ..io.paths import contained

DEPTH = 3
POLL_SECONDS = 2.0


def hidden(rel: str) -> bool:
    """Whether a relative path has a dotfile or dot-folder segment (``.env``, ``.git/config``)."""
    return any(part.startswith(".") for part in rel.split("/") if part)


def find_runs(root: Path, depth: int = DEPTH) -> list[str]:
    """Folders under ``root`` (itself included) holding a manifest, as POSIX paths ("" = root)."""
    runs = []
    root = root.resolve()
    for folder, dirs, files in os.walk(root, followlinks=False):
        rel = Path(folder).relative_to(root)
        if len(rel.parts) >= depth:
            dirs[:] = []
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if MANIFEST_NAME in files:
            runs.append("" if rel == Path(".") else rel.as_posix())
    return runs


def run_folder(root: Path, run: str) -> Path | None:
    """The folder of ``run`` if it is a run inside ``root`` (not hidden), else None."""
    if hidden(run):
        return None
    folder = contained(root, run) if run else root.resolve()
    if folder is None or not (folder / MANIFEST_NAME).is_file():
        return None
    return folder


def last_write(folder: Path) -> float | None:
    """When the run's manifest files were last written (``st_mtime``): the fits' heartbeat."""
    times = []
    for name in (MANIFEST_NAME, JOURNAL_NAME):
        try:
            times.append((folder / name).stat().st_mtime)
        except OSError:
            continue
    return max(times, default=None)


def run_state(root: Path, run: str) -> dict[str, Any] | None:
    """The state of one run (see :func:`keras_nnviz.report._manifest.state`), None if unknown."""
    from ..report import _manifest

    folder = run_folder(root, run)
    if folder is None:
        return None
    try:
        manifest = _manifest.read(folder)
        state = _manifest.state(manifest, last_write(folder))
    except Exception as exc:  # noqa: BLE001 - a damaged manifest must not stop the server
        return {"run": run, "state": f"error:{exc}", "running": False, "stopped": False,
                "since": None, "epoch": 0, "epochs": None, "models": [],
                "error": message(exc)}  # fmt: skip
    return {"run": run, **state}


def message(exc: BaseException) -> str:
    """One line saying what went wrong (our errors say it themselves; others name their type)."""
    text = str(exc) if isinstance(exc, NNVizError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def report_html(root: Path, run: str) -> str:
    """The live report of ``run``, its pictures linked under ``/run/<run>/``."""
    from ..report import LiveStatus, render, report_page

    folder = root.resolve() / run if run else root.resolve()
    state = run_state(root, run) or {"state": "", "running": False, "epoch": 0, "epochs": None}
    live = LiveStatus(
        state["epoch"],
        state["epochs"],
        reload_seconds=POLL_SECONDS,
        state_url="/api/state?run=" + urllib.parse.quote(run),
        state=state["state"],
        running=state["running"],
        stopped_since=state.get("since"),
    )
    return render(report_page(folder, out_dir=folder, embed=False, live=live))


def error_html(status: int, text: str) -> str:
    """A small page saying what went wrong (escaped; no traceback)."""
    title = f"{int(status)} {HTTPStatus(status).phrase}"
    body = f"<h1>nnviz serve · {esc(title)}</h1><p>{esc(text)}</p>"
    return document(title=f"nnviz serve · {title}", css=_INDEX_CSS, body=body, script="", data={})


_INDEX_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d2330; }
h1 { font-size: 20px; margin: 0 0 4px; } .sub { color: #5b6474; margin: 0 0 14px; }
table { border-collapse: collapse; } td, th { padding: 4px 12px; border-bottom: 1px solid #dde1e8;
text-align: left; } .running { color: #0d652d; font-weight: 600; }
"""

_INDEX_JS = """
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
"""


def index_html(root: Path) -> str:
    """The list of runs under ``root``; it follows new runs and fits by polling ``/api/runs``."""
    runs = [s for s in (run_state(root, r) for r in find_runs(root)) if s is not None]
    body = (
        f"<h1>nnviz serve · {esc(root.name or str(root))}</h1>"
        f'<p class="sub"><span id="nv-count">{len(runs)}</span> run(s) in {esc(str(root))}; '
        "this list follows new runs and fits.</p><table><thead><tr><th>run</th><th>models</th>"
        '<th>progress</th></tr></thead><tbody id="nv-runs"></tbody></table>'
    )
    data = {"runs": runs, "every_ms": int(POLL_SECONDS * 1000)}
    return document(
        title=f"nnviz serve · {root.name}",
        css=_INDEX_CSS,
        body=body,
        script=_INDEX_JS,
        data=data,
        connect_self=True,
    )
