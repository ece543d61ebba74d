"""Regularizers: non-negative penalties on the image (or a layer); subtract them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from ..core import graph
from ._context import BindContext, _spatial_mean
from ._core import INPUT, LAYER, BoundTerm, Objective, _leaf, _ref_name, _Term

__all__ = [
    "blur",
    "l1",
    "l2",
    "total_variation",
]


def _image_or_layer(ctx: BindContext, layer: Any) -> tuple[str, Any, int]:
    if layer is None:
        return INPUT, None, 4
    path = ctx.entry(layer).path
    return LAYER, path, len(ctx.shape(path))


@dataclass(eq=False)
class _Penalty(_Term):
    """A penalty on the input image, or on a layer's activations when ``layer`` is set: named
    by ``name``, computed by ``fn(tensor, params)`` with the fixed parameter values ``params``."""

    name: str
    fn: Any
    layer: Any = None
    params: tuple = ()

    def describe(self) -> str:
        return self.name if self.layer is None else f"{self.name}({_ref_name(self.layer)})"

    def bind(self, ctx: BindContext) -> BoundTerm:
        source, path, rank = _image_or_layer(ctx, self.layer)
        key = (self.name, source, path, rank)
        params = [np.float32(p) for p in self.params]
        return BoundTerm(source, path, key, params, self.fn, unit=False)


def _tv(images, params):
    dy = tf.abs(images[:, 1:] - images[:, :-1])
    dx = tf.abs(images[:, :, 1:] - images[:, :, :-1])
    return _spatial_mean(dy) + _spatial_mean(dx)


def total_variation() -> Objective:
    """Penalty: mean absolute difference between neighbouring pixels (down plus right).

    Example:
        >>> obj = nv.objectives.channel("conv2", 3) - 0.2 * nv.objectives.total_variation()
    """
    return _leaf(_Penalty("total_variation", _tv))


def _l1(t, params):
    return _spatial_mean(tf.abs(t - params[0]))


def _l2(t, params):
    return tf.sqrt(_spatial_mean(tf.square(t - params[0])) + 1e-12)


def l1(constant: float = 0.5, layer: graph.LayerRef | None = None) -> Objective:
    """Penalty: mean absolute deviation from ``constant`` of the image (or of a layer).

    Args:
        constant: the value pulled towards; 0.5 is mid-grey for [0, 1] images.
        layer: a layer reference to penalize activations instead of pixels.

    Example:
        >>> obj = nv.objectives.channel("conv2", 3) - 0.5 * nv.objectives.l1()
    """
    return _leaf(_Penalty("l1", _l1, layer, (float(constant),)))


def l2(constant: float = 0.5, layer: graph.LayerRef | None = None) -> Objective:
    """Penalty: root-mean-square deviation from ``constant`` of the image (or of a layer).

    Example:
        >>> obj = nv.objectives.class_logit(3) - 0.5 * nv.objectives.l2()
    """
    return _leaf(_Penalty("l2", _l2, layer, (float(constant),)))


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
    return _leaf(_Penalty("blur", _blur_penalty))
