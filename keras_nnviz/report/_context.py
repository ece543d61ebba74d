"""What every section of a post-hoc report needs: the data, the predictions and the choices.

:func:`as_arrays` turns ``x`` into at most ``max_samples`` numpy samples; :class:`ReportContext`
holds them with the model and answers, once, what the sections ask: is it an image or sequence
model, what does it predict, which layers to show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from ..core import graph
from ..core.inputs import prepare
from ..core.loop import head
from ..core.model import default_activation_layers, feature_layer, input_info
from ..core.targets import predicted_classes
from ..errors import InvalidInputError


def as_arrays(model: keras.Model, x: Any, max_samples: int) -> Any:
    """At most ``max_samples`` samples of ``x`` as numpy, validated against ``model``.

    Args:
        model: the model the samples are for.
        x: numpy, a list of arrays (multi-input models) or a ``tf.data.Dataset``.
        max_samples: samples kept (the first ones; one batch of a dataset).

    Returns:
        One array, or a list aligned to ``model.inputs``.

    Raises:
        InvalidInputError: ``x`` does not fit the model or holds no samples.
    """
    arrays = head(prepare(model, x, batch_size=max_samples), max_samples, batches=1)
    if not arrays or len(arrays[0]) == 0:
        raise InvalidInputError("x holds no samples; pass at least one.")
    return arrays[0] if len(arrays) == 1 else arrays


# eq/repr off: a context is one report's state (identity, no array dumps), as before.
@dataclass(eq=False, repr=False)
class ReportContext:
    """What every section needs: the model, validated data, predictions and choices."""

    model: keras.Model
    x: Any
    y: Any
    class_names: Sequence[str] | None
    tokens: Any
    out_dir: Any
    featureviz_steps: int
    # Sections that only read the model (architecture, weights) must not run it: a model that
    # cannot run should still get its layer table.
    runs_model: bool

    def __post_init__(self) -> None:
        model, x = self.model, self.x
        self.first = x[0] if isinstance(x, list) else x
        self.n = len(self.first)
        inputs = getattr(model, "inputs", None) or []
        self.input_shape = tuple(inputs[0].shape) if inputs else tuple(self.first.shape)
        self.kind = input_info(model).kind
        self.is_image = self.kind == "image"
        self.is_sequence = self.kind == "sequence"
        self.outputs = len(getattr(model, "outputs", None) or [1])
        self._outputs: tuple[np.ndarray | None, np.ndarray | None] | None = None

    def _predictions(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self._outputs is None:  # one forward pass, on first use
            self._outputs = predict(self)
        return self._outputs

    @property
    def probs(self) -> np.ndarray | None:
        """Class scores ``(N, classes)`` of a single-output classifier, else None."""
        return self._predictions()[0]

    @property
    def pred(self) -> np.ndarray | None:
        """Predicted classes ``(N,)``, or None."""
        return self._predictions()[1]

    def sample(self, k: int) -> Any:
        return [a[:k] for a in self.x] if isinstance(self.x, list) else self.x[:k]

    def names(self, labels: Sequence[int] | None) -> list[str] | None:
        if labels is None:
            return None
        cn = self.class_names
        return [cn[int(i)] if cn and 0 <= int(i) < len(cn) else str(int(i)) for i in labels]


def output_path(model: keras.Model) -> str | None:
    """Path of the layer that gives a single-output model's output, else None."""
    entries = [e for e in graph.walk(model, include_sublayers=False)]
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != 1 or not entries:
        return None
    return entries[-1].path


def predict(ctx: ReportContext) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(class scores (N, classes), predicted classes (N,))`` of a classifier, else Nones."""
    from ..activations import get_activations

    path = output_path(ctx.model)
    if path is None:
        return None, None
    out = np.asarray(get_activations(ctx.model, ctx.x, [path], batch_size=64)[path])
    pred = predicted_classes(out)
    return (out, pred) if pred is not None else (None, None)


def activation_layers(ctx: ReportContext) -> list[str]:
    """The activation layers shown: the package's one default (see core.model)."""
    return default_activation_layers(ctx.model)


def embedding_layer(ctx: ReportContext) -> str | None:
    """The penultimate representation projected in the embedding section (see core.model)."""
    return feature_layer(ctx.model)
