"""The LRP rules as ``graph.forward`` hooks: how the gradient crosses each layer so that
gradient × input is the rule's relevance (see :mod:`keras_nnviz.attribution.lrp`).

Every hook leaves the forward values exactly the model's; only the backward pass changes.
:func:`lrp_hooks` builds the hooks of a composite;
:func:`core.towers.embedding_companions` finds the position / segment embeddings added to a
token embedding.

Where relevance goes that the attributed tensor does not own:

- **biases** (``Dense``/``EinsumDense``/``Conv`` bias, ``LayerNormalization``'s β): the ε rule
  gives a bias its share ``b * dscore/dz``. With ``watch=`` the hooks add a watched zero probe
  at each biased output, so that share is read in the same backward pass (``bias_relevance``).
- **position / segment embeddings** added to the token embedding: their relevance is read at
  their own outputs (:func:`core.towers.embedding_companions`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import keras
import tensorflow as tf

from .. import _compat
from ..attention.sites import find_sites
from ..core import graph

__all__ = [
    "COMPOSITES",
    "RULES",
    "BiasProbes",
    "elementwise_identity",
    "lrp_hooks",
]

RULES = ("epsilon", "zplus", "flat")
COMPOSITES = ("epsilon_plus_flat", "epsilon_plus", "epsilon")
_CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_CONV_TRANSPOSE = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)


class BiasProbes:
    """Watched zero tensors added where a bias enters (``probe(z, bias)``), and the biases:
    after the backward pass, ``relevance(grads)`` is each sample's relevance absorbed by biases
    (``sum(b * dscore/dz)``)."""

    def __init__(self, watch: Callable[[tf.Tensor], None]):
        self.watch = watch
        self.probes: list[tf.Tensor] = []
        self.biases: list[tf.Tensor] = []

    def add(self, z: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
        """``z`` plus a watched zero of its shape; ``bias`` broadcast to ``z``."""
        bias = tf.cast(bias, z.dtype)
        probe = tf.zeros_like(z)
        self.watch(probe)
        self.probes.append(probe)
        self.biases.append(bias)
        return z + probe

    def relevance(self, grads: list[tf.Tensor | None]) -> tf.Tensor | None:
        total = None
        for g, b in zip(grads, self.biases):
            if g is None:
                continue
            g = tf.cast(g, tf.float32)
            r = g * tf.cast(b, tf.float32)
            r = tf.reduce_sum(tf.reshape(r, (tf.shape(r)[0], -1)), axis=1)
            total = r if total is None else total + r
        return total


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
    """LayerNormalization, RMSNormalization and KerasHub's own (``LlamaLayerNorm``,
    ``RoformerNorm`` ...); not batch normalization (affine at inference: linear already)."""
    name = type(layer).__name__
    if isinstance(layer, keras.layers.BatchNormalization) or "BatchNorm" in name:
        return False
    return isinstance(layer, keras.layers.LayerNormalization) or (
        name.endswith(("Norm", "Normalization")) or "LayerNorm" in name or "RMSNorm" in name
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


def ratio(y: tf.Tensor, z: tf.Tensor, eps: float) -> tf.Tensor:
    """Forward value ``y``; the gradient reaching ``z`` is the incoming one times ``y / z``, so
    gradient × input is conserved across ``y = f(z)``. The ratio is computed in the backward
    pass only (the forward pass does no extra work)."""
    y = tf.stop_gradient(y)

    @tf.custom_gradient
    def crossing(zz):
        def grad(g):
            return g * tf.math.divide_no_nan(y, _stabilize(zz, eps))

        return tf.identity(y), grad

    return crossing(z)


def _linear_rule(rule: str, layer, kind: str, x: tf.Tensor, z: tf.Tensor, eps: float):
    """Output ``z`` (forward unchanged) whose gradient follows ``rule``."""
    if rule == "epsilon":
        return ratio(z, z, eps) if eps else z
    x = tf.cast(x, tf.float32)
    kernel = tf.cast(layer.kernel, tf.float32)
    if rule == "zplus":
        modified = _apply(layer, kind, x, tf.nn.relu(kernel))
        return ratio(z, modified, eps)
    # flat: the gradient reaching x is W1^T (R_out / z_flat) with z_flat = W1 1: the input
    # relevance itself (not to be multiplied by x; lrp_hooks reports the layer)
    ones = tf.ones_like(kernel)
    field = _apply(layer, kind, tf.ones_like(x[:1]), ones)  # the same for every sample
    spread = _apply(layer, kind, x, ones)
    scale = tf.stop_gradient(tf.math.divide_no_nan(z, _stabilize(field, eps)))
    return spread * scale + tf.stop_gradient(z - spread * scale)


def _linear_hook(rule: str, kind: str, eps: float, probes: BiasProbes | None):
    def hook(layer, call, args, kwargs):
        x = args[0] if args else kwargs["inputs"]
        activation = getattr(layer, "activation", None)
        plain = activation is None or activation is keras.activations.linear
        undo = None if plain else _compat.swap_activation(layer, keras.activations.linear)
        try:
            z = call(*args, **kwargs)
        finally:
            if undo is not None:
                undo()
        dtype = z.dtype
        z = tf.cast(z, tf.float32)
        bias = getattr(layer, "bias", None)  # None without one (EinsumDense: no use_bias)
        if probes is not None and bias is not None and rule == "epsilon":
            if kind == "conv" and getattr(layer, "data_format", None) == "channels_first":
                bias = tf.reshape(bias, (-1,) + (1,) * (z.shape.rank - 2))
            z = probes.add(z, bias)
        out = _linear_rule(rule, layer, kind, x, z, eps)
        if plain:
            return tf.cast(out, dtype)
        if activation in (keras.activations.softmax, keras.activations.sigmoid):
            return tf.cast(activation(out), dtype)  # the output head: the score is behind it
        return tf.cast(ratio(activation(tf.stop_gradient(out)), out, eps), dtype)

    return hook


def _identity_hook(eps: float, probes: BiasProbes | None):
    """Elementwise activations and normalisations: ``R_in = R_out`` elementwise (the
    normalising scale is a constant, AttnLRP); a ``LayerNormalization``'s β is a bias."""

    def hook(layer, call, args, kwargs):
        x = args[0] if args else kwargs["inputs"]
        y = call(*args, **kwargs)
        if not isinstance(x, tf.Tensor) or not isinstance(y, tf.Tensor) or x.shape != y.shape:
            return y
        yf, xf = tf.cast(y, tf.float32), tf.cast(x, tf.float32)
        beta = getattr(layer, "beta", None) if getattr(layer, "center", False) else None
        if probes is None or beta is None:
            return tf.cast(ratio(yf, xf, eps), y.dtype)
        beta = tf.cast(beta, tf.float32)
        return tf.cast(probes.add(ratio(yf - beta, xf, eps) + beta, beta), y.dtype)

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


