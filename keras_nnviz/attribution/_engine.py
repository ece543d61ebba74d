"""Shared machinery of every attribution method.

An :class:`Explainer` holds one model (by weak reference when cached) and builds one
``tf.function`` per variant: (target kind, output, method options). Each has a batch-agnostic
input signature, so any batch size and any class indices reuse one trace; ``trace_count`` counts
traces (a Python side effect runs only while tracing). Class indices and signs travel as
tensors; what changes the graph (a callable target, ``upsample=``, ``keep_channels=``) selects a
variant. Everything heavy (forward, gradients, masks, upsampling, normalization) happens inside
the compiled function; Python only streams batches and concatenates numpy.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from .. import _compat, graph, targets
from ..errors import (
    IncompatibleLayerError,
    InvalidArgumentError,
    UnsupportedModelError,
    format_list,
)
from ..inputs import InputSlot, input_signature, input_slots, prepare

UPSAMPLE_MODES = ("bilinear", "align_corners", "nearest", None)


class Explainer:
    """Base class of the attribution methods; subclasses implement :meth:`_compute`.

    Args:
        model: a built Keras model (Sequential, Functional, nested, multi-input/output).
        layer: layer reference for layer-based methods (CAMs); ignored otherwise.
        output: default output name/index for multi-output models.
    """

    method: ClassVar[str] = "explainer"
    needs_layer: ClassVar[bool] = False
    heavy: ClassVar[bool] = False  # many forward passes per sample: progress bar by default

    def __init__(self, model: keras.Model, layer: graph.LayerRef | None = None, output=None):
        graph.walk(model, include_sublayers=False)  # validates: a built Keras 3 model
        self._model_ref = weakref.ref(model)
        self._keep: keras.Model | None = model  # dropped for cached instances (see cached())
        self.output = output
        self.trace_count = 0
        self._fns: dict[Any, Any] = {}
        self._signature = input_signature(model)
        self._slots: list[InputSlot] | None = input_slots(model)
        self.layer_path: str | None = None
        self._layer: keras.layers.Layer | None = None
        if self.needs_layer:
            self.layer_path = resolve_spatial_layer(model, layer)
            self._layer = graph.find_layer(model, self.layer_path)

    @property
    def model(self) -> keras.Model:
        model = self._model_ref()
        if model is None:
            raise UnsupportedModelError("The model of this explainer no longer exists.")
        return model

    # -- subclass interface -------------------------------------------------------------------

    def _extra_signature(self, opts: dict) -> tuple:
        """TensorSpecs of the method's extra tensor arguments."""
        return ()

    def _extras(self, batch: Any, opts: dict, dynamic: dict, start: int, size: int) -> tuple:
        """Extra tensor arguments for the batch of samples ``start ... start + size - 1``
        (must match :meth:`_extra_signature`)."""
        return ()

    def _compute(self, model, inputs, indices, signs, extras, spec, opts) -> tuple:
        raise NotImplementedError

    def _model_inputs(self, flat: list) -> Any:
        """The flat input list as the model takes it (subclassed models: one tensor)."""
        return flat if self._signature is not None else flat[0]

    def _assemble(self, maps: list[np.ndarray | None]) -> Any:
        """Turn the per-slot maps into what the user gets (one array, or a list per input)."""
        return maps[0] if len(maps) == 1 else maps

    # -- running ------------------------------------------------------------------------------

    def _function(self, spec: targets.TargetSpec, options: tuple):
        key = (spec, options)
        fn = self._fns.get(key)
        if fn is not None:
            return fn
        opts = dict(options)

        def run(inputs, indices, signs, extras):
            self.trace_count += 1  # Python side effect: counts traces, not calls
            model = self.model
            flat = list(inputs) if self._signature is not None else [inputs]
            return tuple(self._compute(model, flat, indices, signs, extras, spec, opts))

        index_spec = tf.TensorSpec((None,), tf.int32)
        sign_spec = tf.TensorSpec((None,), tf.float32)
        # TensorFlow keys its "frequent retracing" warning on the wrapped code object, which
        # this closure shares with every explainer of every model; a partial is keyed by itself.
        wrapped = functools.partial(run)
        if self._signature is not None:
            signature = [self._signature, index_spec, sign_spec, self._extra_signature(opts)]
            fn = tf.function(wrapped, input_signature=signature, reduce_retracing=True)
        else:
            fn = tf.function(wrapped, reduce_retracing=True)
        self._fns[key] = fn
        return fn

    def _explain(
        self,
        x: Any,
        target: Any,
        *,
        output=None,
        negative: bool = False,
        logits: bool = True,
        batch_size: int = 32,
        progress: bool | None = None,
        options: dict | None = None,
        dynamic: dict | None = None,
        heavy: bool | None = None,
    ) -> list[np.ndarray]:
        model = self.model
        data = prepare(model, x, batch_size)
        resolved = targets.resolve(
            model,
            target,
            output=self.output if output is None else output,
            negative=negative,
            logits=logits,
            n=data.n,
        )
        options = tuple(sorted((options or {}).items()))
        fn = self._function(resolved.spec, options)
        opts = dict(options)
        heavy = self.heavy if heavy is None else heavy
        bar = _progress_bar(heavy, data.n, batch_size, progress)
        chunks: list[list[np.ndarray]] = []
        start = 0
        for batch in data.batches(batch_size):
            size = int(tf.nest.flatten(batch)[0].shape[0])
            indices, signs = resolved.batch(start, size)
            extras = self._extras(batch, opts, dynamic or {}, start, size)
            result = fn(batch, indices, signs, extras)
            chunks.append([np.asarray(r, dtype=np.float32) for r in result])
            start += size
            if bar is not None:
                bar.add(size)
        resolved.check_count(start)
        return [_concat([c[i] for c in chunks]) for i in range(len(chunks[0]))]


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def _progress_bar(heavy: bool, n: int | None, batch_size: int, progress: bool | None):
    show = progress if progress is not None else heavy and (n or 0) > batch_size
    if not show:
        return None
    return keras.utils.Progbar(n, unit_name="sample")


