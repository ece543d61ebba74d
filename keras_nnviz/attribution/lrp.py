"""Layer-wise relevance propagation (LRP) as gradient overrides inside the one compiled pass.

Relevance is read as gradient × input: every rule below changes only how the gradient crosses
a layer (forward values are exactly the model's), so that ``R = a * dscore/da`` at each layer's
input ``a`` is that rule's relevance (the formulation of zennit and LXT). One forward and one
backward pass, hooks through :func:`keras_nnviz.core.graph.forward` (the model is not changed).

Rules for the linear layers (``Dense``, ``EinsumDense``, ``Conv1D/2D/3D``), with ``z`` the
layer's pre-activation output:

- ``"epsilon"``: ``R_in = x * W^T (R_out / (z + eps * sign(z)))``; the bias absorbs its share.
- ``"zplus"``: positive weights only, bias ignored: ``R_in = x * W+^T (R_out / (W+ x))``
  (meant for non-negative inputs: the layers after a ReLU).
- ``"flat"``: ``R_in = W1^T (R_out / (W1 1))`` with ``W1`` all ones: relevance spread evenly
  over each output's receptive field (the first layer of a composite).

Every other nonlinearity is crossed by the identity rule ``R_in = R_out`` (elementwise
activations, fused or as layers; ``LayerNormalization`` and KerasHub's RMS/Layer norms: the
normalisation is treated as a constant scale, AttnLRP). Linear operations without weights
(additions, pooling, reshapes, concatenation) conserve relevance under plain gradient × input.
Softmax attention (every site ``keras_nnviz.attention.sites.find_sites`` knows: Keras
``MultiHeadAttention``, the KerasHub attention classes) is detached: its probabilities are
constants and relevance flows through the values only (CP-LRP, the attention part of AttnLRP).
Gates are detached the same way: a linear layer named ``*gate*`` or ``*router*`` (the gate
projection of a gated MLP such as Llama's, an MoE router) is a constant, so ``up * act(gate)``
is linear in ``up`` and relevance is not counted twice (AttnLRP splits such products evenly
instead; not done here).

Composites (``rules=``): ``"epsilon_plus_flat"`` (zennit's EpsilonPlusFlat: epsilon on dense
layers, z+ on convolutions, flat on the first linear layer), ``"epsilon_plus"`` (the same
without flat), ``"epsilon"`` (epsilon everywhere; with ``epsilon`` -> 0 on a bias-free ReLU
network this is gradient × input), or a dict ``{layer path: rule}`` over a composite's choice.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .. import _compat
from ..attention.sites import find_sites
from ..core import graph
from ..errors import InvalidArgumentError
from . import _engine as E
from . import _maps as M
from ._quadrature import per_sample
from .registry import Maps, method, run

__all__ = ["COMPOSITES", "lrp", "LRP", "LRPMaps", "lrp_hooks", "RULES"]

RULES = ("epsilon", "zplus", "flat")
COMPOSITES = ("epsilon_plus_flat", "epsilon_plus", "epsilon")
_CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_CONV_TRANSPOSE = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)


def _linear_kind(layer: keras.layers.Layer) -> str | None:
    if isinstance(layer, _CONV_TRANSPOSE):
        return None
    if isinstance(layer, _CONVS) and getattr(layer, "groups", 1) == 1:
        return "conv"
    if isinstance(layer, keras.layers.Dense):
        return "dense"
    if isinstance(layer, keras.layers.EinsumDense):
        return "einsum"
    return None


def _is_norm(layer: keras.layers.Layer) -> bool:
    """LayerNormalization, RMSNormalization and KerasHub's own (``LlamaLayerNorm`` ...)."""
    name = type(layer).__name__
    return isinstance(layer, keras.layers.LayerNormalization) or any(
        word in name for word in ("LayerNorm", "RMSNorm", "RMSNormalization")
    )


def _stabilize(z: tf.Tensor, eps: float) -> tf.Tensor:
    return z + eps * tf.where(z >= 0, tf.ones_like(z), -tf.ones_like(z))


