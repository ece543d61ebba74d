"""Locally adaptive path quadrature of integrated gradients (inside the compiled pass).

The straight path ``alpha in [0, 1]`` is cut into sub-intervals, each integrated by its midpoint
(the ends of the path are never evaluated: the gradient often jumps there). What makes the rule
local is that the *exact* integral of every sub-interval's directional derivative is known:
``f(b) - f(a)``, the score change across it, whose end scores come for free with the gradient
passes (the ends of a sub-interval are midpoints evaluated before). So each sub-interval has its
own completeness error ``|f(b) - f(a) - (b - a) grad f(m) . delta|``, and each round bisects the
sub-intervals whose error is largest (those within a factor 4 of the worst, over the samples
still running). Where a normalisation layer concentrates the score's change next to a baseline
the grid grades itself geometrically towards it; where the integrand is smooth it bisects every
sub-interval, like a uniform midpoint rule.

A bisected sub-interval's old midpoint leaves the sum: its gradient is evaluated again with
weight ``-(b - a)`` in the same batch as the two new midpoints (3 gradient passes per
bisection; nothing of the size of the input is stored per sub-interval). Every gradient pass is
counted in the points reported.
"""

from __future__ import annotations

import tensorflow as tf

from . import _maps as M
from ._quadrature import Path, completeness_error, per_sample

__all__ = ["refine", "rescue"]


