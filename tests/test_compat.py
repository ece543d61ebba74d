"""keras_nnviz._compat: Keras internals behind functions that restore what they change."""

from __future__ import annotations

import keras
import numpy as np

from keras_nnviz import _compat


def test_swap_activation_applies_the_function_and_undo_restores_the_layer():
    layer = keras.layers.Dense(3, activation="relu")
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    relu_out = np.asarray(layer(x))
    pre = x @ np.asarray(layer.kernel) + np.asarray(layer.bias)
    assert (pre < 0).any()  # the swap must make a visible difference
    original = layer.activation
    undo = _compat.swap_activation(layer, lambda t: -t)
    try:
        np.testing.assert_allclose(np.asarray(layer(x)), -pre, rtol=1e-5, atol=1e-6)
    finally:
        undo()
    assert layer.activation is original and "activation" in vars(layer)
    np.testing.assert_allclose(np.asarray(layer(x)), relu_out, rtol=1e-6)


def test_swap_activation_undo_removes_an_instance_attribute_it_created():
    class Doubling(keras.layers.Layer):
        activation = staticmethod(lambda t: 2 * t)  # a class attribute, no instance attribute

        def call(self, x):
            return self.activation(x)

    layer = Doubling()
    undo = _compat.swap_activation(layer, lambda t: 3 * t)
    assert float(layer(np.ones((1, 1), "float32"))[0, 0]) == 3.0
    undo()
    assert "activation" not in vars(layer)
    assert float(layer(np.ones((1, 1), "float32"))[0, 0]) == 2.0