def _gated_bank_hook(layer, call, args, kwargs):
    """A mixture-of-experts bank (raw kernels, ``out = W_down (act(x W_gate) * x W_up)``): its
    activation is applied only to the gate, so while it runs the activation's output is a
    constant (the gate of AttnLRP) and the bank is linear in ``x`` through ``W_up``."""
    activation = layer.activation
    undo = _compat.swap_activation(layer, lambda z: tf.stop_gradient(activation(z)))
    try:
        return call(*args, **kwargs)
    finally:
        undo()


def _glu_bank_hook(layer, call, args, kwargs):
    """GPT-OSS's expert bank, ``out = W_down ((up + 1) * gate * sigmoid(alpha * gate))`` with
    ``[gate, up]`` interleaved in ``x W_gate_up + b``: the sigmoid is a gate (a constant), and
    the product of the two linear branches ``up * gate`` is split by AttnLRP's uniform rule
    (each factor gets half of its relevance); the ``1 * gate`` term is linear in ``gate`` and
    gives it the rest. The forward value is the layer's own; only the gradient follows the
    rule (computed from the layer's weights)."""
    x = args[0] if args else kwargs["hidden_states"]
    out = call(*args, **kwargs)
    xf = tf.cast(x, tf.float32)
    gate_up = tf.einsum("th,ehm->etm", xf, tf.cast(layer.gate_up_proj, tf.float32))
    bias = getattr(layer, "gate_up_proj_bias", None)
    if bias is not None:
        gate_up = gate_up + tf.cast(bias, tf.float32)[:, None, :]
    limit = float(layer.limit)
    gate = tf.clip_by_value(gate_up[..., ::2], -1e9, limit)
    up = tf.clip_by_value(gate_up[..., 1::2], -limit, limit)
    s = tf.stop_gradient(tf.sigmoid(gate * float(layer.alpha)))
    product = 0.5 * (up * tf.stop_gradient(gate) + tf.stop_gradient(up) * gate)
    glu = (product + gate) * s
    rule = tf.einsum("etm,emh->eth", glu, tf.cast(layer.down_proj, tf.float32))
    real = tf.cast(out, tf.float32)
    return tf.cast(tf.stop_gradient(real) + rule - tf.stop_gradient(rule), out.dtype)


def _is_glu_bank(layer: keras.layers.Layer) -> bool:
    """GPT-OSS's expert bank: fused ``gate_up_proj`` and ``down_proj`` kernels, ``alpha`` and
    ``limit`` of its clamped GLU."""
    return all(hasattr(layer, a) for a in ("gate_up_proj", "down_proj", "alpha", "limit"))


def _composite_rule(composite: str, kind: str, first: bool) -> str:
    if composite == "epsilon":
        return "epsilon"
    if first and composite == "epsilon_plus_flat":
        return "flat"
    return "zplus" if kind == "conv" else "epsilon"