def _weighted_pass(path: Path, alphas, weights, batch_size):
    """Gradient passes at ``alphas (m,)``: per sample ``sum_j weights_j * grad_j`` (as
    attributions, times delta), and the score and directional derivative ``(m, N)`` at each."""
    n = tf.shape(path.deltas[0])[0]
    m = tf.shape(alphas)[0]
    chunk = tf.maximum(1, batch_size // n)

    def body(start, stop, acc):
        sums, scores, slopes = acc
        k = stop - start
        score, grads = path.gradients(alphas[start:stop])
        w = weights[start:stop]
        shaped = [tf.reshape(g, tf.concat([[k, n], tf.shape(g)[1:]], 0)) for g in grads]
        sums = tuple(
            s + d * tf.tensordot(w, g, axes=1) for s, d, g in zip(sums, path.deltas, shaped)
        )
        slope = tf.add_n(
            [
                tf.reduce_sum(g * d[None], axis=list(range(2, g.shape.rank)))
                for g, d in zip(shaped, path.deltas)
            ]
        )
        at = tf.range(start, stop)[:, None]
        scores = tf.tensor_scatter_nd_update(scores, at, tf.reshape(score, [k, n]))
        slopes = tf.tensor_scatter_nd_update(slopes, at, slope)
        return sums, scores, slopes

    zeros = tuple(tf.zeros_like(d) for d in path.deltas)
    table = tf.zeros([m, n])
    sums, scores, slopes = M.chunked_loop(m, chunk, body, (zeros, table, table))
    return list(sums), scores, slopes


def refine(path: Path, batch_size, tolerance, capacity):
    """Integrate the path to ``tolerance`` within ``capacity`` gradient passes per sample.

    Stops a sample when its completeness error is within ``tolerance`` and its attributions
    changed by at most ``sqrt(tolerance)`` (relative L2) in the last round, or when the next
    round would pass ``capacity``.

    Returns ``(attributions, points used (N,) int32, completeness error (N,))``.
    """
    deltas = path.deltas
    n = tf.shape(deltas[0])[0]
    f0, f1 = tf.unstack(tf.reshape(path.scores(tf.constant([0.0, 1.0])), [2, n]))
    scale = tf.maximum(tf.abs(f1 - f0), 1e-3 * tf.maximum(tf.abs(f0), tf.abs(f1)) + 1e-12)
    acc, mid_score, mid_slope = _weighted_pass(path, tf.constant([0.5]), tf.ones([1]), batch_size)
    slots = capacity  # at most one sub-interval per gradient pass
    one_hot = tf.one_hot(0, slots)
    left = tf.zeros([slots])
    right = one_hot
    # per sample and sub-interval: scores at the ends and the midpoint, midpoint-rule estimate
    f_left = f0[:, None] * one_hot[None]
    f_right = f1[:, None] * one_hot[None]
    f_mid = tf.transpose(mid_score) * one_hot[None]
    estimate = tf.transpose(mid_slope) * one_hot[None]
    change_limit = tf.sqrt(tolerance)

    def step(count, left, right, tables, acc, active, points, error):
        f_left, f_right, f_mid, estimate = tables
        rows = tf.where(active)[:, 0]
        at = rows[:, None]
        sub = path.subset(rows)
        live = tf.range(slots) < count
        local = tf.abs(
            tf.gather(f_right, rows) - tf.gather(f_left, rows) - tf.gather(estimate, rows)
        )
        worst = tf.where(live, tf.reduce_max(local / tf.gather(scale, rows)[:, None], 0), -1.0)
        budget = tf.minimum((capacity - tf.reduce_max(tf.gather(points, rows))) // 3, count)
        budget = tf.minimum(budget, slots - count)
        order = tf.argsort(worst, direction="DESCENDING")
        chosen = tf.reduce_sum(tf.cast(worst >= tf.reduce_max(worst) / 4.0, tf.int32))
        s = tf.maximum(tf.minimum(chosen, budget), 1)
        idx = order[:s]
        a, b = tf.gather(left, idx), tf.gather(right, idx)
        m, w = (a + b) / 2.0, b - a
        alphas = tf.concat([m, (a + m) / 2.0, (m + b) / 2.0], 0)
        weights = tf.concat([-w, w / 2.0, w / 2.0], 0)
        sums, scores, slopes = _weighted_pass(sub, alphas, weights, tf.cast(batch_size, tf.int32))
        # (rows, s) tables of the two children
        s_left, s_right = tf.transpose(scores[s : 2 * s]), tf.transpose(scores[2 * s :])
        e_left = tf.transpose(slopes[s : 2 * s]) * (w / 2.0)[None]
        e_right = tf.transpose(slopes[2 * s :]) * (w / 2.0)[None]
        new = count + tf.range(s)

        def update(table, old_cols, new_cols):
            part = tf.gather(table, rows)  # (a, slots)
            part_t = tf.transpose(part)
            part_t = tf.tensor_scatter_nd_update(part_t, idx[:, None], tf.transpose(old_cols))
            part_t = tf.tensor_scatter_nd_update(part_t, new[:, None], tf.transpose(new_cols))
            return tf.tensor_scatter_nd_update(table, at, tf.transpose(part_t))

        fm_old = tf.gather(tf.gather(f_mid, rows), idx, axis=1)
        fl_old = tf.gather(tf.gather(f_left, rows), idx, axis=1)
        fr_old = tf.gather(tf.gather(f_right, rows), idx, axis=1)
        tables = (
            update(f_left, fl_old, fm_old),
            update(f_right, fm_old, fr_old),
            update(f_mid, s_left, s_right),
            update(estimate, e_left, e_right),
        )
        left = tf.tensor_scatter_nd_update(left, new[:, None], m)
        right = tf.tensor_scatter_nd_update(right, idx[:, None], m)
        right = tf.tensor_scatter_nd_update(right, new[:, None], b)
        before = [tf.gather(x, rows) for x in acc]
        current = [x + s_ for x, s_ in zip(before, sums)]
        err = completeness_error(current, tf.gather(f0, rows), tf.gather(f1, rows))
        moved = tf.sqrt(per_sample(tf.square, sums))
        change = tf.math.divide_no_nan(moved, tf.sqrt(per_sample(tf.square, current)))
        used = tf.gather(points, rows) + 3 * s
        go_on = ~((err <= tolerance) & (change <= change_limit)) & (used + 3 <= capacity)
        acc = [tf.tensor_scatter_nd_update(x, at, c) for x, c in zip(acc, current)]
        active = tf.tensor_scatter_nd_update(active, at, go_on)
        points = tf.tensor_scatter_nd_update(points, at, used)
        error = tf.tensor_scatter_nd_update(error, at, err)
        return count + s, left, right, tables, acc, active, points, error

    init = (
        tf.constant(1, tf.int32),
        left,
        right,
        (f_left, f_right, f_mid, estimate),
        acc,
        tf.fill([n], capacity >= 4),
        tf.fill([n], 1),
        completeness_error(acc, f0, f1),
    )
    result = tf.while_loop(lambda *state: tf.reduce_any(state[5]), step, init)
    return result[4], result[6], result[7]


def rescue(path: Path, batch_size, tolerance, capacity, attributions, points, error):
    """Samples whose completeness error is above ``tolerance`` after another rule: integrate
    them again with :func:`refine` (``capacity (N,)``: the gradient passes each sample has left)
    and keep, per sample, the result with the smaller error. Points add up."""
    rows = tf.where((error > tolerance) & (capacity >= 4))[:, 0]
    at = rows[:, None]

    def run():
        budget = tf.reduce_min(tf.gather(capacity, rows))
        again, used, reached = refine(path.subset(rows), batch_size, tolerance, budget)
        better = reached < tf.gather(error, rows)
        keep = tf.reshape(
            better, tf.concat([[-1], tf.ones([attributions[0].shape.rank - 1], tf.int32)], 0)
        )
        merged = [
            tf.tensor_scatter_nd_update(a, at, tf.where(keep, b, tf.gather(a, rows)))
            for a, b in zip(attributions, again)
        ]
        total = tf.tensor_scatter_nd_add(points, at, used)
        best = tf.tensor_scatter_nd_update(error, at, tf.minimum(reached, tf.gather(error, rows)))
        return merged, total, best

    return tf.cond(
        tf.size(rows) > 0, run, lambda: ([tf.identity(a) for a in attributions], points, error)
    )
