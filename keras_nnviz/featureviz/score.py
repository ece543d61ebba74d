"""Score given images under an objective (no optimization): one compiled pass per batch."""

from __future__ import annotations

import functools
import weakref
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import graph, objectives
from ..errors import (
    IncompatibleLayerError,
    InvalidArgumentError,
    InvalidInputError,
    format_list,
)
from .optimize import _check_range, _model_input


class _Scorer:
    """A compiled ``images -> objective values`` pass for one (model, objective structure)."""

    def __init__(self, model: keras.Model, plan: objectives.Plan, dtype: tf.DType, value_range):
        self._model_ref = weakref.ref(model)
        self.plan = plan
        self.trace_count = 0
        self._lo, self._hi = value_range
        self._dtype = dtype
        wanted = set(plan.layer_paths)
        self._layers = {
            e.path: e.layer for e in graph.walk(model, include_sublayers=True) if e.path in wanted
        }
        shape = (None, *model.inputs[0].shape[1:])
        signature = [
            tf.TensorSpec(shape, tf.float32),
            [tf.TensorSpec(np.shape(p), tf.as_dtype(np.asarray(p).dtype)) for p in plan.params],
        ]
        # A partial, not a method: TF keys retrace warnings on the shared code object.
        self.fn = tf.function(functools.partial(self._run), input_signature=signature)

    def _run(self, images, params):
        self.trace_count += 1
        model = self._model_ref()
        records: dict[str, Any] = {}
        hooks = graph.recording_hooks(self._layers, records, first_tensor=True)
        x = tf.cast(self._lo + images * (self._hi - self._lo), self._dtype)
        outputs = graph.forward(model, [x], hooks)
        missing = [p for p in self.plan.layer_paths if p not in records]
        if missing:
            raise IncompatibleLayerError(
                f"Layers {format_list(missing)} are not called when model {model.name!r} runs "
                "on its input, so objectives on them have no value."
            )
        layers = {p: tf.cast(t, tf.float32) for p, t in records.items()}
        return objectives.evaluate(
            self.plan, params, images, layers, tf.nest.flatten(outputs), batch=None
        )


_SCORERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def objective_values(
    model: keras.Model,
    objective: objectives.Objective,
    images: Any,
    value_range: tuple[float, float] = (0, 1),
    batch_size: int = 32,
) -> np.ndarray:
    """Value of ``objective`` for each of ``images`` (as :func:`maximize_activation` scores).

    Useful to compare an optimized image with dataset images on the same scale, or to check
    what a hand-made input does to a unit.

    Args:
        model: a built single-input image model.
        objective: one :class:`~keras_nnviz.objectives.Objective`.
        images: ``(N, H, W, C)`` in [0, 1] at the model's input size.
        value_range: the input range the model expects (images are mapped to it).
        batch_size: images per forward pass.

    Returns:
        ``(N,)`` float32 values.

    Example:
        >>> obj = nv.objectives.channel("conv2", 5)
        >>> nv.featureviz.objective_values(model, obj, data.test.x).max()
    """
    info = _model_input(model)
    lo, hi = _check_range(value_range)
    if not isinstance(objective, objectives.Objective):
        objectives.as_objectives(objective)  # raises the helpful error for non-objectives
        raise InvalidArgumentError(
            "objective_values scores one objective; call it once per objective of a list."
        )
    arr = np.asarray(images, dtype=np.float32)
    expected = tuple(model.inputs[0].shape[1:])
    if arr.ndim != 4 or any(e is not None and e != g for e, g in zip(expected, arr.shape[1:])):
        raise InvalidInputError(
            f"objective_values expects images of shape (N, {', '.join(map(str, expected))}); "
            f"received {arr.shape}."
        )
    size = tuple(arr.shape[1:3])
    ctx = objectives.BindContext(model, (*size, info.channels), info.dtype)
    plan = objectives.bind([objective], ctx)
    key = (plan.key, info.dtype.name, lo, hi)
    per_model = _SCORERS.setdefault(model, {})
    if key not in per_model:
        per_model[key] = _Scorer(model, plan, info.dtype, (lo, hi))
    scorer = per_model[key]
    params = [tf.constant(p) for p in plan.params]
    out = [
        scorer.fn(tf.constant(arr[i : i + batch_size]), params).numpy()
        for i in range(0, len(arr), batch_size)
    ]
    return np.concatenate(out).astype(np.float32)
