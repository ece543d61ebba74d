"""Activation views: feature-map grids, single-neuron traces, recurrent state heatmaps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, FigureBase

from .. import validation
from .._text import plot_text
from ..errors import InvalidInputError
from . import _base

__all__ = [
    "feature_maps",
    "neuron_trace",
    "rnn_states",
]


@_base.frame_options
def feature_maps(
    activation: np.ndarray,
    *,
    sample: int = 0,
    max_channels: int = 32,
    share_scale: bool = True,
    ncols: int | None = None,
    **frame: Any,
) -> Figure:
    """Grid of the channels of one sample's feature map.

    Args:
        activation: ``(N, H, W, C)`` (``sample`` picks one), ``(H, W, C)``, one sample of a 1-D
            map ``(T, C)`` (each channel drawn as a strip), ``(N, D, H, W, C)`` (middle depth
            slice) or one sample of a dense layer ``(units,)`` (one strip).
        sample: which sample of a batch to show (rank 4 and 5 inputs).
        max_channels: show the first channels only.
        title: figure title.
        share_scale: one colour scale for all channels (magnitudes comparable) with one colorbar;
            False scales each channel on its own.
        ncols: grid columns.
        ax: draw into the grid cell of these axes (a subfigure takes its place).
        fig: draw into this Figure or SubFigure instead of a new figure.

    Returns:
        The figure (the top-level one when drawing into the caller's); sequential colormap
        for non-negative maps (ReLU), diverging otherwise. The title says which channels are
        shown ("channels 0-31 of 64").

    Example:
        >>> acts = nv.get_activations(model, x[:1], ["conv2"])
        >>> nv.plot.feature_maps(acts["conv2"])
    """
    a = _base.check_ndim("feature_maps", activation, (1, 2, 3, 4, 5)).astype(np.float64)
    if a.ndim == 1:
        return _unit_strip(a, frame["title"], frame["ax"], frame["fig"])
    if a.ndim >= 4:
        a = a[validation.index("sample", sample, len(a))]
    if a.ndim == 4:
        a = a[a.shape[0] // 2]
    if a.ndim == 2:
        a = a[None]  # (T, C) -> C strips of height 1
    channels = min(a.shape[-1], max_channels)
    fig, axes = _base.grid(
        channels, ncols=ncols, cell=1.3, extra_width=1.0, fig=frame["fig"], ax=frame["ax"]
    )
    cmap, lo, hi = _base.auto_cmap(a[..., :channels])
    im = None
    for c, ax in enumerate(axes):
        scale = {"vmin": lo, "vmax": hi} if share_scale else {}
        im = ax.imshow(a[..., c], cmap=cmap, interpolation="nearest", aspect="auto", **scale)
        ax.set_title(f"ch {c}", fontsize=7)
    if share_scale and im is not None:
        fig.colorbar(im, ax=axes, shrink=0.8, label="activation")
    shown = _base.channels_shown(channels, a.shape[-1])
    return _base.finish(
        fig, None, f"{frame['title']} ({shown})" if frame["title"] else f"feature maps, {shown}"
    )


def _unit_strip(
    units: np.ndarray, title: str | None, ax: Axes | None, fig: FigureBase | None
) -> Figure:
    """A dense layer's activation for one sample as a single heatmap strip."""
    fig, ax = _base.new_axes(ax, figsize=(7, 1.8), fig=fig)
    cmap, lo, hi = _base.auto_cmap(units)
    im = ax.imshow(
        units[None, :], cmap=cmap, vmin=lo, vmax=hi, aspect="auto", interpolation="nearest"
    )
    ax.set_yticks([])
    ax.set_xlabel("unit")
    fig.colorbar(im, ax=ax, label="activation")
    return _base.finish(fig, ax, title or f"{units.size} units")


@_base.frame_options
def neuron_trace(
    values: np.ndarray | Mapping[str, np.ndarray],
    x: Sequence[float] | None = None,
    *,
    xlabel: str = "step",
    ylabel: str = "activation",
    **frame: Any,
) -> Figure:
    """Line plot of one neuron's activation over time steps, epochs or samples.

    Args:
        values: a 1-D array, or ``{label: 1-D array}`` for several neurons.
        x: x coordinates (default ``0 ... len-1``).
        ax: draw into these axes.
        title: axes title.
        xlabel: x-axis label.
        ylabel: y-axis label.
        fig: draw into this Figure or SubFigure (one new axes) instead of a new figure.

    Example:
        >>> states = nv.get_rnn_states(model, x[:1], "lstm")[0]
        >>> nv.plot.neuron_trace({f"unit {u}": states[:, u] for u in (0, 3)}, xlabel="time step")
    """
    series = values if isinstance(values, Mapping) else {"neuron": values}
    if not series or any(np.size(v) == 0 for v in series.values()):
        raise InvalidInputError("neuron_trace received no values (an empty array or mapping).")
    fig, ax = _base.new_axes(frame["ax"], figsize=(6, 3.2), fig=frame["fig"])
    for label, v in series.items():
        v = np.asarray(v, dtype=np.float64).ravel()
        xs = np.arange(len(v)) if x is None else np.asarray(x)
        ax.plot(xs, v, marker="o" if len(v) <= 40 else None, ms=3, lw=1.5, label=plot_text(label))
    if len(series) > 1:
        ax.legend(fontsize=8, loc="best")
    ax.set_xlabel(plot_text(xlabel))
    ax.set_ylabel(plot_text(ylabel))
    ax.grid(alpha=0.3)
    return _base.finish(fig, ax, frame["title"] or "neuron activation")


@_base.frame_options
def rnn_states(
    states: np.ndarray,
    tokens: Sequence[str] | None = None,
    *,
    max_units: int = 128,
    **frame: Any,
) -> Figure:
    """Heatmap of recurrent hidden states: units (rows) × time steps (columns).

    Args:
        states: ``(T, units)`` for one sample (e.g. ``nv.get_rnn_states(...)[i]``).
        tokens: labels for the time steps (e.g. the input tokens).
        ax: draw into these axes.
        title: axes title.
        max_units: show at most this many units.
        fig: draw into this Figure or SubFigure (one new axes) instead of a new figure.

    Example:
        >>> nv.plot.rnn_states(nv.get_rnn_states(model, x[:1], "lstm")[0])
    """
    s = _base.check_ndim("rnn_states", states, (2,)).astype(np.float64)[:, :max_units]
    t, units = s.shape
    fig, ax = _base.new_axes(
        frame["ax"],
        (max(5, min(14, 0.25 * t + 2)), max(3, min(9, 0.12 * units + 1.5))),
        frame["fig"],
    )
    cmap, lo, hi = _base.auto_cmap(s)
    im = ax.imshow(s.T, cmap=cmap, vmin=lo, vmax=hi, aspect="auto", interpolation="nearest")
    fig.colorbar(im, ax=ax, label="state value")
    ax.set_xlabel("time step")
    ax.set_ylabel("unit")
    if tokens is not None:
        ax.set_xticks(
            range(len(tokens)), [plot_text(tok) for tok in tokens], rotation=90, fontsize=8
        )
    return _base.finish(fig, ax, frame["title"] or f"hidden states ({t} steps × {units} units)")
