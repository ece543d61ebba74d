"""Dataset examples that drive a channel most: the natural counterpart of an optimized image."""

from __future__ import annotations

from typing import Any, NamedTuple

import keras
import numpy as np

from .. import validation
from ..activations import check_channel, get_activation
from ..core import graph
from ..core.inputs import prepare
from ..core.loop import iterate
from ..errors import InvalidArgumentError

__all__ = [
    "top_examples",
    "TopExamples",
]


class TopExamples(NamedTuple):
    """Result of :func:`top_examples`.

    Attributes:
        indices: ``(n,)`` positions in ``x``, strongest first.
        values: ``(n,)`` the channel's activation for those samples (reduced over positions).
        images: ``(n, ...)`` the samples themselves (first model input).
    """

    indices: np.ndarray
    values: np.ndarray
    images: np.ndarray


@validation.batch_options
def top_examples(
    model: keras.Model,
    x: Any,
    layer: graph.LayerRef,
    channel: int,
    *,
    n: int = 8,
    reduce: str = "mean",
    **batch: Any,
) -> TopExamples:
    """The ``n`` samples of ``x`` that activate channel ``channel`` of ``layer`` most.

    Args:
        model: a built Keras model.
        x: samples (numpy, tensor, list/dict for multi-input models or a ``tf.data.Dataset``).
        layer: layer reference (paths reach into nested models).
        channel: channel index (last axis); on a dense layer, the unit.
        n: how many examples.
        reduce: ``"mean"`` (as :func:`keras_nnviz.objectives.channel` scores) or ``"max"``
            over positions.
        batch_size: samples per forward pass.
        progress: show a progress bar over the samples (None: no bar).
        allow_nonfinite: accept NaN/inf in ``x`` instead of raising.

    Returns:
        :class:`TopExamples` (indices, values, images).

    Example:
        >>> top = nv.top_examples(model, data.test.x, "conv2", 5)
        >>> image = nv.maximize_activation(model, nv.objectives.channel("conv2", 5)).images[0]
        >>> nv.plot.optimized_vs_examples(image, top.images, top.values)
    """
    if reduce not in ("mean", "max"):
        raise InvalidArgumentError(f"reduce must be 'mean' or 'max'; received {reduce!r}.")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InvalidArgumentError(f"n must be a positive int; received {n!r}.")
    path = graph.layer_path(model, layer)
    act = get_activation(
        model,
        x,
        path,
        **batch,
    )
    unit = act[..., check_channel(channel, act.shape[-1] if act.ndim >= 2 else 0, path)]
    axes = tuple(range(1, unit.ndim))
    scores = (unit.mean(axis=axes) if reduce == "mean" else unit.max(axis=axes)) if axes else unit
    order = np.argsort(-scores, kind="stable")[:n]
    images = _gather(model, x, order, batch["batch_size"], batch["allow_nonfinite"])
    return TopExamples(order, scores[order], images)


def _gather(
    model: keras.Model, x: Any, indices: np.ndarray, batch_size: int, allow_nonfinite: bool
) -> np.ndarray:
    """Samples ``indices`` of the first model input, also from a dataset (one more pass)."""
    data = prepare(model, x, batch_size, allow_nonfinite=allow_nonfinite)
    if data.arrays is not None:
        return np.asarray(data.arrays[0][indices])
    wanted = {int(i): pos for pos, i in enumerate(indices)}
    out: list[Any] = [None] * len(indices)
    for batch in iterate(data, batch_size):
        first = np.asarray(batch.inputs[0] if isinstance(batch.inputs, list) else batch.inputs)
        for j in range(len(first)):
            if batch.start + j in wanted:
                out[wanted[batch.start + j]] = first[j]
    return np.stack(out)
