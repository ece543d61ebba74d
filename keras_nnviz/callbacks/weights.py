"""Weights during training: histograms (and a ridgeline over epochs), kernel heatmaps."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core import graph
from ..errors import IncompatibleLayerError
from ..io import HistogramItem, ImageItem, When
from ..weights import weight_snapshot, weight_variables
from . import _draw, _frames
from ._base import VisualizationCallback
from ._inputs import resolve_layers
from ._schedule import Later

_RIDGE_SAMPLE = 20_000  # values kept per weight per snapshot for the train-end ridgeline
_TREND = 3  # snapshots a train-end figure over training needs (two are the first/final frames)


def _evenly(items: list, limit: int) -> list:
    """At most ``limit`` items spread evenly, first and last kept."""
    if len(items) <= limit:
        return items
    idx = np.unique(np.round(np.linspace(0, len(items) - 1, limit)).astype(int))
    return [items[i] for i in idx]


class WeightHistograms(VisualizationCallback):
    """Weight histograms every snapshot; a ridgeline of each kernel over epochs at train end
    (from three snapshots on: two are the first and final frames already).

    Writes per snapshot one frame tiling every weight's histogram
    (``weight_histograms/overview/epoch_0003.png``, animated in ``animation.gif``) and a
    TensorBoard histogram per weight (tag ``weight_histograms/<layer>/<weight>/histogram``); at
    train end one ridgeline figure (``weight_histograms/overview/ridgeline.png``) with a panel per
    kernel showing how its distribution moved over training.

    Args:
        log_dir: output folder.
        layers: layer references, or None for every layer with weights.
        every: ``"auto"`` (default: when the fit's shared budget allows), epochs (int) or
            ``"batch:N"``.
        bins: histogram bins.
        trainable_only: skip non-trainable variables (BatchNorm statistics).
        ridgeline_rows: snapshots shown in the ridgeline (spread evenly over training).
        max_panels: weights drawn in the per-snapshot frame and the train-end ridgeline (spread
            over the depth in the ridgeline; all go to TensorBoard).
        **options: see :class:`VisualizationCallback` (sinks, on_error, initial, name ...).

    Example:
        >>> model.fit(x, y, epochs=10, callbacks=[nv.callbacks.WeightHistograms("logs")])
    """

    folder = "weight_histograms"
    title = "Weight histograms"

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
        every: int | str = "auto",
        bins: int = 30,
        trainable_only: bool = False,
        ridgeline_rows: int = 12,
        max_panels: int = 24,
        **options: Any,
    ):
        super().__init__(log_dir, every=every, **options)
        self.layers = layers
        self.max_panels = int(max_panels)
        self.bins = int(bins)
        self.trainable_only = trainable_only
        self.ridgeline_rows = int(ridgeline_rows)

    def manifest_params(self):
        return {"layers": self._paths, "bins": self.bins, "trainable_only": self.trainable_only}

    def validate(self, model):
        self._paths = resolve_layers(model, self.layers)
        self._variables = weight_variables(model, self._paths, trainable_only=self.trainable_only)
        if not self._variables:
            raise IncompatibleLayerError(
                f"Layers {self._paths or 'of the model'} have no "
                f"{'trainable ' if self.trainable_only else ''}weights to show; pick layers with "
                "weights (nv.get_weights(model) lists them)."
            )
        self._matrix_keys = {k for k, v in self._variables if len(v.shape) >= 2}
        self._panel_keys = set(_evenly([k for k, _ in self._variables], self.max_panels))
        self._history: dict[str, list[tuple[When, np.ndarray]]] = {}
        self._rng = np.random.default_rng(0)

    def compute(self, model):
        # The training thread only freezes the values; numpy and histograms on the writer.
        return Later(weight_snapshot(model, self._variables))

    def render(self, result, when):
        panels = []
        for key, w in result.items():
            flat = w.ravel()
            if flat.size > _RIDGE_SAMPLE:
                flat = flat[self._rng.choice(flat.size, _RIDGE_SAMPLE, replace=False)]
            self._history.setdefault(key, []).append((when, flat))
            yield HistogramItem(key, w, caption=f"{key} {tuple(w.shape)} · {when.label}")
            if key in self._panel_keys:
                panels.append(_frames.histogram_frame(w, key, bins=self.bins))
        # One frame for the whole model (one PNG, one image summary, one GIF): cheaper than a
        # frame per weight and shows every distribution moving together.
        shown = f", {len(panels)} of {len(result)} weights" if len(panels) < len(result) else ""
        yield ImageItem(
            "overview",
            pixels=_draw.annotate(
                _draw.tile(panels, ncols=min(4, len(panels)), pad=16), when.label + shown
            ),
            caption=f"weight distributions · {when.label}{shown}",
        )

    def summarize(self):
        from ..plot import histograms, to_png

        # One figure for the whole model: matplotlib costs ~25 ms per panel, a figure per layer
        # would cost more than the training overhead budget. Biases are left to TensorBoard and
        # the per-snapshot frames unless they are all there is.
        # Two snapshots (before training and the final state, a short fit's budget) are the
        # first and last frames already: a ridgeline shows a trend from three on, and costs
        # seconds of matplotlib at train end.
        if min((len(snaps) for snaps in self._history.values()), default=0) < _TREND:
            return
        keys = [k for k, snaps in self._history.items() if snaps[0][1].size > 1]
        candidates = [k for k in keys if k in self._matrix_keys] or keys
        if not candidates:
            return
        # A deep network has hundreds of kernels: a panel costs ~25 ms and the figure would be
        # unreadable, so at most max_panels spread over the depth (first and last kept).
        matrices = _evenly(candidates, self.max_panels)
        shown = (
            f" ({len(matrices)} of {len(candidates)} kernels, spread over the depth)"
            if len(matrices) < len(candidates)
            else ""
        )
        rows = _evenly(self._history[matrices[0]], self.ridgeline_rows)
        labels = [f"ep {w.epoch}" if w.batch is None else f"b {w.batch}" for w, _ in rows]
        fig = histograms(
            {k: [v for _, v in _evenly(self._history[k], self.ridgeline_rows)] for k in matrices},
            bins=self.bins,
            row_labels=labels,
            title=f"Weight distributions over training{shown} · top row: first snapshot",
        )
        yield ImageItem(
            "overview",
            png=to_png(fig, dpi=80),
            caption=f"distribution of {len(matrices)} of {len(candidates)} weights at "
            f"{len(rows)} snapshots",
            kind="summary",
            name="ridgeline",
        )


class WeightMatrices(VisualizationCallback):
    """Kernel heatmaps (dense) and filter grids (convolutions) every snapshot.

    Each frame uses one zero-centred diverging scale, printed under it. (No matplotlib summary:
    a filter grid figure costs seconds; the frames carry their scale.)

    Args:
        log_dir: output folder.
        layers: layer references, or None for every layer holding a kernel of rank >= 2.
        every: ``"auto"`` (default: when the fit's shared budget allows), epochs (int) or
            ``"batch:N"``.
        max_filters: filters shown for convolutions.
        **options: see :class:`VisualizationCallback`.

    Example:
        >>> nv.callbacks.WeightMatrices("logs", layers=["conv1", "dense"])
    """

    folder = "weight_matrices"
    title = "Weight matrices"

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
        every: int | str = "auto",
        max_filters: int = 64,
        **options: Any,
    ):
        super().__init__(log_dir, every=every, **options)
        self.layers = layers
        self.max_filters = int(max_filters)

    def manifest_params(self):
        return {"layers": self._paths, "max_filters": self.max_filters}

    def validate(self, model):
        paths = resolve_layers(model, self.layers)
        self._variables = [(k, v) for k, v in weight_variables(model, paths) if len(v.shape) >= 2]
        if not self._variables:
            raise IncompatibleLayerError(
                f"Layers {paths or 'of the model'} hold no weight matrix or kernel (rank >= 2) to "
                "draw; pick Dense/Conv/Embedding layers (nv.get_weights(model) lists weights)."
            )
        self._paths = paths

    def compute(self, model):
        return Later(weight_snapshot(model, self._variables))

    def render(self, result, when):
        for key, w in result.items():
            title = f"{key} · {when.label}"
            if w.ndim >= 3:
                pixels = _frames.filters_frame(np.moveaxis(w, -1, 0), title, self.max_filters)
                what = f"{w.shape[-1]} filters {tuple(w.shape[:-1])}"
            else:
                m = w.reshape(-1, w.shape[-1])
                if m.shape[0] > 2 * m.shape[1]:  # tall kernels read better lying down
                    pixels = _frames.matrix_frame(
                        m.T, f"{title} ({m.shape[1]} out x {m.shape[0]} in)"
                    )
                else:
                    pixels = _frames.matrix_frame(
                        m, f"{title} ({m.shape[0]} in x {m.shape[1]} out)"
                    )
                what = f"matrix {m.shape[0]} inputs × {m.shape[1]} outputs"
            yield ImageItem(key, pixels=pixels, caption=f"{key}: {what} · {when.label}")


__all__ = ["WeightHistograms", "WeightMatrices"]
