"""DeepLIFT (Shrikumar et al. 2017, Rescale rule) and DeepSHAP (Lundberg & Lee 2017: DeepLIFT
averaged over a distribution of references).

One compiled pass per batch: the model runs once on the inputs stacked over their references
``[x; x0]`` with the Rescale rule's gradient overrides (:mod:`.rescale`), and the attributions
are ``(x - x0) * multipliers``. On networks of linear layers, elementwise activations and max
pooling they sum exactly to ``f(x) - f(x0)`` (summation-to-delta); other nonlinearities pass
plain gradients and a :class:`~keras_nnviz.errors.MethodWarning` names them.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..core import graph
from ..errors import IncompatibleLayerError, InvalidArgumentError, MethodWarning
from . import _engine as E
from . import _maps as M
from .gradients import fold, tile
from .integrated import baseline_batch
from .registry import Maps, method, run
from .rescale import rescale_hooks, unruled_nonlinearities

__all__ = [
    "deep_shap",
    "DeepLift",
    "deeplift",
    "DeepShap",
    "reference_stacks",
    "signed_map",
    "stack_rows",
    "stack_specs",
]


def signed_map(attr: tf.Tensor, opts: dict, channels_first: bool = False) -> tf.Tensor:
    """Channels summed (attributions add up), then ``|.|`` unless ``opts["signed"]``, then
    normalized if ``opts["normalize"]``; ``opts["keep_channels"]`` keeps the channels."""
    maps = attr if opts["keep_channels"] else M.reduce_channels(attr, "sum", channels_first)
    return M.finish(maps, opts["signed"], opts["normalize"])


def _watch_hook(record, tape, layer, call, args, kwargs):
    """Watch a layer's first output (after the Rescale rule, which runs inside this hook)."""
    out = call(*args, **kwargs)
    if "a" in record:  # a shared layer: its first call
        return out
    if isinstance(out, list | tuple | dict):
        raise IncompatibleLayerError(
            f"Layer {layer.name!r} returns {len(out)} tensors; attribution to a layer needs a "
            "layer with one output tensor."
        )
    tape.watch(out)
    record["a"] = out
    return out


def _warn_unruled(model: keras.Model, name: str) -> None:
    others = unruled_nonlinearities(model)
    if others:
        kinds = ", ".join(f"{n} ×{k}" for n, k in sorted(others.items()))
        warnings.warn(
            f"{name}: model {model.name!r} has nonlinearities the Rescale rule does not cover "
            f"({kinds}); gradients pass them unchanged, so the attributions sum to f(x) - "
            "f(baseline) only approximately. Integrated gradients is exact in the limit for "
            "any model.",
            MethodWarning,
            stacklevel=2,
        )


