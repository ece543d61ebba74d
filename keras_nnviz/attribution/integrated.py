"""Signed, additive attributions: gradient × input and integrated gradients.

Both attribute the score to input features so that contributions add up (integrated gradients
exactly: ``sum(attributions) = f(x) - f(baseline)``). Channels are summed for the same reason;
maps are ``|.|`` normalized to [0, 1] by default and signed (``signed=True``) on request.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from ..errors import InvalidArgumentError
from . import _engine as E
from .gradients import _fold, _GradientExplainer


class GradientXInput(_GradientExplainer):
    """Gradient × input (Shrikumar et al. 2016): first-order contribution of each feature."""

    method = "gradient_x_input"

    def _compute(self, model, flat, indices, signs, extras, spec, opts):
        grads = self._gradients(model, flat, spec, indices, signs)
        return [
            _signed_map(g * tf.cast(t, tf.float32), opts)
            for g, t in zip(grads, flat)
            if g is not None
        ]

    def __call__(
        self,
        x: Any,
        target: Any = None,
        *,
        signed: bool = False,
        keep_channels: bool = False,
        normalize: bool = True,
        output=None,
        negative: bool = False,
        logits: bool = True,
        batch_size: int = 32,
        progress: bool | None = None,
    ) -> np.ndarray | list:
        """Gradient × input maps; see :func:`gradient_x_input`."""
        opts = {"signed": bool(signed), "keep_channels": bool(keep_channels)}
        opts["normalize"] = bool(normalize)
        maps = self._explain(
            x,
            target,
            output=output,
            negative=negative,
            logits=logits,
            batch_size=batch_size,
            progress=progress,
            options=opts,
        )
        return self._assemble(maps)


def _signed_map(attr: tf.Tensor, opts: dict) -> tf.Tensor:
    """Channels summed (attributions add up), then |.| unless signed, then normalized."""
    maps = attr if opts["keep_channels"] else E.reduce_channels(attr, "sum")
    return E.finish(maps, opts["signed"], opts["normalize"])


class IntegratedGradients(_GradientExplainer):
    """Integrated gradients (Sundararajan et al. 2017), midpoint Riemann sum over ``steps``.

    Path points are evaluated in chunks of about ``batch_size`` inputs inside one compiled
    ``tf.while_loop``; the explained class is fixed from the clean input.
    """

    method = "integrated_gradients"
    heavy = True

    def _extra_signature(self, opts):
        scalar = tf.TensorSpec((), tf.int32)
        return (self._signature, scalar, scalar)

    def _extras(self, batch, opts, dynamic, start, size):
        flat = list(batch) if self._signature is not None else [batch]
        baselines = [
            _baseline(t, dynamic["baseline"], i, len(flat), start, size, self._slot_name(i))
            for i, t in enumerate(flat)
        ]
        if self._signature is None:
            baselines = baselines[0]
        chunk = max(1, dynamic["batch_size"] // size)
        return (baselines, tf.constant(dynamic["steps"], tf.int32), tf.constant(chunk, tf.int32))

    def _slot_name(self, i: int) -> str:
        return self._slots[i].describe() if self._slots else "the input"

    def _compute(self, model, flat, indices, signs, extras, spec, opts):
        baselines, steps, chunk = extras
        baselines = list(baselines) if self._signature is not None else [baselines]
        indices, signs = self._targets_from_clean_pass(model, flat, spec, indices, signs)
        floats = [E.is_float(t) for t in flat]
        starts = [tf.cast(b, tf.float32) for b in baselines]
        deltas = [tf.cast(t, tf.float32) - b for t, b in zip(flat, starts)]
        total = tf.cast(steps, tf.float32)

        def body(start, stop, acc):
            m = stop - start
            alphas = (tf.cast(tf.range(start, stop), tf.float32) + 0.5) / total
            path = []
            for t, b, d, is_float in zip(flat, starts, deltas, floats):
                if not is_float:
                    path.append(
                        tf.tile(t, tf.concat([[m], tf.ones([t.shape.rank - 1], tf.int32)], 0))
                    )
                    continue
                a = tf.reshape(alphas, tf.concat([[m], tf.ones([t.shape.rank], tf.int32)], 0))
                points = b[None] + a * d[None]  # (m, N, ...)
                shape = tf.concat([[-1], tf.shape(t)[1:]], 0)
                path.append(tf.cast(tf.reshape(points, shape), t.dtype))
            grads = self._gradients(
                model, path, spec, tf.tile(indices, [m]), tf.tile(signs, [m]), fixed=True
            )
            return tuple(a + _fold(g, m) for a, g in zip(acc, [g for g in grads if g is not None]))

        zeros = tuple(tf.zeros_like(d) for d, f in zip(deltas, floats) if f)
        sums = E.chunked_loop(steps, chunk, body, zeros)
        float_deltas = [d for d, f in zip(deltas, floats) if f]
        return [_signed_map(d * s / total, opts) for d, s in zip(float_deltas, sums)]

    def __call__(
        self,
        x: Any,
        target: Any = None,
        *,
        baseline: Any = None,
        steps: int = 64,
        signed: bool = False,
        keep_channels: bool = False,
        normalize: bool = True,
        output=None,
        negative: bool = False,
        logits: bool = True,
        batch_size: int = 32,
        progress: bool | None = None,
    ) -> np.ndarray | list:
        """Integrated-gradients maps; see :func:`integrated_gradients`."""
        steps = E.check_positive_int("steps", steps)
        opts = {"signed": bool(signed), "keep_channels": bool(keep_channels)}
        opts["normalize"] = bool(normalize)
        maps = self._explain(
            x,
            target,
            output=output,
            negative=negative,
            logits=logits,
            batch_size=batch_size,
            progress=progress,
            options=opts,
            dynamic={"baseline": baseline, "steps": steps, "batch_size": batch_size},
        )
        return self._assemble(maps)


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
