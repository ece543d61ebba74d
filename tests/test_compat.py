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


def test_read_variables_keeps_the_values_of_the_moment_it_read():
    import tensorflow as tf

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    before = [np.array(v.numpy()) for v in model.variables]
    values = _compat.read_variables(model.variables)
    assert all(isinstance(v, tf.Tensor) for v in values)
    for var in model.variables:  # training's in-place updates after the read
        var.assign_add(np.ones(var.shape, "float32"))
        var.assign(var.value * 3.0)
    for value, old, var in zip(values, before, model.variables):
        np.testing.assert_array_equal(np.asarray(value), old)
        assert not np.array_equal(np.asarray(var.numpy()), old)


def test_read_variables_takes_the_public_read_for_other_variables():
    import tensorflow as tf

    class Wrapped:  # what a strategy's distributed variable looks like to the reader
        value = tf.constant([1.0, 2.0])

    (value,) = _compat.read_variables([Wrapped()])
    np.testing.assert_array_equal(np.asarray(value), [1.0, 2.0])


def test_functions_without_grappler_changes_this_thread_only_and_restores():
    import threading

    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    def disabled() -> bool:
        config = config_pb2.ConfigProto()
        config.ParseFromString(context.context().function_call_options.config_proto_serialized)
        return config.graph_options.rewrite_options.disable_meta_optimizer

    seen = {}
    fn = tf.function(lambda x: tf.nn.relu(x) * 2.0)
    assert not disabled()
    with _compat.functions_without_grappler():
        assert disabled()
        other = threading.Thread(target=lambda: seen.setdefault("other", disabled()))
        other.start()
        other.join()
        result = fn(tf.constant([-1.0, 3.0]))  # instantiated without Grappler: same values
    assert seen["other"] is False
    assert not disabled()
    np.testing.assert_array_equal(np.asarray(result), [0.0, 6.0])
    np.testing.assert_array_equal(np.asarray(fn(tf.constant([-1.0, 3.0]))), [0.0, 6.0])
