"""What ``nnviz gradcam`` explained, per sample, for its captions.

The class shown must be the one the attribution explained, so it comes from the library's one
answer (:func:`keras_nnviz.core.targets.resolve`, :func:`~keras_nnviz.core.targets.predicted`,
:func:`~keras_nnviz.core.targets.scores`), run once over the samples: the output chosen by
``--output``; a classifier's predicted class; a language model's next token after each sample's
last non-padding position; the class of a dense (segmentation) output whose logits, averaged
over the positions, are highest. Never the argmax of a flattened output.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..core import graph, targets
from ..core.compiled import compiled_pass
from ..core.loop import BatchLoop

__all__ = [
    "Explained",
    "explained",
]


@dataclass
class Explained:
    """The target each sample's map explains.

    Attributes:
        classes: ``(N,)`` class (or token) indices.
        signs: ``(N,)`` +1, or -1 for the negative class of a one-unit sigmoid.
        scores: ``(N,)`` that class's probability (softmax / sigmoid outputs) or output value,
            averaged over the positions of a dense output.
        positions: ``(N,)`` the position scored in a language model's output, else None.
        grid: the position axes averaged over (``(H, W)`` of a segmenter), else ``()``.
        given: True when the class came from ``--target``, False when predicted.
    """

    classes: np.ndarray
    signs: np.ndarray
    scores: np.ndarray
    positions: np.ndarray | None
    grid: tuple[int, ...]
    given: bool

    def name(self, i: int, labels: Sequence[str] | None) -> str:
        """Sample ``i``'s class as a label (when one is given for it) or its index."""
        k = int(self.classes[i])
        name = labels[k] if labels and 0 <= k < len(labels) else str(k)
        return f"not {name}" if self.signs[i] < 0 else name

    def caption(self, i: int, labels: Sequence[str] | None, digits: int = 2) -> str:
        """``"predicted class cat (score 0.93)"``, saying which token or positions for outputs
        that are not one class vector."""
        what = "target" if self.given else "predicted"
        score = f"score {self.scores[i]:.{digits}f}"
        if self.positions is not None:
            where = int(self.positions[i])
            return f"{what} token {self.name(i, labels)} after position {where} ({score})"
        if self.grid:
            grid = "×".join(str(d) for d in self.grid)
            return f"{what} class {self.name(i, labels)} ({score}, mean over {grid} positions)"
        return f"{what} class {self.name(i, labels)} ({score})"


def _body(
    spec: targets.TargetSpec, model: keras.Model, inputs: Any, indices: Any, signs: Any
) -> tuple[tf.Tensor, ...]:
    flat = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
    outputs = graph.forward(model, inputs, {})
    if spec.mode == "predicted":
        indices, predicted_signs = targets.predicted(spec, outputs, flat)
        signs = signs * predicted_signs
    score = targets.scores(spec, outputs, indices, signs, probabilities=True, inputs=flat)
    out = tf.nest.flatten(outputs)[spec.output]
    where = targets.positions(spec, out, flat) if spec.sequence else tf.zeros_like(indices)
    return indices, signs, score, where, tf.shape(out)


def explained(
    model: keras.Model,
    x: Any,
    target: int | None = None,
    output: int | str | None = None,
    batch_size: int = 32,
) -> Explained:
    """The class (token) each sample of ``x`` is explained for, and its score.

    Args:
        model: a built Keras model.
        x: the inputs the maps were computed on.
        target: the ``--target`` class, or None for each sample's predicted class.
        output: the ``--output`` name or index (multi-output models).
        batch_size: samples per forward pass.

    Returns:
        The :class:`Explained`.

    Raises:
        InvalidTargetError: an output or class the model does not have.
    """
    loop = BatchLoop(model, x, batch_size, progress=False, check=False)
    resolved = targets.resolve(model, target, output, n=loop.n)
    spec = resolved.spec
    specs = [tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None,), tf.float32)]
    run = compiled_pass(model, ("cli-explained", spec), functools.partial(_body, spec), args=specs)
    parts: list[list[np.ndarray]] = [[], [], [], []]
    shape: tuple[int, ...] = ()
    for batch in loop:
        indices, signs = resolved.batch(batch.start, batch.size)
        *values, out_shape = loop.call(run, batch.inputs, indices, signs)
        for part, value in zip(parts, values):
            part.append(np.asarray(value))
        shape = tuple(int(d) for d in np.asarray(out_shape))
    classes, signs, scores, positions = (np.concatenate(p) for p in parts)
    grid = shape[1:-1] if not spec.sequence and len(shape) > 2 else ()
    return Explained(
        classes=classes,
        signs=signs,
        scores=scores,
        positions=positions if spec.sequence else None,
        grid=grid,
        given=target is not None,
    )
