"""What feature visualization maximizes: objectives on layers, logits and the image itself.

An objective is a weighted sum of *terms*. Build terms with the functions of this module and
combine them with ``+``, ``-`` and ``*`` / ``/`` by a number::

    obj = objectives.channel("conv2", 5) - 0.05 * objectives.total_variation()

Objectives name layers by path (``"base/block2_conv"`` reaches into nested models) and are not
tied to a model until :func:`keras_nnviz.maximize_activation` binds them: only then are layer
paths resolved and channel indices, positions and vector lengths checked against the model.

Sign convention (as in Lucid): unit objectives (:func:`channel`, :func:`neuron`,
:func:`direction`, :func:`layer_norm`, :func:`class_logit`) grow when the unit fires more;
:func:`diversity` and the regularizers (:func:`total_variation`, :func:`l1`, :func:`l2`,
:func:`blur`) are *penalties* (non-negative, larger is worse): subtract them.

Every term is computed per image, so the optimizer maximizes each image's own objective; terms
are averaged over positions, which keeps weights comparable across layer and image sizes.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from . import _compat, graph
from .errors import (
    IncompatibleLayerError,
    InvalidArgumentError,
    InvalidTargetError,
    format_list,
)

__all__ = [
    "Objective",
    "blur",
    "channel",
    "class_logit",
    "direction",
    "diversity",
    "l1",
    "l2",
    "layer_norm",
    "neuron",
    "total_variation",
]

# Where a term reads its tensor from.
INPUT = "input"  # the [0, 1] image being optimized (before transforms)
OUTPUT = "output"  # a model output (class logits)
LAYER = "layer"  # a recorded layer output


# ----------------------------------------------------------------------------------------------
# Terms (leaves) and the Objective algebra


class _Term:
    """One leaf of an objective; subclasses implement :meth:`bind`."""

    def describe(self) -> str:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def bind(self, ctx: BindContext) -> BoundTerm:  # pragma: no cover
        raise NotImplementedError


@dataclass
class BoundTerm:
    """A term checked against a model: what to read, its parameters, how to compute it.

    Attributes:
        source: ``"layer"``, ``"output"`` or ``"input"``.
        path: canonical layer path (``"layer"``), output index (``"output"``) or None.
        key: hashable structure (kind, path, ranks, parameter shapes) without parameter values,
            so objectives differing only in channel index, position or vector share one trace.
        params: parameter values, fed to the compiled step as tensors.
        fn: ``fn(tensor, params) -> (b,)`` values for a slice of ``b`` images.
    """

    source: str
    path: Any
    key: tuple
    params: list[np.ndarray]
    fn: Callable[[tf.Tensor, list[tf.Tensor]], tf.Tensor]


class Objective:
    """A weighted sum of terms; maximized per image by :func:`keras_nnviz.maximize_activation`.

    Build objectives with the functions of :mod:`keras_nnviz.objectives`; combine them with
    ``+``, ``-``, unary ``-`` and multiplication/division by a number.

    Example:
        >>> obj = nv.objectives.channel("conv2", 3) - 0.1 * nv.objectives.total_variation()
        >>> str(obj)
        'conv2 ch 3 - 0.1·total_variation'
    """

    __slots__ = ("terms",)

    def __init__(self, terms: Sequence[tuple[float, _Term]]):
        self.terms: tuple[tuple[float, _Term], ...] = tuple(terms)

    # -- algebra ---------------------------------------------------------------------------
    @staticmethod
    def _coerce(other: Any, op: str) -> Objective:
        if isinstance(other, Objective):
            return other
        raise InvalidArgumentError(
            f"Objectives combine with other objectives by {op}; received "
            f"{type(other).__name__} {other!r}. Build terms with nv.objectives.channel(...), "
            "neuron(...), class_logit(...), ... and multiply them by numbers only."
        )

    @staticmethod
    def _scalar(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidArgumentError(
                f"Objectives can be multiplied or divided by a number only; received "
                f"{type(value).__name__} {value!r}. Combine objectives with + and -."
            )
        if not math.isfinite(float(value)):
            raise InvalidArgumentError(f"Objective weights must be finite; received {value!r}.")
        return float(value)

    def __add__(self, other: Any) -> Objective:
        return Objective(self.terms + self._coerce(other, "+").terms)

    def __radd__(self, other: Any) -> Objective:
        if isinstance(other, numbers.Number) and other == 0:
            return self  # lets sum([obj1, obj2]) work
        return self._coerce(other, "+").__add__(self)

    def __sub__(self, other: Any) -> Objective:
        return self + (-self._coerce(other, "-"))

    def __rsub__(self, other: Any) -> Objective:
        return self._coerce(other, "-") - self

    def __neg__(self) -> Objective:
        return self * -1.0

    def __mul__(self, value: Any) -> Objective:
        w = self._scalar(value)
        return Objective(tuple((w * weight, term) for weight, term in self.terms))

    __rmul__ = __mul__

    def __truediv__(self, value: Any) -> Objective:
        w = self._scalar(value)
        if w == 0:
            raise InvalidArgumentError("Cannot divide an objective by zero.")
        return self * (1.0 / w)

    # -- description -----------------------------------------------------------------------
    def __str__(self) -> str:
        parts = []
        for i, (weight, term) in enumerate(self.terms):
            sign = "-" if weight < 0 else "+"
            mag = abs(weight)
            text = term.describe() if mag == 1 else f"{mag:g}·{term.describe()}"
            if i == 0:
                parts.append(text if sign == "+" else f"-{text}")
            else:
                parts.append(f"{sign} {text}")
        return " ".join(parts) if parts else "0"

    def __repr__(self) -> str:
        return f"Objective({self})"

    @property
    def name(self) -> str:
        """Short human-readable description, used as a plot title."""
        return str(self)


def _leaf(term: _Term) -> Objective:
    return Objective(((1.0, term),))


# ----------------------------------------------------------------------------------------------
# Binding: resolve layers and check arguments against a model


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

    def shape(self, path: str) -> tuple:
        """Output shape of a layer (batch axis first) when fed this input size."""
        entry = next(e for e in self.entries if e.path == path)
        shape = graph.output_shape(entry.layer)
        static_ok = (
            len(shape) >= 2
            and all(d is not None for d in shape[1:])
            and self._model_size_is_static()
        )
        if static_ok:
            return tuple(shape)
        probed = self._probe()["layers"]
        if path not in probed:
            raise IncompatibleLayerError(
                f"Layer {path!r} is not called when model {self.model.name!r} runs on its inputs "
                "(it does not lie between the inputs and the outputs), so an objective on it "
                "cannot be maximized."
            )
        return (None, *probed[path][1:])

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


# ----------------------------------------------------------------------------------------------
# Unit objectives


@dataclass(eq=False)
class _Channel(_Term):
    layer: Any
    index: int
    reduce: str = "mean"

    def describe(self) -> str:
        suffix = "" if self.reduce == "mean" else f" ({self.reduce})"
        return f"{_ref_name(self.layer)} ch {self.index}{suffix}"

    def bind(self, ctx: BindContext) -> BoundTerm:
        path = ctx.entry(self.layer).path
        shape, n = _channel_count(ctx, path, "channel()")
        k = _check_index(self.index, n, "Channel", path)
        rank = len(shape)
        reduce = tf.reduce_mean if self.reduce == "mean" else tf.reduce_max

        def fn(act, params):
            unit = tf.gather(act, params[0], axis=-1)
            axes = list(range(1, unit.shape.rank))
            return reduce(unit, axis=axes) if axes else unit

        return BoundTerm(LAYER, path, ("channel", path, rank, self.reduce), [np.int32(k)], fn)


def channel(layer: graph.LayerRef, k: int, reduce: str = "mean") -> Objective:
    """Activation of channel ``k`` of ``layer``, averaged (or maximized) over all positions.

    Args:
        layer: layer path (nested models: ``"base/block2_conv"``), name, index or Layer.
        k: channel index on the last axis (negative counts from the end). On a dense layer this
            is unit ``k``.
        reduce: ``"mean"`` over positions (feature visualization: the whole image drives the
            channel) or ``"max"`` (its strongest position, for deconvnet views).

    Returns:
        An :class:`Objective`.

    Example:
        >>> images = nv.maximize_activation(model, nv.objectives.channel("conv2", 7))
    """
    if reduce not in ("mean", "max"):
        raise InvalidArgumentError(f"reduce must be 'mean' or 'max'; received {reduce!r}.")
    return _leaf(_Channel(layer, k, reduce))


@dataclass(eq=False)
class _Neuron(_Term):
    layer: Any
    index: int
    position: Sequence[int] | None

    def describe(self) -> str:
        where = "" if self.position is None else f" @ {tuple(self.position)}"
        return f"{_ref_name(self.layer)} unit {self.index}{where}"

    def bind(self, ctx: BindContext) -> BoundTerm:
        path = ctx.entry(self.layer).path
        shape, n = _channel_count(ctx, path, "neuron()")
        k = _check_index(self.index, n, "Channel", path)
        spatial = tuple(shape[1:-1])
        if not spatial:
            if self.position is not None:
                raise IncompatibleLayerError(
                    f"neuron(position={tuple(self.position)}) needs a spatial layer, but "
                    f"{path!r} outputs shape {shape} (no positions). Drop position= to use unit "
                    f"{k}, or pick a convolutional layer."
                )

            def fn_flat(act, params):
                return tf.gather(act, params[0], axis=-1)

            return BoundTerm(LAYER, path, ("neuron", path, 2), [np.int32(k)], fn_flat)
        if self.position is None:
            position = tuple(s // 2 for s in spatial)
        else:
            position = tuple(self.position)
            if len(position) != len(spatial) or any(
                isinstance(p, bool) or not isinstance(p, numbers.Integral) for p in position
            ):
                raise IncompatibleLayerError(
                    f"Position {position} does not fit layer {path!r}: its output has "
                    f"{len(spatial)} spatial axes of sizes {spatial}; pass {len(spatial)} ints."
                )
            bad = [i for i, (p, s) in enumerate(zip(position, spatial)) if not 0 <= p < s]
            if bad:
                raise IncompatibleLayerError(
                    f"Position {position} is outside the spatial shape {spatial} of layer "
                    f"{path!r} (axis {bad[0]} allows 0 ... {spatial[bad[0]] - 1})."
                )
        index = np.asarray([*position, k], dtype=np.int32)

        def fn(act, params):
            b = tf.shape(act)[0]
            idx = tf.tile(params[0][None], [b, 1])
            return tf.gather_nd(act, idx, batch_dims=1)

        return BoundTerm(LAYER, path, ("neuron", path, len(shape)), [index], fn)


def neuron(layer: graph.LayerRef, k: int, position: Sequence[int] | None = None) -> Objective:
    """Activation of one unit: channel ``k`` at one spatial position.

    Args:
        layer: layer reference (see :func:`channel`).
        k: channel index.
        position: spatial index, e.g. ``(3, 4)`` for a 2-D feature map; default: the centre.
            Only for layers with spatial output.

    Returns:
        An :class:`Objective`.

    Example:
        >>> nv.objectives.neuron("conv2", 7)              # centre unit of channel 7
        >>> nv.objectives.neuron("conv2", 7, position=(0, 0))
    """
    return _leaf(_Neuron(layer, k, None if position is None else tuple(position)))


@dataclass(eq=False)
class _Direction(_Term):
    layer: Any
    vector: np.ndarray

    def describe(self) -> str:
        return f"{_ref_name(self.layer)} direction"

    def bind(self, ctx: BindContext) -> BoundTerm:
        path = ctx.entry(self.layer).path
        shape, n = _channel_count(ctx, path, "direction()")
        v = np.asarray(self.vector, dtype=np.float32).reshape(-1)
        if v.size != n:
            raise IncompatibleLayerError(
                f"direction() vector has {v.size} entries but layer {path!r} has {n} channels; "
                f"pass a vector of length {n}."
            )
        norm = float(np.linalg.norm(v))
        if not np.isfinite(norm) or norm == 0:
            raise InvalidArgumentError("direction() needs a finite, non-zero vector.")

        def fn(act, params):
            return _spatial_mean(tf.tensordot(act, params[0], axes=[[act.shape.rank - 1], [0]]))

        return BoundTerm(LAYER, path, ("direction", path, len(shape), n), [v / norm], fn)


def direction(layer: graph.LayerRef, vector: Sequence[float] | np.ndarray) -> Objective:
    """Projection of the activations onto a direction in channel space, averaged over positions.

    Args:
        layer: layer reference.
        vector: one weight per channel (normalized to unit length), e.g. a concept vector or the
            difference of two class means.

    Returns:
        An :class:`Objective`.

    Example:
        >>> nv.objectives.direction("dense", embedding_of_threes - embedding_of_eights)
    """
    return _leaf(_Direction(layer, np.asarray(vector, dtype=np.float32)))


@dataclass(eq=False)
class _LayerNorm(_Term):
    layer: Any

    def describe(self) -> str:
        return f"{_ref_name(self.layer)} norm"

    def bind(self, ctx: BindContext) -> BoundTerm:
        path = ctx.entry(self.layer).path
        shape = ctx.shape(path)

        def fn(act, params):
            return _spatial_mean(tf.square(act))

        return BoundTerm(LAYER, path, ("layer_norm", path, len(shape)), [], fn)


def layer_norm(layer: graph.LayerRef) -> Objective:
    """Mean squared activation of a whole layer (DeepDream): everything the layer sees.

    Example:
        >>> nv.maximize_activation(model, nv.objectives.layer_norm("conv2"))
    """
    return _leaf(_LayerNorm(layer))


@dataclass(eq=False)
class _Diversity(_Term):
    layer: Any

    def describe(self) -> str:
        return f"diversity({_ref_name(self.layer)})"

    def bind(self, ctx: BindContext) -> BoundTerm:
        path = ctx.entry(self.layer).path
        shape, n = _channel_count(ctx, path, "diversity()")

        def fn(act, params):
            b = tf.shape(act)[0]
            flat = tf.reshape(act, [b, -1, n])
            grams = tf.matmul(flat, flat, transpose_a=True)  # (b, C, C) channel co-activation
            grams = tf.math.l2_normalize(tf.reshape(grams, [b, -1]), axis=1, epsilon=1e-10)
            sims = tf.matmul(grams, grams, transpose_b=True)  # cosine similarity (b, b)
            others = tf.reduce_sum(sims, axis=1) - tf.linalg.diag_part(sims)
            return others / tf.maximum(tf.cast(b, tf.float32) - 1.0, 1.0)

        return BoundTerm(LAYER, path, ("diversity", path, len(shape)), [], fn)


def diversity(layer: graph.LayerRef) -> Objective:
    """Penalty: how alike the images optimized for one objective are (Gram-matrix cosine).

    For each image, the mean cosine similarity between its Gram matrix of ``layer`` (channel
    co-activations, position-independent "style") and those of the other images of the same
    objective in the batch. Subtract it and optimize ``batch > 1`` images to get different
    facets of one unit.

    Example:
        >>> obj = nv.objectives.channel("conv2", 3) - 2.0 * nv.objectives.diversity("conv1")
        >>> nv.maximize_activation(model, obj, batch=4)
    """
    return _leaf(_Diversity(layer))


@dataclass(eq=False)
class _ClassLogit(_Term):
    index: int
    output: Any

    def describe(self) -> str:
        head = "" if self.output is None else f"{self.output}:"
        return f"{head}class {self.index}"

    def bind(self, ctx: BindContext) -> BoundTerm:
        shapes = ctx.output_shapes()
        names = ctx.output_names()
        if self.output is None:
            if len(shapes) > 1:
                raise InvalidTargetError(
                    f"Model {ctx.model.name!r} has {len(shapes)} outputs {names}; pass "
                    "class_logit(k, output=name_or_index) to choose one."
                )
            out = 0
        elif isinstance(self.output, numbers.Integral) and not isinstance(self.output, bool):
            out = int(self.output)
            if not -len(shapes) <= out < len(shapes):
                raise InvalidTargetError(
                    f"output={out} is out of range: model {ctx.model.name!r} has "
                    f"{len(shapes)} outputs {names} (valid 0 ... {len(shapes) - 1})."
                )
            out %= len(shapes)
        elif isinstance(self.output, str) and self.output in names:
            out = names.index(self.output)
        else:
            raise InvalidTargetError(
                f"Unknown output {self.output!r}; model {ctx.model.name!r} has outputs "
                f"{format_list(names)} (pass a name or an index)."
            )
        shape = shapes[out]
        if len(shape) != 2 or shape[-1] is None:
            raise InvalidTargetError(
                f"class_logit() needs an output of shape (batch, classes); output {names[out]!r} "
                f"has shape {shape}. Use channel() on a layer instead."
            )
        k = int(shape[-1])
        if isinstance(self.index, bool) or not isinstance(self.index, numbers.Integral):
            raise InvalidTargetError(f"Class index must be an int; received {self.index!r}.")
        if not -k <= int(self.index) < k:
            raise InvalidTargetError(
                f"Class {int(self.index)} is out of range for output {names[out]!r} with {k} "
                f"classes (valid 0 ... {k - 1})."
            )

        def fn(logits, params):
            return tf.gather(logits, params[0], axis=-1)

        return BoundTerm(OUTPUT, out, ("class_logit", out), [np.int32(int(self.index) % k)], fn)


def class_logit(k: int, output: str | int | None = None) -> Objective:
    """Logit of class ``k`` (the pre-softmax/sigmoid value when the output ends in one).

    Maximizing the logit rather than the probability avoids the trivial solution of pushing the
    other classes down. The logits are read from the traced graph; the model is not changed.

    Args:
        k: class index.
        output: for multi-output models, the output's name or index.

    Returns:
        An :class:`Objective`.

    Example:
        >>> nv.maximize_activation(model, [nv.objectives.class_logit(c) for c in range(10)])
    """
    return _leaf(_ClassLogit(k, output))


# ----------------------------------------------------------------------------------------------
# Regularizers (penalties on the image or a layer)


def _image_or_layer(ctx: BindContext, layer: Any) -> tuple[str, Any, int]:
    if layer is None:
        return INPUT, None, 4
    path = ctx.entry(layer).path
    return LAYER, path, len(ctx.shape(path))


@dataclass(eq=False)
class _TotalVariation(_Term):
    def describe(self) -> str:
        return "total_variation"

    def bind(self, ctx: BindContext) -> BoundTerm:
        return BoundTerm(INPUT, None, ("total_variation",), [], _tv)


def _tv(images, params):
    dy = tf.abs(images[:, 1:] - images[:, :-1])
    dx = tf.abs(images[:, :, 1:] - images[:, :, :-1])
    return _spatial_mean(dy) + _spatial_mean(dx)


def total_variation() -> Objective:
    """Penalty: mean absolute difference between neighbouring pixels (down plus right).

    Example:
        >>> obj = nv.objectives.channel("conv2", 3) - 0.2 * nv.objectives.total_variation()
    """
    return _leaf(_TotalVariation())


@dataclass(eq=False)
class _Norm(_Term):
    order: int
    layer: Any
    constant: float

    def describe(self) -> str:
        where = "" if self.layer is None else f"({_ref_name(self.layer)})"
        return f"l{self.order}{where}"

    def bind(self, ctx: BindContext) -> BoundTerm:
        source, path, rank = _image_or_layer(ctx, self.layer)
        if self.order == 1:

            def fn(t, params):
                return _spatial_mean(tf.abs(t - params[0]))

        else:

            def fn(t, params):
                return tf.sqrt(_spatial_mean(tf.square(t - params[0])) + 1e-12)

        key = (f"l{self.order}", source, path, rank)
        return BoundTerm(source, path, key, [np.float32(self.constant)], fn)


def l1(constant: float = 0.5, layer: graph.LayerRef | None = None) -> Objective:
    """Penalty: mean absolute deviation from ``constant`` of the image (or of a layer).

    Args:
        constant: the value pulled towards; 0.5 is mid-grey for [0, 1] images.
        layer: a layer reference to penalize activations instead of pixels.

    Example:
        >>> obj = nv.objectives.channel("conv2", 3) - 0.5 * nv.objectives.l1()
    """
    return _leaf(_Norm(1, layer, float(constant)))


def l2(constant: float = 0.5, layer: graph.LayerRef | None = None) -> Objective:
    """Penalty: root-mean-square deviation from ``constant`` of the image (or of a layer).

    Example:
        >>> obj = nv.objectives.class_logit(3) - 0.5 * nv.objectives.l2()
    """
    return _leaf(_Norm(2, layer, float(constant)))


@dataclass(eq=False)
class _Blur(_Term):
    def describe(self) -> str:
        return "blur"

    def bind(self, ctx: BindContext) -> BoundTerm:
        return BoundTerm(INPUT, None, ("blur",), [], _blur_penalty)


def _blur_penalty(images, params):
    c = images.shape[-1]
    kernel = tf.ones((3, 3, c, 1), images.dtype) / 9.0
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    blurred = tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")
    # The blurred image is a fixed target: the gradient pulls each pixel towards its
    # neighbourhood mean (Lucid's blur_input_each_step), not the neighbourhood towards it.
    return 0.5 * _spatial_mean(tf.square(images - tf.stop_gradient(blurred)))


def blur() -> Objective:
    """Penalty: squared distance between the image and its 3×3 blur (pulls towards smoothness).

    Example:
        >>> obj = nv.objectives.channel("conv2", 3) - 1.0 * nv.objectives.blur()
    """
    return _leaf(_Blur())


def _ref_name(ref: Any) -> str:
    if isinstance(ref, keras.layers.Layer):
        return ref.name
    return str(ref)


# ----------------------------------------------------------------------------------------------
# Plans: a list of objectives bound to a model, ready for the compiled step


@dataclass
class Plan:
    """Objectives bound to a model: what to record and how to score each image.

    Attributes:
        objectives: the user's objectives (one per group of ``batch`` images).
        terms: per objective, ``[(weight_index, BoundTerm), ...]``.
        key: hashable structure for caching the compiled step.
        params: flat parameter list (weights first, then term parameters in order).
        layer_paths: layers whose outputs must be recorded.
        outputs: indices of model outputs read by class_logit terms.
    """

    objectives: list[Objective]
    terms: list[list[BoundTerm]]
    key: tuple
    params: list[np.ndarray]
    layer_paths: list[str]
    outputs: list[int]


def as_objectives(objective: Objective | Sequence[Objective]) -> list[Objective]:
    """Normalize the ``objective`` argument to a non-empty list of :class:`Objective`."""
    if isinstance(objective, Objective):
        return [objective]
    if isinstance(objective, str) or not isinstance(objective, Sequence):
        raise InvalidArgumentError(
            f"objective must be an nv.objectives.Objective or a list of them; received "
            f"{type(objective).__name__} {objective!r}. Example: "
            "nv.objectives.channel('conv2', 3)."
        )
    items = list(objective)
    if not items:
        raise InvalidArgumentError("objective is an empty list; pass at least one objective.")
    for item in items:
        if not isinstance(item, Objective):
            raise InvalidArgumentError(
                f"objective list items must be nv.objectives.Objective; received "
                f"{type(item).__name__} {item!r}."
            )
    return items


def bind(objectives: list[Objective], ctx: BindContext) -> Plan:
    """Resolve and check every term of ``objectives`` against ``ctx``'s model."""
    all_terms, key, params, paths, outs = [], [], [], [], []
    for obj in objectives:
        if not obj.terms:
            raise InvalidArgumentError("An objective has no terms (it is zero).")
        bound = [term.bind(ctx) for _, term in obj.terms]
        all_terms.append(bound)
        key.append(tuple(b.key for b in bound))
        params.extend(np.float32(w) for w, _ in obj.terms)
        for b in bound:
            params.extend(np.asarray(p) for p in b.params)
            if b.source == LAYER and b.path not in paths:
                paths.append(b.path)
            if b.source == OUTPUT and b.path not in outs:
                outs.append(b.path)
    return Plan(objectives, all_terms, tuple(key), params, paths, outs)


