"""``nnviz serve LOGDIR``: watch training runs in a browser, on 127.0.0.1 only.

Every folder under ``LOGDIR`` (itself included, three levels deep) holding a callbacks'
manifest is a *run*. The server (standard library ``http.server``, one thread per request)
answers:

* ``/`` — the runs, with their models and progress; the list follows new runs and fits;
* ``/run/<path>/`` — the report of one run, built from its manifest on each request, pictures
  linked; its script polls ``/api/state`` and reloads when the run has news;
* ``/run/<path>/<file>`` — a file of the run (the pictures), only from inside ``LOGDIR``;
* ``/api/runs`` and ``/api/state?run=<path>`` — the JSON the pages poll.

Nothing is fetched from the network; the server binds the loopback interface only, serves GET
and HEAD, and resolves every path with :func:`keras_nnviz.io.paths.contained` (no ``..``, no
absolute path, no symlink out of ``LOGDIR``).
"""

from __future__ import annotations

import json
import mimetypes
import os
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ..html import document, esc
from ..io import MANIFEST_NAME
from ..io.paths import contained

HOST = "127.0.0.1"
DEPTH = 3
POLL_SECONDS = 2.0


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


def run_state(root: Path, run: str) -> dict[str, Any] | None:
    """The state of one run (see :func:`keras_nnviz.report._manifest.state`), None if unknown."""
    from ..report import _manifest

    folder = contained(root, run) if run else root.resolve()
    if folder is None or not (folder / MANIFEST_NAME).is_file():
        return None
    try:
        manifest = _manifest.read(folder)
    except Exception as exc:  # noqa: BLE001 - a half-copied manifest must not stop the server
        return {"state": f"error:{exc}", "running": False, "epoch": 0, "epochs": None,
                "models": [], "error": str(exc)}  # fmt: skip
    return {"run": run, **_manifest.state(manifest)}


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
    )
    return render(report_page(folder, out_dir=folder, embed=False, live=live))


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
      link.href = "/run/" + (r.run ? encodeURI(r.run) + "/" : "");
      link.textContent = r.run || "(the folder itself)";
      cell(row, "").appendChild(link);
      cell(row, (r.models || []).join(", "));
      cell(row, r.running ? "training — epoch " + r.epoch + (r.epochs ? " of " + r.epochs : "")
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


class _Handler(BaseHTTPRequestHandler):
    root: Path  # set on the subclass made by make_server
    server_version = "nnviz"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: the terminal shows the URL, not every picture fetched

    def _send(self, status: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _text(self, status: int, text: str) -> None:
        self._send(status, text.encode("utf-8"), "text/plain; charset=utf-8")

    def _json(self, value: Any) -> None:
        self._send(HTTPStatus.OK, json.dumps(value).encode("utf-8"), "application/json")

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        try:
            if path == "/":
                html = index_html(self.root)
                self._send(HTTPStatus.OK, html.encode("utf-8"), "text/html; charset=utf-8")
            elif path == "/api/runs":
                self._json([s for s in map(self._state, find_runs(self.root)) if s])
            elif path == "/api/state":
                run = urllib.parse.parse_qs(url.query).get("run", [""])[0]
                state = self._state(run)
                if state is None:
                    self._text(HTTPStatus.NOT_FOUND, f"no run {run!r}")
                else:
                    self._json(state)
            elif path.startswith("/run/"):
                self._run(path[len("/run/") :])
            else:
                self._text(HTTPStatus.NOT_FOUND, "not found")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away
        except Exception as exc:  # noqa: BLE001 - one bad request must not stop the server
            self._text(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")

    def _state(self, run: str) -> dict[str, Any] | None:
        return run_state(self.root, run.strip("/"))

    def _run(self, rel: str) -> None:
        if rel == "" or rel.endswith("/"):
            run = rel.strip("/")
            folder = contained(self.root, run) if run else self.root.resolve()
            if folder is None or not (folder / MANIFEST_NAME).is_file():
                self._text(HTTPStatus.NOT_FOUND, f"no run {run!r} in this folder")
                return
            html = report_html(self.root, run)
            self._send(HTTPStatus.OK, html.encode("utf-8"), "text/html; charset=utf-8")
            return
        file = contained(self.root, rel)
        if file is None or not file.is_file():
            self._text(HTTPStatus.NOT_FOUND, "not found")
            return
        ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        extra = {}
        if ctype in ("text/html", "image/svg+xml"):
            # A page found in the folder runs in an opaque origin: it cannot use this server.
            extra["Content-Security-Policy"] = "sandbox allow-scripts"
        self._send(HTTPStatus.OK, file.read_bytes(), ctype, extra)


def make_server(log_dir: str | os.PathLike, port: int = 0) -> ThreadingHTTPServer:
    """A server of ``log_dir`` on 127.0.0.1 (``port=0``: a free port; see ``server_port``).

    Run it with ``serve_forever()`` and stop it with ``shutdown()`` then ``server_close()``.

    Example:
        >>> server = make_server("logs")
        >>> threading.Thread(target=server.serve_forever, daemon=True).start()  # or block
        >>> print(f"http://127.0.0.1:{server.server_port}/")
    """
    root = Path(log_dir).resolve()
    handler = type("Handler", (_Handler,), {"root": root})
    server = ThreadingHTTPServer((HOST, int(port)), handler)
    server.daemon_threads = True
    return server


def serve(log_dir: str | os.PathLike, port: int = 6007, say=print) -> None:
    """Serve ``log_dir`` until Ctrl-C (the ``nnviz serve`` command)."""
    server = make_server(log_dir, port)
    say(f"nnviz serve: http://{HOST}:{server.server_port}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        say("nnviz serve: stopped")
    finally:
        server.server_close()
