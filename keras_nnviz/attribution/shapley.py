"""KernelSHAP (Lundberg & Lee 2017) and LIME (Ribeiro et al. 2016): a weighted linear model of
the score over feature coalitions, fitted per sample inside the compiled pass.

Both evaluate the model on ``samples`` coalitions of the input's features (present features
keep the input's values, absent ones take the ``baseline``; see :mod:`.features`), batched
through the compiled pass, then solve a small weighted least-squares problem per sample in
float64. KernelSHAP weights coalitions by the Shapley kernel and constrains the values to sum
to ``f(x) - f(baseline)``: when the budget covers every coalition (``2**F - 1 <= samples``, so
up to 9 features at the default 512) it enumerates them all and the result is the exact Shapley
values. LIME fits a ridge regression weighted by an exponential kernel on the cosine distance to
the input, as the ``lime`` package does for images.
"""

from __future__ import annotations

from math import comb
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import validation
from ..core import graph
from . import _engine as E
from . import _perturb as P
from .registry import Maps, method, run

__all__ = ["KernelShap", "Lime", "kernel_shap", "lime", "lime_design", "shapley_design"]

MAX_ENUMERATED = 20  # features beyond this are always sampled (2**20 coalitions)


def shapley_design(features: int, samples: int, seed: int) -> P.Design:
    """Coalitions of KernelSHAP: row 0 is the empty coalition (``f(baseline)``); then every
    coalition with its Shapley-kernel weight when ``2**F - 1 <= samples``, else ``samples - 1``
    coalitions drawn from the kernel (sizes ``k`` with probability ``∝ (F-1) / (k (F-k))``, in
    complementary pairs) with equal weights."""
    f = features
    if f <= MAX_ENUMERATED and 2**f - 1 <= samples:
        codes = np.arange(1, 2**f - 1, dtype=np.int64)
        z = ((codes[:, None] >> np.arange(f)) & 1).astype(np.float64)
        k = z.sum(axis=1).astype(int)
        w = np.array([(f - 1) / (comb(f, int(s)) * s * (f - s)) for s in k])
    else:
        P.check_design_size(samples, f, "kernel_shap")
        rng = np.random.default_rng([seed, f])
        sizes = np.arange(1, f)
        p = (f - 1) / (sizes * (f - sizes))
        draws = samples - 1
        k = rng.choice(sizes, size=(draws + 1) // 2, p=p / p.sum())
        u = rng.random((len(k), f))
        ranks = np.argsort(np.argsort(u, axis=1), axis=1)
        z = (ranks < k[:, None]).astype(np.float64)
        z = np.concatenate([z, 1.0 - z])[:draws]  # complementary pairs
        w = np.ones(len(z))
    z = np.concatenate([np.zeros((1, f)), z])
    w = np.concatenate([[0.0], w])
    return P.Design(coalitions=z, weights=w)


def lime_design(features: int, samples: int, seed: int, kernel_width: float) -> P.Design:
    """Coalitions of LIME: row 0 the input itself; then a uniform number of features switched
    off at random; weights ``sqrt(exp(-d**2 / width**2))`` of the cosine distance ``d`` to the
    input (the ``lime`` package's image explainer)."""
    rng = np.random.default_rng([seed, features])
    off = rng.integers(1, features + 1, size=samples - 1)
    u = rng.random((samples - 1, features))
    ranks = np.argsort(np.argsort(u, axis=1), axis=1)
    z = np.concatenate([np.ones((1, features)), (ranks >= off[:, None]).astype(np.float64)])
    distance = 1.0 - np.sqrt(z.sum(axis=1) / features)
    w = np.sqrt(np.exp(-(distance**2) / kernel_width**2))
    return P.Design(coalitions=z, weights=w)


def shapley_values(scores, full, z, w) -> tf.Tensor:
    """Constrained weighted least squares of KernelSHAP: ``(N, F)`` values summing to
    ``full - scores[:, 0]`` (the score of the input minus that of the empty coalition)."""
    y, fx = tf.cast(scores, tf.float64), tf.cast(full, tf.float64)
    z, w = tf.cast(z, tf.float64), tf.cast(w, tf.float64)
    empty = y[:, 0]
    delta = fx - empty
    last = z[:, -1:]
    # Eliminate the last feature with the constraint: phi_F = delta - sum(others).
    xs = z[:, :-1] - last  # (S, F-1)
    ys = tf.transpose(y - empty[:, None]) - last * delta[None, :]  # (S, N)
    beta = _weighted_solve(xs, ys, w, 0.0)
    rest = delta - tf.reduce_sum(beta, axis=0)
    return tf.cast(tf.transpose(tf.concat([beta, rest[None]], 0)), tf.float32)


def lime_values(scores, z, w, ridge: float = 1.0) -> tf.Tensor:
    """Weighted ridge regression with intercept (LIME's ``Ridge(alpha=1)``): ``(N, F)``."""
    y, z, w = tf.cast(scores, tf.float64), tf.cast(z, tf.float64), tf.cast(w, tf.float64)
    total = tf.reduce_sum(w)
    zc = z - tf.reduce_sum(w[:, None] * z, axis=0) / total
    yt = tf.transpose(y)  # (S, N)
    yc = yt - tf.reduce_sum(w[:, None] * yt, axis=0) / total
    return tf.cast(tf.transpose(_weighted_solve(zc, yc, w, ridge)), tf.float32)


def _weighted_solve(x, y, w, ridge: float) -> tf.Tensor:
    """``argmin_b sum_s w_s (y_s - x_s b)**2 + ridge |b|**2`` for every column of ``y``:
    ``(k, N)``; the least-norm solution when underdetermined."""
    k = tf.shape(x)[1]
    xw = x * w[:, None]
    a = tf.matmul(xw, x, transpose_a=True) + ridge * tf.eye(k, dtype=x.dtype)
    b = tf.matmul(xw, y, transpose_a=True)
    return tf.cond(
        k > 0,
        lambda: tf.matmul(tf.linalg.pinv(a), b),
        lambda: tf.zeros(tf.stack([k, tf.shape(y)[1]]), x.dtype),
    )


class _Regression(P.Perturbation):
    """Evaluate the design's coalitions, fit per sample, spread the coefficients."""

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        x = self.unpack(ctx.extras)
        full, _, idx, signs = self.score(ctx.inputs, ctx.indices, ctx.signs)
        scores = self.coalition_scores(ctx, x, (idx, signs))
        return self.finish_maps(self.fit(scores, full, x), x, ctx)

    def fit(self, scores, full, x) -> tf.Tensor:
        raise NotImplementedError


class KernelShap(_Regression):
    """KernelSHAP over feature groups; exact Shapley values when every coalition fits the
    budget. See :func:`kernel_shap`.

    Example:
        >>> maps = nv.KernelShap(model)(x[:4], samples=1024, features="superpixels")
    """

    method = "kernel_shap"

    def _options(
        self,
        *,
        samples: int = 512,
        seed: int = 0,
        baseline: Any = None,
        features: Any = None,
        signed: bool = False,
    ):
        dynamic = self._common(samples, seed, baseline, features)
        return {"signed": validation.flag("signed", signed)}, dynamic

    def _design(self, features, n, dynamic, start):
        return shapley_design(features, dynamic["samples"], dynamic["seed"])

    def fit(self, scores, full, x):
        return shapley_values(scores, full, x["coalitions"], x["weights"])


class Lime(_Regression):
    """LIME over feature groups. See :func:`lime`.

    Example:
        >>> maps = nv.Lime(model)(x[:4], samples=1000)
    """

    method = "lime"

    def _options(
        self,
        *,
        samples: int = 512,
        seed: int = 0,
        baseline: Any = None,
        features: Any = None,
        kernel_width: float = 0.25,
        signed: bool = False,
    ):
        dynamic = self._common(samples, seed, baseline, features)
        dynamic["kernel_width"] = validation.number(
            "kernel_width", kernel_width, low=0.0, low_open=True
        )
        return {"signed": validation.flag("signed", signed)}, dynamic

    def _design(self, features, n, dynamic, start):
        return lime_design(features, dynamic["samples"], dynamic["seed"], dynamic["kernel_width"])

    def fit(self, scores, full, x):
        return lime_values(scores, x["coalitions"], x["weights"])


# ----------------------------------------------------------------------------------------------
# Function forms (registered: see registry)


@method(KernelShap, kind="perturbation", signed=True, title="KernelSHAP", slug="kernelshap")
def kernel_shap(
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
    samples: int = 512,
    seed: int = 0,
    baseline: Any = None,
    features: Any = None,
    signed: bool = False,
) -> Maps:
    """KernelSHAP: Shapley values of feature groups, from a Shapley-kernel-weighted linear
    regression over ``samples`` coalitions (present features keep the input, absent ones take
    ``baseline``). When ``2**F - 1 <= samples`` (F features: up to 9 at the default budget)
    every coalition is evaluated and the values are the exact Shapley values; otherwise
    coalitions are sampled from the Shapley kernel in complementary pairs. The values of a
    sample sum to ``f(x) - f(baseline)``.

    Shared arguments (``model``, ``x``, ``target``, ``output``, ``batch_size``, ``progress``,
    ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`. ``layer`` is not supported (inputs only).

    Args:
        samples: model evaluations per sample (the empty coalition included).
        seed: seeds the coalitions (the same seed and features give the same coalitions).
        baseline: the value of an absent feature: None (0; token id 0), a number, ``"mean"``
            or an array (see :mod:`keras_nnviz.attribution.features`).
        features: the feature groups: None (a grid for images and sequences, one per column
            or token otherwise), ``"grid"``, ``"superpixels"``, ``"tokens"``, ``"columns"``,
            an integer mask of group ids, or a callable (see
            :mod:`keras_nnviz.attribution.features`).
        signed: keep the sign of the values (``normalize=False, signed=True``: the raw
            Shapley values); default ``|.|``.

    Returns:
        ``(N, *spatial)`` float32 maps per attributed input (``(N, F)`` for tabular inputs,
        ``(N, T)`` for token ids); each position carries its feature's value.

    Example:
        >>> phi = nv.kernel_shap(model, x[:4], features="superpixels", signed=True,
        ...                      normalize=False)
    """
    return run(KernelShap, locals())


@method(Lime, kind="perturbation", signed=True, title="LIME")
def lime(
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
    samples: int = 512,
    seed: int = 0,
    baseline: Any = None,
    features: Any = None,
    kernel_width: float = 0.25,
    signed: bool = False,
) -> Maps:
    """LIME: the coefficients of a local linear model of the score over feature groups, a
    ridge regression (``alpha=1``, with intercept) on ``samples`` random coalitions weighted by
    ``sqrt(exp(-d**2 / kernel_width**2))`` of their cosine distance ``d`` to the input (the
    ``lime`` package's image explainer).

    Shared arguments (``model``, ``x``, ``target``, ``output``, ``batch_size``, ``progress``,
    ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`. ``layer`` is not supported (inputs only).

    Args:
        samples: model evaluations per sample (the input itself included).
        seed: seeds the coalitions.
        baseline: the value of an absent feature (see :func:`kernel_shap`).
        features: the feature groups (see :func:`kernel_shap`).
        kernel_width: width of the exponential kernel on cosine distance.
        signed: keep the coefficients' sign; default ``|.|``.

    Returns:
        ``(N, *spatial)`` float32 maps per attributed input; each position carries its
        feature's coefficient.

    Example:
        >>> maps = nv.lime(model, x[:4], samples=1000, features="superpixels")
    """
    return run(Lime, locals())
