"""Weights of any layers, their statistics and conv filters, as numpy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from .core import graph
from .core.numeric import single_threaded_blas
from .errors import IncompatibleLayerError

__all__ = [
    "as_matrix",
    "conv_filters",
    "get_weights",
    "nonfinite_layers",
    "owned_weights",
    "spectral_norm",
    "weight_snapshot",
    "weight_stats",
    "weight_variables",
]


def owned_weights(entries: list[graph.LayerEntry]) -> list[tuple[str, Any]]:
    """(key, variable) for each variable, attributed to the deepest listed layer owning it."""
    out, seen = [], set()
    order = {e.path: i for i, e in enumerate(entries)}
    # Deepest first, so "base/conv/kernel" wins over the container "base".
    for entry in sorted(entries, key=lambda e: -e.path.count("/")):
        prefix = entry.layer.name + "/"
        for var in entry.layer.weights:
            if id(var) in seen:
                continue
            seen.add(id(var))
            var_path = getattr(var, "path", var.name)
            # Keep sub-layer structure (e.g. an MHA's "query/kernel") relative to the layer.
            inner = var_path.split(prefix, 1)[1] if prefix in var_path else var.name
            out.append((order[entry.path], f"{entry.path}/{inner}", var))
    out.sort(key=lambda item: item[0])  # stable: variables keep their order within a layer
    return [(key, var) for _, key, var in out]


def _select_entries(model: keras.Model, layers) -> list[graph.LayerEntry]:
    if layers is None:
        return [
            e
            for e in graph.walk(model, include_sublayers=False)
            if not isinstance(e.layer, keras.Model)  # nested models: listed via their layers
        ]
    if isinstance(layers, str | int | keras.layers.Layer):
        layers = [layers]
    return [graph.find_entry(model, ref) for ref in layers]


def get_weights(
    model: keras.Model,
    layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
    *,
    trainable_only: bool = False,
) -> dict[str, np.ndarray]:
    """Weights keyed by ``"layer_path/weight_name"``.

    Args:
        model: a built Keras model.
        layers: layer references, one reference, or None for all layers (nested models are
            entered; a nested model named explicitly contributes all its weights).
        trainable_only: skip non-trainable variables (e.g. BatchNorm moving statistics).

    Returns:
        ``{"base/block1_conv/kernel": array, "base/block1_conv/bias": array, ...}`` in layer
        order. Arrays are copies; changing them does not change the model.

    Example:
        >>> w = nv.get_weights(model, ["dense"])
        >>> w["dense/kernel"].shape
        (64, 10)
    """
    return {
        key: np.array(var.numpy(), copy=True)
        for key, var in weight_variables(model, layers, trainable_only=trainable_only)
    }


def weight_variables(
    model: keras.Model,
    layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
    *,
    trainable_only: bool = False,
) -> list[tuple[str, Any]]:
    """``(key, variable)`` of :func:`get_weights`, in the same order, without reading them."""
    pairs = owned_weights(_select_entries(model, layers))
    return [(key, var) for key, var in pairs if var.trainable or not trainable_only]


def weight_snapshot(
    model: keras.Model, keyed: list[tuple[str, Any]]
) -> Callable[[], dict[str, np.ndarray]]:
    """Freeze the values of ``keyed`` variables now; convert them to numpy later.

    The read is the model's snapshot reader (:func:`keras_nnviz.core.compiled.weight_reader`):
    a few milliseconds of the training thread even for hundreds of variables. The returned
    function builds the ``{key: array}`` dict (on a writer thread, say).
    """
    from .core.compiled import weight_reader

    index = {id(v): i for i, v in enumerate(model.variables)}
    values = weight_reader(model)()
    chosen = [(key, values[index[id(var)]]) for key, var in keyed]
    return lambda: {key: np.asarray(value) for key, value in chosen}


def as_matrix(weight: np.ndarray) -> np.ndarray:
    """View a weight as a 2-D matrix ``(fan_in, fan_out)``: conv kernels flatten their windows.

    Vectors (biases) become a single row.
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim == 0:
        return w.reshape(1, 1)
    if w.ndim == 1:
        return w.reshape(1, -1)
    return w.reshape(-1, w.shape[-1])


def spectral_norm(matrix: np.ndarray) -> float:
    """Largest singular value, exact: the square root of the largest eigenvalue of the Gram
    matrix of the smaller side (``min(a, b)²`` memory, ``a·b·min(a, b)`` work: a fraction of an
    SVD's), ARPACK (scipy) when even that side is huge. Numpy's BLAS runs on one thread (see
    :mod:`keras_nnviz.core.numeric`)."""
    m = np.asarray(matrix, dtype=np.float64)
    if min(m.shape) == 0:
        return 0.0
    with single_threaded_blas():
        if min(m.shape) <= 4096:
            gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
            return float(np.sqrt(max(np.linalg.eigvalsh(gram)[-1], 0.0)))
        from scipy.sparse.linalg import svds

        return float(svds(m, k=1, return_singular_vectors=False, random_state=0)[0])


