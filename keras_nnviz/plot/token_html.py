"""Token scores as an offline HTML page: the text, each token on a background shaded by its
score (signed scores on a diverging scale), one line per sample.

The page is built by :mod:`keras_nnviz.html` (escaped tokens, strict CSP, no network, no
script) and shows itself in Jupyter / Colab in a sandboxed ``<iframe srcdoc>``, like
:func:`keras_nnviz.plot.attention_html`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import assets
from .. import html as html_page
from ..errors import InvalidInputError
from . import _base
from .attention import TEXT_CMAP
from .attention_html import AttentionHTML

__all__ = [
    "token_html",
    "TokenHTML",
]


class TokenHTML(AttentionHTML):
    """Token scores as one self-contained HTML document (``save(path)``, ``.html``, shown in
    notebooks)."""

    def _repr_html_(self) -> str:
        return html_page.sandboxed_iframe(self.html, self.height, "keras_nnviz token scores")

    def __repr__(self) -> str:
        return f"<TokenHTML: {len(self.html) / 1024:.0f} KiB; .save(path) or display it>"


def _hex(rgba) -> str:
    return "#" + "".join(f"{int(round(c * 255)):02x}" for c in rgba[:3])


def token_html(
    scores: Any,
    tokens: Sequence[str] | Sequence[Sequence[str]],
    *,
    labels: Sequence[str] | None = None,
    title: str = "Token scores",
    scale: str = "row",
) -> TokenHTML:
    """An offline HTML view of per-token scores (token attributions, rollout rows).

    Args:
        scores: ``(T,)`` for one text or ``(N, T)`` for several (e.g. the result of
            ``nv.integrated_gradients(model, x, signed=True)`` on a text model).
        tokens: the ``T`` token strings, or one list per sample.
        labels: a caption per sample (e.g. the predicted class).
        title: page title.
        scale: ``"row"`` (default): each sample shaded against its own strongest |score|, so a
            sample with small scores is still readable (its strongest value is printed by it);
            ``"shared"``: one scale for all samples, to compare their magnitudes.

    Returns:
        The :class:`TokenHTML` page; signed scores are shaded red (for) / blue (against); each
        token's value shows on hover.

    Example:
        >>> attr = nv.integrated_gradients(model, x[:4], signed=True)
        >>> nv.plot.token_html(attr, words, labels=["positive"] * 4).save("tokens.html")
    """
    s = np.asarray(scores, dtype=np.float64)
    s = s[None] if s.ndim == 1 else s
    _base.check_ndim("token_html", s, (2,))
    rows = [list(tokens)] * len(s) if tokens and isinstance(tokens[0], str) else list(tokens)
    if len(rows) != len(s) or any(len(r) != s.shape[1] for r in rows):
        raise InvalidInputError(
            f"token_html: {len(rows)} token lists of lengths {sorted({len(r) for r in rows})} "
            f"for scores of shape {s.shape}; give T tokens per sample."
        )
    if labels is not None and len(labels) != len(s):
        raise InvalidInputError(f"token_html: {len(labels)} labels for {len(s)} samples.")
    from matplotlib import colormaps

    if scale not in ("row", "shared"):
        raise InvalidInputError(f"token_html: scale must be 'row' or 'shared'; received {scale!r}.")
    finite = s[np.isfinite(s)]
    signed = finite.size > 0 and finite.min() < 0
    cmap = colormaps[_base.DIVERGING if signed else TEXT_CMAP]

    def strongest(values: np.ndarray) -> float:
        values = np.abs(values[np.isfinite(values)])
        return float(values.max()) if values.size and values.max() > 0 else 1.0

    top = strongest(s)
    lines = []
    for i, (row, words) in enumerate(zip(s, rows)):
        if scale == "row":
            top = strongest(row)
        spans = []
        for value, word in zip(row, words):
            level = (value + top) / (2 * top) if signed else value / top
            rgba = cmap(float(np.clip(level, 0, 1)))
            dark = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2] < 0.55
            spans.append(
                f'<span class="tok" title="{html_page.esc(f"{value:.4g}")}" '
                f'style="background:{_hex(rgba)};color:{"#fff" if dark else "#000"}">'
                f"{html_page.esc(word)}</span>"
            )
        caption = labels[i] if labels is not None else f"sample {i}"
        own = f'<span class="scale">max {top:.3g}</span>' if scale == "row" else ""
        lines.append(
            f'<div class="row"><span class="label">{html_page.esc(caption)}</span>'
            + " ".join(spans)
            + own
            + "</div>"
        )
    reach = "each row to its own strongest |score|" if scale == "row" else f"all rows to {top:.3g}"
    scale = (
        f"red: for the explained class, blue: against; white = 0; scaled {reach}"
        if signed
        else f"darker = larger score; scaled {reach}"
    )
    body = (
        f"<h1>{html_page.esc(title)}</h1>{''.join(lines)}"
        f'<div class="legend">{html_page.esc(scale)} (hover a token for its value)</div>'
    )
    page = html_page.document(
        title=title, css=assets.text("token_html.css"), body=body, script="", data={}
    )
    return TokenHTML(page, height=min(900, 90 + 42 * len(s)))
