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
therefore closed as a jump, and its residual ``r`` (per sample) is shared among the features
by the **jump rule**, from one forward pass at its two ends and its midpoint and two backward
passes (counted as 3 points):

- **routing margin**: while that pass runs (at both ends and the midpoint of the
  sub-interval), every ``keras.ops.top_k`` records which indices it chose and its margin ``m``
  (the gap between the k-th and the (k+1)-th value, :mod:`keras_nnviz.attribution._jumps`).
  Where a sample's top-k choice differs between the two ends (an expert entered or left the
  top k inside the sub-interval; the smallest margin at the midpoint where several did), ``r``
  is shared by that margin's first-order contributions:
  ``A_i += r * (delta_i dm/dx_i) / sum_j (delta_j dm/dx_j)``. This is exactly what integrated
  gradients gives a step ``r * H(m(x))`` (the limit of a steeper and steeper sigmoid): the
  features that move the routing decision get the jump, with their sign.
- **otherwise** (a hard threshold or argmax the library does not see, or no routing change
  there): ``A_i += r * |grad_i f * delta_i| / sum_j |grad_j f * delta_j|`` at the midpoint,
  every share with the sign of ``r``: a convention (the gradient beside a jump says how the
  score moves there, not what moved the decision); for a steep but smooth change narrower
  than :data:`JUMP_WIDTH` it is close to what the integral would give.

So the attributions add up to ``f(x) - f(baseline)`` exactly across a jump, and
``completeness_error`` measures the smooth parts' quadrature error. How much of the score
change the rule placed is reported per sample (``IntegratedMaps.jump_share``: the closed
sub-intervals' ``|r|`` relative to ``|f(x) - f(baseline)|``; ``routed_share``: the part shared
by a routing margin).
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


def _jump_shares(path: Path, lefts, rights, residuals):
    """The jump rule (see the module docstring) for closed sub-intervals ``[lefts, rights]``
    (``(k,)`` each) whose residuals are ``residuals (k, N)``: one forward pass at both ends and
    the midpoint, and two backward passes, per sub-interval.

    Returns ``(attributions to add, per sample sum of |residual| (N,), per sample sum of
    |residual| shared by the routing margin (N,))``."""

    def body(start, stop, acc):
        adds, total, by_margin = acc
        grads, margin_grads, _, found = path.jump_gradients(lefts[start], rights[start])
        r = residuals[start]
        first_order = [g * d for g, d in zip(grads, path.deltas)]
        along = [g * d for g, d in zip(margin_grads, path.deltas)]
        slope = per_sample(tf.identity, along)  # d margin / d alpha
        crossing = found & (tf.abs(slope) > 0)
        by_margin_share = tf.math.divide_no_nan(r, slope)
        by_size_share = tf.math.divide_no_nan(r, per_sample(tf.abs, first_order))

        def col(v):
            return tf.reshape(v, [-1] + [1] * (first_order[0].shape.rank - 1))

        adds = tuple(
            x + tf.where(col(crossing), a * col(by_margin_share), tf.abs(f) * col(by_size_share))
            for x, a, f in zip(adds, along, first_order)
        )
        return adds, total + tf.abs(r), by_margin + tf.where(crossing, tf.abs(r), 0.0)

    zeros = tuple(tf.zeros_like(d) for d in path.deltas)
    n = tf.shape(path.deltas[0])[0]
    init = (zeros, tf.zeros([n]), tf.zeros([n]))
    adds, total, by_margin = M.chunked_loop(tf.shape(lefts)[0], 1, body, init)
    return list(adds), total, by_margin


