"""The path integral of integrated gradients, inside the compiled pass.

:class:`Path` evaluates the straight path from a baseline to the input (or to a layer's output)
at any set of points; :func:`midpoint` (a fixed step count) and :func:`adaptive` (the default)
are the quadrature rules on it; :func:`completeness_error` is the relative error both report.
:func:`midpoint_rule` gives a fixed rule's points and weights on ``[0, 1]`` (evenly spaced, or
graded towards the baseline) to callers that walk a path of their own (``keras_nnviz.vlm``).
"""

from __future__ import annotations

import functools
import math

import tensorflow as tf

from . import _engine as E
from . import _jumps as J
from . import _maps as M
from .gradients import fold, tile

__all__ = [
    "adaptive",
    "completeness_error",
    "midpoint",
    "midpoint_rule",
    "Path",
    "per_sample",
    "path_points",
    "replace",
]


class Path:
    """The straight path of one batch, evaluated at any set of points for any subset of samples
    (inside the compiled pass)."""

    def __init__(self, explainer, flat, starts, deltas, indices, signs):
        self.explainer, self.flat, self.starts, self.deltas = explainer, flat, starts, deltas
        self.indices, self.signs = indices, signs

    def subset(self, rows: tf.Tensor) -> Path:
        take = functools.partial(tf.gather, indices=rows)
        return Path(
            self.explainer,
            [take(t) for t in self.flat],
            [take(t) for t in self.starts],
            [take(t) for t in self.deltas],
            take(self.indices),
            take(self.signs),
        )

    def _batch(self, alphas: tf.Tensor):
        """Model inputs (copy-major, ``len(alphas) * N``) and the layer transform, if any."""
        m = tf.shape(alphas)[0]
        points = iter([path_points(b, d, alphas, m) for b, d in zip(self.starts, self.deltas)])
        if self.explainer._layer is None:
            batch = [
                tf.cast(next(points), t.dtype) if E.is_float(t) else tile(t, m) for t in self.flat
            ]
            transform = None
        else:  # the inputs run as they are; the layer's output is replaced by the path
            batch = [tile(t, m) for t in self.flat]
            transform = functools.partial(replace, next(points))
        return batch, transform, tf.tile(self.indices, [m]), tf.tile(self.signs, [m])

    def gradients(self, alphas: tf.Tensor) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """Scores ``(m * N,)`` and gradients at the path points ``alphas (m,)``."""
        batch, transform, indices, signs = self._batch(alphas)
        score, grads, *_ = self.explainer._scored_gradients(
            batch, indices, signs, fixed=True, transform=transform
        )
        return score, grads

    def jump_gradients(self, a: tf.Tensor, b: tf.Tensor):
        """One forward pass at ``alpha = a, b`` and the midpoint (scalars) and two backward
        passes: at the midpoint, the score's gradients and those of the margin of the top-k
        routing choice that differs between ``a`` and ``b``
        (:func:`keras_nnviz.attribution._jumps.crossing_margin`), that margin ``(N,)`` and
        where one was found."""
        batch, transform, indices, signs = self._batch(tf.stack([a, b, (a + b) / 2.0]))
        explainer = self.explainer
        n = tf.shape(self.deltas[0])[0]
        with (
            J.record_margins() as records,
            tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape,
        ):
            if explainer._layer is None:
                watched = [t for t in batch if E.is_float(t)]
                tape.watch(watched)
                score = explainer.score(batch, indices, signs, fixed=True)[0]
            else:
                score, act, _, _ = explainer._activation(
                    batch, indices, signs, transform=transform, tape=tape, fixed=True
                )
                watched = [act]
            margin, found = J.crossing_margin(records, n)
            score = score[2 * n :]
        grads = [_dense(tape.gradient(t, watched), watched) for t in (score, margin)]
        del tape
        grads = [[g[2 * n :] for g in gs] for gs in grads]
        return grads[0], grads[1], margin, found

    def scores(self, alphas: tf.Tensor) -> tf.Tensor:
        """Scores only (forward passes) at ``alphas``."""
        batch, transform, indices, signs = self._batch(alphas)
        if self.explainer._layer is None:
            return self.explainer.score(batch, indices, signs, fixed=True)[0]
        return self.explainer._activation(batch, indices, signs, transform=transform, fixed=True)[0]

    def gradient_sums(self, alphas: tf.Tensor, batch_size: tf.Tensor) -> list[tf.Tensor]:
        """Per sample, the sum of the gradients at ``alphas``, in chunks of about
        ``batch_size`` inputs."""
        n = tf.shape(self.deltas[0])[0]
        chunk = tf.maximum(1, batch_size // n)

        def body(start, stop, acc):
            grads = self.gradients(alphas[start:stop])[1]
            return tuple(a + fold(g, stop - start) for a, g in zip(acc, grads))

        zeros = tuple(tf.zeros_like(d) for d in self.deltas)
        return list(M.chunked_loop(tf.shape(alphas)[0], chunk, body, zeros))


def _dense(grads, watched):
    """Float32 gradients; zeros where the target ignores a watched tensor (not None)."""
    return [
        tf.zeros_like(w, tf.float32) if g is None else tf.cast(g, tf.float32)
        for g, w in zip(grads, watched)
    ]


def path_points(b, d, alphas, m):
    a = tf.reshape(alphas, tf.concat([[m], tf.ones([d.shape.rank], tf.int32)], 0))
    points = b[None] + a * d[None]  # (m, N, ...)
    return tf.reshape(points, tf.concat([[-1], tf.shape(d)[1:]], 0))


def midpoint_rule(steps, split: float = 0.0, low: float = 1e-12) -> tuple[tf.Tensor, tf.Tensor]:
    """Points ``alphas (steps,)`` and weights ``(steps,)`` of a midpoint rule on the path
    ``[0, 1]`` (``steps``: a Python int or an int32 tensor).

    ``split=0``: ``steps`` even intervals, weight ``1 / steps`` each. ``split > 0``: graded
    towards the baseline, for scores that change most at tiny ``alpha`` (normalizations of a
    scaled embedding jump from 0 to their full value there): ``steps // 2`` intervals even in
    ``ln alpha`` on ``[low, split]`` (midpoints in ``ln alpha``, weight ``alpha * d ln alpha``),
    the others even on ``[split, 1]``; ``[0, low]`` is left out (the score is taken as constant
    there).
    """
    k = tf.cast(tf.range(steps), tf.float32)
    total = tf.cast(steps, tf.float32)
    if not split:
        return (k + 0.5) / total, tf.fill(tf.shape(k), 1.0 / total)
    few = tf.cast(steps // 2, tf.float32)  # log-spaced points: none when steps == 1
    many = total - few
    span = math.log(split / low)
    graded = low * tf.exp(span * (k + 0.5) / tf.maximum(few, 1.0))
    is_low = k < few
    alphas = tf.where(is_low, graded, split + (1.0 - split) * (k - few + 0.5) / many)
    weights = tf.where(is_low, graded * span / tf.maximum(few, 1.0), (1.0 - split) / many)
    return alphas, weights


def midpoint(path: Path, steps: tf.Tensor, batch_size: tf.Tensor) -> list[tf.Tensor]:
    total = tf.cast(steps, tf.float32)
    alphas, _ = midpoint_rule(steps)  # even: every weight is 1 / steps
    sums = path.gradient_sums(alphas, batch_size)
    return [d * s / total for d, s in zip(path.deltas, sums)]


def per_sample(fn, tensors: list[tf.Tensor]) -> tf.Tensor:
    """``sum_i fn(t_i)`` reduced over all but the batch axis: ``(N,)``."""
    return tf.add_n([tf.reduce_sum(fn(t), axis=list(range(1, t.shape.rank))) for t in tensors])


def completeness_error(attributions: list[tf.Tensor], f0: tf.Tensor, f1: tf.Tensor):
    """Relative completeness error per sample (see :class:`IntegratedMaps`)."""
    target = f1 - f0
    scale = tf.maximum(tf.abs(target), 1e-3 * tf.maximum(tf.abs(f0), tf.abs(f1)) + 1e-12)
    return tf.abs(per_sample(tf.identity, attributions) - target) / scale


def adaptive(path: Path, batch_size, tolerance, max_intervals, ends=None):
    """Open trapezoid rule on 2, 4, 8 ... intervals until each sample's completeness error and
    map change are within tolerance (see :class:`IntegratedGradients`).

    The rule evaluates interior points only, ``h * (g_1 / 2 + sum_i g_i + g_last / 2)`` with
    the end intervals extrapolated from their inner neighbour (second order, like the closed
    trapezoid). Path ends are left out because the gradient often jumps there: at an all-zero
    baseline every ReLU with zero bias is exactly at its kink, and a closed rule then converges
    only at first order (measured on a trained CNN: 257 points for 1 % instead of 15).

    ``ends``: ``(2, N)`` the scores at the baseline and at the input, when the caller has them
    (else two forward passes compute them).

    From 127 points on, a sample whose error did not drop by 10 % in the last halving stops
    (the rule quarters a smooth integrand's error once it is resolved; a jump's stays): its
    points are better spent by local refinement.

    Returns ``(attributions, points used (N,) int32, completeness error (N,))``.
    """
    deltas = path.deltas
    n = tf.shape(deltas[0])[0]
    if ends is None:
        ends = tf.reshape(path.scores(tf.constant([0.0, 1.0])), [2, n])
    f0, f1 = tf.unstack(ends)
    mid = path.gradient_sums(tf.constant([0.5]), batch_size)  # 2 intervals: the midpoint
    estimate = [d * g for d, g in zip(deltas, mid)]
    change_limit = tf.sqrt(tolerance)

    def step(intervals, interior, previous, active, points, error):
        rows = tf.where(active)[:, 0]
        at = rows[:, None]
        sub = path.subset(rows)
        a = tf.shape(rows)[0]
        intervals = intervals * 2
        width = tf.cast(intervals, tf.float32)
        # the new points: (2k + 1) / intervals; the first and the last get the end weights
        ends = tf.stack([1.0 / width, 1.0 - 1.0 / width])
        firsts_lasts = [
            tf.reshape(g, tf.concat([[2, a], tf.shape(g)[1:]], 0)) for g in sub.gradients(ends)[1]
        ]
        middle = (2.0 * tf.cast(tf.range(1, intervals // 2 - 1), tf.float32) + 1.0) / width
        sums = sub.gradient_sums(middle, batch_size)
        interior = [
            tf.tensor_scatter_nd_add(i, at, s + fl[0] + fl[1])
            for i, s, fl in zip(interior, sums, firsts_lasts)
        ]
        current = [
            d * (tf.gather(i, rows) + (fl[0] + fl[1]) / 2.0) / width
            for d, i, fl in zip(sub.deltas, interior, firsts_lasts)
        ]
        err = completeness_error(current, tf.gather(f0, rows), tf.gather(f1, rows))
        before = [tf.gather(p, rows) for p in previous]
        moved = tf.sqrt(per_sample(tf.square, [c - b for c, b in zip(current, before)]))
        change = tf.math.divide_no_nan(moved, tf.sqrt(per_sample(tf.square, current)))
        go_on = ~((err <= tolerance) & (change <= change_limit)) & (intervals < max_intervals)
        # from 127 points on, an error that did not drop by 10 % in a halving is not the rule's
        # on a smooth integrand (it quarters it): a jump, left to local refinement
        stalled = (intervals >= 128) & (err > 0.9 * tf.gather(error, rows))
        go_on = go_on & ~stalled
        previous = [tf.tensor_scatter_nd_update(p, at, c) for p, c in zip(previous, current)]
        active = tf.tensor_scatter_nd_update(active, at, go_on)
        points = tf.tensor_scatter_nd_update(points, at, tf.fill([a], intervals - 1))
        error = tf.tensor_scatter_nd_update(error, at, err)
        return intervals, interior, previous, active, points, error

    init = (
        tf.constant(2, tf.int32),
        mid,
        estimate,
        tf.fill([n], max_intervals > 2),
        tf.fill([n], 1),
        completeness_error(estimate, f0, f1),
    )
    _, _, final, _, points, error = tf.while_loop(
        lambda intervals, interior, previous, active, points, error: tf.reduce_any(active),
        step,
        init,
    )
    return final, points, error


def replace(points: tf.Tensor, out: tf.Tensor) -> tf.Tensor:
    return tf.cast(points, out.dtype)
