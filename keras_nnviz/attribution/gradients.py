"""Gradient attributions: saliency (+ SmoothGrad, VarGrad), gradient × input, integrated
gradients, guided backpropagation / deconvnet.

Every method is one compiled function per (model, target kind, options): forward pass, score,
gradient, channel reduction and normalization all run inside it, and SmoothGrad / IG loop over
their noise samples / path points in chunks of about ``batch_size`` inputs with a
``tf.while_loop`` (no Python loop, no retracing when ``steps`` or ``smooth_samples`` change).
Gradients are taken w.r.t. the float inputs in float32, also for ``mixed_float16`` models.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..core import graph
from ..core.graph import merge_hooks
from ..errors import IncompatibleLayerError, InvalidArgumentError, MethodWarning
from . import _engine as E
from . import _maps as M
from . import _sampling as S
from .registry import Maps, method, run
from .relu_rules import rule_hooks, unguided_nonlinearities

__all__ = [
    "fold",
    "guided_backprop",
    "GuidedBackprop",
    "modified_backprop",
    "relu_hooks",
    "Saliency",
    "saliency",
    "tile",
    "warn_unguided",
]


def relu_hooks(model: keras.Model, rule: str = "guided") -> dict:
    """Hooks for :func:`keras_nnviz.core.graph.forward` that change how gradients cross ReLUs.

    ``"guided"`` (Springenberg et al. 2015): the layer's own ReLU keeps its forward mask and
    an identity on its output drops negative upstream gradients, so only positive gradients
    through active units pass. ``"deconv"`` (Zeiler & Fergus 2014): only positive upstream
    gradients pass, whatever the forward activation; a fused ``activation="relu"`` is replaced
    for the duration of the traced call and restored in a ``finally`` (the traced graph keeps
    the rule; the model is left as it was). See :mod:`keras_nnviz.attribution.relu_rules`.

    Args:
        model: the model whose ReLU-activated layers (anywhere in nested models and custom
            layers) get hooks.
        rule: ``"guided"`` or ``"deconv"``.

    Returns:
        ``{id(layer): (layer, hook)}``.
    """
    if rule not in ("guided", "deconv"):
        raise InvalidArgumentError(f"rule must be 'guided' or 'deconv'; received {rule!r}.")
    return rule_hooks(model, rule)


def modified_backprop(
    model: keras.Model,
    inputs: Any,
    score_fn: Callable[[Any], tf.Tensor],
    rule: str = "guided",
    hooks: dict | None = None,
) -> tuple[list[tf.Tensor | None], Any]:
    """Gradients of ``score_fn(outputs)`` w.r.t. the float inputs under a modified ReLU rule.

    Call it inside a ``tf.function``. The model is not cloned or changed: ReLU-activated
    layers are wrapped through :func:`keras_nnviz.core.graph.forward` hooks (see
    :func:`relu_hooks`).
    Used by :func:`guided_backprop`, and by feature visualization for unit-level deconvnet /
    guided-backprop views (score an intermediate activation recorded by an extra hook).

    Args:
        model: a built Keras model.
        inputs: model-ready inputs (a flat list for functional models).
        score_fn: ``outputs -> (N,)`` scores to differentiate.
        rule: ``"guided"`` or ``"deconv"``.
        hooks: extra hooks ``{id(layer): (layer, hook)}``; on a ReLU layer they run inside the
            rule's hook.

    Returns:
        ``(gradients, outputs)``; gradients align with the inputs (None for non-float inputs),
        float32.

    Example:
        >>> @tf.function
        ... def grads(x):
        ...     return modified_backprop(model, x, lambda out: out[:, 3], "deconv")[0]
    """
    merged = merge_hooks(relu_hooks(model, rule), hooks or {})
    return _input_gradients(model, inputs, score_fn, merged)


def _as_list(inputs: Any) -> list:
    return list(inputs) if isinstance(inputs, list | tuple) else [inputs]


def _input_gradients(model, inputs, score_fn, hooks=None):
    flat = _as_list(inputs)
    watched = [t for t in flat if E.is_float(t)]
    if not watched:
        raise IncompatibleLayerError(
            f"Model {model.name!r} has no float inputs (received dtypes "
            f"{[t.dtype.name for t in flat]}), so input gradients do not exist. Explain an "
            "embedding layer's output instead, or use nv.occlusion."
        )
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(watched)
        model_inputs = flat if isinstance(inputs, list | tuple) else flat[0]
        outputs = graph.forward(model, model_inputs, hooks or {})
        score = score_fn(outputs)
    grads = iter(tape.gradient(score, watched))
    result = []
    for t in flat:
        g = next(grads) if E.is_float(t) else None
        if E.is_float(t):  # an input the score ignores has zero gradient, not None
            g = tf.zeros_like(t, tf.float32) if g is None else tf.cast(g, tf.float32)
        result.append(g)
    return result, outputs


# ----------------------------------------------------------------------------------------------
# Explainers


class _GradientExplainer(E.Explainer):
    """Gradient methods: one map per float input, or one map of ``layer``'s output."""

    @staticmethod
    def _finish(g, opts, how, channels_first=False):
        """Magnitude maps: |gradient| reduced over channels (max), or raw per-channel values
        (in the input's own layout)."""
        maps = g if opts["keep_channels"] else M.reduce_channels(g, how, channels_first)
        return M.normalize_maps(maps, signed=opts["keep_channels"]) if opts["normalize"] else maps


