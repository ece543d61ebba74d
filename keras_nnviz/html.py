"""The one way keras_nnviz writes an HTML page: escaped text, inert data, a strict CSP.

Every page (the interactive attention view, the report) is assembled here, never by filling a
template with chained ``str.replace`` (where a title containing a placeholder pastes raw data, and a
token ``<img onerror=...>`` runs):

- text from users (titles, model, layer and token names) goes through :func:`esc`;
- data reaches the page's script as JSON inside ``<script type="application/json">``, with ``<``,
  ``>``, ``&`` and the JavaScript line separators written as ``\\uXXXX`` escapes
  (:func:`script_json`), so no token can close the block or open a comment;
- a Content-Security-Policy allows only the page's own script (by a per-page nonce), inline
  styles and ``data:`` images: no network, no injected ``<script>``, no inline event handler;
- in notebooks the page is shown in an ``<iframe srcdoc>`` with ``sandbox="allow-scripts"``
  (:func:`sandboxed_iframe`): its script runs in an opaque origin and cannot reach the notebook.
"""

from __future__ import annotations

import html
import json
import secrets
from typing import Any

from ._text import xml_safe

__all__ = [
    "csp",
    "document",
    "esc",
    "sandboxed_iframe",
    "script_json",
]


def esc(value: Any) -> str:
    """Text for HTML content or a quoted attribute; characters XML 1.0 cannot carry (control
    characters, lone surrogates, U+FFFE/U+FFFF from a layer name) are replaced, so an SVG built
    from escaped names always parses."""
    return html.escape(xml_safe(value), quote=True)


def script_json(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: nothing in it can end the element."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, code)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def csp(nonce: str, connect_self: bool = False) -> str:
    """The pages' Content-Security-Policy: nothing from the network, only the nonced script.

    ``connect_self`` lets the script fetch from the page's own origin (a page served by
    ``nnviz serve`` on 127.0.0.1 polling its JSON endpoint); nothing else is ever allowed.
    """
    connect = "connect-src 'self'; " if connect_self else ""
    return (
        "default-src 'none'; img-src data: 'self' file:; style-src 'unsafe-inline'; "
        f"{connect}script-src 'nonce-{nonce}'; base-uri 'none'; form-action 'none'"
    )


def document(
    *,
    title: str,
    css: str,
    body: str,
    script: str,
    data: Any,
    data_id: str = "nv-data",
    connect_self: bool = False,
) -> str:
    """One self-contained HTML document.

    Args:
        title: page title (escaped here).
        css: the page's own stylesheet (a constant of the package, never user text).
        body: the body's HTML; the caller escapes every user string in it with :func:`esc`.
        script: the page's own JavaScript (a constant of the package); it reads ``data`` with
            ``JSON.parse(document.getElementById(data_id).textContent)``.
        data: JSON-serializable data for the script (NaN/inf are refused: not JSON).
        data_id: id of the JSON block.
        connect_self: allow the script to fetch from the page's own origin (see :func:`csp`).

    Returns:
        The document text.

    Example:
        >>> document(title="t", css="", body="<p>hi</p>", script="", data={})
    """
    nonce = secrets.token_urlsafe(16)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp(nonce, connect_self))}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{css}</style></head><body>{body}"
        f'<script type="application/json" id="{esc(data_id)}">{script_json(data)}</script>'
        f'<script nonce="{nonce}">{script}</script></body></html>\n'
    )


def sandboxed_iframe(document_text: str, height: int, title: str) -> str:
    """Show a document inside a notebook: sandboxed ``<iframe srcdoc>``, scripts allowed but no
    same-origin access (the page cannot touch the notebook or its kernel)."""
    return (
        f'<iframe srcdoc="{esc(document_text)}" sandbox="allow-scripts" '
        f'style="width:100%;height:{int(height)}px;border:none" title="{esc(title)}"></iframe>'
    )
