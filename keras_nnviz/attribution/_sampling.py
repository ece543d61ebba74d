"""Noise sampling of the sampled attribution methods (inside the compiled pass).

Noise for SmoothGrad / VarGrad (:func:`standard_normal`): every scheme gives each noise value a
standard normal marginal, so the averaged map has the same expectation as with i.i.d. noise
(unbiased); they differ in how the samples of one input are spread:

- ``"iid"``: independent Gaussian draws.
- ``"antithetic"``: samples come in pairs ``z, -z``. The part of the gradient that is odd in the
  noise (its first-order response) cancels within each pair instead of averaging out slowly.
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

SAMPLINGS = ("iid", "antithetic", "sobol", "antithetic_sobol")
SOBOL_MAX_DIM = 21201  # tf.math.sobol_sample's direction numbers (Joe & Kuo)


def check_sampling(sampling: str) -> str:
    if sampling not in SAMPLINGS:
        raise InvalidArgumentError(
            f"sampling must be one of {list(SAMPLINGS)}; received {sampling!r}. 'antithetic' "
            "pairs z with -z; 'sobol' stratifies every feature (randomized quasi-Monte Carlo); "
            "'antithetic_sobol' does both; 'iid' draws independent Gaussian noise."
        )
    return sampling


def standard_normal(
    scheme: str, shape: tf.Tensor, start: tf.Tensor, stop: tf.Tensor, seed: tf.Tensor
) -> tf.Tensor:
    """Noise samples ``start ... stop - 1`` of one batch: ``(stop - start, *shape)`` float32.

    Args:
        scheme: one of :data:`SAMPLINGS`.
        shape: the batch shape ``(N, ...)`` (a tensor); each sample draws one value per entry.
        start: index of the first sample (int32 scalar).
        stop: one past the last sample.
        seed: stateless seed ``(2,)`` of the batch; the same seed gives the same noise.

    Returns:
        Values with standard normal marginals (see the module docstring).
    """
    ks = tf.range(start, stop)
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
            pair_seed = tf.random.experimental.stateless_fold_in(seed, k // 2)
            z = tf.random.stateless_normal(shape, seed=pair_seed)
            return z * tf.cast(1 - 2 * (k % 2), tf.float32)
        return tf.random.stateless_normal(
            shape, seed=tf.random.experimental.stateless_fold_in(seed, k)
        )

    return tf.map_fn(draw, ks, fn_output_signature=tf.float32)


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
