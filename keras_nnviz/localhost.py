"""The loopback HTTP server that ``nnviz serve`` and the explorer (``nnviz explore``) share.

Standard library ``http.server``, one thread per connection, on 127.0.0.1 only. What makes it
safe on a shared machine and beside a browser that visits other sites lives here, once:

* only requests whose ``Host`` is the address it listens on are answered (``127.0.0.1:PORT``,
  ``localhost:PORT``, ``[::1]:PORT``), so a page of another site cannot reach it through DNS
  rebinding (421 otherwise);
* every response carries ``X-Content-Type-Options: nosniff``, a Content-Security-Policy (a
  page's own, from its meta tag, plus ``frame-ancestors 'none'``; ``default-src 'none';
  sandbox`` for files, JSON and errors), ``Referrer-Policy: no-referrer``,
  ``Cross-Origin-Resource-Policy: same-origin`` and ``Cache-Control: no-store``;
* an idle connection is closed after ``timeout`` seconds and connections beyond
  ``max_connections`` get a 503 at once, so idle sockets cannot stop it answering;
* an exception in a route is a short error page, never a traceback and never a dead server.

A server subclasses :class:`LocalHandler` and implements :meth:`LocalHandler.route`.
"""

from __future__ import annotations

import html as html_lib
import json
import re
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .errors import InvalidArgumentError

__all__ = [
    "allowed_hosts",
    "CappedServer",
    "common_headers",
    "FILE_CSP",
    "HOST",
    "LocalHandler",
    "make_local_server",
    "MAX_CONNECTIONS",
    "TIMEOUT_SECONDS",
]

HOST = "127.0.0.1"
TIMEOUT_SECONDS = 15.0  # an idle connection is closed after this long
MAX_CONNECTIONS = 64  # connections served at once; more get a 503 at once
FILE_CSP = "default-src 'none'; sandbox"  # files, JSON, errors: nothing runs, opaque origin
_META_CSP = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">')


def allowed_hosts(port: int) -> set[str]:
    """The ``Host`` values of requests to this server (lower case): its own addresses only."""
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
    if port == 80:  # browsers leave the default port out
        hosts |= {"127.0.0.1", "localhost", "[::1]"}
    return hosts


def common_headers(csp: str) -> dict[str, str]:
    """The headers of every response, with this Content-Security-Policy."""
    return {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


class LocalHandler(BaseHTTPRequestHandler):
    """A request handler that answers its own address only, with safe headers everywhere.

    Subclasses implement :meth:`route`; ``hosts`` is set by :func:`make_local_server`.
    """

    hosts: set[str]
    timeout = TIMEOUT_SECONDS  # socket timeout: an idle connection is closed (StreamRequestHandler)
    server_version = "nnviz"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: the terminal shows the URL, not every request

    def head(self, status: int, ctype: str, length: int, csp: str = FILE_CSP) -> None:
        """Send the status line and headers of a response of ``length`` bytes."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        for key, value in common_headers(csp).items():
            self.send_header(key, value)
        self.end_headers()

    def send(self, status: int, body: bytes, ctype: str, csp: str = FILE_CSP) -> None:
        """A whole response (no body for HEAD)."""
        self.head(status, ctype, len(body), csp)
        if self.command != "HEAD":
            self.wfile.write(body)

    def page(self, status: int, html: str) -> None:
        """An HTML page; the header repeats the page's own policy (its meta tag, with the
        script's nonce) and forbids framing, which a meta tag cannot."""
        found = _META_CSP.search(html)
        policy = html_lib.unescape(found.group(1)) if found else FILE_CSP
        self.send(
            status, html.encode("utf-8"), "text/html; charset=utf-8",
            f"{policy}; frame-ancestors 'none'",
        )  # fmt: skip

    def text(self, status: int, text: str) -> None:
        """A plain-text response."""
        self.send(status, text.encode("utf-8"), "text/plain; charset=utf-8")

    def json(self, value: Any, status: int = HTTPStatus.OK) -> None:
        """A JSON response."""
        self.send(status, json.dumps(value).encode("utf-8"), "application/json")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's errors (bad request line, unknown method) with our headers."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self.text(code, message or phrase)

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if (self.headers.get("Host") or "").strip().lower() not in self.hosts:
            # DNS rebinding: a page of another site that resolved its name to 127.0.0.1.
            self.text(HTTPStatus.MISDIRECTED_REQUEST, "this server answers its own address only")
            return
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        try:
            self.route(path, query)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the browser went away (or stopped reading)
        except Exception as exc:  # noqa: BLE001 - one bad request must not stop the server
            self.failed(exc)

    def route(self, path: str, query: dict[str, str]) -> None:
        """Answer ``GET path?query`` (override)."""
        self.text(HTTPStatus.NOT_FOUND, "not found")

    def failed(self, exc: Exception) -> None:
        """Answer a request whose route raised (override for a friendlier page)."""
        self.text(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}"[:500])


def _busy_response() -> bytes:
    """The whole 503 answered, without a thread, to a connection over the cap."""
    body = b"nnviz: too many connections, try again\n"
    head = [
        "HTTP/1.0 503 Service Unavailable",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
        "Retry-After: 1",
        *(f"{k}: {v}" for k, v in common_headers(FILE_CSP).items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


class CappedServer(ThreadingHTTPServer):
    """One thread per connection, at most ``max_connections`` at once (a 503 beyond)."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type, max_connections: int):
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(_busy_response())
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def make_local_server(
    handler: type[LocalHandler],
    port: int = 0,
    *,
    timeout: float = TIMEOUT_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
    **attributes: Any,
) -> CappedServer:
    """A server on 127.0.0.1 (``port=0``: a free port; see ``server_port``), not yet serving.

    Args:
        handler: the :class:`LocalHandler` subclass answering requests.
        port: the port (0: any free one).
        timeout: seconds after which an idle connection is closed.
        max_connections: connections served at once; more are answered 503 and closed.
        **attributes: class attributes of the handler (its folder, its model ...).

    Returns:
        The server; run it with ``serve_forever()``, stop it with ``shutdown()`` then
        ``server_close()``.

    Example:
        >>> server = make_local_server(MyHandler, 0, root=Path("logs"))
    """
    if not timeout > 0 or int(max_connections) < 1:
        raise InvalidArgumentError(
            f"a local server needs timeout > 0 and max_connections >= 1; received "
            f"timeout={timeout!r}, max_connections={max_connections!r}."
        )
    cls = type(handler.__name__, (handler,), {"timeout": float(timeout), **attributes})
    server = CappedServer((HOST, int(port)), cls, int(max_connections))
    cls.hosts = allowed_hosts(server.server_port)
    return server