def lrp_hooks(
    model: keras.Model,
    rules: Any = "epsilon_plus_flat",
    epsilon: float = 1e-6,
    *,
    flat_first: bool = True,
    probes: BiasProbes | None = None,
):
    """``graph.forward`` hooks that make gradient × input the LRP relevance of ``rules``.

    Args:
        model: the model (its layers get hooks; nothing is changed).
        rules: a composite name (:data:`COMPOSITES`) or ``{layer path: rule}`` (other layers:
            ``"epsilon_plus_flat"``).
        epsilon: the stabilizer of every division.
        flat_first: whether a composite's flat rule applies to the first linear layer (only
            meaningful when relevance is read at the model's input; with ``layer=`` the first
            linear layer after that layer is not known, and ε applies).
        probes: where to register bias probes (:class:`BiasProbes`), or None.

    Returns:
        ``({id(layer): (layer, hook)}, first)``: the hooks and the path of the first linear
        layer when its rule is ``"flat"`` (whose input relevance is its gradient), else None.
    """
    composite, explicit = (rules, {}) if isinstance(rules, str) else ("epsilon_plus_flat", rules)
    hooks: dict = {}
    first_flat = None
    seen_linear = not flat_first
    entries = graph.walk(model, include_sublayers=True)
    parents = {e.path.rsplit("/", 1)[0] for e in entries if "/" in e.path}
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
            hooks[id(e.layer)] = (e.layer, _linear_hook(rule, kind, epsilon, probes))
        elif _is_norm(e.layer) or _is_elementwise(e.layer):
            hooks[id(e.layer)] = (e.layer, _identity_hook(epsilon, probes))
        elif _is_gated_bank(e.layer, e.path in parents):
            hooks[id(e.layer)] = (e.layer, _gated_bank_hook)
        elif _is_glu_bank(e.layer):
            hooks[id(e.layer)] = (e.layer, _glu_bank_hook)
    return hooks, first_flat


def _is_gate(entry: graph.LayerEntry) -> bool:
    """A gate's projection, by name: KerasHub's ``feedforward_gate_dense``, MoE routers, Gemma's
    ``ffw_gating`` (whose output goes through the activation; ``ffw_gating_2`` is the linear
    branch)."""
    name = entry.path.rsplit("/", 1)[-1].lower()
    return "gate" in name or "router" in name or name == "ffw_gating"


def _is_gated_bank(layer: keras.layers.Layer, has_children: bool) -> bool:
    """An expert bank: a layer named ``*Expert*`` with no sub-layers, two or more kernels of its
    own and one ``activation`` (KerasHub's Mixtral / Qwen-MoE / Qwen3-MoE experts)."""
    activation = getattr(layer, "activation", None)
    if has_children or not callable(activation) or activation is keras.activations.linear:
        return False
    if "expert" not in type(layer).__name__.lower():
        return False
    return len(layer.weights) >= 2


def _is_elementwise(layer: keras.layers.Layer) -> bool:
    if isinstance(layer, keras.layers.ReLU | keras.layers.LeakyReLU | keras.layers.ELU):
        return True
    if isinstance(layer, keras.layers.Activation):
        return layer.activation not in (keras.activations.softmax, keras.activations.sigmoid)
    return False


_ACTIVATIONS = ("relu", "gelu", "silu", "swish", "tanh", "elu", "selu", "softplus", "mish")
_PATCH_LOCK = threading.RLock()


@contextlib.contextmanager
def elementwise_identity(epsilon: float) -> Iterator[None]:
    """While a forward pass is traced, the public activation functions (``keras.activations.gelu``,
    ``keras.ops.silu`` ... ) cross relevance by the identity rule (their output, with the
    gradient of ``x * sg(f(x) / x)``): layers that call them inside their own ``call`` (Bloom's
    MLP, Gemma's soft caps) conserve relevance like fused activations do. A gate's activation
    sees a detached input and stays a constant. Sigmoid and softmax are not touched (gates and
    heads). The namespaces are restored in a ``finally``; a lock keeps traces from interleaving.
    """
    import keras

    namespaces = [keras.activations, keras.ops, keras.ops.nn]
    saved = []
    with _PATCH_LOCK:
        try:
            for space in namespaces:
                for name in _ACTIVATIONS:
                    fn = getattr(space, name, None)
                    if fn is None:
                        continue
                    saved.append((space, name, fn))
                    setattr(space, name, _identity_rule(fn, epsilon))
            yield
        finally:
            for space, name, fn in reversed(saved):
                setattr(space, name, fn)


def _identity_rule(fn: Callable, eps: float) -> Callable:
    def wrapped(x, *args, **kwargs):
        y = fn(x, *args, **kwargs)
        if not isinstance(y, tf.Tensor) or not y.dtype.is_floating:
            return y
        x = tf.convert_to_tensor(x)
        return tf.cast(ratio(tf.cast(y, tf.float32), tf.cast(x, tf.float32), eps), y.dtype)

    return wrapped
