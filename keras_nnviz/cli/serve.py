"""``nnviz serve LOGDIR``: watch training runs in a browser, on 127.0.0.1 only.

Every folder under ``LOGDIR`` (itself included, three levels deep, no dot-folders) holding a
callbacks' manifest is a *run*. The server (standard library ``http.server``, one thread per
connection) answers:

* ``/`` — the runs table: models, progress, final metrics, hyperparameters (sortable); it
  follows new runs and fits;
* ``/run/<path>/`` — the report of one run, built from its manifest on each request, pictures
  linked; its script polls ``/api/state`` and reloads when the run has news;
* ``/run/<path>/<file>`` — a file the run's manifest lists (its pictures), nothing else;
* ``/compare?runs=A,B`` — the runs' curves overlaid and one section of each side by side;
* ``/api/runs`` and ``/api/state?run=<path>`` — the JSON the pages poll.

It is meant to be safe on a shared machine and beside a browser that visits other sites:

* it binds the loopback interface only and answers only requests whose ``Host`` is the address
  it listens on (``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT``): a page on another
  site cannot reach it through DNS rebinding (421 otherwise);
* of the folder it serves only the files the manifests list, of the types in :data:`MEDIA`
  (pictures, tables, JSON): no dotfile or dot-folder (``.env``, ``.git``, the lock folder), no
  HTML, SVG or XML — so no planted page runs in its origin — and every path resolved with
  :func:`keras_nnviz.io.paths.contained` (no ``..``, no absolute path, no symlink out);
* every response carries ``X-Content-Type-Options: nosniff``, a Content-Security-Policy (the
  pages' own, from their meta tag; ``default-src 'none'; sandbox`` for files, JSON and errors),
  ``Referrer-Policy: no-referrer`` and ``Cross-Origin-Resource-Policy: same-origin``;
* files are streamed in chunks; an idle connection is closed after ``timeout`` seconds and
  connections beyond ``max_connections`` get a 503, so idle sockets cannot stop it answering;
* a fit that never wrote its end and is silent for a while (killed) reads "stopped", not
  "training in progress" (see :func:`keras_nnviz.report._manifest.state`);
* a damaged manifest gives a short HTML error page, never a traceback.

The pages and JSON themselves are built in :mod:`keras_nnviz.cli._serve_pages`; this module is
the HTTP side.
"""

from __future__ import annotations

import os
import shutil
import threading
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ..io import JOURNAL_NAME, MANIFEST_NAME
from ..io.paths import contained
from ..localhost import (
    FILE_CSP,
    HOST,
    MAX_CONNECTIONS,
    TIMEOUT_SECONDS,
    LocalHandler,
    allowed_hosts,
    make_local_server,
)
from ._serve_pages import (
    compare_html,
    error_html,
    find_runs,
    hidden,
    index_html,
    message,
    report_html,
    run_folder,
    run_state,
)

__all__ = [
    "allowed_hosts",
    "CHUNK",
    "FILE_CSP",
    "HOST",
    "make_server",
    "MAX_CONNECTIONS",
    "MEDIA",
    "serve",
    "TIMEOUT_SECONDS",
]

CHUNK = 64 * 1024  # files are streamed in pieces of this size

