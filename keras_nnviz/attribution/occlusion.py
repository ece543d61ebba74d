"""Occlusion sensitivity (Zeiler & Fergus 2014): how much the score drops when a patch of the
input is replaced by a constant, averaged over the patches covering each position.

Patch masks are built once per input shape while tracing; occluded copies run in chunks of about
``batch_size`` inputs through one compiled ``tf.while_loop``.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import _compat
from ..core import graph
from ..errors import IncompatibleLayerError, InvalidArgumentError
from . import _engine as E
from . import _maps as M
from .registry import Maps, method, run

__all__ = [
    "LAYER",
    "Occlusion",
    "occlusion",
    "patch_masks",
]


def patch_masks(size: Sequence[int], patch: Sequence[int], stride: Sequence[int]) -> np.ndarray:
    """``(P, *size)`` float32 masks, 1 inside each patch; the last patch touches the far edge."""
    starts = []
    for s, p, st in zip(size, patch, stride):
        first = list(range(0, max(s - p, 0) + 1, st))
        if first[-1] != max(s - p, 0):
            first.append(max(s - p, 0))  # cover the border a plain stride would miss
        starts.append(first)
    masks = []
    for corner in itertools.product(*starts):
        m = np.zeros(size, np.float32)
        m[tuple(slice(c, c + p) for c, p in zip(corner, patch))] = 1.0
        masks.append(m)
    return np.stack(masks)


def _per_axis(name: str, value: Any, rank: int, default: Sequence[int]) -> tuple[int, ...]:
    if value is None:
        return tuple(default)
    values = (value,) * rank if isinstance(value, int | np.integer) else tuple(value)
    if len(values) != rank or any(
        isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1 for v in values
    ):
        raise InvalidArgumentError(
            f"{name} must be a positive int or {rank} positive ints (one per spatial axis); "
            f"received {value!r}."
        )
    return tuple(int(v) for v in values)


class Occlusion(E.Explainer):
    """Occlusion sensitivity; one map per input with spatial axes (images, sequences, volumes).

    Example:
        >>> maps = nv.Occlusion(model)(x, patch=8, stride=4)
    """

    method = "occlusion"
    heavy = True

    def _options(
        self,
        *,
        patch: int | Sequence[int] | None = None,
        stride: int | Sequence[int] | None = None,
        value: float = 0.0,
        signed: bool = False,
    ):
        patches, strides = {}, {}
        for i, shape in self._occluded().items():
            if shape is None or any(s is None for s in shape):
                raise IncompatibleLayerError(
                    "Occlusion needs inputs (or a layer output) of fixed spatial size (call a "
                    f"subclassed model once first); received spatial shape {shape}."
                )
            default_patch = [max(1, math.ceil(s / 8)) for s in shape]
            patches[i] = _per_axis("patch", patch, len(shape), default_patch)
            if any(p > s for p, s in zip(patches[i], shape)):
                raise InvalidArgumentError(
                    f"patch {patches[i]} is larger than the input's spatial size {tuple(shape)}."
                )
            strides[i] = _per_axis(
                "stride", stride, len(shape), [max(1, p // 2) for p in patches[i]]
            )
            gaps = [st - p for st, p in zip(strides[i], patches[i])]
            if max(gaps) > 0:
                # Positions between patches would never be occluded and come back as 0, which
                # reads as "no effect" although nothing was measured there.
                raise InvalidArgumentError(
                    f"stride {strides[i]} is larger than patch {patches[i]}: a gap of "
                    f"{tuple(max(g, 0) for g in gaps)} positions between patches would never "
                    "be occluded, and its map would read 0 ('no effect') without having been "
                    "measured. Pass stride <= patch (default: half the patch)."
                )
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InvalidArgumentError(f"value must be a float; received {value!r}.")
        static = {
            "patches": tuple(sorted(patches.items())),
            "strides": tuple(sorted(strides.items())),
            "signed": bool(signed),
        }
        return static, {"value": float(value)}

    def _extra_signature(self, opts):
        return (tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.float32))

    def _extras(self, batch, opts, dynamic, start, size):
        chunk = max(1, dynamic["batch_size"] // size)
        return (tf.constant(chunk, tf.int32), tf.constant(dynamic["value"], tf.float32))

    def _occluded(self) -> dict[int, tuple | None]:
        """What is occluded: ``{input index: spatial shape}``, or ``{LAYER: shape}``."""
        if self._layer is not None:
            shape = graph.output_shape(self._layer)
            if len(shape) < 3:
                raise IncompatibleLayerError(
                    f"Layer {self.layer_path!r} has output shape {shape}, without spatial axes "
                    "(N, *spatial, C) to occlude; pick a convolution or an embedding."
                )
            return {LAYER: _spatial_shape(shape, self._layer_cf)}
        if self._slots is None:  # subclassed: the shape it was built with, if it was called
            built = _compat.build_input_shapes(self.model)
            if len(built) != 1 or len(built[0]) < 3:
                return {0: None}
            return {0: _spatial_shape(built[0], self._inputs_cf[0])}
        spatial = {
            i: _spatial_shape(s.shape, self._inputs_cf[i])
            for i, s in enumerate(self._slots)
            if self._fits(s)
        }
        if not spatial:
            raise IncompatibleLayerError(
                f"Model {self.model.name!r} has no float input with spatial axes (N, *spatial, "
                "C) to occlude; use nv.saliency or nv.integrated_gradients for vector inputs."
            )
        return spatial

    @staticmethod
    def _fits(slot) -> bool:
        return len(slot.shape) >= 3 and tf.as_dtype(slot.dtype).is_floating

    def _attributable(self) -> list[bool]:
        if self._slots is None:
            return [True]
        return [self._fits(s) for s in self._slots]

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        chunk, value = ctx.extras
        flat, indices, signs, opts = ctx.inputs, ctx.indices, ctx.signs, ctx.options
        if self._layer is None:
            base, _, indices, signs = self.score(flat, indices, signs)
            layouts = self._input_layouts(flat)
            sizes = {i: _spatial_shape(flat[i].shape, layouts[i]) for i, _ in opts["patches"]}
        else:
            base, act, indices, signs = self._activation(flat, indices, signs)
            sizes = {LAYER: _spatial_shape(act.shape, self._layer_cf)}
            layouts = {LAYER: self._layer_cf}
        n = tf.shape(base)[0]
        maps = []
        for key, size in sizes.items():
            if any(s is None for s in size):
                raise IncompatibleLayerError(
                    f"Occlusion needs a fixed spatial size; received {size}."
                )
            patch, stride = dict(opts["patches"])[key], dict(opts["strides"])[key]
            masks_np = patch_masks(size, patch, stride)
            masks = tf.constant(masks_np)
            cover = tf.constant(np.maximum(masks_np.sum(axis=0), 1.0))

            def body(start, stop, acc, key=key, masks=masks):
                m = stop - start
                occlude = functools.partial(_occlude, masks[start:stop], value, m, layouts[key])
                # Each sample's m occluded copies, sample-major: (n * m, ...).
                batch = [tf.repeat(t, m, axis=0) for t in flat]
                targets = (batch, tf.repeat(indices, m), tf.repeat(signs, m))
                if key == LAYER:
                    score = self._activation(*targets, transform=occlude, fixed=True)[0]
                else:
                    batch[key] = occlude(batch[key])
                    score = self.score(*targets, fixed=True)[0]
                drop = base[:, None] - tf.reshape(score, tf.stack([n, m]))
                return (acc[0] + tf.tensordot(drop, masks[start:stop], axes=[[1], [0]]),)

            zeros = tf.zeros(tf.concat([[n], tf.constant(size, tf.int32)], 0))
            total = tf.constant(masks_np.shape[0], tf.int32)
            (heat,) = M.chunked_loop(total, chunk, body, (zeros,))
            maps.append(M.finish(heat / cover, opts["signed"], opts["normalize"]))
        return maps


LAYER = -1  # key of a layer's output among the occluded inputs


def _spatial_shape(shape: Sequence, channels_first: bool) -> tuple:
    """The spatial axes of a ``(N, *S, C)`` shape, or of ``(N, C, *S)`` when
    ``channels_first``."""
    shape = tuple(shape)
    return shape[2:] if channels_first else shape[1:-1]


def _occlude(
    masks: tf.Tensor, value: tf.Tensor, m: tf.Tensor, channels_first: bool, t: tf.Tensor
) -> tf.Tensor:
    """Copy ``j`` of each sample in ``t`` (``(n * m, *S, C)``, sample-major; ``(n * m, C, *S)``
    when ``channels_first``) gets patch ``masks[j]`` set to ``value`` in every channel."""
    shape = tf.shape(t)
    x = tf.reshape(tf.cast(t, tf.float32), tf.concat([[-1, m], shape[1:]], 0))
    mk = masks[None, :, None] if channels_first else masks[None, ..., None]  # channel axis: 1
    return tf.cast(tf.reshape(x * (1.0 - mk) + value * mk, shape), t.dtype)


# ----------------------------------------------------------------------------------------------
# Function forms (registered: see registry)


@method(Occlusion, kind="perturbation", signed=True)
def occlusion(
    model: keras.Model,
    x: Any,
    target: Any = None,
    *,
    layer: graph.LayerRef | None = None,
    output: int | str | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
    allow_nonfinite: bool = False,
    strategy: tf.distribute.Strategy | None = None,
    negative: bool = False,
    logits: bool = True,
    normalize: bool = True,
    out: np.ndarray | None = None,
    patch: int | Sequence[int] | None = None,
    stride: int | Sequence[int] | None = None,
    value: float = 0.0,
    signed: bool = False,
) -> Maps:
    """Occlusion sensitivity: the score drop when a patch is set to ``value``, averaged over
    the patches covering each position. Works on images, sequences and volumes.

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.
    With ``layer=`` the patches occlude that layer's output (e.g. tokens at an embedding: one
    score per token; the default for a model whose inputs are all token ids).

    Args:
        patch: patch size (int or one per spatial axis); default 1/8 of each axis.
        stride: step between patches, at most the patch (every position is occluded at least
            once); default half the patch.
        value: the occluding constant.
        signed: keep the sign (a negative value means the patch hid evidence against the
            class); default ``|.|``.

    Returns:
        ``(N, *spatial)`` float32 maps per spatial input.

    Example:
        >>> maps = nv.occlusion(model, x[:4], patch=8, stride=4)
    """
    return run(Occlusion, locals())
