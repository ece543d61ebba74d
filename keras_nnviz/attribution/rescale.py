"""DeepLIFT's Rescale rule (Shrikumar et al. 2017) as gradient overrides, applied through
``graph.forward`` hooks (the model is not changed), like the ReLU rules of :mod:`.relu_rules`.

The model runs on one batch that stacks the inputs over their references, ``[x; x0]`` (first
half, second half). Where a layer's gradient is overridden, its backward pass reads both halves:

- every **elementwise** nonlinearity ``y = f(z)`` (a fused ``activation=`` of a Dense /
  convolution, an ``Activation`` layer, ``ReLU``, ``LeakyReLU``, ``ELU``, ``PReLU``) passes
  ``dy * (f(z) - f(z0)) / (z - z0)``, the secant slope (its gradient where ``|z - z0|`` is
  below ``1e-6``);
- **max pooling** (``MaxPooling1D/2D/3D``, ``GlobalMaxPooling1D/2D/3D``) splits each output's
  difference ``y - y0`` into ``max(y, y0) - y0``, sent to the window's maximum in ``x``, and
  ``y - max(y, y0)``, sent to its maximum in ``x0`` (Captum's rule), each divided by that
  input's own difference; the multipliers lie in [0, 1].

Linear layers (Dense, convolutions, average pooling, BatchNormalization at inference, Add,
Concatenate, reshapes) keep their gradients, which are exact multipliers. Then the multipliers
compose by the chain rule and ``sum((x - x0) * multiplier) = f(x) - f(x0)`` holds exactly on
networks built from these layers (summation-to-delta). Other nonlinearities (softmax inside the
network, attention, normalization by a statistic, Multiply, recurrent cells) pass plain
gradients; :func:`unruled_nonlinearities` names them.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

from .. import _compat
from ..core import graph
from ..core.model import activation_name

__all__ = ["EPSILON", "rescale_hooks", "unruled_nonlinearities"]

EPSILON = 1e-6  # below this input difference a multiplier falls back to the gradient

_ELEMENTWISE_LAYERS = (
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
)
_MAX_POOLS = (
    keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D,
    keras.layers.MaxPooling3D,
    keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalMaxPooling3D,
)
# Not elementwise: a softmax mixes its axis.
_NOT_ELEMENTWISE = ("softmax", "log_softmax")
# Layers that are nonlinear in their input and get no rule (plain gradients).
_UNRULED = (
    keras.layers.Softmax,
    keras.layers.MultiHeadAttention,
    keras.layers.Attention,
    keras.layers.AdditiveAttention,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.UnitNormalization,
    keras.layers.Multiply,
    keras.layers.Maximum,
    keras.layers.Minimum,
    keras.layers.RNN,
)


def _halves(t: tf.Tensor, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    t = tf.cast(t, tf.float32)
    return t[:n], t[n:]


def _half(t: tf.Tensor) -> tf.Tensor:
    # Read from the layer's output, not its input: a Shape op on a fused convolution's BiasAdd
    # makes Grappler's remapper log an error.
    return tf.shape(t)[0] // 2


def _twice(t: tf.Tensor) -> tf.Tensor:
    return tf.concat([t, t], 0)


def _rescale(z: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """``y = f(z)`` elementwise; backward: the secant slope of ``f`` between the two halves
    where they differ, ``f'(z)`` (through ``y``'s own graph) where they do not."""

    @tf.custom_gradient
    def rule(z, y):
        n = _half(y)
        zi, zr = _halves(z, n)
        yi, yr = _halves(y, n)
        delta = zi - zr
        big = tf.abs(delta) > EPSILON
        slope = _twice(tf.where(big, (yi - yr) / tf.where(big, delta, 1.0), 0.0))
        big = _twice(big)

        def grad(up):
            up = tf.cast(up, tf.float32)
            through_slope = tf.cast(up * slope, z.dtype)
            through_f = tf.cast(tf.where(big, 0.0, up), y.dtype)
            return through_slope, through_f

        return tf.identity(y), grad

    return rule(z, y)


def _unpool(pool: Callable, x: tf.Tensor, v: tf.Tensor) -> tf.Tensor:
    """``v`` (shaped like ``pool(x)``) routed back to each window's maximum in ``x``."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        out = tf.cast(pool(x), tf.float32)
    return tape.gradient(out, x, output_gradients=v)


