"""Weight views: matrix heatmaps, histograms and ridgelines, convolution filter grids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .._text import plot_text
from ..errors import InvalidInputError
from . import _base

__all__ = [
    "filter_grid",
    "histograms",
    "ridgeline",
    "weight_matrix",
]


@_base.frame_options
def weight_matrix(
    weight: np.ndarray,
    *,
    max_size: int = 512,
    **frame: Any,
) -> Figure:
    """Heatmap of a weight matrix with a diverging colormap centred at zero.

    Conv kernels are shown as ``(fan_in, filters)``; vectors as one row. Large matrices are
    subsampled to at most ``max_size`` rows/columns (stride, not interpolation).

    Args:
        weight: any weight array.
        ax: draw into these axes instead of a new figure.
        title: axes title (default names the shape).
        max_size: display limit per axis.
        fig: draw into this Figure or SubFigure (one new axes) instead of a new figure.

    Returns:
        The figure.

    Example:
        >>> nv.plot.weight_matrix(nv.get_weights(model)["dense/kernel"])
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.size == 0:
        raise InvalidInputError(f"weight_matrix received an empty array (shape {w.shape}).")
    shape = w.shape
    m = w.reshape(1, -1) if w.ndim <= 1 else w.reshape(-1, w.shape[-1])
    step_r = max(1, int(np.ceil(m.shape[0] / max_size)))
    step_c = max(1, int(np.ceil(m.shape[1] / max_size)))
    m = m[::step_r, ::step_c]
    fig, ax = _base.new_axes(frame["ax"], (6, 4.5), frame["fig"])
    lo, hi = _base.symmetric_limits(m)
    im = ax.imshow(
        m, cmap=_base.DIVERGING, vmin=lo, vmax=hi, aspect="auto", interpolation="nearest"
    )
    fig.colorbar(im, ax=ax, label="weight value")
    ax.set_xlabel("output unit" if w.ndim > 1 else "index")
    if w.ndim > 1:
        ax.set_ylabel("input (fan-in)")
    else:
        ax.set_yticks([])
    return _base.finish(fig, ax, frame["title"] or f"weights {shape}")


@_base.frame_options
def ridgeline(
    arrays: Sequence[np.ndarray],
    labels: Sequence[str] | None = None,
    *,
    bins: int = 60,
    overlap: float = 0.6,
    **frame: Any,
) -> Figure:
    """Stacked histograms (a ridgeline), e.g. one layer's weights over epochs.

    Args:
        arrays: one array per row (e.g. per epoch), any shapes.
        labels: row labels (default ``"0", "1", ...``).
        bins: histogram bins, shared by all rows.
        ax: draw into these axes.
        title: axes title.
        overlap: how far each ridge may rise into the one above (0 = none).
        fig: draw into this Figure or SubFigure (one new axes) instead of a new figure.

    Example:
        >>> nv.plot.ridgeline([w_epoch0, w_epoch1, w_epoch2], labels=["e0", "e1", "e2"])
    """
    flat = [np.asarray(a, dtype=np.float64).ravel() for a in arrays]
    if not flat:
        raise InvalidInputError("ridgeline needs at least one array; received none.")
    labels = list(labels) if labels is not None else [str(i) for i in range(len(flat))]
    values = np.concatenate([f[np.isfinite(f)] for f in flat]) if flat else np.zeros(1)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    centres = 0.5 * (edges[:-1] + edges[1:])
    counts = [np.histogram(f, bins=edges)[0].astype(np.float64) for f in flat]
    peak = max(c.max() for c in counts) or 1.0
    fig, ax = _base.new_axes(frame["ax"], (6, 1.0 + 0.45 * len(flat)), frame["fig"])
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    for i, c in enumerate(counts):
        base = (len(counts) - 1 - i) * 1.0  # first row on top
        height = c / peak * (1.0 + overlap)
        colour = cmap(i / max(len(counts) - 1, 1))
        ax.fill_between(centres, base, base + height, color=colour, alpha=0.75, lw=0)
        ax.plot(centres, base + height, color="black", lw=0.6)
    ax.set_yticks([len(counts) - 1 - i for i in range(len(counts))], [plot_text(t) for t in labels])
    ax.set_xlabel("value")
    ax.set_xlim(lo, hi)
    ax.spines[["top", "right", "left"]].set_visible(False)
    return _base.finish(fig, ax, frame["title"] or "distribution over time")