def _apply(layer: keras.layers.Layer, kind: str, x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """The layer's linear map with another kernel, no bias."""
    if kind == "dense":
        return keras.ops.matmul(x, kernel)
    if kind == "einsum":
        return keras.ops.einsum(layer.equation, x, kernel)
    return keras.ops.conv(
        x,
        kernel,
        strides=layer.strides,
        padding=layer.padding,
        data_format=layer.data_format,
        dilation_rate=layer.dilation_rate,
    )


def _ratio(y: tf.Tensor, z: tf.Tensor, eps: float) -> tf.Tensor:
    """``z * sg(y / z)`` plus a constant, forward value ``y``: crossing it multiplies the
    gradient by ``y / z``, so gradient × input is conserved across ``y = f(z)``."""
    scale = tf.stop_gradient(tf.math.divide_no_nan(y, _stabilize(z, eps)))
    return z * scale + tf.stop_gradient(y - z * scale)


def _linear_rule(rule: str, layer, kind: str, x: tf.Tensor, z: tf.Tensor, eps: float):
    """Output ``z`` (forward unchanged) whose gradient follows ``rule``."""
    x = tf.cast(x, tf.float32)
    z = tf.cast(z, tf.float32)
    kernel = tf.cast(layer.kernel, tf.float32)
    if rule == "epsilon":
        return _ratio(z, z, eps) if eps else z
    if rule == "zplus":
        modified = _apply(layer, kind, x, tf.nn.relu(kernel))
        return _ratio(z, modified, eps)
    # flat: the gradient reaching x is W1^T (R_out / z_flat) with z_flat = W1 1: the input
    # relevance itself (not to be multiplied by x; lrp_hooks reports the layer)
    ones = tf.ones_like(kernel)
    field = _apply(layer, kind, tf.ones_like(x), ones)
    spread = _apply(layer, kind, x, ones)
    scale = tf.stop_gradient(tf.math.divide_no_nan(z, _stabilize(field, eps)))
    return spread * scale + tf.stop_gradient(z - spread * scale)


def _linear_hook(rule: str, kind: str, eps: float):
    def hook(layer, call, args, kwargs):
        x = args[0] if args else kwargs["inputs"]
        activation = getattr(layer, "activation", None)
        undo = _compat.swap_activation(layer, keras.activations.linear)
        try:
            z = call(*args, **kwargs)
        finally:
            undo()
        out = _linear_rule(rule, layer, kind, x, z, eps)
        if activation is None or activation is keras.activations.linear:
            return tf.cast(out, z.dtype)
        if activation in (keras.activations.softmax, keras.activations.sigmoid):
            return activation(out)  # the output head: the score is read behind it
        return tf.cast(_ratio(activation(tf.stop_gradient(out)), out, eps), z.dtype)

    return hook


def _identity_hook(eps: float):
    def hook(layer, call, args, kwargs):
        x = args[0] if args else kwargs["inputs"]
        y = call(*args, **kwargs)
        if not isinstance(x, tf.Tensor) or not isinstance(y, tf.Tensor) or x.shape != y.shape:
            return y
        return tf.cast(_ratio(tf.cast(y, tf.float32), tf.cast(x, tf.float32), eps), y.dtype)

    return hook


def _detach_hook(layer, call, args, kwargs):
    return tf.nest.map_structure(tf.stop_gradient, call(*args, **kwargs))


def _attention_hook(layer, call, args, kwargs):
    """Softmax probabilities as constants: a Keras ``MultiHeadAttention`` is called on its
    explicit path (``return_attention_scores=True``: its ``Softmax`` sub-layer, detached by
    :func:`_detach_hook`, instead of a fused kernel); any attention layer's ``keras.ops.softmax``
    / ``dot_product_attention`` calls are detached while it runs."""
    with _compat.observe_attention_ops(lambda probs: None, tf.stop_gradient):
        if isinstance(layer, keras.layers.MultiHeadAttention) and not kwargs.get(
            "return_attention_scores"
        ):
            out, _ = call(*args, **dict(kwargs, return_attention_scores=True))
            return out
        return call(*args, **kwargs)


def _composite_rule(composite: str, kind: str, first: bool) -> str:
    if composite == "epsilon":
        return "epsilon"
    if first and composite == "epsilon_plus_flat":
        return "flat"
    return "zplus" if kind == "conv" else "epsilon"


def lrp_hooks(model: keras.Model, rules: Any = "epsilon_plus_flat", epsilon: float = 1e-6):
    """``graph.forward`` hooks that make gradient × input the LRP relevance of ``rules``.

    Args:
        model: the model (its layers get hooks; nothing is changed).
        rules: a composite name (:data:`COMPOSITES`) or ``{layer path: rule}`` (other layers:
            ``"epsilon_plus_flat"``).
        epsilon: the stabilizer of every division.

    Returns:
        ``({id(layer): (layer, hook)}, first)``: the hooks and the path of the first linear
        layer when its rule is ``"flat"`` (whose input relevance is its gradient), else None.
    """
    composite, explicit = (rules, {}) if isinstance(rules, str) else ("epsilon_plus_flat", rules)
    hooks: dict = {}
    first_flat = None
    seen_linear = False
    entries = graph.walk(model, include_sublayers=True)
    sites = find_sites(model)  # the attention layers the library knows (attention.sites)
    inside = tuple(site.path + "/" for site in sites)
    for site in sites:
        hooks[id(site.layer)] = (site.layer, _attention_hook)
    for e in entries:
        if id(e.layer) in hooks:
            continue
        if isinstance(e.layer, keras.layers.Softmax) and e.path.startswith(inside):
            hooks[id(e.layer)] = (e.layer, _detach_hook)
            continue
        kind = _linear_kind(e.layer)
        if kind is not None and _is_gate(e):
            hooks[id(e.layer)] = (e.layer, _detach_hook)
        elif kind is not None:
            rule = explicit.get(e.path) or _composite_rule(composite, kind, not seen_linear)
            seen_linear = True
            if rule == "flat":
                first_flat = e.path
            hooks[id(e.layer)] = (e.layer, _linear_hook(rule, kind, epsilon))
        elif _is_norm(e.layer) or _is_elementwise(e.layer):
            hooks[id(e.layer)] = (e.layer, _identity_hook(epsilon))
    return hooks, first_flat


def _is_gate(entry: graph.LayerEntry) -> bool:
    """A gate's projection, by name: KerasHub's ``feedforward_gate_dense``, MoE routers
    (Gemma's ``ffw_gating`` / ``ffw_gating_2`` pair does not say which is the gate: not
    detected)."""
    name = entry.path.rsplit("/", 1)[-1].lower()
    return "gate" in name or "router" in name


def _is_elementwise(layer: keras.layers.Layer) -> bool:
    if isinstance(layer, keras.layers.ReLU | keras.layers.LeakyReLU | keras.layers.ELU):
        return True
    if isinstance(layer, keras.layers.Activation):
        return layer.activation not in (keras.activations.softmax, keras.activations.sigmoid)
    return False


class LRP(E.Explainer):
    """Layer-wise relevance propagation (Bach et al. 2015; composites as zennit, attention as
    AttnLRP, Achtibat et al. 2024) in one forward and one backward pass (see
    :mod:`keras_nnviz.attribution.lrp`)."""

    method = "lrp"
    auxiliary_outputs = 1  # conservation error

    def _options(
        self,
        *,
        rules: Any = "epsilon_plus_flat",
        epsilon: float = 1e-6,
        signed: bool = False,
        keep_channels: bool = False,
    ):
        if isinstance(rules, str):
            if rules not in COMPOSITES:
                raise InvalidArgumentError(
                    f"rules must be one of {list(COMPOSITES)} or a dict {{layer path: rule}} "
                    f"with rules in {list(RULES)}; received {rules!r}."
                )
            key: Any = rules
        elif isinstance(rules, dict) and all(
            isinstance(k, str) and v in RULES for k, v in rules.items()
        ):
            for path in rules:
                graph.find_layer(self.model, path)
            key = tuple(sorted(rules.items()))
        else:
            raise InvalidArgumentError(
                f"rules must be one of {list(COMPOSITES)} or a dict {{layer path: rule}} with "
                f"rules in {list(RULES)}; received {rules!r}."
            )
        if (
            isinstance(epsilon, bool)
            or not isinstance(epsilon, int | float)
            or not (0 <= epsilon < 1)
        ):
            raise InvalidArgumentError(f"epsilon must be a float in [0, 1); received {epsilon!r}.")
        static = {
            "rules": key,
            "epsilon": float(epsilon),
            "signed": bool(signed),
            "keep_channels": bool(keep_channels),
        }
        return static, {}

    def compute(self, ctx: E.ComputeContext) -> list[tf.Tensor]:
        flat, indices, signs, opts = ctx.inputs, ctx.indices, ctx.signs, ctx.options
        rules = opts["rules"] if isinstance(opts["rules"], str) else dict(opts["rules"])
        hooks, first_flat = lrp_hooks(ctx.model, rules, opts["epsilon"])
        score, grads, values, indices, signs = self._scored_gradients(
            flat, indices, signs, outer=hooks
        )
        as_is = first_flat is not None and self._layer is None
        relevance = [g if as_is else g * v for g, v in zip(grads, values)]
        error = _conservation_error(relevance, score)
        layouts = self._layouts(flat)
        maps = []
        for r, cf in zip(relevance, layouts):
            m = r if opts["keep_channels"] else M.reduce_channels(r, "sum", cf)
            maps.append(M.finish(m, opts["signed"], opts["normalize"]))
        return [*maps, error]

    def _assemble(self, maps, opts):
        error = maps[-1]
        out = super()._assemble(maps[:-1], opts)
        if isinstance(out, list):
            return [None if m is None else LRPMaps.wrap(m, error) for m in out]
        return LRPMaps.wrap(out, error)


def _conservation_error(relevance: list[tf.Tensor], score: tf.Tensor) -> tf.Tensor:
    total = per_sample(tf.identity, relevance)
    return tf.abs(total - score) / tf.maximum(tf.abs(score), 1e-12)


class LRPMaps(np.ndarray):
    """LRP maps (a numpy array) and, per sample, how well relevance was conserved.

    Attributes:
        conservation_error: ``(N,)`` ``|sum(relevance) - score| / |score|`` from the unnormalized
            relevance (what biases, stabilizers and the rules' approximations absorbed).

    Example:
        >>> maps = nv.lrp(model, x[:8])
        >>> maps.conservation_error.max()
    """

    conservation_error: np.ndarray

    @classmethod
    def wrap(cls, maps: np.ndarray, error: np.ndarray) -> LRPMaps:
        out = np.asarray(maps).view(cls)
        out.conservation_error = np.asarray(error)
        return out

    def __array_finalize__(self, obj):
        self.conservation_error = getattr(obj, "conservation_error", None)


@method(LRP, kind="gradient", signed=True)
def lrp(
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
    rules: Any = "epsilon_plus_flat",
    epsilon: float = 1e-6,
    signed: bool = False,
    keep_channels: bool = False,
) -> Maps:
    """Layer-wise relevance propagation: the score redistributed layer by layer to the input.

    One forward and one backward pass with modified gradients (see
    :mod:`keras_nnviz.attribution.lrp` for the rules): CNN/MLP composites like zennit's and
    AttnLRP's treatment of softmax attention and normalisation layers. With ``normalize=False,
    signed=True`` the relevance sums to the score up to what biases and stabilizers absorb,
    reported per sample as ``.conservation_error``. With ``layer=``: relevance at that layer's
    output (per token at an embedding).

    Shared arguments (``model``, ``x``, ``target``, ``layer``, ``output``, ``batch_size``,
    ``progress``, ``allow_nonfinite``, ``negative``, ``logits``, ``normalize``, ``out``): see
    :mod:`keras_nnviz.attribution.registry`.

    Args:
        rules: ``"epsilon_plus_flat"`` (default), ``"epsilon_plus"``, ``"epsilon"``, or a dict
            ``{layer path: "epsilon" | "zplus" | "flat"}`` overriding the default composite.
        epsilon: the stabilizer of the divisions (larger: less noisy, less conservative).
        signed: keep the sign (evidence for / against); default ``|.|``.
        keep_channels: per-channel relevance.

    Returns:
        ``(N, *spatial)`` float32 maps as :class:`LRPMaps` (a numpy array) with
        ``.conservation_error`` per sample.

    Example:
        >>> maps = nv.lrp(model, x[:8], signed=True, normalize=False)
        >>> maps.conservation_error.max()
    """
    return run(LRP, locals())
