"""The attention neuron view (BertViz's idea, our code): for one layer, head and query token, the
query vector, each key vector, their elementwise product, the dot product and the softmax weight.

Numpy in, one self-contained HTML page out (no network, a Content-Security-Policy, data as JSON
through :func:`keras_nnviz.html.document`); ``assets/neuron_view.js`` draws it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .. import assets
from .. import html as html_page
from ..errors import InvalidArgumentError
from .attention_html import AttentionHTML

__all__ = [
    "neuron_view",
]


def _rounded(a: np.ndarray) -> list:
    return np.round(np.asarray(a, dtype=np.float64), 4).tolist()


def neuron_view(
    query_key: Mapping[str, Mapping[str, np.ndarray]],
    tokens: Sequence[str] | None = None,
    sample: int = 0,
    title: str | None = None,
    max_values: int = 2_000_000,
) -> AttentionHTML:
    """Build the neuron view of one sample.

    Args:
        query_key: ``{layer: {"query": (N, Tq, heads, d), "key": (N, Tk, heads, d)}}`` from
            :func:`keras_nnviz.attention.neurons.query_key`.
        tokens: the tokens (index labels when None or when a layer's length differs).
        sample: which sample to show.
        title: page title.
        max_values: refuse more numbers than this (the page would get slow); slice first.

    Returns:
        :class:`~keras_nnviz.plot.attention_html.AttentionHTML` (``.save("neurons.html")``,
        displays in notebooks).

    Example:
        >>> from keras_nnviz.attention.neurons import query_key
        >>> neuron_view(query_key(model, x[:1]), tokens=words).save("neurons.html")
    """
    layers = []
    total = 0
    for name, qk in query_key.items():
        q, k = np.asarray(qk["query"]), np.asarray(qk["key"])
        if q.ndim != 4 or k.ndim != 4 or q.shape[2:] != k.shape[2:]:
            raise InvalidArgumentError(
                f"query_key[{name!r}] needs query (N, Tq, heads, d) and key (N, Tk, heads, d) "
                f"of the same heads and d; received {q.shape} and {k.shape}."
            )
        if not 0 <= sample < len(q):
            raise InvalidArgumentError(f"sample={sample} is not one of the {len(q)} samples.")
        q, k = q[sample].transpose(1, 0, 2), k[sample].transpose(1, 0, 2)  # (heads, T, d)
        if not (np.isfinite(q).all() and np.isfinite(k).all()):
            raise InvalidArgumentError(f"query_key[{name!r}] holds NaN or inf values.")
        total += q.size + k.size
        labels = [str(t) for t in tokens] if tokens is not None else None
        layers.append(
            {
                "name": str(name),
                "query": _rounded(q),
                "key": _rounded(k),
                "q_tokens": labels if labels and len(labels) == q.shape[1] else None,
                "k_tokens": labels if labels and len(labels) == k.shape[1] else None,
            }
        )
    if not layers:
        raise InvalidArgumentError("query_key holds no layer; pass query_key(model, x).")
    if total > max_values:
        raise InvalidArgumentError(
            f"The view would hold {total:,} numbers (max_values={max_values:,}); pass fewer "
            "layers or a shorter input."
        )
    title = title or "Attention neuron view"
    body = (
        f"<h1>{html_page.esc(title)}</h1>"
        '<p class="nv-sub">Pick a layer, a head and a query token (click it): its query vector '
        "q, each key vector k, their elementwise product q×k (blue negative, red positive) and "
        "the softmax of q·k/√d over the keys, the attention weight.</p>"
        '<div id="nv-controls"></div><div id="nv-neurons"></div>'
    )
    page = html_page.document(
        title=title,
        css=assets.text("neuron_view.css"),
        body=body,
        script=assets.text("neuron_view.js"),
        data={"layers": layers},
    )
    rows = max(len(layer["key"][0]) for layer in layers)
    return AttentionHTML(page, height=min(1400, 220 + 24 * rows))
