"""Score given images under an objective (no optimization): one compiled pass per batch."""

from __future__ import annotations

import functools
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import objectives
from ..core.compiled import compiled_pass
from ..errors import InvalidArgumentError, InvalidInputError
from .optimize import check_range, model_input, objective_scores, positive_int

__all__ = [
    "objective_values",
]


def _score_body(plan: objectives.Plan, value_range, dtype, model, images, params):
    """Pass body: the objective's value for each of ``images`` (in [0, 1])."""
    lo, hi = value_range
    x = tf.cast(lo + images * (hi - lo), dtype)
    values, _ = objective_scores(model, plan, params, images, x, per_objective=None)
    return values


def objective_values(
    model: keras.Model,
    x: Any,
    objective: objectives.Objective,
    *,
    value_range: tuple[float, float] = (0, 1),
    batch_size: int = 32,
) -> np.ndarray:
    """Value of ``objective`` for each image of ``x`` (as :func:`maximize_activation` scores).

    Useful to compare an optimized image with dataset images on the same scale, or to check
    what a hand-made input does to a unit.

    Args:
        model: a built single-input image model.
        x: images ``(N, H, W, C)`` in [0, 1] at the model's input size.
        objective: one :class:`~keras_nnviz.objectives.Objective` (what is scored: the target).
        value_range: the input range the model expects (images are mapped to it).
        batch_size: images per forward pass.

    Returns:
        ``(N,)`` float32 values.

    Raises:
        InvalidArgumentError: ``objective`` is not one objective, or a bad ``value_range``.
        InvalidInputError: images of the wrong shape.

    Example:
        >>> obj = nv.objectives.channel("conv2", 5)
        >>> nv.featureviz.objective_values(model, data.test.x, obj).max()
    """
    info = model_input(model)
    lo, hi = check_range(value_range)
    batch_size = positive_int(batch_size, "batch_size")
    if not isinstance(objective, objectives.Objective):
        objectives.as_objectives(objective)  # raises the helpful error for non-objectives
        raise InvalidArgumentError(
            "objective_values scores one objective; call it once per objective of a list."
        )
    arr = np.asarray(x, dtype=np.float32)
    expected = tuple(model.inputs[0].shape[1:])
    if arr.ndim != 4 or any(e is not None and e != g for e, g in zip(expected, arr.shape[1:])):
        raise InvalidInputError(
            f"objective_values expects images of shape (N, {', '.join(map(str, expected))}); "
            f"received {arr.shape}."
        )
    ctx = objectives.BindContext(model, (*arr.shape[1:3], info.channels), info.dtype)
    plan = objectives.bind([objective], ctx)
    specs = [tf.TensorSpec(np.shape(p), tf.as_dtype(np.asarray(p).dtype)) for p in plan.params]
    scorer = compiled_pass(
        model,
        ("objective_values", plan.key, info.dtype.name, lo, hi),
        functools.partial(_score_body, plan, (lo, hi), info.dtype),
        inputs=tf.TensorSpec((None, *expected), tf.float32),
        args=[specs],
    )
    params = [tf.constant(p) for p in plan.params]
    out = [
        np.asarray(scorer(tf.constant(arr[i : i + batch_size]), params))
        for i in range(0, len(arr), batch_size)
    ]
    return np.concatenate(out).astype(np.float32)