def _max_rule(pool: Callable, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """``y = pool(x)`` a max pooling; backward: the Rescale rule of max (module docstring)."""

    @tf.custom_gradient
    def rule(x, y):
        def grad(up):
            n = _half(y)
            xi, xr = _halves(x, n)
            yi, yr = _halves(y, n)
            upi = tf.cast(up, tf.float32)[:n]
            top = tf.maximum(yi, yr)
            # The contributions (multiplier x difference) of every input, summing to dy * (y - y0).
            parts = _unpool(pool, xi, upi * (top - yr)) + _unpool(pool, xr, upi * (yi - top))
            delta = xi - xr
            big = tf.abs(delta) > EPSILON
            g = tf.where(big, parts / tf.where(big, delta, 1.0), 0.0)
            return tf.cast(_twice(g), x.dtype), tf.zeros_like(y)

        return tf.identity(y), grad

    return rule(x, y)


def _elementwise_fn(layer: keras.layers.Layer) -> str | None:
    """``"layer"`` (the whole layer is elementwise), ``"fused"`` (its ``activation=`` is) or
    None."""
    if isinstance(layer, keras.layers.RNN) or hasattr(layer, "state_size"):
        return None  # recurrent cells gate a state
    if isinstance(layer, _ELEMENTWISE_LAYERS):
        return "layer"
    name = activation_name(layer)
    if name is None or name in _NOT_ELEMENTWISE:
        return None
    return "layer" if isinstance(layer, keras.layers.Activation) else "fused"


def _layer_hook(layer, call, args, kwargs):
    z = args[0] if args else kwargs["inputs"]
    return _rescale(z, call(*args, **kwargs))


def _fused_hook(layer, call, args, kwargs):
    own = layer.activation

    def activation(z):
        return _rescale(z, own(z))

    # Swapped only while this call is traced and restored in ``finally`` (as the ReLU rules do).
    undo = _compat.swap_activation(layer, activation)
    try:
        return call(*args, **kwargs)
    finally:
        undo()


def _max_hook(layer, call, args, kwargs):
    x = args[0] if args else kwargs["inputs"]
    return _max_rule(layer.call, x, call(*args, **kwargs))


def rescale_hooks(model: keras.Model) -> dict:
    """Hooks for :func:`keras_nnviz.core.graph.forward` applying the Rescale rule at every
    elementwise nonlinearity and max pooling of ``model`` (nested models and custom layers'
    sub-layers included). The batch must be the inputs stacked over their references.

    Args:
        model: a built Keras model.

    Returns:
        ``{id(layer): (layer, hook)}``.

    Example:
        >>> hooks = rescale_hooks(model)
        >>> out = graph.forward(model, tf.concat([x, x0], 0), hooks)  # inside a tf.function
    """
    hooks = {}
    for entry in graph.walk(model, include_sublayers=True):
        layer = entry.layer
        if isinstance(layer, _MAX_POOLS):
            hooks[id(layer)] = (layer, _max_hook)
            continue
        kind = _elementwise_fn(layer)
        if kind is not None:
            hooks[id(layer)] = (layer, _layer_hook if kind == "layer" else _fused_hook)
    return hooks


def unruled_nonlinearities(model: keras.Model) -> dict[str, int]:
    """``{layer class or activation: count}`` of the nonlinear layers of ``model`` the Rescale
    rule does not reach (gradients pass them unchanged, so summation-to-delta is approximate).
    A softmax on a model output is not counted: scores use the logits behind it."""
    outputs = {id(_compat.producing_layer(t)) for t in getattr(model, "outputs", None) or []}
    found: dict[str, int] = {}
    for entry in graph.walk(model, include_sublayers=True):
        layer = entry.layer
        name = None
        if isinstance(layer, _UNRULED) or (
            hasattr(layer, "state_size") and not isinstance(layer, _MAX_POOLS)
        ):
            name = type(layer).__name__
        elif activation_name(layer) in _NOT_ELEMENTWISE and id(layer) not in outputs:
            name = activation_name(layer)
        if name is not None and not (
            isinstance(layer, keras.layers.Softmax) and id(layer) in outputs
        ):
            found[name] = found.get(name, 0) + 1
    return found