@_base.frame_options
def histograms(
    values: Mapping[str, np.ndarray | Sequence[np.ndarray]],
    *,
    bins: int = 50,
    ncols: int = 3,
    row_labels: Sequence[str] | None = None,
    **frame: Any,
) -> Figure:
    """One histogram per named array; a ridgeline per name when given a sequence of arrays.

    Args:
        values: ``{name: array}`` (e.g. :func:`~keras_nnviz.get_weights`) or
            ``{name: [array_epoch0, array_epoch1, ...]}`` for distributions over epochs.
        bins: histogram bins.
        title: figure title.
        ncols: panels per row.
        row_labels: ridgeline row labels (e.g. epoch numbers).
        ax: draw into the grid cell of these axes (a subfigure takes its place).
        fig: draw into this Figure or SubFigure instead of a new figure.

    Example:
        >>> nv.plot.histograms(nv.get_weights(model, trainable_only=True))
    """
    names = list(values)
    if not names:
        raise InvalidInputError("histograms needs at least one array; received an empty mapping.")
    ncols = min(ncols, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    multi = any(isinstance(v, list | tuple) for v in values.values())
    height = (1.0 + 0.3 * max(len(v) for v in values.values())) if multi else 2.2
    fig, _ = _base.target(frame["fig"], frame["ax"], (4.2 * ncols, height * nrows + 0.5))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        v = values[name]
        if isinstance(v, list | tuple):
            ridgeline(v, labels=row_labels, bins=bins, ax=ax, title=name)
        else:
            flat = np.asarray(v, dtype=np.float64).ravel()
            ax.hist(flat[np.isfinite(flat)], bins=bins, color="#3b75af")
            ax.set_title(plot_text(name), fontsize=9)
            ax.set_ylabel("count")
            ax.tick_params(labelsize=8)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    return _base.finish(fig, None, frame["title"] or "weight distributions")


@_base.frame_options
def filter_grid(
    filters: np.ndarray,
    *,
    max_filters: int = 64,
    ncols: int | None = None,
    **frame: Any,
) -> Figure:
    """Grid of convolution filters, filters first: ``(F, kh, kw, in)`` or ``(F, k, in)``.

    RGB filters (``in == 3``) are shown in colour (scaled together); others as the mean over
    input channels with a diverging colormap on one shared, zero-centred scale and a colorbar.
    1-D filters appear as ``in_channels × k`` heatmaps.

    Args:
        filters: the kernels, filters first (e.g. ``nv.weights.conv_filters(model, "conv1")``).
        max_filters: show the first filters only.
        title: figure title.
        ncols: grid columns.
        ax: draw into the grid cell of these axes (a subfigure takes its place).
        fig: draw into this Figure or SubFigure instead of a new figure.

    Example:
        >>> nv.plot.filter_grid(nv.weights.conv_filters(model, "conv1"))
    """
    f = _base.check_ndim("filter_grid", filters, (3, 4, 5)).astype(np.float64)
    f = f[:max_filters]
    if f.ndim == 5:  # 3-D conv: show the middle depth slice
        f = f[:, f.shape[1] // 2]
    fig, axes = _base.grid(
        len(f), ncols=ncols, cell=1.1, extra_width=1.0, fig=frame["fig"], ax=frame["ax"]
    )
    rgb = f.ndim == 4 and f.shape[-1] == 3
    if rgb:
        lo, hi = f.min(), f.max()
        scaled = (f - lo) / (hi - lo if hi > lo else 1.0)
        for i, ax in enumerate(axes):
            ax.imshow(scaled[i], interpolation="nearest")
            ax.set_title(str(i), fontsize=7)
        return _base.finish(fig, None, frame["title"] or f"{len(f)} filters (RGB)")
    tiles = f.mean(axis=-1) if f.ndim == 4 else np.swapaxes(f, 1, 2)
    lo, hi = _base.symmetric_limits(tiles)
    im = None
    for i, ax in enumerate(axes):
        im = ax.imshow(
            tiles[i],
            cmap=_base.DIVERGING,
            vmin=lo,
            vmax=hi,
            interpolation="nearest",
            aspect="auto" if f.ndim == 3 else "equal",
        )
        ax.set_title(str(i), fontsize=7)
    fig.colorbar(im, ax=axes, shrink=0.8, label="weight")
    return _base.finish(fig, None, frame["title"] or f"{len(f)} filters")
