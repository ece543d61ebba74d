"""Binding: resolve layer references and output shapes of one model for one input size."""

from __future__ import annotations

import numbers
from typing import Any

import keras
import tensorflow as tf

from .. import _compat
from ..core import graph
from ..core.model import layer_channels_first
from ..errors import IncompatibleLayerError, InvalidArgumentError


class BindContext:
    """Resolves layer references and shapes of one model for a given model-facing input size.

    Args:
        model: a built Keras model.
        model_input_shape: ``(H, W, C)`` of the images the model receives.
        input_dtype: the model input's dtype.
    """

    def __init__(self, model: keras.Model, model_input_shape: tuple, input_dtype: tf.DType):
        self.model = model
        self.input_shape = tuple(model_input_shape)
        self.input_dtype = input_dtype
        self.entries = graph.walk(model, include_sublayers=True)
        self._probed: dict | None = None

    def entry(self, ref: graph.LayerRef) -> graph.LayerEntry:
        return graph.find_entry(self.model, ref, self.entries)

    def _probe(self) -> dict:
        """Shapes of every top-level layer and output from one real forward pass (cached)."""
        if self._probed is None:
            paths = [e.path for e in self.entries if not e.sublayer] + [
                e.path for e in self.entries if e.sublayer
            ]
            records: dict[str, tuple] = {}

            def make_hook(path):
                def hook(layer, call, args, kwargs):
                    out = call(*args, **kwargs)
                    first = tf.nest.flatten(out)[0] if tf.nest.flatten(out) else None
                    if path not in records and first is not None and hasattr(first, "shape"):
                        records[path] = tuple(first.shape)
                    return out

                return hook

            hooks = {}
            for e in self.entries:
                if e.path in paths and id(e.layer) not in hooks:
                    hooks[id(e.layer)] = (e.layer, make_hook(e.path))
            x = tf.zeros((1, *self.input_shape), self.input_dtype)
            inputs = [x] if _compat.functional_graph(self.model) is not None else x
            outputs = graph.forward(self.model, inputs, hooks)
            self._probed = {
                "layers": records,
                "outputs": [tuple(t.shape) for t in tf.nest.flatten(outputs)],
            }
        return self._probed

    def channels_first(self, path: str) -> bool:
        """Whether the layer's output puts channels on axis 1 (``data_format="channels_first"``):
        the terms read it channels-last (see :meth:`shape` and ``_plan.bind``)."""
        entry = next(e for e in self.entries if e.path == path)
        return layer_channels_first(self.model, entry.layer)

    def shape(self, path: str) -> tuple:
        """Output shape of a layer (batch axis first, channels last) when fed this input size.

        A channels-first layer's shape is given channels-last, as its activation reaches the
        terms: every unit objective reads channels on the last axis.
        """
        entry = next(e for e in self.entries if e.path == path)
        shape = graph.output_shape(entry.layer)
        static_ok = (
            len(shape) >= 2
            and all(d is not None for d in shape[1:])
            and self._model_size_is_static()
        )
        if not static_ok:
            probed = self._probe()["layers"]
            graph.check_called(self.model, [path], probed)
            shape = (None, *probed[path][1:])
        shape = tuple(shape)
        if len(shape) >= 3 and self.channels_first(path):
            shape = (shape[0], *shape[2:], shape[1])
        return shape

    def _model_size_is_static(self) -> bool:
        inputs = getattr(self.model, "inputs", None)
        if not inputs:
            return False
        return all(d is not None for d in tuple(inputs[0].shape)[1:])

    def output_shapes(self) -> list[tuple]:
        outputs = getattr(self.model, "outputs", None)
        if outputs and self._model_size_is_static():
            return [tuple(t.shape) for t in outputs]
        return [(None, *s[1:]) for s in self._probe()["outputs"]]

    def output_names(self) -> list[str]:
        names = getattr(self.model, "output_names", None)
        if names:
            return list(names)
        if isinstance(self.model, keras.Sequential) and self.model.layers:
            return [self.model.layers[-1].name]
        return [f"output_{i}" for i in range(len(self.output_shapes()))]


def _channel_count(ctx: BindContext, path: str, what: str) -> tuple[tuple, int]:
    shape = ctx.shape(path)
    if len(shape) < 2 or shape[-1] is None:
        raise IncompatibleLayerError(
            f"{what} needs a layer whose output has a channel (last) axis; layer {path!r} "
            f"outputs shape {shape}. Pick a convolutional or dense layer."
        )
    return shape, int(shape[-1])


def _check_index(k: Any, n: int, what: str, path: str) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise InvalidArgumentError(f"{what} index must be an int; received {k!r}.")
    k = int(k)
    if not -n <= k < n:
        raise IncompatibleLayerError(
            f"{what} {k} is out of range for {path!r} with {n} {what.lower()}s "
            f"(valid 0 ... {n - 1}, or negative from the end)."
        )
    return k % n


def _spatial_mean(t: tf.Tensor) -> tf.Tensor:
    """Mean over every axis but the first: (b, ...) -> (b,)."""
    axes = list(range(1, t.shape.rank))
    return tf.reduce_mean(t, axis=axes) if axes else t
