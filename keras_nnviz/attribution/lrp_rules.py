"""The LRP rules as ``graph.forward`` hooks: how the gradient crosses each layer so that
gradient × input is the rule's relevance (see :mod:`keras_nnviz.attribution.lrp`).

Every hook leaves the forward values exactly the model's; only the backward pass changes.
:func:`lrp_hooks` builds the hooks of a composite;
:func:`core.towers.embedding_companions` finds the position / segment embeddings added to a
token embedding.

Where relevance goes that the attributed tensor does not own:

- **biases** (``Dense``/``EinsumDense``/``Conv`` bias, ``LayerNormalization``'s β): the ε rule
  gives a bias its share ``b * dscore/dz``. With ``probes=`` each linear layer's crossing
  writes its per-sample share into a watched ``(N,)`` probe (a β: a watched zero added to the
  norm's output), so the shares are read in the same backward pass (``bias_relevance``).
- **position / segment embeddings** added to the token embedding: their relevance is read at
  their own outputs (:func:`core.towers.embedding_companions`).
"""

from __future__ import annotations

import contextlib
import functools
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
    """Where the ε rule's bias shares are read in the one backward pass: a watched zero per
    sample (``share(z)``) whose gradient a crossing sets to ``sum(b * dscore/dz)``, or a watched
    zero tensor added where a bias enters (``add(z, bias)``, LayerNormalization's β). After the
    backward pass, ``relevance(grads)`` is each sample's relevance absorbed by biases."""

    def __init__(self, watch: Callable[[tf.Tensor], None]):
        self.watch = watch
        self.probes: list[tf.Tensor] = []
        self.biases: list[tf.Tensor | None] = []

    def add(self, z: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
        """``z`` plus a watched zero of its shape; ``bias`` broadcast to ``z``."""
        bias = tf.cast(bias, z.dtype)
        probe = tf.zeros_like(z)
        self.watch(probe)
        self.probes.append(probe)
        self.biases.append(bias)
        return z + probe

    def share(self, z: tf.Tensor) -> tf.Tensor:
        """A watched ``(N,)`` zero whose gradient is already the bias relevance (set by the
        crossing it enters, :func:`epsilon_crossing`)."""
        probe = tf.zeros(tf.shape(z)[:1], tf.float32)
        self.watch(probe)
        self.probes.append(probe)
        self.biases.append(None)
        return probe

    def relevance(self, grads: list[tf.Tensor | None]) -> tf.Tensor | None:
        total = None
        for g, b in zip(grads, self.biases):
            if g is None:
                continue
            r = tf.cast(g, tf.float32)
            if b is not None:
                r = r * tf.cast(b, tf.float32)
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
    """``z + eps * sign(z)``; where ``z`` is exactly 0 it stays 0 and the ratio divided by it
    is 0 (``divide_no_nan``), not ``y / eps``. Two elementwise ops (a ``tf.where`` of ±eps
    took four; each is a pass over a whole activation in the backward pass)."""
    return z + eps * tf.sign(z) if eps else z


def _apply(layer: keras.layers.Layer, kind: str, x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """The layer's linear map with another kernel, no bias."""
    if kind == "dense":
        return keras.ops.matmul(x, kernel)
    if kind == "einsum":
        return keras.ops.einsum(layer.equation, x, kernel)
    padding = layer.padding
    if padding == "causal":  # Conv1D: left-padded in time, then valid (as the layer does)
        left = layer.dilation_rate[0] * (layer.kernel_size[0] - 1)
        time = 2 if layer.data_format == "channels_first" else 1
        x = keras.ops.pad(x, [(left, 0) if axis == time else (0, 0) for axis in range(3)])
        padding = "valid"
    return keras.ops.conv(
        x,
        kernel,
        strides=layer.strides,
        padding=padding,
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


def epsilon_crossing(
    y: tf.Tensor,
    z: tf.Tensor,
    eps: float,
    bias: tf.Tensor | None,
    probes: BiasProbes | None,
    nonnegative: bool = False,
) -> tf.Tensor:
    """:func:`ratio` whose backward pass also writes the bias share ``sum(b * dscore/dz)`` into
    a per-sample probe (no extra tensor of ``z``'s size in the forward pass). ``nonnegative``:
    ``z`` is a ReLU's output, so its stabilizer is ``z + eps`` (one elementwise op, not two)."""
    y = tf.stop_gradient(y)
    share = probes is not None and bias is not None
    if share:
        bias = tf.cast(bias, tf.float32)

    def ratio_of(zz):
        if nonnegative and eps:
            return y / (zz + eps)  # y is 0 wherever zz is
        return tf.math.divide_no_nan(y, _stabilize(zz, eps))

    def bias_share(gz):
        # sum(b * gz): gz summed first over the axes the bias is broadcast along
        leading = list(range(1, gz.shape.rank - bias.shape.rank))
        part = tf.reduce_sum(gz, axis=leading) if leading else gz
        return tf.reduce_sum(tf.reshape(part * bias, (tf.shape(gz)[0], -1)), axis=1)

    @tf.custom_gradient
    def crossing(zz, *probe):
        def grad(g):
            gz = g * ratio_of(zz)
            return (gz, bias_share(gz)) if share else gz

        return tf.identity(y), grad

    return crossing(z, probes.share(z)) if share else crossing(z)


def _field(layer, kind: str, x: tf.Tensor, kernel: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The flat rule's receptive-field sums ``W1 1`` (one value per output position, broadcast
    over output channels; a graph constant where the input's shape is static) and the all-ones
    kernel whose transpose spreads relevance back (one output channel for dense / conv: every
    output channel of ``W1`` is the same)."""
    if kind == "einsum":
        ones = tf.ones_like(kernel)
    else:
        ones = tf.ones(tuple(kernel.shape[:-1]) + (1,), tf.float32)
    if kind == "dense":
        return tf.constant(float(kernel.shape[0])), ones
    static = x.shape[1:]
    unit = tf.ones((1, *static)) if static.is_fully_defined() else tf.ones_like(x[:1])
    return _apply(layer, kind, unit, ones), ones


def _flat_crossing(layer, kind: str, x: tf.Tensor, y: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """Forward value ``y`` (the layer's output); the gradient reaching ``x`` is
    ``W1^T (g * y / (W1 1))``: the input relevance itself (not to be multiplied by ``x``;
    :func:`lrp_hooks` reports the layer). No forward pass of ``W1``: only its transpose runs, on
    the output relevance summed over channels."""
    y = tf.stop_gradient(y)
    field, ones = _field(layer, kind, x, kernel)
    axis = 1 if kind == "conv" and layer.data_format == "channels_first" else -1

    @tf.custom_gradient
    def crossing(xx):
        def grad(g):
            r = g * tf.math.divide_no_nan(y, field)
            if kind != "einsum":
                r = tf.reduce_sum(r, axis=axis, keepdims=True)
            if kind == "dense":
                return tf.broadcast_to(r, tf.shape(xx))
            with tf.GradientTape() as tape:  # the transpose of x -> W1 x (its forward is pruned)
                tape.watch(xx)
                spread = _apply(layer, kind, xx, ones)
            return tape.gradient(spread, xx, output_gradients=r)

        return tf.identity(y), grad

    return crossing(x)


_RELU = keras.activations.relu  # the original (elementwise_identity replaces the name a while)
_HEADS = (keras.activations.softmax, keras.activations.sigmoid)


def _linear_hook(rule: str, kind: str, eps: float, probes: BiasProbes | None):
    """One crossing per layer. z+ / flat (and ε behind a ReLU) keep the layer's own call, fused
    activation included: relevance ``R = y * g`` at its output ``y`` enters the rule directly
    (the activation's identity rule folded in: ``y / z * z / z+ = y / z+``; the ReLU's own
    gradient is ε's mask). Other activations run after the pre-activation ``z``, crossed by
    one ratio ``act(z) / z``; a softmax / sigmoid head keeps its gradient (the score is behind
    it)."""

    def hook(layer, call, args, kwargs):
        x = args[0] if args else kwargs["inputs"]
        activation = getattr(layer, "activation", None)
        plain = activation is None or activation is keras.activations.linear
        head = activation in _HEADS
        bias = getattr(layer, "bias", None)  # None without one (EinsumDense: no use_bias)
        if probes is not None and bias is not None and rule == "epsilon":
            if kind == "conv" and getattr(layer, "data_format", None) == "channels_first":
                bias = tf.reshape(bias, (-1,) + (1,) * (len(layer.kernel.shape) - 2))
        else:
            bias = None
        fused = not head and (rule != "epsilon" or activation is _RELU or plain)
        undo = None if fused or plain else _compat.swap_activation(layer, keras.activations.linear)
        try:
            z = call(*args, **kwargs)  # fused: the layer's output, activation included
        finally:
            if undo is not None:
                undo()
        dtype = z.dtype
        z = tf.cast(z, tf.float32)
        if rule == "epsilon":
            y = z if fused or head else activation(tf.stop_gradient(z))
            relu = fused and activation is _RELU
            out = epsilon_crossing(y, z, eps, bias, probes, nonnegative=relu)
        else:
            kernel = tf.cast(layer.kernel, tf.float32)
            if rule == "zplus":
                out = ratio(z, _apply(layer, kind, tf.cast(x, tf.float32), tf.nn.relu(kernel)), eps)
            else:
                out = _flat_crossing(layer, kind, tf.cast(x, tf.float32), z, kernel)
        return tf.cast(activation(out) if head else out, dtype)

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


def _attention_hook(layer, call, args, kwargs, ask_scores=False):
    """Softmax probabilities as constants: a Keras ``MultiHeadAttention`` is called on its
    explicit path (``return_attention_scores=True``: its ``Softmax`` sub-layer, detached by
    :func:`_detach_hook`, instead of a fused kernel); any attention layer's ``keras.ops.softmax``
    / ``dot_product_attention`` calls are detached while it runs. ``ask_scores``: the site's
    call takes the flag but returns its output only (Moonshine; see
    :func:`keras_nnviz.attention.register_attention_site`)."""
    with _compat.observe_attention_ops(lambda probs: None, tf.stop_gradient):
        if ask_scores:
            return call(*args, **dict(kwargs, return_attention_scores=True))
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
        hook = functools.partial(_attention_hook, ask_scores=site.ask_scores)
        hooks[id(site.layer)] = (site.layer, hook)
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
    heads).

    The names are replaced in the public namespaces because that is what such layers look up at
    call time: Keras has no hook for an op called inside a layer, and TensorFlow's gradient
    override map does not reach a ``GradientTape`` (nor a GELU, which is several ops). Only the
    tracing thread sees the rule: a call from any other thread (a model training beside a
    callback that explains it) runs the original function, so its gradients are never
    changed. The names are restored in a ``finally``; a lock keeps two traces from nesting
    their replacements.
    """
    import keras

    namespaces = [keras.activations, keras.ops, keras.ops.nn]
    saved = []
    owner = threading.get_ident()
    with _PATCH_LOCK:
        try:
            for space in namespaces:
                for name in _ACTIVATIONS:
                    fn = getattr(space, name, None)
                    if fn is None:
                        continue
                    saved.append((space, name, fn))
                    setattr(space, name, _identity_rule(fn, epsilon, owner))
            yield
        finally:
            for space, name, fn in reversed(saved):
                setattr(space, name, fn)


def _identity_rule(fn: Callable, eps: float, owner: int) -> Callable:
    @functools.wraps(fn)
    def wrapped(x, *args, **kwargs):
        y = fn(x, *args, **kwargs)
        if threading.get_ident() != owner:
            return y
        if not isinstance(y, tf.Tensor) or not y.dtype.is_floating:
            return y
        x = tf.convert_to_tensor(x)
        return tf.cast(ratio(tf.cast(y, tf.float32), tf.cast(x, tf.float32), eps), y.dtype)

    return wrapped