# The only files served: by suffix, with a fixed type. Markup (HTML, XHTML, SVG, XML) is never
# served from the folder — a planted page would run in this origin — and the report links none.
MEDIA = {
    ".png": "image/png",
    ".gif": "image/gif",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
    ".tsv": "text/tab-separated-values; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


class _Listed:
    """The files each run's manifest lists (resolved paths), read again when the manifest
    files change (their size and mtime), so a page of 100 pictures reads the manifest once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple, frozenset[Path]]] = {}

    def __call__(self, folder: Path) -> frozenset[Path]:
        from ..report import _manifest

        signature = tuple(
            (st.st_size, st.st_mtime_ns) if (st := _stat(folder / name)) else None
            for name in (MANIFEST_NAME, JOURNAL_NAME)
        )
        with self._lock:
            cached = self._cache.get(folder)
        if cached is not None and cached[0] == signature:
            return cached[1]
        try:
            entries = _manifest.read(folder).get("entries") or []
        except Exception:  # noqa: BLE001 - a damaged manifest lists nothing
            entries = []
        files = set()
        for e in entries:
            path = contained(folder, e.get("path")) if isinstance(e, dict) else None
            if path is not None and not hidden(path.relative_to(folder).as_posix()):
                files.add(path)
        listed = frozenset(files)
        with self._lock:
            self._cache[folder] = (signature, listed)
        return listed


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None


class _Handler(LocalHandler):
    root: Path  # set on the subclass made by make_server
    listed: _Listed  # likewise: one cache per server

    def route(self, path: str, query: dict[str, str]) -> None:
        if path == "/":
            self.page(HTTPStatus.OK, index_html(self.root))
        elif path == "/api/runs":
            self.json([s for s in map(self._state, find_runs(self.root)) if s])
        elif path == "/api/state":
            run = query.get("run", "")
            state = self._state(run)
            if state is None:
                self.text(HTTPStatus.NOT_FOUND, f"no run {run!r}")
            else:
                self.json(state)
        elif path == "/compare":
            runs = [
                r for r in query.get("runs", "").split(",") if r or "," in query.get("runs", "")
            ]
            self.page(HTTPStatus.OK, compare_html(self.root, runs))
        elif path.startswith("/run/"):
            self._run(path[len("/run/") :])
        else:
            self.text(HTTPStatus.NOT_FOUND, "not found")

    def failed(self, exc: Exception) -> None:
        self.page(HTTPStatus.INTERNAL_SERVER_ERROR, error_html(500, message(exc)))

    def _state(self, run: str) -> dict[str, Any] | None:
        return run_state(self.root, run.strip("/"))

    def _run(self, rel: str) -> None:
        if rel == "" or rel.endswith("/"):
            run = rel.strip("/")
            if run_folder(self.root, run) is None:
                self.text(HTTPStatus.NOT_FOUND, f"no run {run!r} in this folder")
                return
            try:
                html = report_html(self.root, run)
            except Exception as exc:  # noqa: BLE001 - a damaged manifest: say so, readably
                self.page(HTTPStatus.INTERNAL_SERVER_ERROR, error_html(500, message(exc)))
                return
            self.page(HTTPStatus.OK, html)
            return
        file = self._listed_file(rel)
        if file is None:
            self.text(HTTPStatus.NOT_FOUND, "not found")
            return
        with open(file, "rb") as f:
            self.head(HTTPStatus.OK, MEDIA[file.suffix.lower()], os.fstat(f.fileno()).st_size)
            if self.command != "HEAD":
                shutil.copyfileobj(f, self.wfile, CHUNK)

    def _listed_file(self, rel: str) -> Path | None:
        """The file at ``rel`` if a run's manifest lists it and its type is served, else None."""
        if hidden(rel) or Path(rel).suffix.lower() not in MEDIA:
            return None
        file = contained(self.root, rel)
        if file is None or not file.is_file() or file.suffix.lower() not in MEDIA:
            return None
        root = self.root.resolve()
        for folder in [file.parent, *file.parent.parents]:
            if not (folder == root or folder.is_relative_to(root)):
                break
            if (folder / MANIFEST_NAME).is_file() and file in self.listed(folder):
                return file
        return None


def make_server(
    log_dir: str | os.PathLike,
    port: int = 0,
    *,
    timeout: float = TIMEOUT_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
) -> ThreadingHTTPServer:
    """A server of ``log_dir`` on 127.0.0.1 (``port=0``: a free port; see ``server_port``).

    Run it with ``serve_forever()`` and stop it with ``shutdown()`` then ``server_close()``.

    Args:
        log_dir: the folder of runs.
        port: the port (0: any free one).
        timeout: seconds after which an idle connection is closed.
        max_connections: connections served at once; more are answered 503 and closed.

    Returns:
        The server (not yet serving).

    Example:
        >>> server = make_server("logs")
        >>> threading.Thread(target=server.serve_forever, daemon=True).start()  # or block
        >>> print(f"http://127.0.0.1:{server.server_port}/")
    """
    return make_local_server(
        _Handler,
        port,
        timeout=timeout,
        max_connections=max_connections,
        root=Path(log_dir).resolve(),
        listed=_Listed(),
    )


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
