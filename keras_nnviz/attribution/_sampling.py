"""Noise sampling of the sampled attribution methods (inside the compiled pass).

Noise for SmoothGrad / VarGrad (:func:`standard_normal`): every scheme gives each noise value a
standard normal marginal, so the averaged map has the same expectation as with i.i.d. noise
(unbiased); they differ in how the samples of one input are spread:

- ``"iid"``: independent Gaussian draws.
- ``"antithetic"``: samples come in pairs ``z, -z``. The part of the gradient that is odd in the
  noise (its first-order response) cancels within each pair instead of averaging out slowly.
- ``"simplex"`` (the default): the samples are split into blocks of at most
  :data:`SIMPLEX_BLOCK`; a block of ``m`` is ``m`` i.i.d. draws minus their mean, scaled by
  ``sqrt(m / (m - 1))`` -- the vertices of a randomly oriented regular simplex. Each sample is
  still exactly standard normal, the block sums to zero (the first-order response cancels, as
  with antithetic pairs), and the second-order response is averaged over ``m - 1`` independent
  directions instead of the ``m / 2`` of antithetic pairs. Among designs built linearly from
  Gaussians this is the best for the first two orders; measured on a trained CNN it beats
  antithetic pairs at 4, 8 and 16 samples (benchmarks/README.md).
- ``"sobol"``: a randomly shifted Sobol sequence (one independent Cranley-Patterson shift per
  input and feature) mapped through the normal quantile function: along every feature the
  samples are stratified over the distribution (for ``2**k`` samples exactly one per stratum of
  width ``2**-k``). Inputs with more than 21 201 features (TensorFlow's Sobol dimension limit)
  reuse the sequence's dimensions, each with its own shift.
- ``"antithetic_sobol"``: both: pairs ``z, -z`` whose ``z`` follow the shifted Sobol sequence
  (the odd part cancels within pairs, the even part is stratified across them).

Sample ``k`` of a batch is drawn from a seed folded with ``k`` (and the batch's first index),
so the maps do not depend on how samples are chunked (``batch_size``). (The path quadrature
of integrated gradients lives with it, in :mod:`.integrated`.)
"""

from __future__ import annotations

import tensorflow as tf

from ..errors import InvalidArgumentError

SAMPLINGS = ("iid", "antithetic", "simplex", "sobol", "antithetic_sobol")
SIMPLEX_BLOCK = 8  # samples per simplex; larger blocks gain little and draw more per chunk
SOBOL_MAX_DIM = 21201  # tf.math.sobol_sample's direction numbers (Joe & Kuo)


def check_sampling(sampling: str) -> str:
    if sampling not in SAMPLINGS:
        raise InvalidArgumentError(
            f"sampling must be one of {list(SAMPLINGS)}; received {sampling!r}. 'antithetic' "
            "pairs z with -z; 'simplex' centres blocks of 8 draws; 'sobol' stratifies every "
            "feature (randomized quasi-Monte Carlo); 'antithetic_sobol' does both; 'iid' draws "
            "independent Gaussian noise."
        )
    return sampling


