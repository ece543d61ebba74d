"""RISE (Petsiuk et al. 2018): the score of randomly masked copies, averaged per position over
the masks that keep it.

Each of ``samples`` masks keeps a random ``keep`` fraction of a coarse grid of ``cells`` per
axis, upsampled bilinearly and shifted by a random fraction of a cell (smooth masks, as in the
paper) for inputs with spatial axes; with ``features=`` (or for token ids and tabular columns)
each feature group is kept with probability ``keep`` instead. The map at a position is
``sum_k score_k * mask_k / sum_k mask_k``. Masks are drawn inside the compiled pass from
``seed`` and the mask's index, so they do not depend on ``batch_size``.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import validation
from ..core import graph
from . import _engine as E
from . import _maps as M
from . import _perturb as P
from .registry import Maps, method, run

__all__ = ["Rise", "rise", "smooth_masks"]


def smooth_masks(seed, start, stop, size, cells, keep) -> tf.Tensor:
    """RISE masks ``start ... stop - 1``: ``(m, *size)`` float32 in [0, 1] (1-D to 3-D)."""
    rank = len(size)
    ks = tf.range(start, stop)
    base = tf.stack([seed, tf.constant(0x52495345, tf.int32)])

    def draw(k):
        s = tf.random.experimental.stateless_fold_in(base, k)
        grid = tf.random.stateless_uniform(tf.fill([rank], cells), s) < keep
        shift = tf.random.stateless_uniform([rank], tf.random.experimental.stateless_fold_in(s, 1))
        return tf.cast(grid, tf.float32), shift

    grids, shifts = tf.map_fn(draw, ks, fn_output_signature=(tf.float32, tf.float32))
    sizes = tf.stack([tf.cast(s, tf.int32) for s in size])
    cell = (sizes + cells - 1) // cells
    up = M.upsample(grids, [(cells + 1) * cell[a] for a in range(rank)], "bilinear")
    offsets = tf.cast(shifts * tf.cast(cell, tf.float32)[None], tf.int32)  # (m, rank)
    for axis in range(rank):
        index = offsets[:, axis : axis + 1] + tf.range(sizes[axis])[None]
        up = tf.gather(up, index, axis=axis + 1, batch_dims=1)
    return up


class Rise(P.Perturbation):
    """RISE, batched through the compiled pass. See :func:`rise`.

    Example:
        >>> maps = nv.Rise(model)(x[:4], samples=2000)
    """

    method = "rise"
    logits_default = False  # the paper averages probabilities

    def _options(
        self,
        *,
        samples: int = 1000,
        seed: int = 0,
        baseline: Any = None,
        features: Any = None,
        cells: int = 7,
        keep: float = 0.5,
    ):
        dynamic = self._common(samples, seed, baseline, features)
        dynamic["cells"] = validation.positive_int("cells", cells)
        dynamic["keep"] = validation.number("keep", keep, low=0.0, high=1.0, low_open=True)
        return {"smooth": features is None}, dynamic

    def _numbers(self, dynamic):
        return [dynamic["keep"], dynamic["cells"]]

    def _design(self, features, n, dynamic, start):
        rng = np.random.default_rng([dynamic["seed"], features])
        z = rng.random((dynamic["samples"], features)) < dynamic["keep"]
        return P.Design(coalitions=z.astype(np.float32))

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        x = self.unpack(ctx.extras)
        _, _, idx, signs = self.score(ctx.inputs, ctx.indices, ctx.signs)
        keep, cells = x["numbers"][0], tf.cast(x["numbers"][1], tf.int32)
        z, kinds = x["coalitions"], self._kinds()
        smooth = {i for i, k in kinds.items() if k.channels and ctx.options["smooth"]}
        sizes = {i: M.spatial_size(ctx.inputs[i], kinds[i].channels_first) for i in smooth}

        def keeps(start, stop):
            out = {}
            for i, ids in x["ids"].items():
                if i in smooth:
                    out[i] = smooth_masks(x["seed"], start, stop, sizes[i], cells, keep)[None]
                else:
                    out[i] = P.keep_masks(z[start:stop], ids)
            return out

        def accumulate(acc, start, stop, score, keep_masks):
            num, den = acc
            rank = {i: ids.shape.rank for i, ids in x["ids"].items()}
            weights = {
                i: tf.reshape(score, tf.concat([tf.shape(score), [1] * (rank[i] - 1)], 0))
                for i in rank
            }
            num = tuple(
                a + tf.reduce_sum(weights[i] * keep_masks[i], axis=1) for a, i in zip(num, rank)
            )
            den = tuple(a + tf.reduce_sum(keep_masks[i], axis=1) for a, i in zip(den, rank))
            return (num, den)

        zeros = tuple(tf.zeros_like(ids, tf.float32) for ids in x["ids"].values())
        num, den = self.evaluate(
            ctx, x, tf.shape(z)[0], keeps, accumulate, (zeros, zeros), (idx, signs)
        )
        maps = []
        for a, b, ids in zip(num, den, x["ids"].values()):
            sal = tf.where(ids >= 0, tf.math.divide_no_nan(a, b), tf.zeros_like(a))
            maps.append(M.normalize_maps(sal) if ctx.options["normalize"] else sal)
        return maps


# ----------------------------------------------------------------------------------------------
# Function form (registered: see registry)


@method(Rise, kind="perturbation", title="RISE")
def rise(
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
    logits: bool = False,
    normalize: bool = True,
    out: np.ndarray | None = None,
    samples: int = 1000,
    seed: int = 0,
    baseline: Any = None,
    features: Any = None,
    cells: int = 7,
    keep: float = 0.5,
) -> Maps:
    """RISE: randomized input sampling. Each position's value is the mean score (probability,
    as in the paper; ``logits=True`` for logits) of the masked copies, weighted by how much
    each mask keeps that position. Smooth masks (a random ``cells``-per-axis grid, upsampled
    and shifted) for inputs with spatial axes; with ``features=``, or for token ids and
    tabular columns, every feature group is kept with probability ``keep``.

    Shared arguments (``model``, ``x``, ``target``, ``output``, ``batch_size``, ``progress``,
    ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`. ``layer`` is not supported (inputs only).

    Args:
        samples: masks, i.e. model evaluations per sample.
        seed: seeds the masks (the same for every sample and batch).
        baseline: what a masked-out position becomes (see
            :mod:`keras_nnviz.attribution.features`); the paper's masks multiply by 0.
        features: None (smooth masks) or feature groups (see :func:`kernel_shap`).
        cells: grid cells per axis of the smooth masks.
        keep: the probability that a cell (or feature) is kept.

    Returns:
        ``(N, *spatial)`` float32 maps per attributed input, min-max scaled to [0, 1] unless
        ``normalize=False``.

    Example:
        >>> maps = nv.rise(model, x[:4], samples=2000, cells=8)
    """
    return run(Rise, locals())
