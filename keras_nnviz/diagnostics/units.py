"""Unit statistics: ReLU-family units that never fire (dead units) and the saturation and
spread of every nonlinear layer's activations, streamed over a dataset in one compiled pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import validation
from ..core import graph
from ..core.compiled import CompiledPass, layer_pass
from ..core.loop import BatchLoop
from ..core.model import activation_name, nonlinear_layers
from ..core.summaries import Moments
from ..errors import InvalidArgumentError

__all__ = [
    "ActivationSummary",
    "activation_stats",
    "count_dead_units",
    "dead_units",
    "DeadUnitCounter",
    "layer_rows",
    "RELU_FAMILY",
    "SATURATING",
    "stream_layers",
    "watched_layers",
]

RELU_FAMILY = ("relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish")
SATURATING = ("sigmoid", "tanh", "hard_sigmoid", "softsign")


# ----------------------------------------------------------------------------------------------
# Dead units and activation statistics


def layer_rows(
    probe: CompiledPass, result: dict[str, Any], dtype: Any = np.float64
) -> dict[str, np.ndarray]:
    """A recording pass's result on one batch as ``{path: array (samples*positions, units)}``
    in ``dtype`` (float64, what the running moments take; None: as recorded, float32)."""
    out = result["layers"]
    return {
        path: np.asarray(value, dtype=dtype).reshape(-1, np.shape(value)[-1])
        for path, value in ((p, out[p]) for p in probe.paths)
    }


def stream_layers(probe: CompiledPass, batches: Iterable[Any], values=None, dtype=np.float64):
    """Yield ``{path: array (samples*positions, units)}`` (in ``dtype``, see
    :func:`layer_rows`) per batch of activations (``values``: the snapshot a snapshot pass
    computes on)."""
    for batch in batches:
        yield layer_rows(probe, probe(batch, values=values), dtype)


def _loop_layers(probe: CompiledPass, loop: BatchLoop):
    """:func:`stream_layers` over a loop's batches, each split across the loop's replicas
    (per-sample activations joined in input order: the summaries see the one-device rows)."""
    for batch in loop:
        yield layer_rows(probe, loop.run(probe, batch))


def _layer_list(model, layers, kinds, what, required=True):
    if layers is None:
        paths = nonlinear_layers(model, kinds)
        if not paths and required:
            raise InvalidArgumentError(
                f"Model {model.name!r} has no layer with a {what} activation to check; pass "
                f"layers= (available: {graph.list_layers(model)})."
            )
        return paths
    if isinstance(layers, str | int | keras.layers.Layer):
        layers = [layers]
    return graph.layer_paths(model, layers)


def dead_units(
    model: keras.Model,
    x: Any,
    *,
    layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
    threshold: float = 0.0,
    batch_size: int = 64,
    strategy: tf.distribute.Strategy | None = None,
) -> dict[str, dict[str, Any]]:
    """Units (channels) that never activate above ``threshold`` on ``x``.

    A unit of a convolution is its channel: it counts as active when any sample at any position
    exceeds the threshold.

    Args:
        model: a built Keras model.
        x: inputs (numpy, tensor, list/dict, dataset).
        layers: layers to check; default: every layer ending in a ReLU-family activation.
        threshold: activation value a unit must exceed to count as alive.
        batch_size: samples per forward pass (counts are accumulated, activations not kept).
        strategy: a ``tf.distribute.Strategy`` whose replicas share each batch (None: the one
            of an enclosing ``nv.distribute`` block, else one device).

    Returns:
        ``{path: {"dead_fraction": float, "dead": int, "units": int, "frequency": (units,)
        array, "nonfinite": int}}`` where ``frequency`` is the fraction of (sample, position)
        pairs at which each unit exceeded the threshold and ``nonfinite`` counts units with a
        NaN/inf output (NaN weights: a diverged fit) — they are not counted as dead.

    Example:
        >>> report = nv.dead_units(model, x_val)
        >>> {p: r["dead_fraction"] for p, r in report.items()}
        {'dense_1': 0.0, 'dense_2': 0.94}
    """
    threshold = validation.number("threshold", threshold)
    paths = watched_layers(model, layers)
    probe = layer_pass(model, paths)
    counter = DeadUnitCounter(probe.paths, threshold)
    # check=False: NaN/inf activations are counted apart in the report, not warned about.
    for chunk in _loop_layers(
        probe, BatchLoop(model, x, batch_size, check=False, strategy=strategy)
    ):
        counter.update(chunk)
    return counter.result(model.weights)


def watched_layers(
    model: keras.Model,
    layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
    required: bool = True,
) -> list[str]:
    """The paths :func:`dead_units` watches: ``layers``, or every ReLU-family layer (also
    inside custom layers).

    Args:
        model: a built Keras model.
        layers: layer references, or None for the default.
        required: raise when the default finds no layer (False: return ``[]``; the callbacks
            then draw nothing and say so).

    Raises:
        InvalidArgumentError: no ReLU-family layer and ``required``.
    """
    return _layer_list(model, layers, RELU_FAMILY, "ReLU-family", required)


class DeadUnitCounter:
    """Running counts of :func:`dead_units`: feed each batch's ``{path: (rows, units)}``
    activations (:meth:`update`), read the report at the end (:meth:`result`). Memory: one
    count per unit, whatever the number of batches.

    Args:
        paths: the layers counted, in report order.
        threshold: activation value a unit must exceed to count as alive.

    Example:
        >>> counter = DeadUnitCounter(probe.paths)
        >>> for chunk in chunks:
        ...     counter.update(chunk)
        >>> report = counter.result(model.weights)
    """

    def __init__(self, paths: Sequence[str], threshold: float = 0.0):
        self.paths, self.threshold = list(paths), threshold
        self.counts: dict[str, np.ndarray] = {}
        self.totals: dict[str, int] = {}
        self.broken: dict[str, np.ndarray] = {}

    def update(self, chunk: dict[str, np.ndarray]) -> None:
        """Add one batch of activations ``{path: (rows, units)}``."""
        # A float64 threshold compares float32 activations exactly as float64 ones would
        # (a Python float would be rounded to float32 first), without converting them.
        threshold = np.float64(self.threshold)
        for path in self.paths:
            acts = chunk[path]
            alive = np.count_nonzero(acts > threshold, axis=0)
            self.counts[path] = self.counts.get(path, 0) + alive
            self.totals[path] = self.totals.get(path, 0) + acts.shape[0]
            broken = ~np.isfinite(acts).all(axis=0)
            self.broken[path] = self.broken.get(path, False) | broken

    def result(self, weights: Sequence[Any]) -> dict[str, dict[str, Any]]:
        """The :func:`dead_units` report; ``weights``: the values the model computed with."""
        # Whether ReLU passes a NaN on or turns it into 0 depends on the CPU's kernels, so a
        # model with NaN/inf weights may show finite, all-zero activations: never count dead
        # units then.
        diverged = not all(np.isfinite(np.asarray(w)).all() for w in weights)
        result = {}
        for path in self.paths:
            freq = self.counts[path] / max(self.totals[path], 1)
            # A NaN activation is never "> threshold": without this, NaN weights (a diverged
            # fit) would read as 100 % dead units. Units with NaN/inf outputs are counted apart.
            nonfinite = np.broadcast_to(self.broken[path] | diverged, freq.shape)
            dead = int(np.sum((self.counts[path] == 0) & ~nonfinite))
            result[path] = {
                "dead_fraction": dead / freq.size,
                "dead": dead,
                "units": int(freq.size),
                "frequency": freq.astype(np.float32),
                "nonfinite": int(np.sum(nonfinite)),
            }
        return result


def count_dead_units(
    probe: CompiledPass, batches: Iterable[Any], threshold: float = 0.0, values=None
) -> dict[str, dict[str, Any]]:
    """:func:`dead_units` of the layers of a recording pass (:func:`layer_pass`) over prepared
    batches; ``values``: the snapshot a snapshot pass computes on."""
    counter = DeadUnitCounter(probe.paths, threshold)
    for chunk in stream_layers(probe, batches, values, dtype=None):  # counting needs no float64
        counter.update(chunk)
    return counter.result(values if values is not None else probe.model.weights)


def _saturation(name: str | None, acts: np.ndarray, margin: float) -> np.ndarray | None:
    """Boolean mask of saturated activations for a saturating nonlinearity, else None."""
    if name in ("sigmoid", "hard_sigmoid"):
        return (acts < margin) | (acts > 1 - margin)
    if name in ("tanh", "softsign"):
        return np.abs(acts) > 1 - margin
    return None


class ActivationSummary:
    """Running :func:`activation_stats` of some layers: feed each batch's ``{path: (rows,
    units)}`` activations (:meth:`update`), read the rows at the end (:meth:`rows`). Each layer
    keeps mergeable moments (:class:`~keras_nnviz.core.summaries.Moments`) and two counters:
    memory does not grow with the number of batches, and the result does not depend on how the
    data was cut into batches (up to float rounding).

    Args:
        paths: the layers, in row order.
        names: each layer's activation name (None: not saturating).
        margin: as in :func:`activation_stats`.

    Example:
        >>> summary = ActivationSummary(paths, names)
        >>> for chunk in chunks:
        ...     summary.update(chunk)
        >>> rows = summary.rows()
    """

    def __init__(self, paths: Sequence[str], names: dict[str, str | None], margin: float = 0.01):
        self.paths, self.names, self.margin = list(paths), dict(names), margin
        self.moments = {p: Moments() for p in self.paths}
        self.zeros = dict.fromkeys(self.paths, 0)
        self.saturated: dict[str, int | None] = dict.fromkeys(self.paths, 0)

    def update(self, chunk: dict[str, np.ndarray]) -> None:
        """Add one batch of activations ``{path: array}``."""
        for path in self.paths:
            acts = chunk[path]
            self.moments[path].update(acts)
            self.zeros[path] += int(np.count_nonzero(acts == 0))
            sat = _saturation(self.names[path], acts, self.margin)
            done = self.saturated[path]
            self.saturated[path] = None if sat is None else (done or 0) + int(sat.sum())

    def rows(self) -> list[dict[str, Any]]:
        """One row per layer, as :func:`activation_stats` returns them."""
        rows = []
        for path in self.paths:
            m, sat = self.moments[path], self.saturated[path]
            n = max(m.count, 1)
            rows.append(
                {
                    "layer": path,
                    "activation": self.names[path],
                    "mean": float(m.mean),
                    "std": float(m.std),
                    "min": float(m.low),
                    "max": float(m.high),
                    "zeros": self.zeros[path] / n,
                    "saturated": float("nan") if sat is None else sat / n,
                }
            )
        return rows


def activation_stats(
    model: keras.Model,
    x: Any,
    *,
    layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
    batch_size: int = 64,
    margin: float = 0.01,
    progress: bool | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> list[dict[str, Any]]:
    """Per-layer activation statistics: mean, std, zeros, saturation.

    One pass over ``x`` that keeps mergeable running summaries (counts, Welford/Chan moments,
    min, max), never the activations: a ``tf.data.Dataset`` of any length streams through in
    memory bounded by one batch.

    Args:
        model: a built Keras model.
        x: inputs: arrays, tensors, list/dict of them, or a ``tf.data.Dataset`` (``(x, y)``
            elements use ``x``) of any length.
        layers: layers to summarise; default: every layer with a nonlinear activation.
        batch_size: samples per forward pass (statistics are accumulated in float64).
        margin: distance to a bound that counts as saturated (sigmoid < margin or
            > 1 - margin; tanh |a| > 1 - margin).
        progress: show a progress bar over the samples (None: none).
        strategy: a ``tf.distribute.Strategy`` whose replicas share each batch; their
            activations are joined in input order before they are summarised (None: the one
            of an enclosing ``nv.distribute`` block, else one device).

    Returns:
        One row per layer: ``layer``, ``activation`` (name or None), ``mean``, ``std``, ``min``,
        ``max``, ``zeros`` (fraction exactly 0), ``saturated`` (fraction saturated; NaN for
        non-saturating activations).

    Example:
        >>> for row in nv.activation_stats(model, x_val):
        ...     print(row["layer"], row["activation"], round(row["saturated"], 2))
        >>> nv.activation_stats(model, dataset.take(100_000))   # streams, one batch in memory
    """
    margin = validation.number("margin", margin, low=0.0, high=0.5)
    paths = _layer_list(model, layers, None, "nonlinear")
    summary = ActivationSummary(
        paths, {p: activation_name(graph.find_layer(model, p)) for p in paths}, margin
    )
    loop = BatchLoop(
        model,
        x,
        batch_size,
        progress=progress,
        empty="activation_stats needs at least one sample; the input has none (an empty "
        "tf.data.Dataset?).",
        check=False,
        strategy=strategy,
    )
    for chunk in _loop_layers(layer_pass(model, paths), loop):
        summary.update(chunk)
    return summary.rows()
