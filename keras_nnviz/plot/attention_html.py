"""A self-contained interactive attention view: one HTML file, inline JS/CSS, no network.

bertviz needs a CDN (require.js, d3), so it shows nothing offline, and it cannot be saved. This
view embeds the weights (float32, base64) and ~200 lines of plain JavaScript that draw on
canvases: pick a layer, a head (or their mean) and a query token; the matrix, the token text and
the layer × head thumbnails follow. It opens from ``file://``, in Jupyter and Colab (displayed in
a sandboxed ``<iframe srcdoc>``, so its script and styles never touch the notebook page), and in a
browser with no connection.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import assets
from .. import html as html_page
from ..errors import InvalidArgumentError, InvalidInputError
from . import _base
from ._attention_page import BODY
from .attention import TEXT_CMAP

__all__ = [
    "attention_html",
    "AttentionHTML",
]


def _lut(name: str) -> list[str]:
    from matplotlib import colormaps

    rgba = colormaps[name](np.linspace(0, 1, 256))[:, :3]
    return ["#" + "".join(f"{int(round(c * 255)):02x}" for c in row) for row in rgba]


class AttentionHTML:
    """An interactive attention view as one self-contained HTML document.

    Displays itself in Jupyter / Colab (``_repr_html_``); ``save(path)`` writes the file;
    ``html`` is the document text.

    Attributes:
        html: the complete HTML document (inline script and styles, no external resources).
        height: pixel height used for the notebook ``<iframe>``.
    """

    def __init__(self, html: str, height: int = 800):
        self.html = html
        self.height = int(height)

    def save(self, path: str | Path) -> Path:
        """Write the document to ``path`` (``.html`` added when there is no suffix)."""
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".html")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.html, encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        # An iframe keeps the page's script and CSS apart from the notebook's (and from other
        # views in the same notebook); srcdoc needs no server and no file.
        return html_page.sandboxed_iframe(self.html, self.height, "keras_nnviz attention view")

    def __str__(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<AttentionHTML: {len(self.html) / 1024:.0f} KiB; .save(path) or display it>"


def _one_sample(name: str, array: Any, sample: int) -> np.ndarray:
    a = np.asarray(array, dtype=np.float32)
    if a.ndim == 4:
        if not -a.shape[0] <= sample < a.shape[0]:
            raise InvalidArgumentError(
                f"sample {sample} is out of range: {name!r} has {a.shape[0]} samples."
            )
        a = a[sample]
    elif a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise InvalidInputError(
            f"attention_html: {name!r} must be (N, heads, Tq, Tk), (heads, Tq, Tk) or (Tq, Tk); "
            f"received shape {np.shape(array)}."
        )
    if not np.all(np.isfinite(a)):
        raise InvalidInputError(f"attention_html: {name!r} contains NaN or inf values.")
    return a


def _token_list(tokens: Sequence | None, n: int) -> list[str]:
    if tokens is not None and len(tokens) == n:
        return [str(t) for t in tokens]
    return [str(i) for i in range(n)]


def attention_html(
    attention: Mapping[str, np.ndarray] | np.ndarray,
    tokens: Sequence[str] | None = None,
    sample: int = 0,
    query_tokens: Sequence[str] | None = None,
    rollout: np.ndarray | None = None,
    title: str | None = None,
    max_values: int = 4_000_000,
) -> AttentionHTML:
    """Build the interactive attention view for one sample.

    Args:
        attention: ``{path: (N, heads, Tq, Tk)}`` from :func:`keras_nnviz.get_attention`, or one
            array; ``(heads, Tq, Tk)`` and ``(Tq, Tk)`` arrays are taken as one sample.
        tokens: key tokens (also the query tokens of self-attention layers); index labels when
            None or when a layer's length differs.
        sample: which sample of a batch to show.
        query_tokens: query tokens of cross-attention layers.
        rollout: optional rollout ``(N, T, T)`` or ``(T, T)`` from
            :func:`keras_nnviz.attention_rollout`, shown as an extra one-head layer
            named ``"rollout"``.
        title: page title.
        max_values: refuse more weights than this (the page would get slow and large:
            4 bytes each); slice layers or tokens first.

    Returns:
        :class:`AttentionHTML`: displays in notebooks, ``.save("attention.html")`` writes it.

    Example:
        >>> att = nv.get_attention(model, x[:1])
        >>> nv.plot.attention_html(att, tokens=words).save("attention.html")
    """
    if isinstance(attention, Mapping):
        items = list(attention.items())
    else:
        items = [("attention", attention)]
    if rollout is not None:
        r = np.asarray(rollout)
        if r.ndim not in (2, 3):
            raise InvalidInputError(
                f"attention_html: rollout must be (N, T, T) or (T, T); received shape {r.shape}."
            )
        # One head: (N, T, T) -> (N, 1, T, T) so `sample` picks from the batch axis.
        items.append(("rollout", r[:, None] if r.ndim == 3 else r))
    if not items:
        raise InvalidInputError("attention_html needs at least one attention array.")
    layers, total = [], 0
    for name, array in items:
        a = _one_sample(str(name), array, sample)
        heads, tq, tk = a.shape
        total += a.size
        keys = _token_list(tokens, tk)
        if query_tokens is not None:
            queries = _token_list(query_tokens, tq)
        else:
            queries = _token_list(tokens if tq == tk else None, tq)
        layers.append(
            {
                "name": str(name),
                "heads": heads,
                "tq": tq,
                "tk": tk,
                "qtok": queries,
                "ktok": keys,
                "data": base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode(),
            }
        )
    if total > max_values:
        raise InvalidInputError(
            f"attention_html: {total:,} weights exceed max_values={max_values:,}. Show fewer "
            "layers or a shorter sequence, or raise max_values."
        )
    title = title or "attention"
    payload = {
        "title": title,
        "layers": layers,
        "viridis": _lut(_base.SEQUENTIAL),
        "text": _lut(TEXT_CMAP),
    }
    # One escaping builder (keras_nnviz.html): the title is escaped text, tokens travel as inert
    # JSON, and the CSP lets only this page's own script run.
    doc = html_page.document(
        title=title,
        css=assets.text("attention.css"),
        body=BODY.format(title=html_page.esc(title)),
        script=assets.text("attention.js"),
        data=payload,
    )
    t_max = max(max(la["tq"], la["tk"]) for la in layers)
    cell = int(np.clip(460 // max(t_max, 1), 4, 32))
    thumbs = 84 * len(layers) + 60
    height = 200 + cell * t_max + 140 + thumbs
    return AttentionHTML(doc, height=int(min(height, 2400)))