def evaluate(
    plan: Plan,
    params: list[tf.Tensor],
    images: tf.Tensor,
    layers: dict[str, tf.Tensor],
    outputs: list[tf.Tensor],
    batch: int | None,
) -> tf.Tensor:
    """Per-image objective values ``(len(objectives) * batch,)`` inside a traced function.

    Image ``i`` belongs to objective ``i // batch``; each objective sees only its own images.
    ``batch=None`` (one objective only) scores every image with it.

    Args:
        plan: the bound objectives.
        params: tensors in the order of ``plan.params``.
        images: the [0, 1] images being optimized.
        layers: recorded layer outputs ``{path: (N, ...)}`` (float32).
        outputs: the model's flat outputs (float32); softmax/sigmoid outputs are mapped to their
            logits here.
        batch: images per objective, or None for one objective over all images.
    """
    logits_cache: dict[int, tf.Tensor] = {}
    cursor = 0
    values = []
    for i, bound_terms in enumerate(plan.terms):
        weights = params[cursor : cursor + len(bound_terms)]
        cursor += len(bound_terms)
        lo, hi = (None, None) if batch is None else (i * batch, (i + 1) * batch)
        total = None
        for weight, term in zip(weights, bound_terms):
            n = len(term.params)
            term_params = params[cursor : cursor + n]
            cursor += n
            if term.source == INPUT:
                source = images
            elif term.source == OUTPUT:
                if term.path not in logits_cache:
                    logits, _ = graph.pre_activation(outputs[term.path])
                    logits_cache[term.path] = tf.cast(logits, tf.float32)
                source = logits_cache[term.path]
            else:
                source = layers[term.path]
            value = weight * tf.cast(term.fn(source[lo:hi], term_params), tf.float32)
            total = value if total is None else total + value
        values.append(total)
    return tf.concat(values, axis=0)
