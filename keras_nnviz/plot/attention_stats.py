"""Views of :func:`keras_nnviz.attention_stats`: one statistic per layer and head, distance by
depth. The statistics summarize each head over samples and queries, so a 32-layer, 32-head model
at any context length fits one picture."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .._text import plot_text
from ..errors import InvalidArgumentError, InvalidInputError
from . import _base

__all__ = [
    "attention_distance",
    "attention_stat_heatmap",
]

_UNITS = {
    "entropy": "entropy (nats)",
    "distance": "mean attended distance (tokens)",
    "sink": "mass on the sink tokens",
}


def _per_head(
    stats: Mapping[str, Mapping[str, Any]], stat: str, queries: slice | None
) -> tuple[list[str], np.ndarray]:
    """``(layers, (layers, max heads) array)``: the mean over samples and queries of ``stat``
    per layer and head (NaN where a layer has fewer heads)."""
    if not isinstance(stats, Mapping) or not stats:
        raise InvalidInputError(
            "expects the dict {path: {stat: (N, heads, Tq)}} that nv.attention_stats returns; "
            f"received {type(stats).__name__}."
        )
    rows = []
    for path, per in stats.items():
        if not isinstance(per, Mapping) or stat not in per:
            have = sorted(per) if isinstance(per, Mapping) else type(per).__name__
            raise InvalidArgumentError(
                f"No {stat!r} for layer {path!r} (it holds {have}); compute it with "
                f"nv.attention_stats(model, x, stats=({stat!r},))."
            )
        a = _base.check_ndim(f"stats[{path!r}][{stat!r}]", per[stat], (3,)).astype(np.float64)
        if queries is not None:
            a = a[:, :, queries]
        rows.append(a.mean(axis=(0, 2)))
    heads = max(len(r) for r in rows)
    table = np.full((len(rows), heads), np.nan)
    for i, r in enumerate(rows):
        table[i, : len(r)] = r
    return list(stats), table


@_base.frame_options
def attention_stat_heatmap(
    stats: Mapping[str, Mapping[str, Any]],
    *,
    stat: str = "entropy",
    queries: slice | None = None,
    annotate: bool | None = None,
    **frame: Any,
) -> Figure:
    """Layers × heads heat map of one statistic (mean over samples and queries).

    Args:
        stats: ``{path: {stat: (N, heads, Tq)}}`` from :func:`keras_nnviz.attention_stats`.
        stat: ``"entropy"``, ``"distance"`` or ``"sink"``.
        queries: which query positions to average (e.g. ``slice(1, None)`` to leave out the
            first token, or the unpadded ones); default all.
        annotate: write each cell's value (default: when the grid has at most 16 × 16 cells).
        title: figure title.
        ax: draw into these axes.
        fig: draw into this Figure or SubFigure (one new axes) instead of a new figure.

    Returns:
        The figure: one row per layer (call order, top first), one column per head.

    Example:
        >>> s = nv.attention_stats(model, x, stats=("entropy", "sink"))
        >>> nv.plot.attention_stat_heatmap(s, stat="sink")
    """
    layers, table = _per_head(stats, stat, queries)
    rows, heads = table.shape
    names = _base.short_labels(layers, 40)
    fig, ax = _base.new_axes(
        frame["ax"],
        (max(4.5, 0.45 * heads + 2.8 + _base.text_width(names, 8)), max(2.5, 0.4 * rows + 1.4)),
        frame["fig"],
    )
    # From 0: a statistic that barely varies (near-uniform heads) looks flat, as it is; the
    # sink is a share of the mass, so its scale ends at 1.
    top = 1.0 if stat == "sink" else max(float(np.nanmax(table)), 1e-12)
    im = ax.imshow(
        np.ma.masked_invalid(table),
        aspect="auto",
        cmap=_base.SEQUENTIAL,
        interpolation="nearest",
        vmin=0.0,
        vmax=top,
    )
    bar = fig.colorbar(im, ax=ax, label=plot_text(_UNITS.get(stat, stat)))
    bar.formatter.set_useOffset(False)
    ax.set_yticks(range(rows), [plot_text(n) for n in names], fontsize=8)
    step = max(1, heads // 16)
    ax.set_xticks(range(0, heads, step), [str(h) for h in range(0, heads, step)], fontsize=8)
    ax.set_xlabel("head")
    if annotate if annotate is not None else max(rows, heads) <= 16:
        for (i, j), v in np.ndenumerate(table):
            if np.isfinite(v):
                light = v / top < 0.6  # dark cells: white text
                ax.text(
                    j, i, f"{v:.2g}", ha="center", va="center", fontsize=7,
                    color="white" if light else "black",
                )  # fmt: skip
    return _base.finish(fig, ax, frame["title"] or f"Attention {stat} per layer and head")


@_base.frame_options
def attention_distance(
    stats: Mapping[str, Mapping[str, Any]],
    *,
    queries: slice | None = None,
    context: int | None = None,
    labels: Sequence[str] | None = None,
    **frame: Any,
) -> Figure:
    """Mean attended distance against depth: one dot per head, the layer's mean as a line.

    Early layers of language models look locally and late ones farther (or back at a sink);
    a head whose dots sit at 0 attends to itself.

    Args:
        stats: ``{path: {"distance": (N, heads, Tq)}}`` from :func:`keras_nnviz.attention_stats`.
        queries: which query positions to average (default all).
        context: draw, dashed, the mean distance of uniform causal attention over ``context``
            tokens (``(context - 1) / 4``), a reference for "looks everywhere alike".
        labels: x tick labels (default: short layer paths).
        title: figure title.
        ax: draw into these axes.
        fig: draw into this Figure or SubFigure (one new axes) instead of a new figure.

    Returns:
        The figure.

    Example:
        >>> nv.plot.attention_distance(nv.attention_stats(llm, tokens, stats=("distance",)))
    """
    layers, table = _per_head(stats, "distance", queries)
    names = list(labels) if labels is not None else _base.short_labels(layers, 40)
    if len(names) != len(layers):
        raise InvalidInputError(f"{len(names)} labels given for {len(layers)} layers.")
    fig, ax = _base.new_axes(frame["ax"], (max(5.0, 0.5 * len(layers) + 3), 3.6), frame["fig"])
    xs = np.arange(len(layers))
    for i, row in enumerate(table):
        finite = row[np.isfinite(row)]
        jitter = np.linspace(-0.15, 0.15, len(finite)) if len(finite) > 1 else np.zeros(1)
        ax.scatter(xs[i] + jitter, finite, s=14, color="#4292c6", alpha=0.8, zorder=3,
                   label="head" if i == 0 else None)  # fmt: skip
    ax.plot(xs, np.nanmean(table, axis=1), color="#08306b", lw=1.8, marker="o", ms=4,
            label="layer mean", zorder=4)  # fmt: skip
    uniform = 0.0
    if context is not None:
        # uniform causal attention: query i spreads over i + 1 keys, mean distance i / 2
        uniform = float(np.mean(np.arange(int(context)) / 2.0))
        ax.axhline(uniform, color="#999999", ls="--", lw=1, label="uniform causal")
    tilt = sum(len(n) for n in names) * 0.07 > 0.8 * max(5.0, 0.5 * len(layers) + 3)
    ax.set_xticks(xs, [plot_text(n) for n in names], rotation=30 if tilt else 0,
                  ha="right" if tilt else "center", fontsize=8)  # fmt: skip
    ax.set_ylabel("mean attended distance (tokens)")
    ax.set_xlabel("layer (call order)")
    ax.set_ylim(0, 1.12 * max(float(np.nanmax(table)), uniform, 1e-9))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="best")
    return _base.finish(fig, ax, frame["title"] or "Attention distance by layer")
