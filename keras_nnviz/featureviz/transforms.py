"""Random transformations applied to the image inside the compiled step (robustness).

A visualization that survives small shifts, zooms and rotations shows features the network
detects, not adversarial pixel patterns that only work at one exact alignment (Lucid's
"transformation robustness"). Every transform is a :class:`Transform`: a callable
``(images, seed) -> images`` made of TensorFlow ops, where ``seed`` is a shape-``[2]`` int32
tensor for stateless random ops (the same seed gives the same draw, so runs are reproducible).
Transforms may change the image size; the optimizer resizes the result to the model's input
size when the model needs a fixed size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from ..errors import InvalidArgumentError

__all__ = ["Transform", "jitter", "pad", "random_rotate", "random_scale", "standard"]


class Transform:
    """A named random image transformation (see the module docstring).

    Args:
        name: readable description, e.g. ``"jitter(2)"``; also the cache key.
        fn: ``fn(images, seed) -> images``.
    """

    def __init__(self, name: str, fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], key: Any = None):
        self.name = name
        self.fn = fn
        # Built-in transforms are fully described by their name; wrapped user callables are
        # keyed by identity (two lambdas may share a name but not a behaviour).
        self._key = name if key is None else key

    def __call__(self, images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        return self.fn(images, seed)

    def __repr__(self) -> str:
        return self.name

    @property
    def key(self) -> Any:
        """Hashable identity used to cache the compiled step."""
        return self._key


def _hw(images: tf.Tensor) -> tuple[Any, Any]:
    """Height and width: Python ints when static (keeps shapes static), else tensors."""
    dynamic = tf.shape(images)
    h = images.shape[1] if images.shape[1] is not None else dynamic[1]
    w = images.shape[2] if images.shape[2] is not None else dynamic[2]
    return h, w


def pad(n: int, value: float = 0.5) -> Transform:
    """Pad ``n`` pixels on every side with a constant (mid-grey by default).

    Example:
        >>> transforms = [pad(4), jitter(4)]
    """
    n = _non_negative_int(n, "pad")

    def fn(images, seed):
        return tf.pad(images, [[0, 0], [n, n], [n, n], [0, 0]], constant_values=value)

    return Transform(f"pad({n}, {value:g})", fn)


def jitter(d: int) -> Transform:
    """Crop ``d`` pixels (in total, per axis) at a random offset: a random shift of up to ``d``.

    The image shrinks by ``d`` in height and width.
    """
    d = _non_negative_int(d, "jitter")

    def fn(images, seed):
        offsets = tf.random.stateless_uniform([2], seed, minval=0, maxval=d + 1, dtype=tf.int32)
        h, w = _hw(images)
        return tf.slice(images, [0, offsets[0], offsets[1], 0], [-1, h - d, w - d, -1])

    return Transform(f"jitter({d})", fn)


def _affine(images, seed, scale_range, max_degrees):
    """Zoom by a random factor and rotate by a random angle about the centre, same size."""
    s_seed = seed
    r_seed = seed + tf.constant([0, 7919], seed.dtype)
    scale = tf.random.stateless_uniform([], s_seed, scale_range[0], scale_range[1])
    angle = tf.random.stateless_uniform([], r_seed, -max_degrees, max_degrees) * (math.pi / 180)
    h, w = _hw(images)
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    cx, cy = (wf - 1) / 2, (hf - 1) / 2
    # Output pixel p reads input pixel c + R(-angle) (p - c) / scale.
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    a0, a1, b0, b1 = cos, sin, -sin, cos
    a2 = cx - a0 * cx - a1 * cy
    b2 = cy - b0 * cx - b1 * cy
    if isinstance(h, int) and isinstance(w, int):
        return _warp_sparse(images, h, w, (a0, a1, a2, b0, b1, b2))
    matrix = tf.stack([a0, a1, a2, b0, b1, b2, 0.0, 0.0])[None]
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=matrix,
        output_shape=tf.stack([h, w]),
        fill_value=0.5,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    return tf.ensure_shape(out, images.shape)


def _reflect(i, n):
    """Mirror integer coordinates into [0, n) (d c b a | a b c d | d c b a)."""
    i = tf.math.floormod(i, 2 * n)
    return tf.where(i >= n, 2 * n - 1 - i, i)


def _warp_sparse(images, h: int, w: int, coefficients) -> tf.Tensor:
    """Bilinear affine warp of a batch with one transform, as a sparse ``(HW, HW)`` matmul.

    Gives the same pixels as ``ImageProjectiveTransformV3`` (bilinear, reflect), but its
    gradient is one more sparse matmul: about 7x faster forward+backward on CPU, where the
    projective-transform kernels dominated a whole optimization step of a small CNN.
    """
    a0, a1, a2, b0, b1, b2 = coefficients
    ys, xs = tf.meshgrid(
        tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32), indexing="ij"
    )
    sx = tf.reshape(a0 * xs + a1 * ys + a2, [-1, 1])
    sy = tf.reshape(b0 * xs + b1 * ys + b2, [-1, 1])
    x0, y0 = tf.floor(sx), tf.floor(sy)
    fx, fy = sx - x0, sy - y0
    x0, y0 = tf.cast(x0, tf.int64), tf.cast(y0, tf.int64)
    # Four neighbours per output pixel, kept row by row (output pixel = row of the matrix).
    cols = tf.concat(
        [
            _reflect(y0, h) * w + _reflect(x0, w),
            _reflect(y0, h) * w + _reflect(x0 + 1, w),
            _reflect(y0 + 1, h) * w + _reflect(x0, w),
            _reflect(y0 + 1, h) * w + _reflect(x0 + 1, w),
        ],
        axis=1,
    )
    weights = tf.concat([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], axis=1)
    rows = tf.repeat(tf.range(h * w, dtype=tf.int64), 4)
    indices = tf.stack([rows, tf.reshape(cols, [-1])], axis=1)
    matrix = tf.SparseTensor(indices, tf.reshape(weights, [-1]), [h * w, h * w])
    c = images.shape[-1]
    flat = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [h * w, -1])  # (HW, N*C)
    out = tf.sparse.sparse_dense_matmul(matrix, flat)
    out = tf.transpose(tf.reshape(out, [h, w, -1, c]), [2, 0, 1, 3])
    return tf.ensure_shape(out, images.shape)


def random_scale(scales: Sequence[float] = (0.9, 1.1)) -> Transform:
    """Zoom about the centre by a factor drawn uniformly from ``[low, high]`` (size kept).

    Example:
        >>> random_scale((0.8, 1.2))
    """
    low, high = range_pair(scales, "random_scale")
    if low <= 0:
        raise InvalidArgumentError(f"random_scale factors must be > 0; received {scales!r}.")
    return Transform(
        f"random_scale({low:g}, {high:g})",
        lambda images, seed: _affine(images, seed, (low, high), 0.0),
    )


def random_rotate(degrees: float = 10.0) -> Transform:
    """Rotate about the centre by an angle drawn uniformly from ``[-degrees, degrees]``."""
    degrees = float(degrees)
    if not math.isfinite(degrees) or degrees < 0:
        raise InvalidArgumentError(f"random_rotate degrees must be >= 0; received {degrees!r}.")
    return Transform(
        f"random_rotate({degrees:g})",
        lambda images, seed: _affine(images, seed, (1.0, 1.0), degrees),
    )


def standard(size: Sequence[int]) -> list[Transform]:
    """Lucid's standard robustness recipe, scaled to the image size.

    Lucid's amounts (pad 12, jitter 8, scale 0.9–1.1, rotate ±10°, jitter 4) were chosen for
    224-pixel ImageNet inputs; for a model whose input is ``size``, the pixel amounts are scaled
    by ``min(size) / 224`` (amounts that round to 0 are left out), so an 8×8 digit is not
    padded by 12 pixels.

    Args:
        size: ``(H, W)`` of the images the model sees.

    Returns:
        The transform list.
    """
    factor = min(size) / 224.0
    amounts = [round(12 * factor), round(8 * factor), round(4 * factor)]
    out: list[Transform] = []
    if amounts[0]:
        out.append(pad(amounts[0]))
    if amounts[1]:
        out.append(jitter(amounts[1]))
    out.append(random_scale((0.9, 1.1)))
    out.append(random_rotate(10.0))
    if amounts[2]:
        out.append(jitter(amounts[2]))
    return out


def resolve(transforms: Any, size: Sequence[int]) -> list[Transform]:
    """Normalize the ``transforms`` argument: ``"standard"``, None/``[]`` or a list."""
    if transforms is None:
        return []
    if isinstance(transforms, str):
        if transforms == "standard":
            return standard(size)
        raise InvalidArgumentError(
            f"transforms={transforms!r} is not known; use 'standard', None, or a list of "
            "transforms from nv.featureviz.transforms (pad, jitter, random_scale, random_rotate)."
        )
    if callable(transforms):
        transforms = [transforms]
    out = []
    for i, t in enumerate(transforms):
        if isinstance(t, Transform):
            out.append(t)
        elif callable(t):
            name = getattr(t, "__name__", type(t).__name__)
            out.append(Transform(f"custom:{name}", t, key=("custom", id(t))))
        else:
            raise InvalidArgumentError(
                f"transforms[{i}] is a {type(t).__name__}, not a transform; pass callables "
                "(images, seed) -> images such as nv.featureviz.transforms.jitter(2)."
            )
    return out


def _non_negative_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(f"{what} needs a non-negative int; received {value!r}.")
    return value


def pair(values: Any, convert: Callable[[Any], Any], error: str) -> tuple[Any, Any]:
    """``values`` as exactly two items, each passed through ``convert`` (``int``, ``float``).

    Raises:
        InvalidArgumentError: with the message ``error`` when ``values`` is not two items that
            ``convert`` accepts.
    """
    try:
        first, second = (convert(v) for v in values)
    except (TypeError, ValueError):
        raise InvalidArgumentError(error) from None
    return first, second


def range_pair(values: Sequence[float], what: str, strict: bool = False) -> tuple[float, float]:
    """``values`` as a finite ``(low, high)`` pair with ``low <= high`` (``<`` when strict).

    Raises:
        InvalidArgumentError: naming ``what``, what was received and what works.
    """
    low, high = pair(
        values, float, f"{what} needs a (low, high) pair such as (0, 1); received {values!r}."
    )
    if not (math.isfinite(low) and math.isfinite(high)) or low > high or (strict and low == high):
        relation = "<" if strict else "<="
        raise InvalidArgumentError(f"{what} needs finite low {relation} high; received {values!r}.")
    return low, high