def _nonfinite_row(key: str, var: Any) -> dict[str, Any]:
    """A weight holding NaN or inf (a diverged fit): statistics would be meaningless, an SVD would
    fail; the row says how much of it is not finite."""
    w = np.asarray(var.numpy(), dtype=np.float64)
    nan = float("nan")
    return {  # same keys as a finite weight's row
        "name": key,
        "layer": key.rsplit("/", 1)[0],
        "shape": tuple(w.shape),
        "size": int(w.size),
        "trainable": bool(var.trainable),
        **dict.fromkeys(("mean", "std", "min", "max", "zeros", "norm", "spectral_norm"), nan),
        "stable_rank": nan,
        "nonfinite": float(np.mean(~np.isfinite(w))),
    }


def weight_stats(
    model: keras.Model, layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None
) -> list[dict[str, Any]]:
    """Summary statistics per weight tensor.

    Args:
        model: a built Keras model.
        layers: as in :func:`get_weights`.

    Returns:
        One dict per weight with keys ``name``, ``layer``, ``shape``, ``size``, ``trainable``,
        ``mean``, ``std``, ``min``, ``max``, ``zeros`` (fraction of exact zeros), ``norm``
        (Frobenius), ``spectral_norm`` (largest singular value of the weight viewed as a
        ``(fan_in, fan_out)`` matrix) and ``stable_rank`` (``norm**2 / spectral_norm**2``, the
        soft count of directions the matrix uses; 1.0 for vectors, NaN for an all-zero weight)
        and ``nonfinite`` (fraction of NaN/inf values; when it is not 0 — a diverged fit — the
        other statistics are NaN).

    Example:
        >>> rows = nv.weight_stats(model)
        >>> [(r["name"], round(r["stable_rank"], 1)) for r in rows if r["name"].endswith("kernel")]
    """
    with single_threaded_blas():
        return [_stats_row(key, var) for key, var in owned_weights(_select_entries(model, layers))]


def _stats_row(key: str, var: Any) -> dict[str, Any]:
    value = var.numpy()
    if not np.all(np.isfinite(value)):
        return _nonfinite_row(key, var)
    w = np.asarray(value, dtype=np.float64)
    matrix = as_matrix(w)
    fro = float(np.linalg.norm(matrix))
    sigma = spectral_norm(matrix)
    nan = float("nan")
    return {
        "name": key,
        "layer": key.rsplit("/", 1)[0],
        "shape": tuple(w.shape),
        "size": int(w.size),
        "trainable": bool(var.trainable),
        "mean": float(w.mean()) if w.size else nan,
        "std": float(w.std()) if w.size else nan,
        "min": float(w.min()) if w.size else nan,
        "max": float(w.max()) if w.size else nan,
        "zeros": float(np.mean(w == 0)) if w.size else nan,
        "norm": fro,
        "spectral_norm": sigma,
        "stable_rank": fro**2 / sigma**2 if sigma > 0 else nan,
        "nonfinite": 0.0,
    }


def nonfinite_layers(model: keras.Model) -> list[str]:
    """Layers holding a NaN or inf weight, in model order (the ``layer`` of
    :func:`weight_stats` rows whose ``nonfinite`` is not 0), without computing the statistics.

    A diverged fit names its first entry; an empty list means every weight is finite.

    Example:
        >>> nv.weights.nonfinite_layers(model)
        ['conv1', 'conv2', 'dense']
    """
    out: list[str] = []
    for key, var in owned_weights(_select_entries(model, None)):
        layer = key.rsplit("/", 1)[0]
        if layer not in out and not np.all(np.isfinite(var.numpy())):
            out.append(layer)
    return out


def conv_filters(model: keras.Model, layer: graph.LayerRef) -> np.ndarray:
    """Kernel of a convolution as filters first: ``(filters, *window, in_channels)``.

    Raises:
        IncompatibleLayerError: the layer has no convolution kernel.

    Example:
        >>> f = nv.weights.conv_filters(model, "conv1")      # (16, 3, 3, 1)
        >>> nv.plot.filter_grid(f)
    """
    target = graph.find_layer(model, layer)
    kernel = getattr(target, "kernel", None)
    if kernel is None or len(kernel.shape) < 3:
        raise IncompatibleLayerError(
            f"Layer {target.name!r} ({type(target).__name__}) has no convolution kernel; "
            "conv_filters needs a Conv1D/2D/3D (or transposed) layer. Use get_weights for others."
        )
    k = np.asarray(kernel.numpy())
    return np.moveaxis(k, -1, 0)
