"""Per-head attention statistics without the (T, T) maps: for long contexts.

:func:`get_attention` hands back every ``(N, heads, T, T)`` map; a 32-layer, 32-head model at
4,096 tokens is 64 GB of float32 for one sample. :func:`attention_stats` runs the same compiled
capture (:func:`keras_nnviz.attention.sites.capture`) but reduces each layer's probabilities
*inside* the traced pass, right where they are read, to per-query numbers:

- ``"entropy"``: ``-sum_j p_ij log p_ij`` in nats (0: one key; ``log Tk``: uniform);
- ``"distance"``: mean attended distance ``sum_j p_ij |i - j|`` in tokens (query ``i`` aligned
  with key ``i + Tk - Tq``, so a causal layer reading a longer cache still measures back from
  the query's own position);
- ``"sink"``: the mass on the first ``sink_tokens`` keys (the "attention sink" of
  StreamingLLM: heads that park their weight on the first token);
- ``"topk"``: the ``k`` heaviest keys of every query and their weights;
- ``block=b``: the map pooled over ``b x b`` blocks: the mean over the block's queries of the
  sum over its keys, so rows still sum to 1 and :func:`~keras_nnviz.attention.rollout` takes
  it like a full map (a ``(T/b, T/b)`` picture of a long context).

Only these leave the graph: the maps themselves live one layer at a time inside the pass (the
model computes them anyway) and are freed as soon as they are reduced.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import validation
from ..activations import run_batches
from ..core import graph
from ..core.compiled import CompiledPass, compiled_pass
from ..core.sinks import KeyedOutput
from ..errors import InvalidArgumentError
from .capture import attention_paths
from .sites import capture, find_sites, generation

__all__ = [
    "STATS",
    "attention_stats",
    "attention_stats_pass",
    "block_pool",
    "reduce_probs",
]

#: The statistics :func:`attention_stats` computes (``stats=``).
STATS = ("entropy", "distance", "sink", "topk")


def block_pool(probs: tf.Tensor, block: int) -> tf.Tensor:
    """``(B, H, Tq, Tk)`` -> ``(B, H, ceil(Tq/b), ceil(Tk/b))``: mean over each block's queries
    of the sum over its keys (row-stochastic rows stay row-stochastic; a last, partial block
    averages the queries it has)."""
    shape = tf.shape(probs)
    tq, tk = shape[2], shape[3]
    nq, nk = (tq + block - 1) // block, (tk + block - 1) // block
    padded = tf.pad(probs, [[0, 0], [0, 0], [0, nq * block - tq], [0, nk * block - tk]])
    blocks = tf.reshape(padded, tf.stack([shape[0], shape[1], nq, block, nk, block]))
    summed = tf.reduce_sum(blocks, axis=[3, 5])
    rows = tf.minimum(block, tq - tf.range(nq) * block)  # queries in each query block
    return summed / tf.cast(rows, summed.dtype)[:, None]


#: Query rows reduced at a time: the pass's temporaries are (batch, heads, CHUNK, Tk), never
#: another (Tq, Tk) map beside the one the model computed.
CHUNK = 256

_AXES_3 = {"entropy", "distance", "sink"}


def _reduce_rows(
    part: tf.Tensor, first: tf.Tensor, tk: tf.Tensor, stats: Sequence[str], options: tuple
) -> dict[str, tf.Tensor]:
    """The statistics of query rows ``first ...`` of one call, ``part`` ``(B, H, rows, Tk)``."""
    k, sink_tokens, block = options
    out: dict[str, tf.Tensor] = {}
    if "entropy" in stats:
        out["entropy"] = -tf.reduce_sum(tf.math.xlogy(part, part), axis=-1)
    if "distance" in stats:
        query = tf.cast(tf.range(tf.shape(part)[2]) + first, tf.float32)
        gap = tf.abs(query[:, None] - tf.cast(tf.range(tk), tf.float32)[None, :])
        out["distance"] = tf.reduce_sum(part * gap, axis=-1)
    if "sink" in stats:
        out["sink"] = tf.reduce_sum(part[..., :sink_tokens], axis=-1)
    if "topk" in stats:
        out["topk_weight"], out["topk_index"] = tf.math.top_k(part, k=tf.minimum(k, tk))
    if block is not None:
        out["block"] = block_pool(part, block)
    return out


def reduce_probs(
    probs: tf.Tensor, stats: Sequence[str], *, k: int, sink_tokens: int, block: int | None
) -> dict[str, tf.Tensor]:
    """The statistics of one call's ``(B, H, Tq, Tk)`` probabilities, inside a traced pass,
    :data:`CHUNK` query rows at a time (one after the other: a loop of one iteration at a time).

    Returns:
        ``{"entropy" | "distance" | "sink": (B, H, Tq), "topk_index": (B, H, Tq, k) int32,
        "topk_weight": (B, H, Tq, k), "block": (B, H, Tq/b, Tk/b)}`` for what was asked.
    """
    probs = tf.cast(probs, tf.float32)
    tq, tk = tf.shape(probs)[2], tf.shape(probs)[3]
    rows = CHUNK if block is None else block * max(1, CHUNK // block)  # whole query blocks
    count = (tq + rows - 1) // rows
    names = [n for n in ("entropy", "distance", "sink") if n in stats]
    names += ["topk_weight", "topk_index"] if "topk" in stats else []
    names += ["block"] if block is not None else []
    arrays = [
        tf.TensorArray(tf.int32 if n == "topk_index" else tf.float32, size=count, infer_shape=False)
        for n in names
    ]

    def body(i, arrays):
        first = i * rows
        part = probs[:, :, first : first + rows]
        reduced = _reduce_rows(part, first + tk - tq, tk, stats, (k, sink_tokens, block))
        # chunk axis first, for TensorArray.concat
        return i + 1, [
            a.write(i, tf.transpose(reduced[n], [2, 0, 1] if n in _AXES_3 else [2, 0, 1, 3]))
            for a, n in zip(arrays, names)
        ]

    _, arrays = tf.while_loop(
        lambda i, _: i < count, body, [tf.constant(0), arrays], parallel_iterations=1
    )
    return {
        n: tf.transpose(a.concat(), [1, 2, 0] if n in _AXES_3 else [1, 2, 0, 3])
        for n, a in zip(names, arrays)
    }


def _stats_body(
    paths: tuple[str, ...], options: tuple, model: keras.Model, inputs: Any
) -> dict[str, Any]:
    stats, k, sink_tokens, block = options
    wanted = set(paths)
    sites = [s for s in find_sites(model) if s.path in wanted]
    probs, _ = capture(model, inputs, sites)
    reduced = [
        reduce_probs(p, stats, k=k, sink_tokens=sink_tokens, block=block) for p in probs.values()
    ]
    # A list in call order (a dict returned from a tf.function comes back sorted by key).
    return {"stats": reduced, "keys": tf.constant(list(probs), tf.string)}


def _check(stats: Any, k: Any, sink_tokens: Any, block: Any) -> tuple:
    if isinstance(stats, str):
        stats = (stats,)
    stats = tuple(dict.fromkeys(stats or ()))
    unknown = [s for s in stats if s not in STATS]
    if unknown or (not stats and block is None):
        raise InvalidArgumentError(
            f"stats must name some of {list(STATS)} (or be empty with block=); received "
            f"{stats!r}. Example: stats=('entropy', 'distance')."
        )
    k = validation.positive_int("k", k)
    sink_tokens = validation.positive_int("sink_tokens", sink_tokens)
    block = None if block is None else validation.positive_int("block", block)
    return stats, k, sink_tokens, block


def attention_stats_pass(
    model: keras.Model,
    layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
    *,
    stats: Sequence[str] = STATS,
    k: int = 8,
    sink_tokens: int = 1,
    block: int | None = None,
) -> CompiledPass:
    """The cached compiled pass of :func:`attention_stats` (one per layers and options).

    Its call on a batch returns ``{"stats": [one dict per attention call, in call order],
    "keys": the calls' keys}``.

    Example:
        >>> p = nv.attention.stats.attention_stats_pass(model, stats=("entropy",))
    """
    options = _check(stats, k, sink_tokens, block)
    paths = tuple(sorted(attention_paths(model, layers)))
    return compiled_pass(
        model,
        ("attention_stats", paths, options, generation()),
        functools.partial(_stats_body, paths, options),
        record=paths,
    )


@validation.batch_options
def attention_stats(
    model: keras.Model,
    x: Any,
    layers: Sequence[graph.LayerRef] | graph.LayerRef | None = None,
    *,
    stats: Sequence[str] = STATS,
    k: int = 8,
    sink_tokens: int = 1,
    block: int | None = None,
    out: dict[str, dict[str, Any]] | None = None,
    **batch: Any,
) -> dict[str, dict[str, np.ndarray]]:
    """Per layer, head and query statistics of the attention, without the (T, T) maps.

    The attention layers are found and read exactly as by :func:`keras_nnviz.get_attention`
    (every Keras and KerasHub attention class, nested models, custom layers), in one compiled
    pass per batch; each layer's probabilities are reduced inside the pass, so the memory above
    the forward pass is that of the statistics, not of ``layers x heads x T x T`` maps.

    Args:
        model: a built Keras model.
        x: numpy array, tensor, list/dict of them or a ``tf.data.Dataset``.
        layers: attention layer references, one, or None for every attention layer.
        stats: any of ``"entropy"`` (nats), ``"distance"`` (mean attended distance in tokens),
            ``"sink"`` (mass on the first ``sink_tokens`` keys), ``"topk"`` (the ``k``
            heaviest keys per query). Empty with ``block=``: only the block map.
        k: keys per query for ``"topk"`` (at most ``Tk``).
        sink_tokens: the leading keys counted as the sink.
        block: also return the map pooled over ``block x block`` blocks (mean over the block's
            queries of the sum over its keys: rows sum to 1, so
            ``nv.attention.rollout`` takes it; ``attention_rollout(..., block=)`` does).
        out: ``{key: {name: target}}`` keyed like the result, to write each statistic into,
            batch by batch: a writable array of its shape and kind (float; ``"topk_index"``
            integer), ``np.memmap`` too, or a ``.npy`` path (see :mod:`keras_nnviz.core.sinks`).
        batch_size: samples per forward pass.
        progress: show a progress bar over the samples (None: no bar).
        allow_nonfinite: accept NaN/inf in ``x`` instead of raising.

    Returns:
        ``{path: {name: array}}`` in the order the model calls the layers (keys as in
        :func:`~keras_nnviz.get_attention`), each with ``"entropy"``, ``"distance"``,
        ``"sink"``: float32 ``(N, heads, Tq)``; ``"topk_index"`` int32 and ``"topk_weight"``
        float32 ``(N, heads, Tq, k)``; ``"block"``: float32 ``(N, heads, ceil(Tq/b),
        ceil(Tk/b))``. Rows of padded queries hold whatever the layer computed for them.

    Raises:
        IncompatibleLayerError: no attention layer, not an attention layer, flash attention.
        LayerNotFoundError: unknown reference.
        InvalidArgumentError: unknown statistic, ``k`` / ``sink_tokens`` / ``block`` < 1.

    Example:
        >>> s = nv.attention_stats(llm, tokens, stats=("entropy", "distance"), block=64)
        >>> nv.plot.attention_stat_heatmap(s, stat="entropy")
    """
    compiled = attention_stats_pass(
        model, layers, stats=stats, k=k, sink_tokens=sink_tokens, block=block
    )
    sink = None
    for data, result in run_batches(compiled, model, x, **batch, sizes=True):
        keys = [key.decode("utf-8") for key in np.asarray(result["keys"]).tolist()]
        sink = sink or KeyedOutput(data.n, out, batches=data.n_batches)
        sink.write(
            {
                key: {name: np.asarray(value) for name, value in sorted(reduced.items())}
                for key, reduced in zip(keys, result["stats"])
            }
        )
    return {} if sink is None else sink.result()