class _ReferenceExplainer(E.Explainer):
    """Shared by DeepLIFT and DeepSHAP: references for every input, the stacked pass."""

    def _ids_reference(self) -> bool:
        """Token ids are compared with reference ids (zeros: padding) only when the model has
        no float input; otherwise they stay as they are, in both halves."""
        return not any(self._float_slots())

    def _stacked(self, flat, refs, indices, signs, fixed=True):
        """Attributions ``(x - x0) * multipliers`` for ``x = flat`` and ``x0 = refs`` (both
        ``(M, ...)``): one forward pass on ``[x; x0]`` under the Rescale rule. ``fixed=False``
        resolves a predicted-class target on each row of that pass: the references then score
        their own class, which changes nothing for the inputs' half (rows are independent and
        the rules read the inputs' upstream gradients only)."""
        ids = self._ids_reference()
        pair = [
            tf.concat([t, tf.cast(r, t.dtype) if E.is_float(t) or ids else t], 0)
            for t, r in zip(flat, refs)
        ]
        two = tf.concat([indices, indices], 0), tf.concat([signs, signs], 0)
        grads, values = self._multipliers(pair, *two, fixed=fixed)
        m = tf.shape(indices)[0]
        return [g[:m] * (v[:m] - v[m:]) for g, v in zip(grads, values)]

    def _multipliers(self, pair, indices, signs, fixed=True):
        """Gradients under the Rescale rule w.r.t. the float inputs or ``layer``'s output, and
        those values. The rule's hooks run closest to their layers, so an objective's records
        and ``layer``'s watched output are what the rule returns (its gradient is the rule's)."""
        hooks = rescale_hooks(self.model)
        record: dict[str, Any] = {}
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            if self._layer is None:
                watched = [t for t in pair if E.is_float(t)]
                if not watched:
                    raise IncompatibleLayerError(
                        f"Model {self.model.name!r} has no float inputs, so DeepLIFT has no "
                        "input multipliers; pass layer= (e.g. the embedding layer)."
                    )
                tape.watch(watched)
            else:
                hook = functools.partial(_watch_hook, record, tape)
                hooks = graph.merge_hooks({id(self._layer): (self._layer, hook)}, hooks)
            score = self.score(pair, indices, signs, inner=hooks, fixed=fixed)[0]
        if self._layer is not None:
            if "a" not in record:
                graph.check_called(self.model, [self.layer_path], {})
            watched = [record["a"]]
        grads = tape.gradient(score, watched)
        grads = [
            tf.zeros_like(w, tf.float32) if g is None else tf.cast(g, tf.float32)
            for g, w in zip(grads, watched)
        ]
        return grads, [tf.cast(w, tf.float32) for w in watched]

    def _maps(self, attributions, flat, opts):
        layouts = self._layouts(flat)
        return [signed_map(a, opts, cf) for a, cf in zip(attributions, layouts)]

    def _predicted(self, flat, indices, signs):
        """The explained class comes from the inputs, not the references."""
        if self._spec.mode == "predicted":
            _, _, indices, signs = self.score(flat, indices, signs)
        return indices, signs


class DeepLift(_ReferenceExplainer):
    """DeepLIFT with the Rescale rule (see :func:`deeplift`)."""

    method = "deeplift"

    def _options(self, *, baseline: Any = None, signed: bool = False, keep_channels: bool = False):
        static = {"signed": bool(signed), "keep_channels": bool(keep_channels)}
        return static, {"baseline": baseline}

    def _extra_signature(self, opts):
        return (self._signature,)

    def _extras(self, batch, opts, dynamic, start, size):
        flat = list(batch) if self._signature is not None else [batch]
        refs = []
        for i, t in enumerate(flat):
            given = dynamic["baseline"]
            if not t.dtype.is_floating:
                refs.append(_id_reference(t, given, i, len(flat), self._ids_reference()))
                continue
            where = self._slots[i].describe() if self._slots else "the input"
            refs.append(baseline_batch(t, given, i, len(flat), start, size, where))
        return (refs if self._signature is not None else refs[0],)

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        (refs,) = ctx.extras
        refs = list(refs) if self._signature is not None else [refs]
        _warn_unruled(ctx.model, "deeplift")  # while tracing: once per model and variant
        # No separate pass for a predicted-class target: the stacked pass resolves it per row.
        attributions = self._stacked(ctx.inputs, refs, ctx.indices, ctx.signs, fixed=False)
        return self._maps(attributions, ctx.inputs, ctx.options)


def _id_reference(t, given, i: int, n_inputs: int, ids: bool) -> tf.Tensor:
    """Reference token ids: the given ids (one sample's or per sample) or zeros for a model of
    token ids only; the ids themselves otherwise."""
    if isinstance(given, list | tuple):
        given = given[i] if len(given) == n_inputs else None
    if not ids:
        return t
    if given is None:
        return tf.zeros_like(t)
    arr = np.asarray(given)
    if arr.shape == tuple(t.shape[1:]):
        arr = np.broadcast_to(arr, t.shape)
    if arr.shape != tuple(t.shape):
        raise InvalidArgumentError(
            f"baseline of shape {arr.shape} does not fit token ids of shape {tuple(t.shape)}: "
            "pass one sample's ids, one per sample, or None (zeros: padding)."
        )
    return tf.constant(arr, t.dtype)


