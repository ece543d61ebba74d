"""Training-diagnostic views: gradient flow bars, layer × epoch heatmaps, dead units,
activation statistics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from .. import validation
from .._text import plot_text
from ..errors import InvalidInputError
from . import _base

__all__ = [
    "activation_stats",
    "dead_units",
    "gradient_flow",
    "layer_epoch_heatmap",
]


def _per_layer(rows: Sequence[Mapping[str, Any]], kernels_only: bool) -> dict[str, list]:
    layers: dict[str, list] = {}
    for row in rows:
        if kernels_only and len(row.get("shape", (0, 0))) < 2:
            continue
        layers.setdefault(row["layer"], []).append(row)
    return layers


@_base.frame_options
def gradient_flow(
    rows: Sequence[Mapping[str, Any]],
    *,
    kernels_only: bool = True,
    **frame: Any,
) -> Figure:
    """Bar chart of gradient magnitude per layer, input side on the left (log scale).

    Light bars show the largest ``|g|``, dark bars the mean ``|g|``; vanishing gradients show as
    bars shrinking towards the input, exploding ones as bars growing.

    Args:
        rows: rows from :func:`keras_nnviz.gradient_flow`.
        ax: draw into these axes.
        title: axes title.
        kernels_only: use kernel-like weights only (rank ≥ 2), skipping biases.
        fig: draw into this Figure or SubFigure (one new axes) instead of a new figure.

    Example:
        >>> nv.plot.gradient_flow(nv.gradient_flow(model, x, y))
    """
    rows = validation.rows(
        "plot.gradient_flow", rows, ("layer", "grad_mean_abs", "grad_max_abs"), "nv.gradient_flow"
    )
    layers = _per_layer(rows, kernels_only)
    if not layers:
        raise InvalidInputError(
            "plot.gradient_flow: no kernel rows to show; pass kernels_only=False to include "
            "biases and vectors."
        )
    names = list(layers)
    mean = np.array([np.mean([r["grad_mean_abs"] for r in layers[n]]) for n in names])
    peak = np.array([np.max([r["grad_max_abs"] for r in layers[n]]) for n in names])
    fig, ax = _base.new_axes(frame["ax"], (max(5, 0.55 * len(names) + 2), 4), frame["fig"])
    xs = np.arange(len(names))
    tiny = 1e-30  # keep zero gradients visible on a log axis
    ax.bar(xs, np.maximum(peak, tiny), color="#9ecae1", label="max |grad|")
    ax.bar(xs, np.maximum(mean, tiny), color="#08519c", label="mean |grad|", width=0.5)
    ax.set_yscale("log")
    ax.set_xticks(
        xs, [plot_text(n) for n in _base.short_labels(names)], rotation=60, ha="right", fontsize=8
    )
    ax.set_ylabel("gradient magnitude")
    ax.set_xlabel("layer (input → output)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _base.finish(fig, ax, frame["title"] or "gradient flow")


@_base.frame_options
def layer_epoch_heatmap(
    values: Mapping[str, Sequence[float]],
    epochs: Sequence[int] | None = None,
    *,
    label: str = "value",
    log: bool = True,
    **frame: Any,
) -> Figure:
    """Heatmap of a per-layer quantity over epochs (layers as rows, input side on top).

    Args:
        values: ``{layer: [value per epoch]}``, e.g. gradient norms or update ratios.
        epochs: column labels (default ``1 ... E``).
        ax: draw into these axes.
        title: axes title.
        label: colorbar label.
        log: logarithmic colour scale (magnitudes spanning decades).
        fig: draw into this Figure or SubFigure (one new axes) instead of a new figure.

    Example:
        >>> nv.plot.layer_epoch_heatmap({"dense_1": [1e-3, 2e-3], "dense_2": [1e-1, 9e-2]})
    """
    names = list(values)
    data = np.array([np.asarray(values[n], dtype=np.float64) for n in names])
    if data.ndim != 2 or data.size == 0:
        raise InvalidInputError(
            "layer_epoch_heatmap needs {layer: [value per epoch]} of equal lengths"
        )
    epochs = list(epochs) if epochs is not None else list(range(1, data.shape[1] + 1))
    fig, ax = _base.new_axes(
        frame["ax"], (max(5, 0.4 * data.shape[1] + 3), max(3, 0.3 * len(names) + 1.5)), frame["fig"]
    )
    positive = data[np.isfinite(data) & (data > 0)]
    norm = None
    if log and positive.size:
        norm = LogNorm(vmin=positive.min(), vmax=max(positive.max(), positive.min() * 1.0001))
        if np.any(data == 0):
            label += " (white: exactly 0)"
        data = np.where(data > 0, data, np.nan)
    im = ax.imshow(data, aspect="auto", cmap=_base.SEQUENTIAL, norm=norm, interpolation="nearest")
    fig.colorbar(im, ax=ax, label=plot_text(label))
    ax.set_yticks(range(len(names)), [plot_text(n) for n in _base.short_labels(names)], fontsize=8)
    step = max(1, len(epochs) // 15)
    ax.set_xticks(range(0, len(epochs), step), [str(e) for e in epochs[::step]])
    ax.set_xlabel("epoch")
    return _base.finish(fig, ax, frame["title"] or f"{label} per layer over epochs")


@_base.frame_options
def dead_units(
    report: Mapping[str, Mapping[str, Any]],
    *,
    warn_fraction: float = 0.5,
    **frame: Any,
) -> Figure:
    """Horizontal bars of the dead-unit fraction per layer; layers past ``warn_fraction`` in red.

    Args:
        report: ``{layer: {"dead_fraction", "dead", "units"}}`` from :func:`keras_nnviz.dead_units`.
        warn_fraction: the dashed reference line (in the legend); bars at or past it are red.
        ax: draw into these axes.
        title: axes title.
        fig: draw into this Figure or SubFigure (one new axes) instead of a new figure.

    Example:
        >>> nv.plot.dead_units(nv.dead_units(model, x))
    """
    validation.rows(
        "plot.dead_units", list(dict(report).values()), ("dead_fraction",), "nv.dead_units"
    )
    names = list(report)
    fractions = np.array([report[n]["dead_fraction"] for n in names], dtype=np.float64)
    fig, ax = _base.new_axes(frame["ax"], (6, max(2.5, 0.35 * len(names) + 1.2)), frame["fig"])
    colours = ["#cb181d" if f >= warn_fraction else "#4292c6" for f in fractions]
    ys = np.arange(len(names))
    ax.barh(ys, fractions, color=colours)
    from matplotlib.patches import Patch

    handles = [Patch(color="#4292c6", label="dead fraction")]
    if np.any(fractions >= warn_fraction):
        handles.append(Patch(color="#cb181d", label=f"≥ {warn_fraction:.0%} dead"))
    ax.axvline(warn_fraction, color="black", ls="--", lw=1, label=f"warn at {warn_fraction:.0%}")
    for y, f, n in zip(ys, fractions, names):
        ax.text(
            min(f + 0.01, 0.9),
            y,
            f"{report[n]['dead']}/{report[n]['units']}",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(ys, [plot_text(n) for n in _base.short_labels(names)], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of units never active")
    line = ax.get_lines()[-1]
    ax.legend(handles=[*handles, line], fontsize=8, loc="lower right")
    return _base.finish(fig, ax, frame["title"] or "dead units")


@_base.frame_options
def activation_stats(
    rows: Sequence[Mapping[str, Any]],
    **frame: Any,
) -> Figure:
    """Two panels per layer: mean ± std of activations, and zero / saturated fractions.

    Args:
        rows: rows from :func:`keras_nnviz.activation_stats`.
        title: figure title.
        ax: draw into the grid cell of these axes (a subfigure takes its place).
        fig: draw into this Figure or SubFigure instead of a new figure.

    Example:
        >>> nv.plot.activation_stats(nv.activation_stats(model, x))
    """
    names = [r["layer"] for r in rows]
    if not names:
        raise InvalidInputError("activation_stats plot needs rows from nv.activation_stats")
    xs = np.arange(len(names))
    fig, _ = _base.target(frame["fig"], frame["ax"], (max(6, 0.6 * len(names) + 2), 5.5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    mean = np.array([r["mean"] for r in rows])
    std = np.array([r["std"] for r in rows])
    top.errorbar(xs, mean, yerr=std, fmt="o", color="#08519c", capsize=3, label="mean ± std")
    top.axhline(0, color="grey", lw=0.8, label="zero")
    top.legend(fontsize=8)
    top.set_ylabel("mean ± std")
    zeros = np.array([r["zeros"] for r in rows])
    sat = np.nan_to_num(np.array([r["saturated"] for r in rows], dtype=np.float64))
    bottom.bar(xs - 0.2, zeros, width=0.4, color="#6baed6", label="exactly zero")
    bottom.bar(xs + 0.2, sat, width=0.4, color="#cb181d", label="saturated")
    bottom.set_ylim(0, 1)
    bottom.set_ylabel("fraction")
    bottom.legend(fontsize=8)
    labels = [plot_text(f"{n}\n({r['activation'] or 'linear'})") for n, r in zip(names, rows)]
    bottom.set_xticks(
        xs,
        labels,
        rotation=30 if len(names) > 6 else 0,
        ha="right" if len(names) > 6 else "center",
        fontsize=8,
    )
    return _base.finish(fig, None, frame["title"] or "activation statistics")
