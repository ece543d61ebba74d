"""Training diagnostics as callbacks: gradient flow and update ratios, dead units."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import diagnostics
from ..core import graph
from ..core.loop import fixed_batches
from ..errors import InvalidArgumentError, InvalidInputError
from ..io import ImageItem, ScalarItem
from ..plot import _base as plot_base
from ..plot.diagnostics import dead_units as plot_dead_units
from ..plot.diagnostics import layer_epoch_heatmap
from . import _frames
from ._base import Later, VisualizationCallback
from ._inputs import first_input, fixed_inputs, nothing_to_show
from ._recorder import recording_pass

__all__ = [
    "DeadUnits",
    "DeadUnitsWarning",
    "GradientFlow",
    "log",
    "update_ratios",
]

log = logging.getLogger("keras_nnviz")
#: Snapshots a layer × snapshot heatmap needs: with two (before training and the final state,
#: what a short fit's budget draws) the first and final frames show the same, and the heatmaps
#: cost seconds of matplotlib at train end.
_TREND = 3


class DeadUnitsWarning(UserWarning):
    """A layer's fraction of never-active units passed the callback's ``warn_fraction``."""


def _summary(fig, name: str, caption: str) -> ImageItem:
    """A train-end figure of the ``layers`` tag (``layers/<name>.png``)."""
    return ImageItem(
        "layers", png=plot_base.to_png(fig), kind="summary", name=name, caption=caption
    )


def _layer_norm(arrays: Sequence[np.ndarray]) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays)))


def update_ratios(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> dict[str, float]:
    """Per layer ``‖W_after − W_before‖ / ‖W_before‖`` over the layer's weights.

    Args:
        before: ``{"layer/weight": array}`` (as from :func:`keras_nnviz.get_weights`).
        after: the same keys later in training.

    Returns:
        ``{layer: ratio}`` (NaN for a layer whose weights were all zero).
    """
    layers: dict[str, list[str]] = {}
    for key in before:
        layers.setdefault(key.rsplit("/", 1)[0], []).append(key)
    out = {}
    for layer, keys in layers.items():
        old = _layer_norm([before[k] for k in keys])
        delta = _layer_norm([after[k] - before[k] for k in keys])
        out[layer] = delta / old if old > 0 else float("nan")
    return out


class GradientFlow(VisualizationCallback):
    """Per-layer gradient norms and update/weight ratios over training.

    Each snapshot computes the loss gradient on the fixed batch ``(x, y)``
    (:func:`keras_nnviz.gradient_flow`, compiled once, inference mode, the model's optimizer and
    compiled loss untouched) and the update ratio ``‖ΔW‖ / ‖W‖`` of every layer since the
    previous snapshot, from weight snapshots. Writes a bar-chart frame per snapshot
    (``gradient_flow/layers/epoch_0003.png`` and the GIF), TensorBoard scalars per layer
    (``gradient_flow/<layer>/grad_norm/scalar``, ``.../update_ratio/scalar``) and, at train end,
    layer × epoch heatmaps of both (from three snapshots on). The numbers are kept in
    :attr:`history`.

    Healthy update ratios sit around 1e-3 per step (Karpathy's rule of thumb); per epoch they
    add up over its steps. Gradient norms falling by decades towards the input mean vanishing
    gradients.

    The gradients are computed on a snapshot of the weights, on the writer thread: the
    training thread only freezes the weights (about a millisecond).

    Args:
        log_dir: output folder.
        x: a fixed batch of inputs.
        y: its labels (the loss's targets, as for ``model.fit``; for a multi-output model a list
            in output order or a dict ``{output name: labels}``).
        every: ``"auto"`` (default: when the fit's shared budget allows), epochs (int) or
            ``"batch:N"``.
        loss: loss to differentiate (default: the compiled loss).
        kernels_only: use kernel-like weights (rank ≥ 2) for the per-layer gradient norm.
        batch_size: samples per forward/backward pass.
        **options: see :class:`VisualizationCallback`.

    Attributes:
        history: ``{"step": [...], "epoch": [...], "grad_norm": {layer: [...]},
            "update_ratio": {layer: [...]}}``; the update ratio of the first snapshot is NaN
            (nothing to compare with).

    Example:
        >>> cb = nv.callbacks.GradientFlow("logs", x=x_val[:256], y=y_val[:256])
        >>> model.fit(x, y, epochs=10, callbacks=[cb])
        >>> cb.history["update_ratio"]["dense_1"]
    """

    folder = "gradient_flow"
    title = "Gradient flow"

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        x: Any,
        y: Any,
        every: int | str = "auto",
        loss: Any = None,
        kernels_only: bool = True,
        batch_size: int = 256,
        **options: Any,
    ):
        super().__init__(log_dir, every=every, **options)
        if y is None:
            raise InvalidInputError(
                "GradientFlow needs labels y for its fixed batch x (the loss compares predictions "
                "with them); received y=None."
            )
        self.x, self.y, self.loss = x, y, loss
        self.kernels_only = bool(kernels_only)
        self.batch_size = int(batch_size)
        self.history: dict[str, Any] = {}

    def manifest_params(self):
        return {"samples": self._n, "kernels_only": self.kernels_only}

    def validate(self, model):
        rows = diagnostics.label_rows(diagnostics.label_arrays(model, self.y))
        self._x = fixed_inputs(model, self.x, max_samples=rows or None)
        self._n = len(first_input(self._x))
        batches = fixed_batches(model, self._x, self.batch_size)
        labels = diagnostics.labels_batches(model, self.y, self._n, self.batch_size)
        # The labels nv.gradient_flow accepts, checked the same way (each output against its
        # loss): a mistake is told at train begin, not as a failed snapshot.
        diagnostics.check_labels(model, diagnostics.resolve_loss(model, self.loss), self.y)
        self._batches = list(zip(batches, labels))
        self._flow = diagnostics.gradient_flow_pass(model, self.loss, weights="snapshot")
        self._names = diagnostics.variable_names(model, model.trainable_weights)
        self.history = {"step": [], "epoch": [], "grad_norm": {}, "update_ratio": {}}
        self._previous: dict[str, np.ndarray] | None = None

    def compute(self, model):
        # Freeze the weights (about a millisecond); gradients and norms on the writer thread.
        values, flow, batches, names = self._flow.snapshot(), self._flow, self._batches, self._names

        def finish():
            rows = diagnostics.flow_rows(model, flow, batches, self._n, values, names)
            weights = diagnostics.trainable_values(model, flow, values)
            return rows, {names[id(v)]: w for v, w in zip(model.trainable_weights, weights)}

        return Later(finish)

    def render(self, result, when):
        rows, weights = result
        norms = diagnostics.layer_gradient_norms(rows, self.kernels_only)
        ratios = (
            update_ratios(self._previous, weights)
            if self._previous is not None
            else dict.fromkeys(norms, float("nan"))
        )
        self._previous = weights
        self.history["step"].append(when.step)
        self.history["epoch"].append(when.epoch)
        for layer in norms:
            self.history["grad_norm"].setdefault(layer, []).append(norms[layer])
            self.history["update_ratio"].setdefault(layer, []).append(
                ratios.get(layer, float("nan"))
            )
            yield ScalarItem(f"{layer}/grad_norm", norms[layer], caption=f"‖∇{layer}‖")
            if np.isfinite(ratios.get(layer, np.nan)):
                yield ScalarItem(
                    f"{layer}/update_ratio", ratios[layer], caption=f"‖ΔW‖/‖W‖ of {layer}"
                )
        frame = _frames.bars_frame(norms, f"gradient norm per layer · {when.label}", log=True)
        # Always both panels (n/a before the first update): GIF frames of a tag share one size.
        # Pillow's default font has no ‖ or Δ: plain ASCII in frames.
        below = _frames.bars_frame(ratios, f"update ratio |dW|/|W| · {when.label}", log=True)
        frame = np.concatenate([frame, below], axis=0)  # same width: same layer rows
        yield ImageItem("layers", pixels=frame, caption=f"gradient flow · {when.label}")

    def summarize(self):
        epochs = self.history.get("step", [])
        if len(epochs) < _TREND:  # two snapshots: the first and final frames show it already
            return
        for key, label in (("grad_norm", "gradient norm ‖∇W‖"), ("update_ratio", "‖ΔW‖ / ‖W‖")):
            values = self.history[key]
            fig = layer_epoch_heatmap(
                values, epochs=epochs, label=label, title=f"{label} per layer over training"
            )
            yield _summary(fig, key, f"{label}, layer × snapshot")


class DeadUnits(VisualizationCallback):
    """Fraction of never-active units per layer over training, with a warning naming the layer.

    Each snapshot runs :func:`keras_nnviz.dead_units` on the fixed inputs (ReLU-family layers by
    default). When a layer's dead fraction reaches ``warn_fraction`` the callback warns once per
    layer (a :class:`DeadUnitsWarning` and a ``keras_nnviz`` log line); training goes on.

    The forward pass runs on a snapshot of the weights, on the writer thread: the training
    thread only freezes the weights (about a millisecond). The warning is raised on the training
    thread at the next epoch end (or at train end).

    Args:
        log_dir: output folder.
        x: fixed inputs (a few hundred samples is plenty).
        layers: layers to watch (default: every ReLU-family layer, also inside custom layers;
            a model with none gets a :class:`~keras_nnviz.callbacks.NothingToShowWarning` at
            train begin and no pictures, and training goes on).
        every: ``"auto"`` (default: when the fit's shared budget allows), epochs (int) or
            ``"batch:N"``.
        threshold: activation a unit must exceed to count as alive.
        warn_fraction: dead fraction that triggers the warning.
        batch_size: samples per forward pass.
        **options: see :class:`VisualizationCallback`.

    Attributes:
        history: ``{"step": [...], "dead_fraction": {layer: [...]}}``.

    Example:
        >>> model.fit(x, y, epochs=5, callbacks=[nv.callbacks.DeadUnits("logs", x=x_val[:256])])
    """

    folder = "dead_units"
    title = "Dead units"

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        x: Any,
        layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
        every: int | str = "auto",
        threshold: float = 0.0,
        warn_fraction: float = 0.5,
        batch_size: int = 64,
        **options: Any,
    ):
        super().__init__(log_dir, every=every, **options)
        if not 0.0 < float(warn_fraction) <= 1.0:
            raise InvalidArgumentError(
                f"warn_fraction must be in (0, 1]; received {warn_fraction!r}."
            )
        self.x, self.layers = x, layers
        self.threshold = float(threshold)
        self.warn_fraction = float(warn_fraction)
        self.batch_size = int(batch_size)
        self.history: dict[str, Any] = {}

    def manifest_params(self):
        params = {
            "layers": self._probe.paths if self._probe is not None else [],
            "threshold": self.threshold,
            "warn_fraction": self.warn_fraction,
        }
        return params if self._note is None else {**params, "note": self._note}

    def recorded_layers(self, model) -> list[str]:
        """The layers whose outputs the fit's shared recording pass reads for this callback."""
        return diagnostics.watched_layers(model, self.layers, required=False)

    def validate(self, model):
        self._x = fixed_inputs(model, self.x)
        self._warned: set[str] = set()
        self.history = {"step": [], "dead_fraction": {}}
        self._probe, self._note = None, None
        paths = diagnostics.watched_layers(model, self.layers, required=False)
        if not paths:  # only the default can be empty: named layers that do not exist raise
            self._note = nothing_to_show(
                self,
                f"model {model.name!r} has no layer with a ReLU-family activation (also inside "
                "custom layers) whose units could die; pass layers= to watch others.",
            )
            return
        rows = min(self.batch_size, len(first_input(self._x)))
        self._probe = recording_pass(self, model, paths, rows)
        self._batches = fixed_batches(model, self._x, self.batch_size)

    def compute(self, model):
        if self._probe is None:
            return None  # nothing to watch (said once at train begin)
        # Freeze the weights (about a millisecond); the forward pass on the writer thread.
        values, probe, batches = self._probe.snapshot(), self._probe, self._batches
        return Later(lambda: diagnostics.count_dead_units(probe, batches, self.threshold, values))

    def _check(self, report: dict[str, dict[str, Any]]) -> None:
        """One warning per snapshot naming the layers whose dead fraction newly reached
        ``warn_fraction``, worst first (a big random-init network would otherwise print a line
        per layer); each layer is named once per training. Layers whose outputs are NaN/inf (a
        diverged fit) are "not finite", never "dead"."""
        fresh = [(path, row) for path, row in report.items() if path not in self._warned]
        broken = [(path, row) for path, row in fresh if row.get("nonfinite")]
        sick = [
            (path, row)
            for path, row in fresh
            if not row.get("nonfinite") and row["dead_fraction"] >= self.warn_fraction
        ]
        if broken:
            self._warned.update(path for path, _ in broken)
            shown = ", ".join(
                f"{path!r} ({row['nonfinite']} of {row['units']} units)" for path, row in broken[:3]
            )
            more = f" and {len(broken) - 3} more" if len(broken) > 3 else ""
            self._warn(
                f"NaN/inf weights or outputs on the watched inputs in {shown}{more}: the "
                "weights are not finite (the fit diverged), so dead units cannot be counted "
                "there."
            )
        if not sick:
            return
        self._warned.update(path for path, _ in sick)
        sick.sort(key=lambda item: -item[1]["dead_fraction"])
        shown = ", ".join(
            f"{path!r} ({row['dead']} of {row['units']} units, {row['dead_fraction']:.0%})"
            for path, row in sick[:3]
        )
        more = f" and {len(sick) - 3} more" if len(sick) > 3 else ""
        layers = "Layer" if len(sick) == 1 else f"{len(sick)} layers:"
        self._warn(
            f"{layers} {shown}{more} never activate on the watched inputs "
            f"(≥ {self.warn_fraction:.0%} of units dead). Dying ReLUs: try a lower learning "
            "rate, He initialisation, LeakyReLU, or check the layers' biases."
        )

    def _warn(self, message: str) -> None:
        log.warning(message)
        self.notify(message, DeadUnitsWarning)

    def render(self, result, when):
        self._check(result)
        self.history["step"].append(when.step)
        fractions = {}
        for path, row in result.items():
            # NaN outputs: no dead fraction to show ("n/a" bar), not 0 % or 100 %.
            value = float("nan") if row.get("nonfinite") else row["dead_fraction"]
            fractions[path] = value
            self.history["dead_fraction"].setdefault(path, []).append(value)
            if not row.get("nonfinite"):
                yield ScalarItem(f"{path}/dead_fraction", value, caption=f"dead units of {path}")
        broken = [p for p, row in result.items() if row.get("nonfinite")]
        title = f"dead-unit fraction · {when.label}"
        if broken:
            title += f" · {len(broken)} layer(s) not finite"
        frame = _frames.bars_frame(fractions, title, limit=1.0, warn_at=self.warn_fraction)
        yield ImageItem("layers", pixels=frame, caption=f"dead units · {when.label}")
        self._last = result

    def summarize(self):
        if not self.history.get("step"):
            return
        fig = plot_dead_units(
            self._last, warn_fraction=self.warn_fraction, title="dead units at the end of training"
        )
        yield _summary(fig, "final", "dead-unit fraction per layer, final state")
        if len(self.history["step"]) >= _TREND:
            fig = layer_epoch_heatmap(
                self.history["dead_fraction"],
                epochs=self.history["step"],
                label="dead fraction",
                log=False,
                title="dead-unit fraction per layer over training",
            )
            yield _summary(fig, "history", "dead-unit fraction, layer × snapshot")