class DeepShap(_ReferenceExplainer):
    """DeepSHAP: DeepLIFT averaged over reference samples (see :func:`deep_shap`)."""

    method = "deep_shap"
    heavy = True

    def _options(self, *, baselines: Any = None, signed: bool = False, keep_channels: bool = False):
        static = {"signed": bool(signed), "keep_channels": bool(keep_channels)}
        return static, {"baselines": baselines}

    def _extra_signature(self, opts):
        return (stack_specs(self._signature), tf.TensorSpec((), tf.int32))

    def _extras(self, batch, opts, dynamic, start, size):
        stacks = reference_stacks(batch, dynamic["baselines"], self._signature)
        return (stacks, tf.constant(max(1, dynamic["batch_size"] // size), tf.int32))

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        stacks, chunk = ctx.extras
        stacks = list(stacks)
        flat = ctx.inputs
        _warn_unruled(ctx.model, "deep_shap")
        indices, signs = self._predicted(flat, ctx.indices, ctx.signs)
        n = tf.shape(indices)[0]
        k, stacks = stack_rows(stacks)
        # Reference 0 on its own (its result gives the loop's shapes), then the rest in chunks.
        first = self._stacked(flat, [tf.repeat(s[:1], n, axis=0) for s in stacks], indices, signs)

        def body(start, stop, acc):
            m = stop - start
            xs = [tile(t, m) for t in flat]
            # copy j of every sample against reference 1 + start + j (copy-major, as tile)
            refs = [tf.repeat(s[1 + start : 1 + stop], n, 0) for s in stacks]
            attr = self._stacked(xs, refs, tf.tile(indices, [m]), tf.tile(signs, [m]))
            return tuple(a + fold(t, m) for a, t in zip(acc, attr))

        sums = M.chunked_loop(k - 1, chunk, body, tuple(first))
        attributions = [s / tf.cast(k, tf.float32) for s in sums]
        return self._maps(attributions, flat, ctx.options)


def stack_specs(signature: list[tf.TensorSpec] | None) -> list[tf.TensorSpec]:
    """One ``(K, ...)`` stack of reference samples per input (a subclassed model: float32)."""
    if signature is None:
        return [tf.TensorSpec(None, tf.float32)]
    return [tf.TensorSpec(s.shape, s.dtype) for s in signature]


def reference_stacks(batch: Any, baselines: Any, signature) -> list[tf.Tensor]:
    """The ``(K, ...)`` reference samples of every input (``baselines=`` of DeepSHAP and
    GradientSHAP): an array, one sample's array or a list of them (one per input); None
    entries are one all-zeros sample (token ids: id 0)."""
    flat = list(batch) if signature is not None else [batch]
    given = baselines
    if given is not None and not isinstance(given, list | tuple):
        given = [given]
    if given is not None and len(given) != len(flat):
        raise InvalidArgumentError(
            f"baselines is a list of {len(given)} arrays; the model has {len(flat)} inputs. "
            "Pass one (K, ...) array of reference samples per input."
        )
    stacks, specs = [], stack_specs(signature)
    for i, t in enumerate(flat):
        ref = None if given is None else given[i]
        if ref is None:
            stacks.append(tf.zeros([1, *t.shape[1:]], specs[i].dtype))
            continue
        arr = np.asarray(ref)
        if arr.ndim == t.shape.rank - 1:
            arr = arr[None]
        if arr.shape[1:] != tuple(t.shape[1:]) or not len(arr):
            raise InvalidArgumentError(
                f"baselines for input {i} have shape {arr.shape}; pass (K, "
                f"{', '.join(map(str, t.shape[1:]))}) reference samples, K >= 1."
            )
        stacks.append(tf.constant(arr, specs[i].dtype))
    counts = {int(s.shape[0]) for s in stacks if s.shape[0] != 1}
    if len(counts) > 1:
        raise InvalidArgumentError(
            f"baselines hold {sorted(counts)} reference samples for different inputs; pass "
            "the same number K for every input."
        )
    return stacks


def stack_rows(stacks: list[tf.Tensor]) -> tuple[tf.Tensor, list[tf.Tensor]]:
    """``(K, stacks)``: every stack broadcast to the most rows ``K`` (one-row stacks repeat)."""
    k = tf.reduce_max(tf.stack([tf.shape(s)[0] for s in stacks]))
    return k, [tf.broadcast_to(s, tf.concat([[k], tf.shape(s)[1:]], 0)) for s in stacks]


# ----------------------------------------------------------------------------------------------
# Function forms (registered: see registry)


@method(DeepLift, kind="gradient", signed=True, title="DeepLIFT")
def deeplift(
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
    signed: bool = False,
    keep_channels: bool = False,
) -> Maps:
    """DeepLIFT (Rescale rule): ``(x - baseline) * multipliers``, one forward and one backward
    pass on ``[x; baseline]``.

    The Rescale rule replaces the gradient of every elementwise activation (fused
    ``activation=``, ``Activation``, ``ReLU``, ``LeakyReLU``, ``ELU``, ``PReLU``) by its secant
    slope between the input and the baseline, and routes max pooling's difference to the
    window maxima of both (see :mod:`keras_nnviz.attribution.rescale`); linear layers keep
    their gradients. On such networks, with ``normalize=False, signed=True``, the attributions
    sum exactly to ``score(x) - score(baseline)`` (summation-to-delta). Other nonlinearities
    (attention, LayerNormalization, Multiply, recurrent cells) pass plain gradients: a
    :class:`~keras_nnviz.errors.MethodWarning` names them. With ``layer=`` the attributions are
    ``(a - a0) * multipliers`` at that layer's output, ``a0`` its output on the baseline input
    (per-token scores at an embedding), and sum to the same difference.

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.

    Args:
        baseline: the reference input: None (zeros), a float, ``"blur"``, one sample's array,
            one per sample, a callable ``x_batch -> baseline``, or a list of these (one per
            input), as for :func:`~keras_nnviz.attribution.integrated.integrated_gradients`.
            Token ids of a text model: None (all id 0, padding) or reference ids.
        signed: keep the sign; default ``|.|``.
        keep_channels: per-channel attributions.

    Returns:
        ``(N, *spatial)`` float32 maps.

    Example:
        >>> attr = nv.deeplift(model, x[:8], normalize=False, signed=True, keep_channels=True)
        >>> attr.sum(axis=(1, 2, 3))  # == f(x) - f(0) on ReLU / max-pool networks
    """
    return run(DeepLift, locals())


@method(DeepShap, kind="gradient", signed=True, title="DeepSHAP")
def deep_shap(
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
    signed: bool = False,
    keep_channels: bool = False,
) -> Maps:
    """DeepSHAP: DeepLIFT averaged over ``K`` reference samples (SHAP's ``DeepExplainer``,
    Captum's ``DeepLiftShap``); one stacked pass per reference, in chunks of ``batch_size``.

    With ``normalize=False, signed=True`` the attributions sum to ``score(x) - mean_k
    score(baselines[k])`` on the networks where DeepLIFT is exact (see :func:`deeplift`).

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.

    Args:
        baselines: the reference distribution: a ``(K, *input_shape)`` array of samples (a few
            dozen training samples are typical), one sample's array, or a list of such arrays
            (one per input, the same K). Default None: one all-zeros reference, which makes
            this DeepLIFT with a zero baseline; pass background data for SHAP values. Token
            ids: reference id sequences (default all id 0, padding).
        signed: keep the sign; default ``|.|``.
        keep_channels: per-channel attributions.

    Returns:
        ``(N, *spatial)`` float32 maps.

    Example:
        >>> background = x_train[np.random.default_rng(0).choice(len(x_train), 32)]
        >>> maps = nv.deep_shap(model, x[:8], baselines=background, signed=True)
    """
    return run(DeepShap, locals())
