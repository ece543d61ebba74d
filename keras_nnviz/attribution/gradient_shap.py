"""GradientSHAP (Lundberg & Lee 2017; Captum's ``GradientShap``): expected gradients.

Each of ``samples`` draws picks, per sample, a random reference ``b`` from the baseline
distribution, a random point ``alpha ~ U(0, 1)`` on the straight path and (``stdev > 0``) noise
on the input; the attribution is the mean of ``gradient(b + alpha (x' - b)) * (x' - b)`` with
``x'`` the noisy input. Its expectation sums to ``f(x) - E_b f(b)``. Draws run in chunks of
about ``batch_size`` inputs inside the one compiled pass, seeded.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..core import graph
from ..errors import InvalidArgumentError
from . import _engine as E
from . import _maps as M
from . import _sampling as S
from .deeplift import reference_stacks, signed_map, stack_rows, stack_specs
from .gradients import fold, tile
from .registry import Maps, method, run

__all__ = ["check_stdev", "gradient_shap", "GradientShap", "random_seed"]


def random_seed(seed: int | None) -> int:
    """``seed`` as a non-negative int32, or a fresh random one for None."""
    if seed is None:
        seed = int(np.random.default_rng().integers(0, 2**31 - 1))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise InvalidArgumentError(f"seed must be an int or None; received {seed!r}.")
    return int(seed) % (2**31 - 1)


def check_stdev(stdev: Any) -> float:
    """``stdev`` (a fraction of each sample's value range) as a float >= 0, or a named error."""
    if isinstance(stdev, bool) or not isinstance(stdev, int | float) or not stdev >= 0:
        raise InvalidArgumentError(
            f"stdev must be a float >= 0 (a fraction of each sample's value range); received "
            f"{stdev!r}."
        )
    return float(stdev)


class GradientShap(E.Explainer):
    """GradientSHAP (see :func:`gradient_shap`)."""

    method = "gradient_shap"
    heavy = True
    noise_tunnel = False  # it is a noise tunnel already

    def _options(
        self,
        *,
        baselines: Any = None,
        samples: int = 16,
        stdev: float = 0.0,
        seed: int | None = None,
        signed: bool = False,
        keep_channels: bool = False,
    ):
        samples = M.check_positive_int("samples", samples)
        stdev = check_stdev(stdev)
        static = {
            "signed": bool(signed),
            "keep_channels": bool(keep_channels),
            "noisy": stdev > 0,
        }
        dynamic = {"baselines": baselines, "samples": samples, "stdev": stdev}
        return static, {**dynamic, "seed": random_seed(seed)}

    def _extra_signature(self, opts):
        scalar = tf.TensorSpec((), tf.int32)
        specs = stack_specs(self._signature)
        return (specs, scalar, scalar, tf.TensorSpec((), tf.float32), tf.TensorSpec((2,), tf.int32))

    def _extras(self, batch, opts, dynamic, start, size):
        return (
            reference_stacks(batch, dynamic["baselines"], self._signature),
            tf.constant(dynamic["samples"], tf.int32),
            tf.constant(max(1, dynamic["batch_size"] // size), tf.int32),
            tf.constant(dynamic["stdev"], tf.float32),
            tf.constant([dynamic["seed"], start], tf.int32),
        )

    def _references(self, flat, stacks):
        """The references in the attributed space, ``(K, ...)`` each: the float inputs' stacks,
        or ``layer``'s output on the reference inputs (one forward pass)."""
        k, stacks = stack_rows(stacks)
        if self._layer is None:
            return k, [tf.cast(s, tf.float32) for s, t in zip(stacks, flat) if E.is_float(t)]
        refs = [tf.cast(s, t.dtype) for s, t in zip(stacks, flat)]
        zeros, ones = tf.zeros([k], tf.int32), tf.ones([k])
        _, act, _, _ = self._activation(refs, zeros, ones, fixed=True)
        return k, [tf.cast(act, tf.float32)]

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        stacks, samples, chunk, stdev, seed = ctx.extras
        flat, opts = ctx.inputs, ctx.options
        stacks = list(stacks) if isinstance(stacks, list | tuple) else [stacks]
        indices, signs, values = self._clean_pass(flat, ctx.indices, ctx.signs)
        k, references = self._references(flat, stacks)
        n = tf.shape(indices)[0]
        noised = list(enumerate(values))
        seeds, sums = S.noise_plan(noised, samples, seed, "simplex") if opts["noisy"] else ({}, {})
        path_seed = tf.random.experimental.stateless_fold_in(seed, -2)

        def draw(j):
            # per draw and sample: a point on the path and a reference (layout-independent)
            s = tf.random.experimental.stateless_fold_in(path_seed, j)
            alpha = tf.random.stateless_uniform([n], s)
            s = tf.random.experimental.stateless_fold_in(s, 1)
            pick = tf.random.stateless_uniform([n], s, minval=0, maxval=k, dtype=tf.int32)
            return alpha, pick

        def body(start, stop, acc):
            m = stop - start
            alphas, picks = tf.map_fn(
                draw, tf.range(start, stop), fn_output_signature=(tf.float32, tf.int32)
            )
            alphas, picks = tf.reshape(alphas, [-1]), tf.reshape(picks, [-1])
            ends = [tile(v, m) for v in values]
            if opts["noisy"]:
                ends = [
                    S.add_noise(e, start, stop, seeds[i], "simplex", samples, stdev, sums[i])
                    for i, e in enumerate(ends)
                ]
            starts = [tf.gather(r, picks) for r in references]
            deltas = [e - b for e, b in zip(ends, starts)]
            points = iter([b + _per_row(alphas, d) * d for b, d in zip(starts, deltas)])
            if self._layer is None:
                batch = [
                    tf.cast(next(points), t.dtype) if E.is_float(t) else tile(t, m) for t in flat
                ]
                transform = None
            else:
                batch = [tile(t, m) for t in flat]
                at = next(points)

                def transform(out):
                    return tf.cast(at, out.dtype)

            grads = self.gradients(
                batch,
                tf.tile(indices, [m]),
                tf.tile(signs, [m]),
                fixed=True,
                transform=transform,
            )[0]
            return tuple(a + fold(g * d, m) for a, g, d in zip(acc, grads, deltas))

        zeros = tuple(tf.zeros_like(v) for v in values)
        total = M.chunked_loop(samples, chunk, body, zeros)
        attributions = [t / tf.cast(samples, tf.float32) for t in total]
        layouts = self._layouts(flat)
        return [signed_map(a, opts, cf) for a, cf in zip(attributions, layouts)]


def _per_row(v: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """``(M,)`` values shaped to broadcast over the rows of ``like``."""
    return tf.reshape(v, tf.concat([[-1], tf.ones([like.shape.rank - 1], tf.int32)], 0))


@method(GradientShap, kind="gradient", signed=True, title="GradientSHAP")
def gradient_shap(
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
    logits: bool = True,
    normalize: bool = True,
    out: np.ndarray | None = None,
    baselines: Any = None,
    samples: int = 16,
    stdev: float = 0.0,
    seed: int | None = None,
    signed: bool = False,
    keep_channels: bool = False,
) -> Maps:
    """GradientSHAP (expected gradients): the mean over ``samples`` draws of
    ``gradient(b + alpha (x' - b)) * (x' - b)``, with a random reference ``b`` from
    ``baselines``, ``alpha ~ U(0, 1)`` and ``x'`` the input plus noise (``stdev``).

    An unbiased estimate of SHAP values under the linearity assumption; its expectation
    sums to ``score(x) - mean_b score(b)`` (with ``normalize=False, signed=True``). One gradient
    pass per draw and sample, in chunks of about ``batch_size`` inputs. With ``layer=`` the
    references and the path live at that layer's output (its output on the reference inputs).

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.

    Args:
        baselines: the reference distribution: a ``(K, *input_shape)`` array of samples, one
            sample's array, or a list of such arrays (one per input). Default None: one
            all-zeros reference (then this is integrated gradients with random path points).
        samples: draws per sample (Captum's ``n_samples``).
        stdev: noise standard deviation added to the input, as a fraction of each sample's
            value range (``max - min``, the SmoothGrad convention; Captum's ``stdevs`` is
            absolute). Default 0: no noise.
        seed: seed of the draws (None: a fresh one each call).
        signed: keep the sign; default ``|.|``.
        keep_channels: per-channel attributions.

    Returns:
        ``(N, *spatial)`` float32 maps.

    Example:
        >>> maps = nv.gradient_shap(model, x[:8], baselines=x_train[:32], samples=32, seed=0)
    """
    return run(GradientShap, locals())
