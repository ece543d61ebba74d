"""Attention views: per-head matrix, layer × head model view, token text, ViT rollout overlay.

Attention weights are probabilities in [0, 1], so every view uses a sequential colormap starting
at zero; scales run from 0 to the largest weight shown (stated on the colorbar), since rows of
long sequences rarely reach 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .._text import plot_text
from ..errors import InvalidArgumentError, InvalidInputError
from . import _base

__all__ = [
    "attention_matrix",
    "attention_model_view",
    "attention_text",
    "rollout_overlay",
    "TEXT_CMAP",
]

TEXT_CMAP = "Oranges"  # near-white at 0: dark text stays readable on weak tokens


def _labels(tokens: Sequence | None, n: int, what: str) -> list[str]:
    if tokens is None:
        return [str(i) for i in range(n)]
    tokens = [str(t) for t in tokens]
    if len(tokens) != n:
        raise InvalidInputError(f"{what}: {len(tokens)} labels given for {n} tokens.")
    return tokens


def _matrix(scores: np.ndarray, head: int | str, what: str) -> tuple[np.ndarray, str]:
    """A 2-D (Tq, Tk) matrix from (Tq, Tk) or (heads, Tq, Tk), and a label for the head."""
    a = _base.check_ndim(what, scores, (2, 3)).astype(np.float64)
    if a.ndim == 2:
        return a, ""
    if head == "mean":
        return a.mean(axis=0), "mean of heads"
    if isinstance(head, int | np.integer) and -a.shape[0] <= int(head) < a.shape[0]:
        return a[int(head)], f"head {int(head)}"
    raise InvalidArgumentError(
        f"head must be 'mean' or an index in [0, {a.shape[0]}); received {head!r}."
    )


def _tick_labels(ax: Axes, axis: str, labels: list[str], limit: int = 48) -> None:
    """Label every token when few enough to read, else every k-th."""
    n = len(labels)
    step = max(1, int(np.ceil(n / limit)))
    pos = list(range(0, n, step))
    size = 9 if n <= 16 else 8 if n <= 32 else 7
    if axis == "x":
        ax.set_xticks(pos, [plot_text(labels[i]) for i in pos], rotation=90, fontsize=size)
    else:
        ax.set_yticks(pos, [plot_text(labels[i]) for i in pos], fontsize=size)


@_base.frame_options
def attention_matrix(
    scores: np.ndarray,
    tokens: Sequence[str] | None = None,
    query_tokens: Sequence[str] | None = None,
    *,
    head: int | str = "mean",
    cmap: str = _base.SEQUENTIAL,
    annotate: bool | None = None,
    **frame: Any,
) -> Figure:
    """Heatmap of one attention matrix: queries (rows) × keys (columns), tokens on both axes.

    Args:
        scores: ``(Tq, Tk)``, or ``(heads, Tq, Tk)`` (one sample of
            :func:`keras_nnviz.get_attention`) with ``head`` choosing one.
        tokens: key labels (also the query labels unless ``query_tokens`` is given).
        query_tokens: query labels for cross-attention.
        head: head index, or ``"mean"`` for the mean over heads (3-D input only).
        ax: draw into these axes.
        title: axes title.
        cmap: sequential colormap (weights are magnitudes in [0, 1]).
        annotate: write each weight in its cell; default when the matrix has ≤ 144 cells.
        fig: draw into this Figure or SubFigure (one new axes) instead of a new figure.

    Returns:
        The figure, with a colorbar from 0 to the largest weight (signed: ± the largest
        magnitude).

    Example:
        >>> att = nv.get_attention(model, x[:1])
        >>> nv.plot.attention_matrix(att["encoder_1/mha"][0], tokens=words, head=2)
    """
    m, head_label = _matrix(scores, head, "attention_matrix")
    tq, tk = m.shape
    keys = _labels(tokens, tk, "tokens")
    queries = _labels(
        query_tokens if query_tokens is not None else (tokens if tq == tk else None),
        tq,
        "query_tokens",
    )
    size = (float(np.clip(0.36 * tk + 2.6, 4.0, 13.0)), float(np.clip(0.36 * tq + 1.9, 3.0, 12.0)))
    fig, ax = _base.new_axes(frame["ax"], size, frame["fig"])
    vmax = float(m.max()) if m.size and m.max() > 0 else 1.0
    im = ax.imshow(m, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest", aspect="equal")
    _tick_labels(ax, "x", keys)
    _tick_labels(ax, "y", queries)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.tick_params(length=0)
    if annotate is None:
        annotate = tq * tk <= 144
    if annotate:
        scalar = im.cmap
        box = ax.get_position()  # figure fraction; good enough before layout runs
        cell_in = min(box.width * fig.get_figwidth() / tk, box.height * fig.get_figheight() / tq)
        digits = float(np.clip(cell_in * 72 / 3.8, 4.0, 7.5))  # "0.00" fits, layout may shrink
        for (i, j), v in np.ndenumerate(m):
            r, g, b, _ = scalar(v / vmax)
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=digits,
                    color="white" if dark else "black")  # fmt: skip
    fig.colorbar(im, ax=ax, shrink=0.8, label="attention weight")
    default = "attention" + (f" ({head_label})" if head_label else "")
    return _base.finish(fig, ax, frame["title"] or default)


@_base.frame_options
def attention_model_view(
    attention: Mapping[str, np.ndarray],
    *,
    sample: int = 0,
    tokens: Sequence[str] | None = None,
    max_heads: int = 16,
    share_scale: bool = True,
    **frame: Any,
) -> Figure:
    """Layer × head grid of attention matrices for one sample (bertviz's "model view").

    Args:
        attention: ``{path: (N, heads, Tq, Tk)}`` as :func:`keras_nnviz.get_attention` returns
            it (``(heads, Tq, Tk)`` arrays are taken as one sample).
        sample: which sample of a batch to show.
        tokens: token labels, written on the outer axes when the sequence is short (≤ 24).
        max_heads: show at most this many heads per layer.
        share_scale: one colour scale 0 ... max for every panel, with a colorbar (the default:
            the same rule as the per-epoch frames and the explorer, so panels compare); False
            scales each panel to its own maximum, which shows the pattern of flat heads too.
        title: figure title; the colour scaling is always said after it.
        ax: draw into the grid cell of these axes (a subfigure takes its place).
        fig: draw into this Figure or SubFigure instead of a new figure.

    Returns:
        The figure: one row per layer (labelled with its path), one column per head.

    Example:
        >>> nv.plot.attention_model_view(nv.get_attention(model, x[:1]), tokens=words)
    """
    if not isinstance(attention, Mapping) or not attention:
        raise InvalidInputError(
            "attention_model_view expects the dict {path: (N, heads, Tq, Tk)} that "
            f"nv.get_attention returns; received {type(attention).__name__}."
        )
    mats = {}
    for path, a in attention.items():
        a = _base.check_ndim(f"attention[{path!r}]", a, (3, 4)).astype(np.float64)
        if a.ndim == 4:
            if not -a.shape[0] <= sample < a.shape[0]:
                raise InvalidArgumentError(
                    f"sample {sample} is out of range for {a.shape[0]} samples."
                )
            a = a[sample]
        mats[path] = a[:max_heads]
    rows, cols = len(mats), max(a.shape[0] for a in mats.values())
    t_max = max(max(a.shape[1:]) for a in mats.values())
    labelled = tokens is not None and t_max <= 24
    # Token labels need ~0.15 inch per row at 7 pt: panels grow with the sequence when labelled.
    cell = max(1.5, 0.15 * t_max + 0.6) if labelled else (1.5 if t_max <= 24 else 1.3)
    tick_size = 7 if labelled else 5
    names = dict(zip(mats, _base.short_labels(list(mats), 36)))
    # Room for the row labels measured from the text (KerasHub paths run to ~55 characters;
    # a fixed column squeezed the panels), plus the token ticks when they are drawn.
    ticks = _base.text_width(tokens, tick_size) if labelled else 0.0
    label_room = _base.text_width(names.values(), 8) + ticks + 0.3
    fig, _ = _base.target(
        frame["fig"],
        frame["ax"],
        (cols * cell + label_room + (0.8 if share_scale else 0), rows * cell + 0.8),
    )
    axes = fig.subplots(rows, cols, squeeze=False)
    vmax = max(float(a.max()) for a in mats.values()) if share_scale else None
    mats_heads = [a.shape[0] for a in mats.values()]
    im = None
    for r, (path, a) in enumerate(mats.items()):
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= a.shape[0]:
                ax.set_visible(False)
                continue
            top = vmax if share_scale else max(float(a[c].max()), 1e-12)
            im = ax.imshow(a[c], cmap=_base.SEQUENTIAL, vmin=0, vmax=top, interpolation="nearest")
            if r == 0 or c >= max(mats_heads[:r]):  # first row that has this head
                ax.set_title(f"head {c}", fontsize=9)
            if c == 0:
                ax.set_ylabel(
                    plot_text(names[path]), rotation=0, ha="right", va="center", fontsize=8
                )
            tq, tk = a.shape[1:]
            if labelled:
                if c == 0 and tq == len(tokens):
                    ax.set_yticks(range(tq), [plot_text(t) for t in tokens], fontsize=tick_size)
                    ax.set_ylabel(
                        plot_text(f"{names[path]}\nquery ↓"),
                        rotation=0,
                        ha="right",
                        va="center",
                        fontsize=8,
                    )
                if r == rows - 1 and tk == len(tokens):
                    ax.set_xticks(
                        range(tk), [plot_text(t) for t in tokens], fontsize=tick_size, rotation=90
                    )
                    if c == 0:
                        ax.set_xlabel("key →", fontsize=8)
            ax.tick_params(length=0, pad=1)
    if share_scale and im is not None:
        fig.colorbar(im, ax=axes, shrink=0.6, label="attention weight")
    note = "shared scale" if share_scale else "each panel scaled to its own maximum"
    heading = (
        f"{frame['title']} ({note})" if frame["title"] else f"attention by layer and head ({note})"
    )
    return _base.finish(fig, None, heading)


@_base.frame_options
def attention_text(
    weights: np.ndarray,
    tokens: Sequence[str],
    *,
    query: int | None = None,
    cmap: str = TEXT_CMAP,
    width: float = 8.0,
    fontsize: float = 12.0,
    **frame: Any,
) -> Figure:
    """The tokens as running text, each on a background shaded by its weight.

    Use it for the attention *from* one query token (pass a ``(Tq, Tk)`` matrix and ``query``)
    or for any per-token importance (a rollout row, a saliency per token). Signed scores (token
    attributions with ``signed=True``) are shaded on a diverging scale centred on zero: red
    for the explained class, blue against it.

    Args:
        weights: ``(T,)`` importances, or ``(Tq, Tk)`` attention with ``query`` picking the row.
        tokens: the ``T`` (key) tokens.
        query: row of a 2-D ``weights``; with 1-D weights, a token index to outline.
        ax: draw into these axes (the text is laid out in its data coordinates).
        title: title; default names the query token.
        cmap: sequential colormap, light at 0 so dark text stays readable (signed weights use
            the diverging ``RdBu_r``, white at 0).
        width: figure width in inches (lines wrap to it).
        fontsize: token font size.
        fig: draw into this Figure or SubFigure (one new axes) instead of a new figure.

    Returns:
        The figure, with a colorbar from 0 to the largest weight (signed: ± the largest
        magnitude).

    Example:
        >>> att = nv.get_attention(model, x[:1])["encoder_1/mha"][0].mean(0)   # (T, T)
        >>> nv.plot.attention_text(att, tokens=words, query=0)
    """
    w = _base.check_ndim("attention_text", weights, (1, 2)).astype(np.float64)
    if w.ndim == 2:
        if query is None or not -w.shape[0] <= int(query) < w.shape[0]:
            raise InvalidArgumentError(
                f"attention_text with a {w.shape} matrix needs query= (a row index in "
                f"[0, {w.shape[0]})); received {query!r}."
            )
        w = w[int(query)]
    labels = _labels(tokens, w.size, "tokens")
    if query is not None and not -w.size <= int(query) < w.size:
        query = None  # a query row of cross-attention has no place among the keys
    query = None if query is None else int(query) % w.size
    signed = bool(w.size) and float(w.min()) < 0
    if signed:
        cmap = _base.DIVERGING
        vmax = float(np.abs(w).max()) or 1.0
        vmin = -vmax
    else:
        vmax = float(w.max()) if w.size and w.max() > 0 else 1.0
        vmin = 0.0
    char = 0.6 * fontsize / 72  # monospace advance in inches
    ax = frame["ax"]
    if frame["fig"] is not None:
        fig, ax = _base.new_axes(ax, fig=frame["fig"])
    if ax is not None:  # wrap to the axes we were given
        width = ax.get_position().width * _base.width_inches(ax.figure) + 0.3
    per_line = max(10, int((width - 0.3) / char))
    lines, line, used = [], [], 0
    for i, tok in enumerate(labels):
        need = len(tok) + 1
        if line and used + need > per_line:
            lines.append(line)
            line, used = [], 0
        line.append((i, used, tok))
        used += need
    lines.append(line)
    line_h = 2.2 * fontsize / 72
    top, bottom = 0.45, 1.05  # inches for the title; for the colorbar and its label
    height = len(lines) * line_h + top + bottom
    if ax is None:
        fig = _base.Figure(figsize=(width, height))
        ax = fig.add_axes(
            (0.15 / width, bottom / height, (width - 0.3) / width, 1 - (top + bottom) / height)
        )
        cax = fig.add_axes((0.25, 0.55 / height, 0.5, 0.14 / height))
    else:
        fig, cax = ax.figure, None
    colours = colormaps[cmap]
    ax.set_xlim(0, per_line)
    ax.set_ylim(len(lines), 0)
    ax.axis("off")
    for r, items in enumerate(lines):
        for i, x0, tok in items:
            r_, g_, b_, _ = colours((w[i] - vmin) / (vmax - vmin))
            dark = 0.299 * r_ + 0.587 * g_ + 0.114 * b_ < 0.55
            is_query = i == query
            ax.text(
                x0 + len(tok) / 2,
                r + 0.5,
                plot_text(tok),
                ha="center",
                va="center",
                family="monospace",
                fontsize=fontsize,
                fontweight="bold" if is_query else "normal",
                color="white" if dark else "black",
                bbox={
                    "boxstyle": "round,pad=0.25",
                    "facecolor": (r_, g_, b_),
                    "edgecolor": "#1f3fbf" if is_query else "#bbbbbb",
                    "linewidth": 2.0 if is_query else 0.5,
                },
            )
    mappable = ScalarMappable(norm=Normalize(vmin, vmax), cmap=cmap)
    label = "weight" if query is None else f"attention from {labels[query]!r} (outlined)"
    if signed:
        label = "score (+ for, − against)"
    if cax is not None:
        fig.colorbar(mappable, cax=cax, orientation="horizontal", label=plot_text(label))
    else:
        fig.colorbar(mappable, ax=ax, orientation="horizontal", label=plot_text(label), shrink=0.6)
    default = (
        "token importance" if query is None else f"attention from token {query} {labels[query]!r}"
    )
    if cax is not None:
        fig.suptitle(
            plot_text(_base.wrap(frame["title"] or default, width, 0.09)),
            y=1 - 0.12 / height,
            va="top",
            fontsize=11,
        )
    elif frame["title"]:
        ax.set_title(plot_text(_base.wrap(frame["title"], width, 0.09)), fontsize=11)
    return _base.root_figure(fig)


@_base.frame_options
def rollout_overlay(
    images: np.ndarray,
    maps: np.ndarray,
    titles: Sequence[str] | None = None,
    *,
    alpha: float = 0.55,
    cmap: str = _base.HEAT,
    max_images: int = 8,
    **frame: Any,
) -> Figure:
    """Images (top row) and their attention maps blended over them (bottom row).

    Args:
        images: ``(N, H, W[, C])`` or one image ``(H, W[, C])``.
        maps: ``(N, H, W)`` (e.g. :func:`keras_nnviz.patch_attention_map`) or one ``(H, W)``;
            lower-resolution maps are stretched over the image.
        titles: one caption per image (e.g. predicted classes).
        alpha: opacity of the map.
        cmap: colormap of the map (sequential).
        max_images: show at most this many.
        title: figure title.
        ax: draw into the grid cell of these axes (a subfigure takes its place).
        fig: draw into this Figure or SubFigure instead of a new figure.

    Returns:
        The figure, with one colorbar (each map scaled to its own maximum).

    Example:
        >>> maps = nv.patch_attention_map(nv.attention_rollout(vit, x[:6]), x.shape[1:3])
        >>> nv.plot.rollout_overlay(x[:6], maps)
    """
    imgs = np.asarray(images)
    heat = np.asarray(maps, dtype=np.float64)
    if heat.ndim == 2:
        heat, imgs = heat[None], imgs[None]
    if heat.ndim != 3 or imgs.ndim not in (3, 4) or len(imgs) != len(heat):
        raise InvalidInputError(
            "rollout_overlay expects images (N, H, W[, C]) and maps (N, H, W) with the same N; "
            f"received {imgs.shape} and {np.shape(maps)}."
        )
    n = min(len(heat), max_images)
    fig, _ = _base.target(frame["fig"], frame["ax"], (1.9 * n + 1.0, 4.2))
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        img, gray = _base.as_display_image(imgs[i])
        h, w = img.shape[:2]
        top = float(heat[i].max()) if heat[i].max() > 0 else 1.0
        axes[0, i].imshow(img, cmap=gray, interpolation="nearest")
        axes[1, i].imshow(img, cmap=gray, interpolation="nearest")
        axes[1, i].imshow(
            heat[i] / top,
            cmap=cmap,
            alpha=alpha,
            vmin=0,
            vmax=1,
            extent=(-0.5, w - 0.5, h - 0.5, -0.5),
            interpolation="bilinear",
        )
        if titles is not None and i < len(titles):
            axes[0, i].set_title(plot_text(titles[i]), fontsize=9)
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("attention")
    fig.colorbar(
        ScalarMappable(norm=Normalize(0, 1), cmap=cmap),
        ax=axes[1, :].tolist(),
        shrink=0.9,
        label="relative attention",
    )
    return _base.finish(fig, None, frame["title"] or "attention rollout")
