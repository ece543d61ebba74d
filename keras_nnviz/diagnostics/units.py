"""Unit statistics: ReLU-family units that never fire (dead units) and the saturation and
spread of every nonlinear layer's activations, streamed over a dataset in one compiled pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import keras
import numpy as np

from .. import validation
from ..core import graph
from ..core.compiled import CompiledPass, layer_pass
from ..core.loop import BatchLoop
from ..core.model import activation_name, nonlinear_layers
from ..errors import InvalidArgumentError

__all__ = [
    "activation_stats",
    "count_dead_units",
    "dead_units",
    "RELU_FAMILY",
    "SATURATING",
    "watched_layers",
]

RELU_FAMILY = ("relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish")
SATURATING = ("sigmoid", "tanh", "hard_sigmoid", "softsign")


# ----------------------------------------------------------------------------------------------
# Dead units and activation statistics


def _stream_layers(probe: CompiledPass, batches: Iterable[Any], values=None):
    """Yield ``{path: float64 array (samples*positions, units)}`` per batch of activations
    (``values``: the snapshot a snapshot pass computes on)."""
    for batch in batches:
        out = probe(batch, values=values)["layers"]
        yield {
            path: np.asarray(value, dtype=np.float64).reshape(-1, np.shape(value)[-1])
            for path, value in ((p, out[p]) for p in probe.paths)
        }


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
    batches = (b.inputs for b in BatchLoop(model, x, batch_size))
    return count_dead_units(layer_pass(model, paths), batches, threshold)


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


def count_dead_units(
    probe: CompiledPass, batches: Iterable[Any], threshold: float = 0.0, values=None
) -> dict[str, dict[str, Any]]:
    """:func:`dead_units` of the layers of a recording pass (:func:`layer_pass`) over prepared
    batches; ``values``: the snapshot a snapshot pass computes on."""
    counts: dict[str, np.ndarray] = {}
    totals: dict[str, int] = {}
    broken: dict[str, np.ndarray] = {}
    for chunk in _stream_layers(probe, batches, values):
        for path, acts in chunk.items():
            active = (acts > threshold).sum(axis=0)
            counts[path] = counts.get(path, 0) + active
            totals[path] = totals.get(path, 0) + acts.shape[0]
            broken[path] = broken.get(path, False) | ~np.isfinite(acts).all(axis=0)
    # Whether ReLU passes a NaN on or turns it into 0 depends on the CPU's kernels, so a model
    # with NaN/inf weights may show finite, all-zero activations: never count dead units then.
    weights = values if values is not None else probe.model.weights
    diverged = not all(np.isfinite(np.asarray(w)).all() for w in weights)
    result = {}
    for path in probe.paths:
        freq = counts[path] / max(totals[path], 1)
        # A NaN activation is never "> threshold": without this, NaN weights (a diverged fit)
        # would read as 100 % dead units. Units with NaN/inf outputs are counted apart.
        nonfinite = np.broadcast_to(broken[path] | diverged, freq.shape)
        dead = int(np.sum((counts[path] == 0) & ~nonfinite))
        result[path] = {
            "dead_fraction": dead / freq.size,
            "dead": dead,
            "units": int(freq.size),
            "frequency": freq.astype(np.float32),
            "nonfinite": int(np.sum(nonfinite)),
        }
    return result


def _saturation(name: str | None, acts: np.ndarray, margin: float) -> np.ndarray | None:
    """Boolean mask of saturated activations for a saturating nonlinearity, else None."""
    if name in ("sigmoid", "hard_sigmoid"):
        return (acts < margin) | (acts > 1 - margin)
    if name in ("tanh", "softsign"):
        return np.abs(acts) > 1 - margin
    return None


def activation_stats(
    model: keras.Model,
    x: Any,
    *,
    layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
    batch_size: int = 64,
    margin: float = 0.01,
) -> list[dict[str, Any]]:
    """Per-layer activation statistics: mean, std, zeros, saturation.

    Args:
        model: a built Keras model.
        x: inputs.
        layers: layers to summarise; default: every layer with a nonlinear activation.
        batch_size: samples per forward pass (statistics are accumulated in float64).
        margin: distance to a bound that counts as saturated (sigmoid < margin or
            > 1 - margin; tanh |a| > 1 - margin).

    Returns:
        One row per layer: ``layer``, ``activation`` (name or None), ``mean``, ``std``, ``min``,
        ``max``, ``zeros`` (fraction exactly 0), ``saturated`` (fraction saturated; NaN for
        non-saturating activations).

    Example:
        >>> for row in nv.activation_stats(model, x_val):
        ...     print(row["layer"], row["activation"], round(row["saturated"], 2))
    """
    margin = validation.number("margin", margin, low=0.0, high=0.5)
    paths = _layer_list(model, layers, None, "nonlinear")
    names = {p: activation_name(graph.find_layer(model, p)) for p in paths}
    acc = {
        p: {"n": 0, "s": 0.0, "ss": 0.0, "zeros": 0, "sat": 0, "min": np.inf, "max": -np.inf}
        for p in paths
    }
    probe = layer_pass(model, paths)
    for chunk in _stream_layers(probe, (b.inputs for b in BatchLoop(model, x, batch_size))):
        for path, acts in chunk.items():
            a = acc[path]
            a["n"] += acts.size
            a["s"] += float(acts.sum())
            a["ss"] += float(np.square(acts).sum())
            a["zeros"] += int(np.count_nonzero(acts == 0))
            a["min"] = min(a["min"], float(acts.min()))
            a["max"] = max(a["max"], float(acts.max()))
            sat = _saturation(names[path], acts, margin)
            a["sat"] = None if sat is None else a["sat"] + int(sat.sum())
    rows = []
    for path in paths:
        a = acc[path]
        mean = a["s"] / a["n"]
        rows.append(
            {
                "layer": path,
                "activation": names[path],
                "mean": mean,
                "std": float(np.sqrt(max(a["ss"] / a["n"] - mean**2, 0.0))),
                "min": a["min"],
                "max": a["max"],
                "zeros": a["zeros"] / a["n"],
                "saturated": float("nan") if a["sat"] is None else a["sat"] / a["n"],
            }
        )
    return rows
