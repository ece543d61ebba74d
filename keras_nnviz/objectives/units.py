"""Unit objectives: channels, neurons, directions, whole layers, diversity, class logits."""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from ..core import graph
from ..errors import IncompatibleLayerError, InvalidArgumentError, InvalidTargetError, format_list
from ._context import BindContext, _channel_count, _check_index, _spatial_mean
from ._core import LAYER, OUTPUT, BoundTerm, Objective, _leaf, _ref_name, _Term

__all__ = [
    "channel",
    "class_logit",
    "direction",
    "diversity",
    "layer_norm",
    "neuron",
]


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


def channel(layer: graph.LayerRef, channel: int, *, reduce: str = "mean") -> Objective:
    """Activation of channel ``channel`` of ``layer``, averaged (or maximized) over all positions.

    Args:
        layer: layer path (nested models: ``"base/block2_conv"``), name, index or Layer.
        channel: channel index on the last axis (negative counts from the end). On a dense
            layer this is the unit.
        reduce: ``"mean"`` over positions (feature visualization: the whole image drives the
            channel) or ``"max"`` (its strongest position, for deconvnet views).

    Returns:
        An :class:`Objective`.

    Example:
        >>> images = nv.maximize_activation(model, nv.objectives.channel("conv2", 7))
    """
    if reduce not in ("mean", "max"):
        raise InvalidArgumentError(f"reduce must be 'mean' or 'max'; received {reduce!r}.")
    return _leaf(_Channel(layer, channel, reduce))


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


def neuron(
    layer: graph.LayerRef, channel: int, *, position: Sequence[int] | None = None
) -> Objective:
    """Activation of one unit: channel ``channel`` at one spatial position.

    Args:
        layer: layer reference (see :func:`channel`).
        channel: channel index (on a dense layer: the unit).
        position: spatial index, e.g. ``(3, 4)`` for a 2-D feature map; default: the centre.
            Only for layers with spatial output.

    Returns:
        An :class:`Objective`.

    Example:
        >>> nv.objectives.neuron("conv2", 7)              # centre unit of channel 7
        >>> nv.objectives.neuron("conv2", 7, position=(0, 0))
    """
    return _leaf(_Neuron(layer, channel, None if position is None else tuple(position)))


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


def _mean_square(act, params):
    return _spatial_mean(tf.square(act))


def _gram_similarity(n, act, params):
    b = tf.shape(act)[0]
    flat = tf.reshape(act, [b, -1, n])
    grams = tf.matmul(flat, flat, transpose_a=True)  # (b, C, C) channel co-activation
    grams = tf.math.l2_normalize(tf.reshape(grams, [b, -1]), axis=1, epsilon=1e-10)
    sims = tf.matmul(grams, grams, transpose_b=True)  # cosine similarity (b, b)
    others = tf.reduce_sum(sims, axis=1) - tf.linalg.diag_part(sims)
    return others / tf.maximum(tf.cast(b, tf.float32) - 1.0, 1.0)


@dataclass(eq=False)
class _WholeLayer(_Term):
    """A parameter-free term on every unit of one layer; subclasses name it (``key``), say
    whether it is a unit objective or a penalty (``unit``) and give its function (``_fn``)."""

    layer: Any
    key: ClassVar[str]
    unit: ClassVar[bool] = True

    def _fn(self, ctx: BindContext, path: str) -> Callable:
        raise NotImplementedError

    def bind(self, ctx: BindContext) -> BoundTerm:
        path = ctx.entry(self.layer).path
        fn = self._fn(ctx, path)
        key = (self.key, path, len(ctx.shape(path)))
        return BoundTerm(LAYER, path, key, [], fn, unit=self.unit)


class _LayerNorm(_WholeLayer):
    key = "layer_norm"

    def describe(self) -> str:
        return f"{_ref_name(self.layer)} norm"

    def _fn(self, ctx: BindContext, path: str) -> Callable:
        return _mean_square


def layer_norm(layer: graph.LayerRef) -> Objective:
    """Mean squared activation of a whole layer (DeepDream): everything the layer sees.

    Example:
        >>> nv.maximize_activation(model, nv.objectives.layer_norm("conv2"))
    """
    return _leaf(_LayerNorm(layer))


class _Diversity(_WholeLayer):
    key = "diversity"
    unit = False  # a penalty

    def describe(self) -> str:
        return f"diversity({_ref_name(self.layer)})"

    def _fn(self, ctx: BindContext, path: str) -> Callable:
        _, n = _channel_count(ctx, path, "diversity()")
        return functools.partial(_gram_similarity, n)


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


def class_logit(class_index: int, *, output: str | int | None = None) -> Objective:
    """Logit of class ``class_index`` (the pre-softmax/sigmoid value when the output ends in one).

    Maximizing the logit rather than the probability avoids the trivial solution of pushing the
    other classes down. The logits are read from the traced graph; the model is not changed.

    Args:
        class_index: class index (negative counts from the end).
        output: for multi-output models, the output's name or index.

    Returns:
        An :class:`Objective`.

    Example:
        >>> nv.maximize_activation(model, [nv.objectives.class_logit(c) for c in range(10)])
    """
    return _leaf(_ClassLogit(class_index, output))
