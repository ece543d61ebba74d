"""Routing margins: where a top-k choice (mixture-of-experts routing) is about to change.

While a forward pass is traced inside :func:`record_margins`, every ``keras.ops.top_k(x, k)``
call also records, per row of ``x``, its margin ``v_k - v_(k+1)`` (the gap between the k-th and
the (k+1)-th largest value: 0 exactly where the choice of the top k changes) and which indices
it chose. The call's own outputs are unchanged. :mod:`keras_nnviz.attribution._refine` runs
the path at both ends and the midpoint of a sub-interval holding a jump of the score:
:func:`crossing_margin` finds the routing choice that changes inside it, whose margin then
shares the jump among the features (the jump rule).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import tensorflow as tf

__all__ = ["crossing_margin", "record_margins"]

_LOCK = threading.RLock()


@contextlib.contextmanager
def record_margins() -> Iterator[list[tf.Tensor]]:
    """Patch ``keras.ops.top_k`` (and ``keras.ops.math.top_k``) while the block runs; yields the
    list that collects, per call whose ``k`` is smaller than the last axis, ``(margin, chosen)``:
    the margin (the shape of ``x`` without its last axis) and the sorted indices chosen
    (``(..., k)``). Restored in a ``finally``; a lock keeps traces from interleaving."""
    import keras

    margins: list[tf.Tensor] = []
    spaces = [keras.ops, getattr(keras.ops, "math", None)]
    saved = []
    with _LOCK:
        try:
            for space in spaces:
                fn = getattr(space, "top_k", None) if space is not None else None
                if fn is None:
                    continue
                saved.append((space, fn))
                space.top_k = _recording(fn, margins)
            yield margins
        finally:
            for space, fn in reversed(saved):
                space.top_k = fn


def _recording(fn, records: list):
    def top_k(x, k, *args, **kwargs):
        out = fn(x, k, *args, **kwargs)
        x = tf.convert_to_tensor(x)
        width = x.shape[-1]
        if isinstance(k, int) and width is not None and k < width and x.dtype.is_floating:
            values = tf.math.top_k(tf.cast(x, tf.float32), k=k + 1).values
            chosen = tf.sort(tf.cast(out[1], tf.int32), axis=-1)
            records.append((values[..., k - 1] - values[..., k], chosen))
        return out

    return top_k


def crossing_margin(records: list, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """For a batch of three copies of ``n`` rows, the path at ``a``, at ``b`` and at the
    midpoint of a sub-interval (every recorded tensor batch-major: a routing layer that
    flattens ``(rows, T, D)`` to ``(rows * T, D)`` keeps the rows in order): per row, the
    midpoint's margin of the routing choice that differs between ``a`` and ``b`` (the smallest
    where several do). Returns ``(margin (n,), found (n,) bool)``; ``found`` is False where no
    recorded top-k choice changes inside the sub-interval."""
    if not records:
        return tf.zeros([n]), tf.zeros([n], tf.bool)
    candidates = []
    for margin, chosen in records:
        margin = tf.reshape(margin, [3, n, -1])
        chosen = tf.reshape(chosen, [3, n, -1, tf.shape(chosen)[-1]])
        flipped = tf.reduce_any(tf.not_equal(chosen[0], chosen[1]), axis=-1)
        candidates.append(tf.where(flipped, margin[2], tf.fill(tf.shape(margin[2]), _NONE)))
    table = tf.concat(candidates, axis=1)
    smallest = tf.reduce_min(table, axis=1)
    return smallest, smallest < _NONE


_NONE = 3.0e38  # no routing change at this entry
