"""What the report says about a model itself: the layer table and a few facts."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from ..core import graph


def _shape_text(shape: Any) -> str:
    if not shape:
        return "?"
    if isinstance(shape, list | tuple) and shape and isinstance(shape[0], list | tuple):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def layer_rows(model: keras.Model, include_sublayers: bool = False) -> list[list[str]]:
    """``[path, type, output shape, params]`` per layer, nested models included.

    Args:
        model: a built Keras model.
        include_sublayers: also list layers inside custom layers (``encoder_1/mha``).

    Returns:
        Rows of strings; parameter counts use thousands separators.

    Example:
        >>> nv.report.layer_rows(model)[0]
        ['conv1', 'Conv2D', '(None, 8, 8, 16)', '160']
    """
    rows = []
    for entry in graph.walk(model, include_sublayers=include_sublayers):
        layer = entry.layer
        rows.append(
            [
                entry.path,
                type(layer).__name__,
                _shape_text(graph.output_shape(layer)),
                f"{layer.count_params():,}" if layer.built else "?",
            ]
        )
    return rows


def model_facts(model: keras.Model) -> dict[str, Any]:
    """JSON-able facts: layer rows, parameter counts, input and output shapes."""
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    total = int(model.count_params())
    return {
        "layers": layer_rows(model),
        "params": total,
        "trainable_params": trainable,
        "inputs": [_shape_text(tuple(t.shape)) for t in getattr(model, "inputs", None) or []],
        "outputs": [_shape_text(tuple(t.shape)) for t in getattr(model, "outputs", None) or []],
        "class": type(model).__name__,
    }


def architecture_data(model: keras.Model) -> dict[str, Any] | None:
    """:func:`keras_nnviz.architecture` of ``model``, or None when it has no readable graph
    (an unbuilt model): the report then shows its layer table only."""
    from ..core.architecture import architecture

    try:
        return architecture(model)
    except Exception:  # noqa: BLE001 - the graph is an extra; the table still says it all
        return None


def weight_panel(model: keras.Model) -> dict[str, list[dict[str, Any]]]:
    """``{layer path: [{"name", "shape", "mean", "std", "min", "max", "norm"}]}``: each layer's
    weight statistics for the architecture graph's layer panel (NaN as None: JSON has no NaN)."""
    from ..weights import weight_stats

    try:
        rows = weight_stats(model)
    except Exception:  # noqa: BLE001 - the statistics are an extra; the graph stands without
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        stats = {k: float(r[k]) for k in ("mean", "std", "min", "max", "norm")}
        out.setdefault(r["layer"], []).append(
            {
                "name": r["name"].rsplit("/", 1)[-1],
                "shape": [int(d) for d in r["shape"]],
                **{k: v if np.isfinite(v) else None for k, v in stats.items()},
            }
        )
    return out


def facts_list(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """The facts as ``(label, text)`` pairs for the page header of a model."""
    out = []
    if "class" in facts:
        out.append(("model class", str(facts["class"])))
    if "params" in facts:
        out.append(("parameters", f"{int(facts['params']):,}"))
    if "trainable_params" in facts:
        out.append(("trainable", f"{int(facts['trainable_params']):,}"))
    if facts.get("inputs"):
        out.append(("input", "; ".join(map(str, facts["inputs"]))))
    if facts.get("outputs"):
        out.append(("output", "; ".join(map(str, facts["outputs"]))))
    return out


LAYER_HEADER = ["layer path", "type", "output shape", "params"]
