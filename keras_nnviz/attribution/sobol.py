"""Sobol attribution (Fel et al. 2021, xplique's ``SobolAttributionMethod``): total-order Sobol
indices of the score with respect to soft masks on the feature groups.

Each feature is scaled by a mask value in [0, 1] (0: the ``baseline``, 1: the input; xplique's
"inpainting" with baseline 0). Two quasi-random designs ``A`` and ``B`` of ``designs`` points
(a scrambled Sobol sequence, seeded) and one ``C_i`` per feature (``A`` with column ``i`` from
``B``) are evaluated through the compiled pass: ``designs × (F + 2)`` evaluations per input.
The Jansen estimator gives each feature's total-order index
``sum_j (f(A_j) - f(C_ij))**2 / (2 n Var f(A))``: the share of the score's variance that
involves the feature, interactions included.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import validation
from ..core import graph
from ..errors import InvalidArgumentError
from . import _engine as E
from . import _perturb as P
from .registry import Maps, method, run

__all__ = ["SobolAttribution", "sobol_attribution", "sobol_design"]


def sobol_design(features: int, designs: int, seed: int) -> P.Design:
    """``A``, ``B`` and every ``C_i`` stacked: ``(designs * (F + 2), F)`` mask values."""
    from scipy.stats import qmc  # scipy: a dependency already (quasi-random points)

    ab = qmc.Sobol(2 * features, scramble=True, seed=seed).random(designs)
    a, b = ab[:, :features], ab[:, features:]
    c = np.repeat(a[None], features, axis=0)  # (F, n, F)
    idx = np.arange(features)
    c[idx, :, idx] = b[:, idx].T
    return P.Design(coalitions=np.concatenate([a, b, c.reshape(-1, features)]))


def jansen_total_order(scores: tf.Tensor, designs: tf.Tensor) -> tf.Tensor:
    """Total-order indices ``(N, F)`` from the scores ``(N, n (F + 2))`` of ``A, B, C_1..F``."""
    y = tf.cast(scores, tf.float64)
    n = designs
    a = y[:, :n]
    c = tf.reshape(y[:, 2 * n :], tf.stack([tf.shape(y)[0], -1, n]))  # (N, F, n)
    nf = tf.cast(n, tf.float64)
    var = tf.reduce_sum(tf.square(a - tf.reduce_mean(a, 1, keepdims=True)), 1) / (nf - 1.0)
    var = tf.maximum(var, 1e-12)
    numerator = tf.reduce_sum(tf.square(a[:, None] - c), axis=-1)
    return tf.cast(numerator / (2.0 * nf * var[:, None]), tf.float32)


class SobolAttribution(P.Perturbation):
    """Sobol attribution over feature groups. See :func:`sobol_attribution`.

    Example:
        >>> maps = nv.SobolAttribution(model)(x[:4], designs=32)
    """

    method = "sobol_attribution"

    def _options(
        self,
        *,
        designs: int = 32,
        seed: int = 0,
        baseline: Any = None,
        features: Any = None,
    ):
        dynamic = self._common(None, seed, baseline, features)
        designs = validation.positive_int("designs", designs, minimum=2)
        if designs & (designs - 1):
            raise InvalidArgumentError(
                f"designs must be a power of two (the Sobol sequence's balance); received "
                f"{designs}. Try {1 << designs.bit_length()}."
            )
        dynamic["designs"] = designs
        return {}, dynamic

    def _rows(self, features, dynamic):
        return dynamic["designs"] * (features + 2)

    def _numbers(self, dynamic):
        return [dynamic["designs"]]

    def _design(self, features, n, dynamic, start):
        return sobol_design(features, dynamic["designs"], dynamic["seed"])

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        x = self.unpack(ctx.extras)
        _, _, idx, signs = self.score(ctx.inputs, ctx.indices, ctx.signs)
        scores = self.coalition_scores(ctx, x, (idx, signs))
        designs = tf.cast(x["numbers"][0], tf.int32)
        values = jansen_total_order(scores, designs)
        return self.finish_maps(values, x, ctx)


# ----------------------------------------------------------------------------------------------
# Function form (registered: see registry)


@method(SobolAttribution, kind="perturbation", title="Sobol attribution", slug="sobol")
def sobol_attribution(
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
    designs: int = 32,
    seed: int = 0,
    baseline: Any = None,
    features: Any = None,
) -> Maps:
    """Sobol attribution (Fel et al. 2021): each feature group's total-order Sobol index, the
    share of the score's variance under random soft masks that involves the feature
    (interactions included), estimated with Jansen's estimator on a scrambled Sobol design.
    ``designs × (F + 2)`` model evaluations per input (F features: 2112 for the default 8 × 8
    grid and 32 designs, as xplique).

    Shared arguments (``model``, ``x``, ``target``, ``output``, ``batch_size``, ``progress``,
    ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`. ``layer`` is not supported (inputs only).

    Args:
        designs: points of each quasi-random design (a power of two; xplique's
            ``nb_design``).
        seed: seeds the scrambling of the Sobol sequence.
        baseline: what a fully masked feature becomes (see
            :mod:`keras_nnviz.attribution.features`); a mask value ``m`` gives
            ``baseline + m (x - baseline)``.
        features: the feature groups (see :func:`keras_nnviz.attribution.shapley.kernel_shap`).

    Returns:
        ``(N, *spatial)`` float32 maps per attributed input (indices are >= 0; scaled to
        [0, 1] unless ``normalize=False``).

    Example:
        >>> maps = nv.sobol_attribution(model, x[:4], designs=32)
    """
    return run(SobolAttribution, locals())