# ----------------------------------------------------------------------------------------------
# The function forms reuse one explainer per (model, class, layer, output)

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cached(cls: type[Explainer], model: keras.Model, layer=None) -> Explainer:
    """The cached explainer of ``cls`` for this model and layer, built on first use.

    The instance holds the model only weakly, so caching never keeps a model alive.
    """
    if not isinstance(model, keras.layers.Layer):
        graph.walk(model)  # raises the helpful UnsupportedModelError
    per_model = _CACHE.setdefault(model, {})
    key = (cls, layer)
    if isinstance(layer, str | type(None)) and key in per_model:
        return per_model[key]
    if cls.needs_layer and layer is not None:  # one instance per layer, however it is named
        key = (cls, graph.layer_path(model, layer))
    if key not in per_model:
        explainer = cls(model, layer=key[1])
        explainer._keep = None
        per_model[key] = explainer
    return per_model[key]


# ----------------------------------------------------------------------------------------------
# Layers


def resolve_spatial_layer(model: keras.Model, layer: graph.LayerRef | None) -> str:
    """Path of the layer a CAM lives on; checks that its output has spatial axes."""
    if layer is None:
        return graph.last_spatial_layer(model)
    path = graph.layer_path(model, layer)
    shape = graph.output_shape(graph.find_layer(model, path))
    if len(shape) < 3:
        spatial = _spatial_paths(model)
        hint = f" Layers with spatial output: {format_list(spatial)}." if spatial else ""
        raise IncompatibleLayerError(
            f"Layer {path!r} has output shape {shape}, without spatial axes, so a class "
            "activation map cannot be placed on the input. CAM methods need a layer with output "
            f"(batch, *spatial, channels), such as a convolution.{hint} Leave layer=None for the "
            "last one."
        )
    return path


def _spatial_paths(model: keras.Model) -> list[str]:
    found = []
    for entry in graph.walk(model, include_sublayers=False):
        if _compat.functional_graph(entry.layer) is not None:
            continue
        shape = graph.output_shape(entry.layer)
        if len(shape) >= 3 and all(d is None or d > 1 for d in shape[1:-1]):
            found.append(entry.path)
    return found


def layer_pass(model, inputs, layer, spec, indices, signs, gradient: bool = True):
    """Run the model once, recording ``layer``'s output; optionally its score gradient.

    The hook watches the layer's output on the tape, so this works for layers inside nested
    models and sub-layers of custom layers (where a Keras sub-model cannot reach).

    Returns:
        ``(activation, gradient_or_None, outputs, indices, signs)``; activation and gradient in
        float32; indices/signs resolved to the predicted class when the target asks for it.
    """
    record: dict[str, tf.Tensor] = {}
    tape = tf.GradientTape(watch_accessed_variables=False)

    def hook(lyr, call, args, kwargs):
        out = call(*args, **kwargs)
        if "a" not in record:  # a shared layer: explain its first call
            if isinstance(out, list | tuple | dict):
                raise IncompatibleLayerError(
                    f"Layer {lyr.name!r} returns {len(out)} tensors; CAM methods need a layer "
                    "with one feature-map output."
                )
            if gradient:
                tape.watch(out)
            record["a"] = out
        return out

    with tape:
        outputs = graph.forward(model, inputs, {id(layer): (layer, hook)})
        indices, signs = resolve_indices(spec, outputs, indices, signs)
        score = targets.scores(spec, outputs, indices, signs) if gradient else None
    if "a" not in record:
        raise IncompatibleLayerError(
            f"Layer {layer.name!r} was not called when running model {model.name!r} on its "
            "inputs, so it has no activation to explain."
        )
    grads = tape.gradient(score, record["a"]) if gradient else None
    if gradient and grads is None:
        raise IncompatibleLayerError(
            f"The explained score does not depend on layer {layer.name!r} (no gradient flows "
            "from the chosen output to it). Pick a layer on the path to that output."
        )
    act = tf.cast(record["a"], tf.float32)
    return act, None if grads is None else tf.cast(grads, tf.float32), outputs, indices, signs


