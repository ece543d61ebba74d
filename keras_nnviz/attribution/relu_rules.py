"""Modified ReLU gradients, applied through ``graph.forward`` hooks (the model is not changed).

Shared by guided backprop / deconvnet attributions and by feature visualization (unit views and
the redirected ReLU of the optimizer).

- ``"guided"`` (Springenberg et al. 2015): a gradient passes a ReLU only where the forward
  activation was positive *and* the gradient itself is positive.
- ``"deconv"`` (Zeiler & Fergus 2014): only positive gradients pass, whatever the forward
  activation was.
- ``"redirect"`` (Lucid's redirected ReLU, for optimization): where a ReLU passes no gradient
  at all for an image (every unit below zero), gradients that would *raise* its input pass
  anyway, so units dead at the grey starting image can still be optimized; the forward pass is
  the ordinary ReLU.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from .. import _compat
from ..core import graph
from ..core.model import activation_name
from ..errors import InvalidArgumentError

__all__ = [
    "rule_hooks",
    "RULES",
    "unguided_nonlinearities",
]

RULES = ("guided", "deconv", "redirect")


@tf.custom_gradient
def _positive_gradients_only(x):
    """Identity forward; backward drops negative upstream gradients (the "guided" part)."""

    def grad(dy):
        return tf.nn.relu(dy)

    return tf.identity(x), grad


@tf.custom_gradient
def _deconv_relu(x):
    """ReLU forward; backward passes positive upstream gradients whatever the forward mask."""

    def grad(dy):
        return tf.nn.relu(dy)

    return tf.nn.relu(x), grad


@tf.custom_gradient
def _redirected_relu(x):
    """ReLU forward; backward redirects gradients for images the ReLU blocks entirely.

    ``dy`` is the gradient of the loss being *minimized*: where ``x < 0`` and ``dy < 0`` a
    descent step raises ``x``, which is let through when the ordinary ReLU gradient of that
    image is zero everywhere.
    """

    def grad(dy):
        below = x < 0
        ordinary = tf.where(below, tf.zeros_like(dy), dy)
        redirected = tf.where(tf.logical_and(below, dy > 0), tf.zeros_like(dy), dy)
        batch = tf.shape(dy)[0]
        blocked = tf.reduce_max(tf.abs(tf.reshape(ordinary, [batch, -1])), axis=1) == 0
        blocked = tf.reshape(blocked, tf.concat([[batch], tf.ones([tf.rank(dy) - 1], tf.int32)], 0))
        return tf.where(blocked, redirected, ordinary)

    return tf.nn.relu(x), grad


def _relu_kind(layer: keras.layers.Layer) -> str | None:
    """``"fused"`` (``activation="relu"``), ``"layer"`` (a plain ``ReLU`` layer) or None."""
    if isinstance(layer, keras.layers.RNN) or hasattr(layer, "state_size"):
        return None  # recurrent activations gate a state; they are not rectifiers to guide
    if isinstance(layer, keras.layers.ReLU):
        plain = not layer.max_value and not layer.negative_slope and not layer.threshold
        return "layer" if plain else None
    if isinstance(layer, keras.layers.Activation):
        return "layer" if layer.activation is keras.activations.relu else None
    if getattr(layer, "activation", None) is keras.activations.relu:
        return "fused"
    return None


def _guided_hook(layer, call, args, kwargs):
    return tf.nest.map_structure(_positive_gradients_only, call(*args, **kwargs))


def _layer_hook(replacement):
    def hook(layer, call, args, kwargs):
        x = args[0] if args else kwargs["inputs"]
        return replacement(x)

    return hook


def _fused_hook(replacement):
    def hook(layer, call, args, kwargs):
        # The layer's own activation is swapped only while this call is traced and restored
        # in ``finally``: the traced graph keeps the rule, the model object is left as it was.
        undo = _compat.swap_activation(layer, replacement)
        try:
            return call(*args, **kwargs)
        finally:
            undo()

    return hook


_REPLACEMENTS = {"deconv": _deconv_relu, "redirect": _redirected_relu}


def unguided_nonlinearities(model: keras.Model) -> tuple[int, dict[str, int]]:
    """``(ReLU layers, {other nonlinearity: layers})``: what the ReLU rules do not reach.

    GELU, swish, hard-swish, tanh ... pass gradients unchanged under every rule, so where they
    are the only nonlinearities guided backprop and deconvnet equal plain gradients.
    """
    relus, others = 0, {}
    for entry in graph.walk(model, include_sublayers=True):
        if _relu_kind(entry.layer) is not None:
            relus += 1
            continue
        if isinstance(entry.layer, keras.layers.RNN) or hasattr(entry.layer, "state_size"):
            continue
        name = activation_name(entry.layer)
        if name is not None and name not in ("softmax", "sigmoid"):  # output heads, not rectifiers
            others[name] = others.get(name, 0) + 1
    return relus, others


def rule_hooks(model: keras.Model, rule: str) -> dict:
    """``graph.forward`` hooks applying ``rule`` at every ReLU-activated layer of ``model``."""
    if rule not in RULES:
        raise InvalidArgumentError(f"rule must be one of {list(RULES)}; received {rule!r}.")
    hooks = {}
    for entry in graph.walk(model, include_sublayers=True):
        kind = _relu_kind(entry.layer)
        if kind is None:
            continue
        if rule == "guided":
            hook = _guided_hook
        else:
            make = _layer_hook if kind == "layer" else _fused_hook
            hook = make(_REPLACEMENTS[rule])
        hooks[id(entry.layer)] = (entry.layer, hook)
    return hooks
