"""Feature ablation and feature permutation (Captum's ``FeatureAblation``,
``FeaturePermutation``): the score drop when one feature group is taken away.

Ablation replaces the group by the ``baseline``: ``f(x) - f(x with the group replaced)``, one
evaluation per feature. Permutation gives the group the values of another sample of the batch
(a random derangement of the batch per permutation, seeded), averaged over ``permutations``:
the model's reliance on the feature as the data vary it, with no baseline to choose.
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import validation
from ..core import graph
from ..errors import MethodWarning
from . import _engine as E
from . import _perturb as P
from .registry import Maps, method, run

__all__ = ["FeatureAblation", "FeaturePermutation", "feature_ablation", "feature_permutation"]


def one_out(features: int, repeats: int = 1) -> np.ndarray:
    """``(repeats * F, F)`` coalitions: every feature but one present, feature-minor."""
    return np.tile(1.0 - np.eye(features), (repeats, 1))


def derangements(n: int, count: int, seed: int, start: int) -> np.ndarray:
    """``(count, n)`` permutations of a batch without fixed points (n >= 2): a random order
    rotated by a random step, so every sample borrows from another one."""
    rng = np.random.default_rng([seed, start, n])
    out = np.zeros((count, n), np.int32)
    for r in range(count):
        order = rng.permutation(n)
        step = int(rng.integers(1, n)) if n > 1 else 0
        out[r, order] = np.roll(order, -step)
    return out


class FeatureAblation(P.Perturbation):
    """Feature ablation over feature groups. See :func:`feature_ablation`.

    Example:
        >>> maps = nv.FeatureAblation(model)(x[:4], features="superpixels")
    """

    method = "feature_ablation"

    def _options(
        self,
        *,
        baseline: Any = None,
        features: Any = None,
        signed: bool = False,
    ):
        dynamic = self._common(None, 0, baseline, features)
        return {"signed": validation.flag("signed", signed)}, dynamic

    def _repeats(self, dynamic: dict) -> int:
        return 1

    def _rows(self, features, dynamic):
        return features * self._repeats(dynamic)

    def _design(self, features, n, dynamic, start):
        return P.Design(coalitions=one_out(features, self._repeats(dynamic)))

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        x = self.unpack(ctx.extras)
        full, _, idx, signs = self.score(ctx.inputs, ctx.indices, ctx.signs)
        scores = self.coalition_scores(ctx, x, (idx, signs))  # (N, R * F)
        n, f = tf.shape(scores)[0], tf.shape(x["coalitions"])[1]
        drops = full[:, None, None] - tf.reshape(scores, tf.stack([n, -1, f]))
        return self.finish_maps(tf.reduce_mean(drops, axis=1), x, ctx)


class FeaturePermutation(FeatureAblation):
    """Feature permutation over feature groups. See :func:`feature_permutation`.

    Example:
        >>> maps = nv.FeaturePermutation(model)(x[:32], permutations=8)
    """

    method = "feature_permutation"
    _permutes = True

    def _options(
        self,
        *,
        permutations: int = 4,
        seed: int = 0,
        features: Any = None,
        signed: bool = False,
    ):
        dynamic = self._common(None, seed, None, features)
        dynamic["permutations"] = validation.positive_int("permutations", permutations)
        return {"signed": validation.flag("signed", signed)}, dynamic

    def _repeats(self, dynamic: dict) -> int:
        return dynamic["permutations"]

    def _design(self, features, n, dynamic, start):
        if n < 2:
            warnings.warn(
                "feature_permutation swaps features between the samples of a batch; a batch of "
                "one sample has no other to borrow from, so its maps are zero. Explain several "
                "samples together (batch_size >= 2).",
                MethodWarning,
                stacklevel=6,
            )
        r = dynamic["permutations"]
        design = super()._design(features, n, dynamic, start)
        design["perms"] = derangements(n, r, dynamic["seed"], start)
        design["sources"] = np.repeat(np.arange(r), features)
        return design


# ----------------------------------------------------------------------------------------------
# Function forms (registered: see registry)


@method(FeatureAblation, kind="perturbation", signed=True, title="Feature ablation")
def feature_ablation(
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
    baseline: Any = None,
    features: Any = None,
    signed: bool = False,
) -> Maps:
    """Feature ablation: ``f(x) - f(x with the feature group replaced by baseline)`` for every
    group; one model evaluation per feature and sample.

    Shared arguments (``model``, ``x``, ``target``, ``output``, ``batch_size``, ``progress``,
    ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`. ``layer`` is not supported (inputs only).

    Args:
        baseline: the value of an absent feature: None (0; token id 0), a number, ``"mean"``
            or an array (see :mod:`keras_nnviz.attribution.features`).
        features: the feature groups (None: a grid for images and sequences, one per column
            or token otherwise; ``"grid"``, ``"superpixels"``, ``"tokens"``, ``"columns"``, an
            integer mask, a callable: see :mod:`keras_nnviz.attribution.features`).
        signed: keep the sign (negative: removing the group raised the score); default ``|.|``.

    Returns:
        ``(N, *spatial)`` float32 maps per attributed input; each position carries its
        feature's drop.

    Example:
        >>> drops = nv.feature_ablation(model, x[:4], features="superpixels", signed=True,
        ...                             normalize=False)
    """
    return run(FeatureAblation, locals())


@method(FeaturePermutation, kind="perturbation", signed=True, title="Feature permutation")
def feature_permutation(
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
    permutations: int = 4,
    seed: int = 0,
    features: Any = None,
    signed: bool = False,
) -> Maps:
    """Feature permutation: the score drop when a feature group takes the values of another
    sample of the batch, averaged over ``permutations`` random derangements of the batch
    (``permutations × F`` evaluations per sample). Needs batches of several samples; the maps
    depend on the batch (``batch_size``) and are reproducible for the same ``seed``.

    Shared arguments (``model``, ``x``, ``target``, ``output``, ``batch_size``, ``progress``,
    ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`. ``layer`` is not supported (inputs only).

    Args:
        permutations: derangements of the batch to average over.
        seed: seeds the derangements.
        features: the feature groups (see :func:`feature_ablation`).
        signed: keep the sign; default ``|.|``.

    Returns:
        ``(N, *spatial)`` float32 maps per attributed input.

    Example:
        >>> maps = nv.feature_permutation(model, x_test[:64], permutations=8)
    """
    return run(FeaturePermutation, locals())