class Saliency(_GradientExplainer):
    """Vanilla gradients (Simonyan et al. 2014), SmoothGrad (Smilkov et al. 2017), VarGrad.

    ``Saliency(model)(x, target=...)`` compiles once per target kind and options and is reused
    for every call; :func:`saliency` is the function form (a cached instance per model). With
    ``layer=`` the noise of SmoothGrad is added to that layer's output (token ids cannot be
    perturbed), scaled by each sample's activation range.
    """

    method = "saliency"

    def _options(
        self,
        *,
        smooth_samples: int = 0,
        noise: float = 0.1,
        vargrad: bool = False,
        keep_channels: bool = False,
        seed: int | None = None,
        sampling: str = "simplex",
    ):
        samples = M.check_positive_int("smooth_samples", smooth_samples, minimum=0)
        S.check_sampling(sampling)
        if vargrad and samples < 2:
            raise InvalidArgumentError(
                f"vargrad=True needs smooth_samples >= 2 noisy copies to take a variance over; "
                f"received smooth_samples={smooth_samples}."
            )
        if isinstance(noise, bool) or not isinstance(noise, int | float) or not noise >= 0:
            raise InvalidArgumentError(f"noise must be a float >= 0; received {noise!r}.")
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2**31 - 1))
        static = {
            "smooth": samples > 0,
            "sampling": sampling if samples > 0 else None,
            "vargrad": bool(vargrad),
            "keep_channels": bool(keep_channels),
        }
        dynamic = {"samples": samples, "noise": float(noise), "seed": int(seed) % (2**31 - 1)}
        return static, dynamic

    def _is_heavy(self, opts, dynamic):
        return opts["smooth"]

    def _extra_signature(self, opts):
        scalar = tf.TensorSpec((), tf.int32)
        return (scalar, scalar, tf.TensorSpec((), tf.float32), tf.TensorSpec((2,), tf.int32))

    def _extras(self, batch, opts, dynamic, start, size):
        return (
            tf.constant(dynamic["samples"], tf.int32),
            tf.constant(max(1, dynamic["batch_size"] // size), tf.int32),
            tf.constant(dynamic["noise"], tf.float32),
            tf.constant([dynamic["seed"], start], tf.int32),
        )

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        samples, chunk, noise, seed = ctx.extras
        flat, indices, signs, opts = ctx.inputs, ctx.indices, ctx.signs, ctx.options
        if not opts["smooth"]:
            grads = self.gradients(flat, indices, signs)[0]
            layouts = self._layouts(flat)
            return [self._finish(g, opts, "absmax", cf) for g, cf in zip(grads, layouts)]
        indices, signs, values = self._clean_pass(flat, indices, signs)
        # Per noised tensor: its seed, and for "simplex" its blocks' sums, drawn once here (not
        # again by each chunk of samples: with one sample per chunk that was 8 draws each).
        noised = (
            [(i, t) for i, t in enumerate(flat) if E.is_float(t)]
            if self._layer is None
            else [(0, values[0])]
        )
        seeds, block_sums = S.noise_plan(noised, samples, seed, opts["sampling"])

        def body(start, stop, acc):
            m = stop - start

            def noisy(t, i):
                # Samples start ... stop - 1 of each input, drawn by index (see _sampling), so
                # the chunking (batch_size) does not change the noise.
                return S.add_noise(
                    t, start, stop, seeds[i], opts["sampling"], samples, noise, block_sums.get(i)
                )

            tiled = [tile(t, m) for t in flat]
            if self._layer is None:
                tiled = [noisy(t, i) if E.is_float(t) else t for i, t in enumerate(tiled)]
            grads = self.gradients(
                tiled,
                tf.tile(indices, [m]),
                tf.tile(signs, [m]),
                fixed=True,
                transform=None if self._layer is None else functools.partial(noisy, i=0),
            )[0]
            sums = [fold(g, m) for g in grads]
            squares = [fold(tf.square(g), m) for g in grads]
            return tuple(a + s for a, s in zip(acc, sums + squares))

        zeros = tuple(tf.zeros_like(v) for v in values) * 2
        acc = M.chunked_loop(samples, chunk, body, zeros)
        layouts = self._layouts(flat)
        count = tf.cast(samples, tf.float32)
        means = [a / count for a in acc[: len(values)]]
        if opts["vargrad"]:
            variances = [
                tf.nn.relu(sq / count - tf.square(mu)) for sq, mu in zip(acc[len(values) :], means)
            ]
            return [self._finish(v, opts, "max", cf) for v, cf in zip(variances, layouts)]
        return [self._finish(g, opts, "absmax", cf) for g, cf in zip(means, layouts)]


def tile(t: tf.Tensor, m: tf.Tensor) -> tf.Tensor:
    """``m`` copies of a batch, stacked: ``(m * N, ...)`` (copy-major)."""
    return tf.tile(t, tf.concat([[m], tf.ones([t.shape.rank - 1], tf.int32)], 0))


def fold(t: tf.Tensor, m: tf.Tensor) -> tf.Tensor:
    """Sum ``(m * N, ...)`` over its ``m`` tiled copies -> ``(N, ...)``."""
    shape = tf.shape(t)
    folded = tf.reshape(t, tf.concat([[m, shape[0] // m], shape[1:]], 0))
    return tf.reduce_sum(folded, axis=0)


class GuidedBackprop(_GradientExplainer):
    """Guided backpropagation (Springenberg et al. 2015) or deconvnet (Zeiler & Fergus 2014).

    The model is left as it is: ReLU-activated layers are wrapped by hooks while tracing (see
    :func:`relu_hooks`). Known caveat (Adebayo et al. 2018): guided maps hardly depend on the
    upper layers' weights or on the class; they show input structure more than the decision.
    With an objective target (a unit) this is the deconvnet / guided-backprop *view* of the unit
    (:func:`keras_nnviz.featureviz.backprop_view`).
    """

    method = "guided_backprop"

    def _options(self, *, rule: str = "guided", keep_channels: bool = False):
        if rule not in ("guided", "deconv"):
            raise InvalidArgumentError(f"rule must be 'guided' or 'deconv'; received {rule!r}.")
        return {"rule": rule, "keep_channels": bool(keep_channels)}, {}

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        model, flat, indices, signs, opts = (
            ctx.model,
            ctx.inputs,
            ctx.indices,
            ctx.signs,
            ctx.options,
        )
        hooks = relu_hooks(model, opts["rule"])
        warn_unguided(model, opts["rule"])  # while tracing: once per model and variant
        grads = self.gradients(flat, indices, signs, outer=hooks)[0]
        layouts = self._layouts(flat)
        return [self._finish(g, opts, "absmax", cf) for g, cf in zip(grads, layouts)]


def warn_unguided(model: keras.Model, rule: str) -> None:
    """Warn (:class:`MethodWarning`) when ``model`` has nonlinearities a ReLU ``rule`` does not
    reach (GELU, tanh ...): there the guided / deconv maps are plain gradients."""
    relus, others = unguided_nonlinearities(model)
    if not others:
        return
    kinds = ", ".join(f"{n} ×{k}" for n, k in sorted(others.items()))
    if relus == 0:
        what = (
            f"model {model.name!r} has no ReLU, so guided backprop / deconvnet ({rule!r}) "
            "returns plain gradients (the saliency map)"
        )
    else:
        what = (
            f"model {model.name!r} has {relus} ReLU layer(s) the {rule!r} rule applies to, but "
            "gradients pass unchanged through its other nonlinearities"
        )
    warnings.warn(
        f"{what}: {kinds}. The rule is defined for ReLUs only; use nv.saliency or "
        "nv.integrated_gradients for this model.",
        MethodWarning,
        stacklevel=2,
    )


# ----------------------------------------------------------------------------------------------
# Function forms (registered: see registry)


@method(Saliency, kind="gradient")
def saliency(
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
    smooth_samples: int = 0,
    noise: float = 0.1,
    vargrad: bool = False,
    keep_channels: bool = False,
    seed: int | None = None,
    sampling: str = "simplex",
) -> Maps:
    """Saliency: ``max_channels |d score / d x|``; SmoothGrad / VarGrad with noisy copies.

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.

    Args:
        smooth_samples: 0 = vanilla gradients; ``n > 0`` = SmoothGrad, the mean gradient over
            ``n`` copies with Gaussian noise (the class is fixed from the clean input; with
            ``layer=`` the noise is added to that layer's output).
        noise: noise standard deviation as a fraction of each sample's value range
            (``max - min``), as in the SmoothGrad paper.
        vargrad: return the per-feature variance of the noisy gradients instead (VarGrad).
        keep_channels: return raw signed gradients ``(N, *spatial, C)``.
        seed: noise seed, for reproducible SmoothGrad maps.
        sampling: how the noisy copies are drawn: ``"simplex"`` (default: blocks of up to 8
            centred draws that sum to zero), ``"antithetic"`` (pairs ``z, -z``), ``"sobol"``
            (randomized quasi-Monte Carlo, every feature stratified), ``"antithetic_sobol"``
            (both) or ``"iid"``. All have the same expected map; simplex blocks get closest
            to it with few samples (on a trained CNN, 8 of them correlate 0.95 with a
            256-sample i.i.d. map where 8 i.i.d. ones reach 0.85: benchmarks/README.md). See
            :mod:`keras_nnviz.attribution._sampling`.

    Returns:
        ``(N, *spatial)`` float32 maps in [0, 1] (see the registry for multi-input models).

    Example:
        >>> maps = nv.saliency(model, x[:16], smooth_samples=20, noise=0.1)
        >>> tokens = nv.saliency(text_model, ids)  # (N, T): the embedding layer's output
    """
    return run(Saliency, locals())


@method(GuidedBackprop, kind="gradient")
def guided_backprop(
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
    rule: str = "guided",
    keep_channels: bool = False,
) -> Maps:
    """Guided backpropagation (``rule="guided"``) or deconvnet (``rule="deconv"``).

    The model is not cloned or changed: ReLU-activated layers are hooked while tracing.
    These maps pass few sanity checks (they barely change with the class or the weights);
    prefer Grad-CAM or integrated gradients to explain a decision. With an objective target
    (``nv.objectives.neuron("conv2", 5)``) this is the unit's deconvnet / guided view.

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.

    Args:
        rule: ``"guided"`` or ``"deconv"``.
        keep_channels: raw signed per-channel gradients (an RGB-like image).

    Returns:
        ``(N, *spatial)`` float32 maps.

    Example:
        >>> maps = nv.guided_backprop(model, x[:4], keep_channels=True)
    """
    return run(GuidedBackprop, locals())
