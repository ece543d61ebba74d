"""Map post-processing and loop helpers of the attribution methods (run inside the compiled
pass): channel reduction, normalization, upsampling, chunked ``tf.while_loop``, option checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from .. import validation
from ..errors import IncompatibleLayerError, InvalidArgumentError

UPSAMPLE_MODES = ("bilinear", "align_corners", "nearest", None)


# ----------------------------------------------------------------------------------------------
# Map post-processing (inside tf.function)


def spatial_axes(t: tf.Tensor) -> list[int]:
    return list(range(1, t.shape.rank - 1))


def channel_axis(t: tf.Tensor, channels_first: bool) -> int:
    """The channel axis of a feature tensor: 1 for a channels-first one, else the last."""
    return 1 if channels_first and t.shape.rank > 2 else -1


def reduce_channels(t: tf.Tensor, how: str, channels_first: bool = False) -> tf.Tensor:
    """Collapse the channel axis of ``(N, *spatial, C)`` (``channels_first``: ``(N, C,
    *spatial)``); vectors ``(N, F)`` are left alone."""
    if t.shape.rank <= 2:
        return tf.abs(t) if how == "absmax" else t
    axis = channel_axis(t, channels_first)
    if how == "absmax":
        return tf.reduce_max(tf.abs(t), axis=axis)
    if how == "max":
        return tf.reduce_max(t, axis=axis)
    return tf.reduce_sum(t, axis=axis)


def channels_last(t: tf.Tensor, channels_first: bool) -> tf.Tensor:
    """``(N, C, *spatial)`` as ``(N, *spatial, C)`` when ``channels_first``; else ``t``. The
    CAM family then weights and sums channels on the last axis whatever the layer's layout."""
    if not channels_first or t.shape.rank <= 2:
        return t
    rank = t.shape.rank
    return tf.transpose(t, [0, *range(2, rank), 1])


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


def spatial_size(t: tf.Tensor, channels_first: bool = False) -> list:
    """Spatial size of ``(N, *spatial, C)`` (``channels_first``: ``(N, C, *spatial)``), static
    where known."""
    lo, hi = (2, None) if channels_first else (1, -1)
    static = t.shape[lo:hi]
    dynamic = tf.shape(t)[lo:hi]
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
    """See :func:`keras_nnviz.validation.positive_int` (the one check)."""
    return validation.positive_int(name, value, minimum)