def refine(path: Path, batch_size, tolerance, capacity):
    """Integrate the path to ``tolerance`` within ``capacity`` gradient passes per sample.

    Stops a sample when its completeness error is within ``tolerance`` and its attributions
    changed by at most ``sqrt(tolerance)`` (relative L2) in the last round, or when the next
    round would pass ``capacity``.

    A sub-interval chosen for bisection that is already narrower than :data:`JUMP_WIDTH` holds
    a jump of the score (see the module docstring): it is closed instead, its residual shared
    by the jump rule (:func:`_jump_shares`).

    Returns ``(attributions, points used (N,) int32, completeness error (N,), jump share
    (N,), routed share (N,))``: the jump share is the sum of the closed sub-intervals'
    ``|residual|`` relative to ``|f(x) - f(baseline)|`` (the scale of
    :func:`completeness_error`), the routed share the part of it shared by a routing margin.
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

    def step(count, left, right, closed, tables, acc, active, points, error, jumps, routed):
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
        res_shut = tf.transpose(tf.gather(residual, shut, axis=1))  # (k, rows)
        k = tf.size(shut)
        adds, moved_by_jumps, moved_by_margins = tf.cond(
            k > 0,
            lambda: _jump_shares(sub, tf.gather(left, shut), tf.gather(right, shut), res_shut),
            lambda: (
                [tf.zeros_like(d) for d in sub.deltas],
                tf.zeros([tf.size(rows)]),
                tf.zeros([tf.size(rows)]),
            ),
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
        used = tf.gather(points, rows) + 3 * s + 3 * k  # a jump: 3 forward, 2 backward
        go_on = ~((err <= tolerance) & (change <= change_limit)) & (used + 3 <= capacity)
        go_on = go_on & (s + k > 0)
        acc = [tf.tensor_scatter_nd_update(x, at, c) for x, c in zip(acc, current)]
        active = tf.tensor_scatter_nd_update(active, at, go_on)
        points = tf.tensor_scatter_nd_update(points, at, used)
        error = tf.tensor_scatter_nd_update(error, at, err)
        jumps = tf.tensor_scatter_nd_add(jumps, at, moved_by_jumps)
        routed = tf.tensor_scatter_nd_add(routed, at, moved_by_margins)
        return count + s, left, right, closed, tables, acc, active, points, error, jumps, routed

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
        tf.zeros([n]),
    )
    result = tf.while_loop(lambda *state: tf.reduce_any(state[6]), step, init)
    return result[5], result[7], result[8], result[9] / scale, result[10] / scale


def rescue(path: Path, batch_size, tolerance, capacity, attributions, points, error):
    """Samples whose completeness error is above ``tolerance`` after another rule: integrate
    them again with :func:`refine` (``capacity (N,)``: the gradient passes each sample has left)
    and keep, per sample, the result with the smaller error. Points add up.

    Each such sample is refined **on its own** (one after the other, its path points still
    evaluated together in batches of about ``batch_size``), with its own grid and its own
    budget: samples whose scores jump at different places along the path (top-k routing) would
    otherwise share one grid, bisected wherever any of them is worst, and spend the budget of
    the one with the fewest passes left on every sample's jumps at once.

    Returns ``(attributions, points (N,), completeness error (N,), jump share (N,), routed
    share (N,))`` (the shares are 0 where the other rule's result was kept)."""
    rows = tf.cast(tf.where((error > tolerance) & (capacity >= 4))[:, 0], tf.int32)
    nothing = tf.zeros_like(error)

    def one(i, merged, total, best, share, by_margin):
        row = rows[i : i + 1]
        at = row[:, None]
        again, used, reached, jumps, routed = refine(
            path.subset(row), batch_size, tolerance, capacity[rows[i]]
        )
        better = reached < tf.gather(best, row)
        keep = tf.reshape(
            better, tf.concat([[-1], tf.ones([attributions[0].shape.rank - 1], tf.int32)], 0)
        )
        merged = [
            tf.tensor_scatter_nd_update(a, at, tf.where(keep, b, tf.gather(a, row)))
            for a, b in zip(merged, again)
        ]
        total = tf.tensor_scatter_nd_add(total, at, used)
        best = tf.tensor_scatter_nd_update(best, at, tf.minimum(reached, tf.gather(best, row)))
        share = tf.tensor_scatter_nd_update(share, at, tf.where(better, jumps, 0.0))
        by_margin = tf.tensor_scatter_nd_update(by_margin, at, tf.where(better, routed, 0.0))
        return i + 1, merged, total, best, share, by_margin

    init = (tf.constant(0), [tf.identity(a) for a in attributions], points, error, nothing, nothing)
    result = tf.while_loop(lambda i, *_: i < tf.size(rows), one, init)
    return tuple(result[1:])