def resolve_indices(spec, outputs, indices, signs):
    """Replace indices/signs by the predicted class when the target is None."""
    if spec.mode != "predicted":
        return indices, signs
    pred, pred_signs = targets.predicted(spec, outputs)
    return tf.stop_gradient(pred), signs * pred_signs


def is_float(t: tf.Tensor) -> bool:
    return t.dtype.is_floating


# ----------------------------------------------------------------------------------------------
# Map post-processing (inside tf.function)


def spatial_axes(t: tf.Tensor) -> list[int]:
    return list(range(1, t.shape.rank - 1))


def reduce_channels(t: tf.Tensor, how: str) -> tf.Tensor:
    """Collapse the channel axis of ``(N, *spatial, C)``; vectors ``(N, F)`` are left alone."""
    if t.shape.rank <= 2:
        return tf.abs(t) if how == "absmax" else t
    if how == "absmax":
        return tf.reduce_max(tf.abs(t), axis=-1)
    if how == "max":
        return tf.reduce_max(t, axis=-1)
    return tf.reduce_sum(t, axis=-1)


def normalize_maps(maps: tf.Tensor, signed: bool = False) -> tf.Tensor:
    """Per sample: min-max to [0, 1]; signed maps are divided by their largest magnitude."""
    axes = list(range(1, maps.shape.rank))
    if not axes:
        return maps
    if signed:
        scale = tf.reduce_max(tf.abs(maps), axis=axes, keepdims=True)
        return tf.math.divide_no_nan(maps, scale)
    lo = tf.reduce_min(maps, axis=axes, keepdims=True)
    spread = tf.reduce_max(maps, axis=axes, keepdims=True) - lo
    # A flat map becomes zeros; tiny but real ranges (variances of gradients) still reach 1.
    return tf.math.divide_no_nan(maps - lo, spread)


def finish(maps: tf.Tensor, signed: bool, normalize: bool) -> tf.Tensor:
    """Signed methods: absolute value unless ``signed``; then normalize if asked."""
    if not signed:
        maps = tf.abs(maps)
    return normalize_maps(maps, signed=signed) if normalize else maps


def _resize2d(images: tf.Tensor, size, mode: str) -> tf.Tensor:
    if mode == "align_corners":
        # Corner-aligned bilinear = scipy.ndimage.zoom(order=1), which tf-keras-vis uses.
        return tf.raw_ops.ResizeBilinear(
            images=images, size=tf.cast(size, tf.int32), align_corners=True
        )
    method = "nearest" if mode == "nearest" else "bilinear"
    return tf.image.resize(images, size, method=method)


def upsample(maps: tf.Tensor, size: Sequence, mode: str | None) -> tf.Tensor:
    """Resize ``(N, *spatial)`` maps to ``size`` (1-D, 2-D or 3-D; separable for volumes)."""
    if mode is None:
        return maps
    rank = maps.shape.rank - 1
    if rank == 1:
        out = _resize2d(maps[:, :, None, None], [size[0], 1], mode)
        return out[:, :, 0, 0]
    if rank == 2:
        return _resize2d(maps[..., None], list(size), mode)[..., 0]
    if rank == 3:
        shape = tf.shape(maps)
        n, d = shape[0], shape[1]
        planes = tf.reshape(maps, tf.stack([n * d, shape[2], shape[3], 1]))
        planes = _resize2d(planes, [size[1], size[2]], mode)
        flat = tf.reshape(planes, tf.stack([n, d, size[1] * size[2], 1]))
        # Same width in and out is an identity for both half-pixel and corner alignment.
        flat = _resize2d(flat, tf.stack([size[0], size[1] * size[2]]), mode)
        return tf.reshape(flat, tf.stack([n, size[0], size[1], size[2]]))
    raise IncompatibleLayerError(f"Cannot upsample maps of rank {rank} (1-D, 2-D or 3-D only).")


def spatial_size(t: tf.Tensor) -> list:
    """Spatial size of ``(N, *spatial, C)``, static where known."""
    static = t.shape[1:-1]
    dynamic = tf.shape(t)[1:-1]
    return [s if s is not None else dynamic[i] for i, s in enumerate(static)]


def check_upsample(mode: str | None) -> None:
    if mode not in UPSAMPLE_MODES:
        raise InvalidArgumentError(
            f"upsample must be one of {list(UPSAMPLE_MODES)}; received {mode!r}. 'bilinear' "
            "(default) is tf.image.resize; 'align_corners' matches scipy.ndimage.zoom(order=1) "
            "as used by tf-keras-vis; None returns maps at the layer's resolution."
        )


def chunked_loop(total: tf.Tensor, chunk: tf.Tensor, body: Callable, init: tuple) -> tuple:
    """``for start in range(0, total, chunk): acc = body(start, stop, acc)`` as a while_loop."""

    def cond(i, *acc):
        return i < total

    def step(i, *acc):
        stop = tf.minimum(i + chunk, total)
        return (stop, *body(i, stop, acc))

    result = tf.while_loop(cond, step, (tf.constant(0, tf.int32), *init))
    return tuple(result[1:])


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidArgumentError(f"{name} must be an int >= {minimum}; received {value!r}.")
    return int(value)
