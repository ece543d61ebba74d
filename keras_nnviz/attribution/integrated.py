"""Signed, additive attributions: gradient × input and integrated gradients.

Both attribute the score to input features so that contributions add up (integrated gradients
exactly: ``sum(attributions) = f(x) - f(baseline)``). Channels are summed for the same reason;
maps are ``|.|`` normalized to [0, 1] by default and signed (``signed=True``) on request.
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..core import graph
from ..errors import IncompatibleLayerError, InvalidArgumentError, MethodWarning
from . import _engine as E
from . import _maps as M
from . import _quadrature as Q
from . import _refine as R
from . import _token_baseline as T
from .gradients import _GradientExplainer
from .registry import Maps, method, run

__all__ = [
    "baseline_batch",
    "blur",
    "gradient_x_input",
    "GradientXInput",
    "integrated_gradients",
    "IntegratedGradients",
    "IntegratedMaps",
]


class GradientXInput(_GradientExplainer):
    """Gradient × input (Shrikumar et al. 2016): first-order contribution of each feature
    (with ``layer=``: gradient × activation of that layer's output)."""

    method = "gradient_x_input"

    def _options(self, *, signed: bool = False, keep_channels: bool = False):
        return {"signed": bool(signed), "keep_channels": bool(keep_channels)}, {}

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        flat, indices, signs, opts = ctx.inputs, ctx.indices, ctx.signs, ctx.options
        grads, values, _, _ = self.gradients(flat, indices, signs)
        layouts = self._layouts(flat)
        return [_signed_map(g * v, opts, cf) for g, v, cf in zip(grads, values, layouts)]


def _signed_map(attr: tf.Tensor, opts: dict, channels_first: bool = False) -> tf.Tensor:
    """Channels summed (attributions add up), then |.| unless signed, then normalized."""
    maps = attr if opts["keep_channels"] else M.reduce_channels(attr, "sum", channels_first)
    return M.finish(maps, opts["signed"], opts["normalize"])


class IntegratedGradients(_GradientExplainer):
    """Integrated gradients (Sundararajan et al. 2017), adaptive by default.

    ``steps="auto"``: an open trapezoid rule on the straight path (path ends left out, see
    :func:`keras_nnviz.attribution._quadrature.adaptive`), refined by halving its intervals
    (only the new midpoints are evaluated; every point computed before is reused) until, for
    each sample, the completeness error ``|sum(attributions) - (f(x) - f(baseline))|`` is within
    ``tolerance`` of ``|f(x) - f(baseline)|`` and the attributions changed by at most
    ``sqrt(tolerance)`` (relative L2) in the last halving, or half of ``max_steps`` is reached;
    samples still above tolerance then get local refinement with the points left, each on its
    own grid (:func:`keras_nnviz.attribution._refine.rescue`). Samples that converged leave
    the batch, so they stop costing. An int ``steps``: the midpoint rule with that many points
    (the explained class is fixed from the clean input either way).

    Path points run in chunks of about ``batch_size`` inputs inside one compiled
    ``tf.while_loop``. With ``layer=`` a hook replaces that layer's output by the path from a
    baseline activation (default zeros; at a text model's token embedding the padding token's
    embedding, see :mod:`keras_nnviz.attribution._token_baseline`) to the actual one, so
    completeness holds at the layer: the attributions sum to ``f(x) - f(x with the layer's
    output = baseline)``.

    The maps come back as :class:`IntegratedMaps` (a numpy array) carrying per sample the
    path points used, the completeness error reached and whether the tolerance was met.
    """

    method = "integrated_gradients"
    heavy = True
    # steps used, completeness error, converged, jump shares (all, routed), f(x) - f(baseline), f(x)
    auxiliary_outputs = 7

    def _options(
        self,
        *,
        baseline: Any = None,
        steps: int | str = "auto",
        tolerance: float = 0.01,
        max_steps: int = 512,
        signed: bool = False,
        keep_channels: bool = False,
        keep_tokens: Any = None,
    ):
        adaptive = isinstance(steps, str) and steps == "auto"
        if not adaptive:
            if isinstance(steps, str):
                raise InvalidArgumentError(
                    f"steps must be 'auto' or an int >= 1; received {steps!r}."
                )
            steps = M.check_positive_int("steps", steps)
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float):
            raise InvalidArgumentError(f"tolerance must be a float > 0; received {tolerance!r}.")
        if not 0 < tolerance < 1:
            raise InvalidArgumentError(
                f"tolerance is a relative completeness error in (0, 1); received {tolerance!r}."
            )
        max_steps = M.check_positive_int("max_steps", max_steps)
        static = {
            "signed": bool(signed),
            "keep_channels": bool(keep_channels),
            "adaptive": adaptive,
        }
        dynamic = {
            "baseline": baseline,
            "keep_tokens": T.check_keep_tokens(keep_tokens),
            # adaptive: the budget of path points (the halving rule gets about half of it)
            "steps": max_steps if adaptive else steps,
            "tolerance": float(tolerance),
            # the open rule on 2**k intervals evaluates 2**k - 1 points
            "intervals": 1 << ((max_steps // 2 + 1).bit_length() - 1),
        }
        return static, dynamic

    def _layer_rank(self) -> int:
        shape = graph.output_shape(self._layer)
        if not shape:
            raise IncompatibleLayerError(
                f"The output shape of layer {self.layer_path!r} is unknown, so integrated "
                "gradients cannot build its baseline; pick a layer of the model graph."
            )
        return len(shape)

    def _extra_signature(self, opts):
        scalar = tf.TensorSpec((), tf.int32)
        rest = (scalar, scalar, tf.TensorSpec((), tf.float32), scalar)
        if self._layer is not None:
            return (tf.TensorSpec([None] * self._layer_rank(), tf.float32), *rest)
        return (self._signature, *rest)

    def _extras(self, batch, opts, dynamic, start, size):
        rest = (
            tf.constant(dynamic["steps"], tf.int32),
            tf.constant(dynamic["batch_size"], tf.int32),
            tf.constant(dynamic["tolerance"], tf.float32),
            tf.constant(dynamic["intervals"], tf.int32),
        )
        if self._layer is not None and T.is_token_layer(self.model, self.layer_path):
            flat = list(batch) if self._signature is not None else [batch]
            keep = dynamic["keep_tokens"]
            b = T.token_baseline(
                self.model, self.layer_path, flat, dynamic["baseline"], keep, start, size
            )
            return (tf.constant(b), *rest)
        if self._layer is not None:
            return (_layer_baseline(dynamic["baseline"], self._layer_rank(), start, size), *rest)
        flat = list(batch) if self._signature is not None else [batch]
        baselines = [
            baseline_batch(t, dynamic["baseline"], i, len(flat), start, size, self._slot_name(i))
            for i, t in enumerate(flat)
        ]
        if self._signature is None:
            baselines = baselines[0]
        return (baselines, *rest)

    def _slot_name(self, i: int) -> str:
        return self._slots[i].describe() if self._slots else "the input"

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        baselines, steps, batch_size, tolerance, intervals = ctx.extras
        flat, indices, signs, opts = ctx.inputs, ctx.indices, ctx.signs, ctx.options
        indices, signs, values = self._clean_pass(flat, indices, signs)
        if self._layer is not None:
            starts = [tf.broadcast_to(tf.cast(baselines, tf.float32), tf.shape(values[0]))]
        else:
            baselines = list(baselines) if self._signature is not None else [baselines]
            starts = [tf.cast(b, tf.float32) for b, t in zip(baselines, flat) if E.is_float(t)]
        path = Q.Path(self, flat, starts, [v - b for v, b in zip(values, starts)], indices, signs)
        ends = tf.reshape(path.scores(tf.constant([0.0, 1.0])), [2, -1])  # f(baseline), f(x)
        if opts["adaptive"]:
            attributions, points, error = Q.adaptive(path, batch_size, tolerance, intervals, ends)
            # samples the uniform halving left above tolerance: local refinement, with the
            # path points left (``steps`` is ``max_steps`` here)
            left = steps - points
            result = R.rescue(path, batch_size, tolerance, left, attributions, points, error)
            attributions, points, error, jumps, routed = result
        else:
            attributions = Q.midpoint(path, steps, batch_size)
            points = tf.fill(tf.shape(ends[0]), steps)
            error = Q.completeness_error(attributions, ends[0], ends[1])
            jumps = routed = tf.zeros_like(error)
        layouts = self._layouts(flat)
        maps = [_signed_map(a, opts, cf) for a, cf in zip(attributions, layouts)]
        met = tf.cast(error <= tolerance, tf.float32)
        gap = ends[1] - ends[0]
        return [*maps, tf.cast(points, tf.float32), error, met, jumps, routed, gap, ends[1]]

    def _assemble(self, maps, opts):
        points, error, met, jumps, routed, gap, score = maps[-7:]
        if not opts["adaptive"]:
            met = np.ones_like(met)  # a fixed step count promises nothing
        elif not met.all():
            missed = int((met == 0).sum())
            warnings.warn(
                f"integrated gradients: {missed} of {len(met)} samples did not reach the "
                f"completeness tolerance within max_steps (largest error {error.max():.2%}); "
                "raise max_steps or tolerance. The maps' .completeness_error says which.",
                MethodWarning,
                stacklevel=4,
            )
        _warn_small_gap(gap, score)
        info = {"steps": points.astype(np.int64), "completeness_error": error}
        info["converged"] = met.astype(bool)
        info["jump_share"] = jumps
        info["routed_share"] = routed
        if opts["adaptive"] and (jumps > 0.01).any():
            warnings.warn(
                f"integrated gradients: the score jumps along the path for "
                f"{int((jumps > 0.01).sum())} of {len(jumps)} samples (top-k routing, a "
                f"hard threshold): up to {jumps.max():.1%} of |f(x) - f(baseline)| was shared "
                "among the features by the jump rule (by the routing margin that crosses zero "
                "there, else by |gradient x delta|), not integrated from gradients. The maps' "
                ".jump_share and .routed_share say which.",
                MethodWarning,
                stacklevel=4,
            )
        out = super()._assemble(maps[:-7], opts)
        if isinstance(out, list):
            return [None if m is None else IntegratedMaps.wrap(m, info) for m in out]
        return IntegratedMaps.wrap(out, info)


class IntegratedMaps(np.ndarray):
    """Integrated-gradients maps (a numpy array) and how they were computed, per sample.

    Attributes:
        steps: ``(N,)`` path points evaluated (gradient passes) for each sample.
        completeness_error: ``(N,)`` ``|sum(attributions) - (f(x) - f(baseline))|`` relative to
            ``|f(x) - f(baseline)|`` (to 0.1 % of the larger score where the two nearly
            coincide), from the unnormalized attributions.
        converged: ``(N,)`` the tolerance was met (always True for an int ``steps``).
        jump_share: ``(N,)`` the part of the score change that jumps along the path (top-k
            expert routing, hard thresholds), relative to ``|f(x) - f(baseline)|`` (the sum
            of the jumps' ``|residual|``): shared among the features by the jump rule of
            :mod:`keras_nnviz.attribution._refine`, not integrated from gradients. 0 where no
            jump was found (always 0 for an int ``steps``).
        routed_share: ``(N,)`` the part of ``jump_share`` at jumps where a top-k routing
            margin crosses zero, shared by the margin's first-order contributions (the exact
            integrated gradients of a step in that margin); the rest was shared by
            ``|gradient x delta|`` (a convention).

    The attributes describe the whole batch (slicing the array does not slice them);
    ``np.asarray(maps)`` is the plain array.

    Example:
        >>> maps = nv.integrated_gradients(model, x[:8])
        >>> maps.steps, maps.completeness_error.max()
    """

    steps: np.ndarray
    completeness_error: np.ndarray
    converged: np.ndarray
    jump_share: np.ndarray
    routed_share: np.ndarray

    @classmethod
    def wrap(cls, maps: np.ndarray, info: dict) -> IntegratedMaps:
        out = np.asarray(maps).view(cls)
        for name, value in info.items():
            setattr(out, name, value)
        return out

    def __array_finalize__(self, obj):
        for name in ("steps", "completeness_error", "converged", "jump_share", "routed_share"):
            setattr(self, name, getattr(obj, name, None))


def _warn_small_gap(gap: np.ndarray, score: np.ndarray) -> None:
    """Warn when the baseline scores about what the input scores (gap within 1 % of |f(x)|,
    or 1e-6): the attributions then add up to almost nothing and their ranking says little."""
    small = np.flatnonzero(np.abs(gap) <= np.maximum(0.01 * np.abs(score), 1e-6))
    if small.size:
        first = int(small[0])
        warnings.warn(
            f"integrated gradients: for {small.size} of {len(gap)} samples "
            f"({small[:10].tolist()}{' ...' if small.size > 10 else ''}) the baseline scores "
            f"about what the input scores (sample {first}: f(x) - f(baseline) = "
            f"{gap[first]:.3g}, f(x) = {score[first]:.3g}), so the attributions add up to "
            "almost nothing and which feature they put on top says little. Pass a baseline= "
            "the model scores differently (at a text model's embedding: another reference "
            "token, or a callable).",
            MethodWarning,
            stacklevel=7,  # the caller of nv.integrated_gradients
        )


def _layer_baseline(baseline: Any, rank: int, start: int, size: int) -> tf.Tensor:
    """A baseline activation broadcastable to the layer's output ``(N, ...)``."""
    if baseline is None:
        return tf.zeros([1] * rank, tf.float32)
    if isinstance(baseline, int | float) and not isinstance(baseline, bool):
        return tf.fill([1] * rank, float(baseline))
    if isinstance(baseline, str) or callable(baseline) or isinstance(baseline, list | tuple):
        raise InvalidArgumentError(
            f"With layer=, baseline is the layer's output baseline: None (zeros), a float, one "
            f"sample's activation array or one per sample; received {baseline!r}."
        )
    arr = np.asarray(baseline, dtype=np.float32)
    if arr.ndim == rank - 1:
        return tf.constant(arr[None])
    if arr.ndim == rank and arr.shape[0] >= start + size:
        return tf.constant(arr[start : start + size])
    raise InvalidArgumentError(
        f"baseline of shape {arr.shape} does not fit the layer's output of rank {rank}: pass "
        "one sample's activation, one per sample, or a float."
    )


def baseline_batch(
    t: tf.Tensor, baseline: Any, i: int, n_inputs: int, start: int, size: int, where
):
    """The baseline batch for input ``i`` (same shape and dtype as ``t``)."""
    if isinstance(baseline, list | tuple) and not isinstance(baseline, str):
        if len(baseline) != n_inputs:
            raise InvalidArgumentError(
                f"baseline is a list of {len(baseline)} items; the model has {n_inputs} inputs. "
                "Pass one baseline per input, or one for all."
            )
        baseline = baseline[i]
    if not t.dtype.is_floating:
        return t  # ids are not interpolated
    x = np.asarray(t)
    if baseline is None:
        return tf.zeros_like(t)
    if isinstance(baseline, int | float) and not isinstance(baseline, bool):
        return tf.fill(tf.shape(t), tf.cast(baseline, t.dtype))
    if isinstance(baseline, str):
        if baseline != "blur":
            raise InvalidArgumentError(
                f"baseline={baseline!r} is not known; use None (zeros), a float, 'blur', an "
                "array or a callable x -> baseline."
            )
        return tf.constant(blur(x), t.dtype)
    arr = np.asarray(baseline(x) if callable(baseline) else baseline, dtype=np.float32)
    if arr.shape == x.shape[1:]:
        arr = np.broadcast_to(arr, x.shape)
    elif arr.ndim == x.ndim and arr.shape[1:] == x.shape[1:] and arr.shape[0] >= start + size:
        arr = arr if callable(baseline) else arr[start : start + size]
    else:
        raise InvalidArgumentError(
            f"baseline of shape {arr.shape} does not fit {where}: pass one sample's shape "
            f"{x.shape[1:]}, one baseline per sample, a float, 'blur' or a callable."
        )
    return tf.constant(arr, t.dtype)


def blur(x: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Gaussian blur over the spatial axes of ``(N, *spatial, C)`` (default sigma: 1/8 of
    the largest spatial size, at least 1). Vectors ``(N, F)`` have no neighbourhood to blur
    over; their baseline is zeros."""
    from scipy.ndimage import gaussian_filter  # scipy comes with scikit-learn

    x = np.asarray(x, dtype=np.float32)
    if x.ndim <= 2:
        return np.zeros_like(x)
    if sigma is None:
        sigma = max(1.0, max(x.shape[1:-1]) / 8.0)
    return gaussian_filter(x, sigma=[0, *([sigma] * (x.ndim - 2)), 0]).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Function forms (registered: see registry)


@method(GradientXInput, kind="gradient", signed=True)
def gradient_x_input(
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
    signed: bool = False,
    keep_channels: bool = False,
) -> Maps:
    """Gradient × input, summed over channels (with ``layer=``: gradient × activation).

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.

    Args:
        signed: keep the sign (evidence for / against); default ``|.|``.
        keep_channels: per-channel attributions ``(N, *spatial, C)``.

    Returns:
        ``(N, *spatial)`` float32 maps.

    Example:
        >>> maps = nv.gradient_x_input(model, x[:8], target=3, signed=True)
    """
    return run(GradientXInput, locals())


@method(IntegratedGradients, kind="gradient", signed=True)
def integrated_gradients(
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
    steps: int | str = "auto",
    tolerance: float = 0.01,
    max_steps: int = 512,
    signed: bool = False,
    keep_channels: bool = False,
    keep_tokens: Any = None,
) -> Maps:
    """Integrated gradients: ``(x - baseline) * mean gradient along the straight path``.

    With ``normalize=False, signed=True`` the attributions sum to ``score(x) -
    score(baseline)`` (completeness) up to the quadrature error, which the default
    ``steps="auto"`` keeps within ``tolerance``: it refines an open trapezoid rule by halving its
    intervals (reusing every point) until each sample's completeness error is within
    ``tolerance`` and its attributions stopped changing (2 extra forward passes give
    ``f(x)`` and ``f(baseline)``), so smooth models stop after a few points. A sample still
    above ``tolerance`` after half of ``max_steps`` is integrated again by local refinement,
    each such sample on its own grid with its own points left
    (:mod:`keras_nnviz.attribution._refine`: the sub-intervals whose own completeness error is
    largest are bisected, so the points gather where the integrand changes, e.g. next to a
    baseline where a normalisation layer concentrates the score's change), and keeps the
    better of the two results (a :class:`MethodWarning` names the samples that did not
    converge). A score that jumps along the path (top-k expert routing: Mixtral, Qwen3-MoE,
    GPT-OSS) cannot be integrated from gradients: local refinement finds each jump
    (a sub-interval narrower than 2**-10 of the path whose score change the gradient does not
    explain), closes it and shares its score change among the features: by the first-order
    contributions ``(x - x')_i dm/dx_i`` of the top-k routing margin ``m`` that crosses zero
    there (the exact integrated gradients of a step in ``m``), else in proportion to
    ``|gradient x delta|`` at the jump. Completeness still holds against the real
    ``f(baseline)``; ``.jump_share`` says how much of the score change that rule placed
    (``.routed_share``: by a routing margin), and a :class:`MethodWarning` names the samples
    where it is over 1 %. With ``layer=`` the path runs through that layer's
    output (a hook replaces it), so completeness holds at the layer. At a text model's token
    embedding (the default layer of a model whose inputs are token ids) the default baseline
    means "no token": the padding token's embedding at every position, padding positions and
    special tokens keeping their own (see ``baseline``), so the per-token scores ``(N, T)`` sum
    to ``f(x) - f(padding tokens in place of the content tokens)``.

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.

    Args:
        baseline: None (zeros), a float, ``"blur"`` (Gaussian-blurred input), one sample's
            array, one array per sample, a callable ``x_batch -> baseline``, or a list of these
            (one per input). With ``layer=``: None (zeros), a float, or the layer's output for
            one sample / for every sample. At the token embedding of a text model: None (the
            reference token: the tokenizer's ``pad_token_id`` when the model carries a KerasHub
            preprocessor, else id 0), a token id used the same way, one embedding ``(D,)``
            (special tokens kept), ``(T, D)`` or one per sample, a float (``0.0``: the zero
            embedding, the behaviour before), or a callable ``ids (N, T) -> ids (N, T)`` (then
            embedded) ``| embeddings (N, T, D)`` (used as returned). With None, a token id or a
            ``(D,)`` embedding, padding positions (``padding_mask == 0``) and the special tokens
            (``keep_tokens``) keep their own embedding and get no attribution.
        steps: ``"auto"`` (adaptive, see above) or an int: that many path points, midpoint
            rule (the behaviour before ``"auto"``).
        tolerance: ``steps="auto"``: the relative completeness error to reach (default 1 %);
            the map must also change by at most ``sqrt(tolerance)`` (relative L2) in the last
            refinement.
        max_steps: ``steps="auto"``: the most path points (gradient passes) per sample. The
            halving rule stops at the last ``2**k - 1`` points within half of it (255 by
            default); local refinement may use the rest.
        signed: keep the sign; default ``|.|``.
        keep_channels: per-channel attributions.
        keep_tokens: at the token embedding: token ids that keep their own embedding in the
            baseline (BOS/EOS, CLS/SEP ...). None: the tokenizer's ``special_token_ids`` (none
            without a tokenizer).

    Returns:
        ``(N, *spatial)`` float32 maps as :class:`~keras_nnviz.attribution.integrated.
        IntegratedMaps` (a numpy array) whose ``.steps``, ``.completeness_error`` and
        ``.converged`` say, per sample, how many path points it took and the error it reached.

    Example:
        >>> maps = nv.integrated_gradients(model, x[:8], baseline="blur")
        >>> maps.steps, maps.completeness_error.max()
    """
    return run(IntegratedGradients, locals())
