"""Signed, additive attributions: gradient × input and integrated gradients.

Both attribute the score to input features so that contributions add up (integrated gradients
exactly: ``sum(attributions) = f(x) - f(baseline)``). Channels are summed for the same reason;
maps are ``|.|`` normalized to [0, 1] by default and signed (``signed=True``) on request.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import tensorflow as tf

from .. import graph
from ..errors import IncompatibleLayerError, InvalidArgumentError
from . import _engine as E
from . import _maps as M
from .gradients import _GradientExplainer, fold, tile
from .registry import define


class GradientXInput(_GradientExplainer):
    """Gradient × input (Shrikumar et al. 2016): first-order contribution of each feature
    (with ``layer=``: gradient × activation of that layer's output)."""

    method = "gradient_x_input"

    def _options(self, *, signed: bool = False, keep_channels: bool = False):
        return {"signed": bool(signed), "keep_channels": bool(keep_channels)}, {}

    def _compute(self, model, flat, indices, signs, extras, opts):
        grads, values, _, _ = self._gradients(flat, indices, signs)
        return [_signed_map(g * v, opts) for g, v in zip(grads, values)]


def _signed_map(attr: tf.Tensor, opts: dict) -> tf.Tensor:
    """Channels summed (attributions add up), then |.| unless signed, then normalized."""
    maps = attr if opts["keep_channels"] else M.reduce_channels(attr, "sum")
    return M.finish(maps, opts["signed"], opts["normalize"])


class IntegratedGradients(_GradientExplainer):
    """Integrated gradients (Sundararajan et al. 2017), midpoint Riemann sum over ``steps``.

    Path points are evaluated in chunks of about ``batch_size`` inputs inside one compiled
    ``tf.while_loop``; the explained class is fixed from the clean input. With ``layer=`` a hook
    replaces that layer's output by the path from a baseline activation (default zeros) to the
    actual one, so completeness holds at the layer: the attributions sum to
    ``f(x) - f(x with the layer's output = baseline)``.
    """

    method = "integrated_gradients"
    heavy = True

    def _options(
        self,
        *,
        baseline: Any = None,
        steps: int = 64,
        signed: bool = False,
        keep_channels: bool = False,
    ):
        steps = M.check_positive_int("steps", steps)
        static = {"signed": bool(signed), "keep_channels": bool(keep_channels)}
        return static, {"baseline": baseline, "steps": steps}

    def _layer_rank(self) -> int:
        shape = graph.output_shape(self._layer)
        if not shape:
            raise IncompatibleLayerError(
                f"The output shape of layer {self.layer_path!r} is unknown, so integrated "
                "gradients cannot build its baseline; pick a layer of the model graph."
            )
        return len(shape)

    def _extra_signature(self, opts):
        scalar = tf.TensorSpec((), tf.int32)
        if self._layer is not None:
            base = tf.TensorSpec([None] * self._layer_rank(), tf.float32)
            return (base, scalar, scalar)
        return (self._signature, scalar, scalar)

    def _extras(self, batch, opts, dynamic, start, size):
        chunk = max(1, dynamic["batch_size"] // size)
        steps = tf.constant(dynamic["steps"], tf.int32)
        if self._layer is not None:
            base = _layer_baseline(dynamic["baseline"], self._layer_rank(), start, size)
            return (base, steps, tf.constant(chunk, tf.int32))
        flat = list(batch) if self._signature is not None else [batch]
        baselines = [
            _baseline(t, dynamic["baseline"], i, len(flat), start, size, self._slot_name(i))
            for i, t in enumerate(flat)
        ]
        if self._signature is None:
            baselines = baselines[0]
        return (baselines, steps, tf.constant(chunk, tf.int32))

    def _slot_name(self, i: int) -> str:
        return self._slots[i].describe() if self._slots else "the input"

    def _compute(self, model, flat, indices, signs, extras, opts):
        baselines, steps, chunk = extras
        indices, signs, values = self._clean_pass(flat, indices, signs)
        if self._layer is not None:
            starts = [tf.broadcast_to(tf.cast(baselines, tf.float32), tf.shape(values[0]))]
        else:
            baselines = list(baselines) if self._signature is not None else [baselines]
            starts = [tf.cast(b, tf.float32) for b, t in zip(baselines, flat) if E.is_float(t)]
        deltas = [v - b for v, b in zip(values, starts)]
        total = tf.cast(steps, tf.float32)

        def path(b, d, alphas, m):
            a = tf.reshape(alphas, tf.concat([[m], tf.ones([d.shape.rank], tf.int32)], 0))
            points = b[None] + a * d[None]  # (m, N, ...)
            return tf.reshape(points, tf.concat([[-1], tf.shape(d)[1:]], 0))

        def body(start, stop, acc):
            m = stop - start
            alphas = (tf.cast(tf.range(start, stop), tf.float32) + 0.5) / total
            points = iter([path(b, d, alphas, m) for b, d in zip(starts, deltas)])
            if self._layer is None:
                batch = [
                    tf.cast(next(points), t.dtype) if E.is_float(t) else tile(t, m) for t in flat
                ]
                transform = None
            else:  # the inputs run as they are; the layer's output is replaced by the path
                batch = [tile(t, m) for t in flat]
                layer_points = next(points)
                transform = functools.partial(_replace, layer_points)
            grads = self._gradients(
                batch,
                tf.tile(indices, [m]),
                tf.tile(signs, [m]),
                fixed=True,
                transform=transform,
            )[0]
            return tuple(a + fold(g, m) for a, g in zip(acc, grads))

        zeros = tuple(tf.zeros_like(d) for d in deltas)
        sums = M.chunked_loop(steps, chunk, body, zeros)
        return [_signed_map(d * s / total, opts) for d, s in zip(deltas, sums)]


def _replace(points: tf.Tensor, out: tf.Tensor) -> tf.Tensor:
    return tf.cast(points, out.dtype)


def _layer_baseline(baseline: Any, rank: int, start: int, size: int) -> tf.Tensor:
    """A baseline activation broadcastable to the layer's output ``(N, ...)``."""
    if baseline is None:
        return tf.zeros([1] * rank, tf.float32)
    if isinstance(baseline, int | float) and not isinstance(baseline, bool):
        return tf.fill([1] * rank, float(baseline))
    if isinstance(baseline, str) or callable(baseline) or isinstance(baseline, list | tuple):
        raise InvalidArgumentError(
            f"With layer=, baseline is the layer's output baseline: None (zeros), a float, one "
            f"sample's activation array or one per sample; received {baseline!r}."
        )
    arr = np.asarray(baseline, dtype=np.float32)
    if arr.ndim == rank - 1:
        return tf.constant(arr[None])
    if arr.ndim == rank and arr.shape[0] >= start + size:
        return tf.constant(arr[start : start + size])
    raise InvalidArgumentError(
        f"baseline of shape {arr.shape} does not fit the layer's output of rank {rank}: pass "
        "one sample's activation, one per sample, or a float."
    )


def _baseline(t: tf.Tensor, baseline: Any, i: int, n_inputs: int, start: int, size: int, where):
    """The baseline batch for input ``i`` (same shape and dtype as ``t``)."""
    if isinstance(baseline, list | tuple) and not isinstance(baseline, str):
        if len(baseline) != n_inputs:
            raise InvalidArgumentError(
                f"baseline is a list of {len(baseline)} items; the model has {n_inputs} inputs. "
                "Pass one baseline per input, or one for all."
            )
        baseline = baseline[i]
    if not t.dtype.is_floating:
        return t  # ids are not interpolated
    x = np.asarray(t)
    if baseline is None:
        return tf.zeros_like(t)
    if isinstance(baseline, int | float) and not isinstance(baseline, bool):
        return tf.fill(tf.shape(t), tf.cast(baseline, t.dtype))
    if isinstance(baseline, str):
        if baseline != "blur":
            raise InvalidArgumentError(
                f"baseline={baseline!r} is not known; use None (zeros), a float, 'blur', an "
                "array or a callable x -> baseline."
            )
        return tf.constant(blur(x), t.dtype)
    arr = np.asarray(baseline(x) if callable(baseline) else baseline, dtype=np.float32)
    if arr.shape == x.shape[1:]:
        arr = np.broadcast_to(arr, x.shape)
    elif arr.ndim == x.ndim and arr.shape[1:] == x.shape[1:] and arr.shape[0] >= start + size:
        arr = arr if callable(baseline) else arr[start : start + size]
    else:
        raise InvalidArgumentError(
            f"baseline of shape {arr.shape} does not fit {where}: pass one sample's shape "
            f"{x.shape[1:]}, one baseline per sample, a float, 'blur' or a callable."
        )
    return tf.constant(arr, t.dtype)


def blur(x: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Gaussian blur over the spatial axes of ``(N, *spatial, C)`` (default sigma: 1/8 of
    the largest spatial size, at least 1). Vectors ``(N, F)`` have no neighbourhood to blur
    over; their baseline is zeros."""
    from scipy.ndimage import gaussian_filter  # scipy comes with scikit-learn

    x = np.asarray(x, dtype=np.float32)
    if x.ndim <= 2:
        return np.zeros_like(x)
    if sigma is None:
        sigma = max(1.0, max(x.shape[1:-1]) / 8.0)
    return gaussian_filter(x, sigma=[0, *([sigma] * (x.ndim - 2)), 0]).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Function forms (registered: see registry)


gradient_x_input = define(
    GradientXInput,
    kind="gradient",
    signed=True,
    doc="""Gradient × input, summed over channels (with ``layer=``: gradient × activation).

    Args:
        model, x, target, layer, output, batch_size, progress, allow_nonfinite, negative,
            logits, normalize: see :mod:`keras_nnviz.attribution.registry`.
        signed: keep the sign (evidence for / against); default ``|.|``.
        keep_channels: per-channel attributions ``(N, *spatial, C)``.

    Returns:
        ``(N, *spatial)`` float32 maps.

    Example:
        >>> maps = nv.gradient_x_input(model, x[:8], target=3, signed=True)
    """,
)


integrated_gradients = define(
    IntegratedGradients,
    kind="gradient",
    signed=True,
    doc="""Integrated gradients: ``(x - baseline) * mean gradient along the straight path``.

    With ``normalize=False, signed=True`` the attributions sum to ``score(x) -
    score(baseline)`` (completeness) up to the Riemann error of ``steps``. With ``layer=`` the
    path runs through that layer's output (a hook replaces it), so completeness holds at the
    layer: ``integrated_gradients(text_model, ids, layer="embedding")`` gives per-token scores
    ``(N, T)`` summing to ``f(x) - f(x with zero embeddings)``.

    Args:
        model, x, target, layer, output, batch_size, progress, allow_nonfinite, negative,
            logits, normalize: see :mod:`keras_nnviz.attribution.registry`.
        baseline: None (zeros), a float, ``"blur"`` (Gaussian-blurred input), one sample's
            array, one array per sample, a callable ``x_batch -> baseline``, or a list of these
            (one per input). With ``layer=``: None, a float, or the layer's output for one
            sample / for every sample.
        steps: path points (midpoint rule); 64 is usually within a few % of completeness.
        signed: keep the sign; default ``|.|``.
        keep_channels: per-channel attributions.

    Returns:
        ``(N, *spatial)`` float32 maps.

    Example:
        >>> maps = nv.integrated_gradients(model, x[:8], baseline="blur", steps=128)
    """,
)