def standard_normal(
    scheme: str,
    shape: tf.Tensor,
    start: tf.Tensor,
    stop: tf.Tensor,
    seed: tf.Tensor,
    total: tf.Tensor | None = None,
    sums: tf.Tensor | None = None,
) -> tf.Tensor:
    """Noise samples ``start ... stop - 1`` of one batch: ``(stop - start, *shape)`` float32.

    Args:
        scheme: one of :data:`SAMPLINGS`.
        shape: the batch shape ``(N, ...)`` (a tensor); each sample draws one value per entry.
        start: index of the first sample (int32 scalar).
        stop: one past the last sample.
        seed: stateless seed ``(2,)`` of the batch; the same seed gives the same noise.
        total: how many samples there are in all (int32 scalar); ``"simplex"`` needs it to
            cut the blocks (``stop`` when not given).
        sums: ``"simplex"`` only: :func:`simplex_sums` of the same ``shape, total, seed``,
            computed once before a loop over chunks of samples (else each call draws every
            block again).

    Returns:
        Values with standard normal marginals (see the module docstring).
    """
    ks = tf.range(start, stop)
    if scheme == "simplex":
        return _simplex_normal(shape, start, stop, stop if total is None else total, seed, sums)
    if scheme == "sobol":
        return _sobol_normal(shape, start, stop, seed)
    if scheme == "antithetic_sobol":
        first = start // 2
        pairs = _sobol_normal(shape, first, (stop - 1) // 2 + 1, seed)
        signs = tf.cast(1 - 2 * (ks % 2), tf.float32)
        signs = tf.reshape(signs, tf.concat([[-1], tf.ones_like(shape)], 0))
        return tf.gather(pairs, ks // 2 - first) * signs

    def draw(k):
        if scheme == "antithetic":
            z = _iid(shape, seed, k // 2)
            return z * tf.cast(1 - 2 * (k % 2), tf.float32)
        return _iid(shape, seed, k)

    return tf.map_fn(draw, ks, fn_output_signature=tf.float32)


def noise_plan(noised: list, samples: tf.Tensor, seed: tf.Tensor, scheme: str) -> tuple:
    """Per noised tensor ``(i, t)``: its seed (``seed`` folded with ``i``), and for
    ``"simplex"`` its blocks' sums (:func:`simplex_sums`), drawn once per batch, not again by
    each chunk of samples. Returns ``(seeds, sums)``, two dicts keyed by ``i``."""
    seeds = {i: tf.random.experimental.stateless_fold_in(seed, i) for i, _ in noised}
    sums = {
        i: simplex_sums(tf.shape(t), samples, seeds[i]) for i, t in noised if scheme == "simplex"
    }
    return seeds, sums


def add_noise(
    tiled: tf.Tensor,
    start: tf.Tensor,
    stop: tf.Tensor,
    seed: tf.Tensor,
    scheme: str,
    total: tf.Tensor,
    stdev: tf.Tensor,
    sums: tf.Tensor | None = None,
) -> tf.Tensor:
    """Noisy copies ``start ... stop - 1`` of a batch tiled copy-major (``(m * N, ...)``, see
    ``gradients.tile``): each copy plus :func:`standard_normal` noise of standard deviation
    ``stdev`` times the sample's value range (``max - min``), as in the SmoothGrad paper. The
    one noise of SmoothGrad, VarGrad, the noise tunnel and GradientSHAP."""
    m = stop - start
    shape = tf.concat([[tf.shape(tiled)[0] // m], tf.shape(tiled)[1:]], 0)
    draw = standard_normal(scheme, shape, start, stop, seed, total=total, sums=sums)
    draw = tf.reshape(draw, tf.shape(tiled))
    return tiled + tf.cast(draw * stdev * value_range(tiled), tiled.dtype)


def value_range(t: tf.Tensor) -> tf.Tensor:
    """Per-sample value range (max - min), shaped to broadcast over the sample."""
    axes = list(range(1, t.shape.rank))
    t = tf.cast(t, tf.float32)
    return tf.reduce_max(t, axis=axes, keepdims=True) - tf.reduce_min(t, axis=axes, keepdims=True)


def _iid(shape, seed, k):
    return tf.random.stateless_normal(shape, seed=tf.random.experimental.stateless_fold_in(seed, k))


class _Blocks:
    """The simplex blocks of ``total`` samples: as even as possible (sizes differ by at most one,
    none of size 1 unless total is 1); the first ``extra`` blocks have ``base + 1`` samples."""

    def __init__(self, total):
        self.count = (total + SIMPLEX_BLOCK - 1) // SIMPLEX_BLOCK
        self.base, self.extra = total // self.count, total % self.count
        self.big = self.extra * (self.base + 1)

    def of(self, k):
        return tf.where(
            k < self.big,
            k // (self.base + 1),
            self.extra + (k - self.big) // tf.maximum(self.base, 1),
        )

    def first(self, b):
        return tf.where(
            b < self.extra, b * (self.base + 1), self.big + (b - self.extra) * self.base
        )

    def size(self, b):
        return tf.where(b < self.extra, self.base + 1, self.base)


def simplex_sums(shape: tf.Tensor, total: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Sum of every simplex block's i.i.d. draws, ``(blocks, *shape)``: one draw per sample,
    summed one at a time (memory of one sample per block). Drawn once per batch, so chunks of
    samples never draw a block again."""
    blocks = _Blocks(total)

    def block_sum(b):
        first = blocks.first(b)
        return tf.foldl(
            lambda acc, k: acc + _iid(shape, seed, k),
            tf.range(first, first + blocks.size(b)),
            initializer=tf.zeros(shape),
        )

    return tf.map_fn(block_sum, tf.range(blocks.count), fn_output_signature=tf.float32)


def _simplex_normal(shape, start, stop, total, seed, sums=None):
    blocks = _Blocks(total)
    sums = simplex_sums(shape, total, seed) if sums is None else sums
    ks = tf.range(start, stop)
    block = blocks.of(ks)
    size = tf.cast(blocks.size(block), tf.float32)
    u = tf.map_fn(lambda k: _iid(shape, seed, k), ks, fn_output_signature=tf.float32)
    broadcast = tf.concat([[-1], tf.ones_like(shape)], 0)
    mean = tf.gather(sums, block) / tf.reshape(size, broadcast)
    scale = tf.reshape(tf.sqrt(size / tf.maximum(size - 1.0, 1.0)), broadcast)
    # a block of one (only when total is 1) is a plain draw
    return tf.where(tf.reshape(size, broadcast) > 1.0, (u - mean) * scale, u)


def _sobol_normal(shape, start, stop, seed):
    m = stop - start
    size = tf.reduce_prod(shape[1:])
    dim = tf.minimum(size, SOBOL_MAX_DIM)
    # tf.math.sobol_sample starts at the sequence's second point (it skips the all-zeros one):
    # add it back so the first 2**k samples form the stratified net.
    skip = tf.maximum(start - 1, 0)
    points = tf.math.sobol_sample(dim, m + 1, skip=skip, dtype=tf.float32)
    with_zero = tf.concat([tf.zeros([1, dim]), points[: m - 1]], 0)
    points = tf.cond(tf.equal(start, 0), lambda: with_zero, lambda: points[:m])
    points = tf.gather(points, tf.range(size) % dim, axis=1)  # (m, size)
    shift_seed = tf.random.experimental.stateless_fold_in(seed, -1)
    shift = tf.random.stateless_uniform(tf.stack([shape[0], size]), seed=shift_seed)
    u = tf.math.floormod(points[:, None, :] + shift[None], 1.0)
    # Keep the quantile finite: u = 0 maps to the far tail, not to -inf.
    u = tf.clip_by_value(u, 1e-7, 1.0 - 1e-7)
    z = tf.math.ndtri(u)
    return tf.reshape(z, tf.concat([[m], shape], 0))
