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

**Jumps.** A score that jumps along the path (top-k expert routing: an expert enters or leaves
the top k; any hard threshold or argmax) has a change no integral of gradients sees: the
sub-interval holding the jump keeps its residual ``f(b) - f(a) - (b - a) grad f(m) . delta``
however far it is bisected, while a smooth sub-interval's shrinks like its width cubed. A
sub-interval chosen for bisection that is already narrower than :data:`JUMP_WIDTH` is
therefore closed as a jump: its residual ``r`` (per sample) is shared among the features by
the **jump rule**, in proportion to each feature's first-order contribution magnitude
``|grad_i f(m) * delta_i|`` at the jump (one more gradient pass at its midpoint), every
share with the sign of ``r``. So the attributions add up to ``f(x) - f(baseline)`` exactly
across a jump, and ``completeness_error`` measures the smooth parts' quadrature error only.
How much of the score change came from the rule and not from gradients is reported per
sample: the sum of the closed sub-intervals' ``|r|`` relative to ``|f(x) - f(baseline)|``
(``IntegratedMaps.jump_share``). The rule is a convention (the gradient beside a jump says
how the score moves there, not which features moved the routing decision); a steep but
smooth change narrower than :data:`JUMP_WIDTH` is treated the same way, where the rule is
close to what the integral would give.
"""

from __future__ import annotations

import tensorflow as tf

from . import _maps as M
from ._quadrature import Path, completeness_error, per_sample

__all__ = ["JUMP_WIDTH", "refine", "rescue"]

#: A sub-interval of the path (``alpha`` in [0, 1]) this narrow whose score change the
#: gradient still does not explain holds a jump (closed, not bisected further).
JUMP_WIDTH = 2.0**-10


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


def _jump_shares(path: Path, mids, residuals):
    """The jump rule: each closed sub-interval's residual ``residuals (k, N)`` (its score change
    that the gradient at its midpoint ``mids (k,)`` does not explain) shared among the features
    in proportion to ``|gradient x delta|`` there. One gradient pass per sub-interval.

    Returns ``(attributions to add, per sample sum of |residual| (N,))``."""

    def body(start, stop, acc):
        adds, total = acc
        grads = path.gradients(mids[start:stop])[1]  # one point: (N, ...)
        parts = [tf.abs(g * d) for g, d in zip(grads, path.deltas)]
        size = per_sample(tf.identity, parts)
        r = residuals[start]
        share = tf.math.divide_no_nan(r, size)
        adds = tuple(
            x + p * tf.reshape(share, tf.concat([[-1], tf.ones([p.shape.rank - 1], tf.int32)], 0))
            for x, p in zip(adds, parts)
        )
        return adds, total + tf.abs(r)

    zeros = tuple(tf.zeros_like(d) for d in path.deltas)
    n = tf.shape(path.deltas[0])[0]
    adds, total = M.chunked_loop(tf.shape(mids)[0], 1, body, (zeros, tf.zeros([n])))
    return list(adds), total


def refine(path: Path, batch_size, tolerance, capacity):
    """Integrate the path to ``tolerance`` within ``capacity`` gradient passes per sample.

    Stops a sample when its completeness error is within ``tolerance`` and its attributions
    changed by at most ``sqrt(tolerance)`` (relative L2) in the last round, or when the next
    round would pass ``capacity``.

    A sub-interval chosen for bisection that is already narrower than :data:`JUMP_WIDTH` holds
    a jump of the score (see the module docstring): it is closed instead, its residual shared
    by the jump rule (:func:`_jump_shares`).

    Returns ``(attributions, points used (N,) int32, completeness error (N,), jump share
    (N,))``: the jump share is the sum of the closed sub-intervals' ``|residual|`` relative
    to ``|f(x) - f(baseline)|`` (the scale of :func:`completeness_error`).
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

    def step(count, left, right, closed, tables, acc, active, points, error, jumps):
        f_left, f_right, f_mid, estimate = tables
        rows = tf.where(active)[:, 0]
        at = rows[:, None]
        sub = path.subset(rows)
        live = (tf.range(slots) < count) & ~closed
        residual = tf.gather(f_right, rows) - tf.gather(f_left, rows) - tf.gather(estimate, rows)
        local = tf.abs(residual)
        worst = tf.where(live, tf.reduce_max(local / tf.gather(scale, rows)[:, None], 0), -1.0)
        budget = tf.minimum((capacity - tf.reduce_max(tf.gather(points, rows))) // 3, count)
        budget = tf.minimum(budget, slots - count)
        order = tf.argsort(worst, direction="DESCENDING")
        chosen = tf.reduce_sum(tf.cast(live & (worst >= tf.reduce_max(worst) / 4.0), tf.int32))
        chosen = tf.minimum(tf.minimum(chosen, budget), tf.reduce_sum(tf.cast(live, tf.int32)))
        picked = order[: tf.maximum(chosen, 0)]
        narrow = tf.gather(right, picked) - tf.gather(left, picked) <= JUMP_WIDTH
        shut = tf.boolean_mask(picked, narrow)  # jumps: closed, not bisected
        mids_shut = (tf.gather(left, shut) + tf.gather(right, shut)) / 2.0
        res_shut = tf.transpose(tf.gather(residual, shut, axis=1))  # (k, rows)
        k = tf.size(shut)
        adds, moved_by_jumps = tf.cond(
            k > 0,
            lambda: _jump_shares(sub, mids_shut, res_shut),
            lambda: ([tf.zeros_like(d) for d in sub.deltas], tf.zeros([tf.size(rows)])),
        )
        closed = tf.tensor_scatter_nd_update(closed, shut[:, None], tf.fill([k], True))
        # a closed sub-interval's estimate is its exact score change from now on
        exact = tf.gather(tf.gather(f_right, rows) - tf.gather(f_left, rows), shut, axis=1)
        part_t = tf.transpose(tf.gather(estimate, rows))
        part_t = tf.tensor_scatter_nd_update(part_t, shut[:, None], tf.transpose(exact))
        estimate = tf.tensor_scatter_nd_update(estimate, at, tf.transpose(part_t))
        idx = tf.boolean_mask(picked, ~narrow)
        s = tf.size(idx)
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
        step_sums = [s_ + j for s_, j in zip(sums, adds)]
        current = [x + s_ for x, s_ in zip(before, step_sums)]
        err = completeness_error(current, tf.gather(f0, rows), tf.gather(f1, rows))
        moved = tf.sqrt(per_sample(tf.square, step_sums))
        change = tf.math.divide_no_nan(moved, tf.sqrt(per_sample(tf.square, current)))
        used = tf.gather(points, rows) + 3 * s + k
        go_on = ~((err <= tolerance) & (change <= change_limit)) & (used + 3 <= capacity)
        go_on = go_on & (s + k > 0)
        acc = [tf.tensor_scatter_nd_update(x, at, c) for x, c in zip(acc, current)]
        active = tf.tensor_scatter_nd_update(active, at, go_on)
        points = tf.tensor_scatter_nd_update(points, at, used)
        error = tf.tensor_scatter_nd_update(error, at, err)
        jumps = tf.tensor_scatter_nd_add(jumps, at, moved_by_jumps)
        return count + s, left, right, closed, tables, acc, active, points, error, jumps

    init = (
        tf.constant(1, tf.int32),
        left,
        right,
        tf.zeros([slots], tf.bool),
        (f_left, f_right, f_mid, estimate),
        acc,
        tf.fill([n], capacity >= 4),
        tf.fill([n], 1),
        completeness_error(acc, f0, f1),
        tf.zeros([n]),
    )
    result = tf.while_loop(lambda *state: tf.reduce_any(state[6]), step, init)
    return result[5], result[7], result[8], result[9] / scale


def rescue(path: Path, batch_size, tolerance, capacity, attributions, points, error):
    """Samples whose completeness error is above ``tolerance`` after another rule: integrate
    them again with :func:`refine` (``capacity (N,)``: the gradient passes each sample has left)
    and keep, per sample, the result with the smaller error. Points add up.

    Returns ``(attributions, points (N,), completeness error (N,), jump share (N,))`` (the
    jump share is 0 where the other rule's result was kept)."""
    rows = tf.where((error > tolerance) & (capacity >= 4))[:, 0]
    at = rows[:, None]
    nothing = tf.zeros_like(error)

    def run():
        budget = tf.reduce_min(tf.gather(capacity, rows))
        again, used, reached, jumps = refine(path.subset(rows), batch_size, tolerance, budget)
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
        share = tf.tensor_scatter_nd_update(nothing, at, tf.where(better, jumps, 0.0))
        return merged, total, best, share

    return tf.cond(
        tf.size(rows) > 0,
        run,
        lambda: ([tf.identity(a) for a in attributions], points, error, nothing),
    )
