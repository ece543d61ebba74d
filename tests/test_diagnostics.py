"""Gradient flow, dead units and activation statistics on deliberately sick networks."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz import diagnostics


@pytest.fixture(scope="module")
def digits_flat():
    data = nv.datasets.digits()
    return data.train.x[:256].reshape(256, -1), data.train.y[:256]


def _mlp(activation, init, depth=12, sick_layer=None, seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((64,))
    h = inp
    for i in range(depth):
        bias = "zeros" if i != sick_layer else keras.initializers.Constant(-10.0)
        h = keras.layers.Dense(
            32,
            activation=activation,
            kernel_initializer=init,
            bias_initializer=bias,
            name=f"dense_{i}",
        )(h)
    out = keras.layers.Dense(10, activation="softmax", name="out")(h)
    model = keras.Model(inp, out)
    model.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy")
    return model


@pytest.mark.slow
def test_vanishing_gradients_are_visible_in_a_deep_sigmoid_mlp(digits_flat, snapshot):
    x, y = digits_flat
    sick = _mlp("sigmoid", "glorot_uniform")
    snap = snapshot(sick)
    norms = list(diagnostics.layer_gradient_norms(nv.gradient_flow(sick, x, y)).values())
    assert len(norms) == 13
    assert norms[-1] >= 10 * norms[0]  # first layer ≥ 10× smaller than the last
    healthy = _mlp("relu", "he_normal")
    h_norms = list(diagnostics.layer_gradient_norms(nv.gradient_flow(healthy, x, y)).values())
    assert h_norms[-1] < 10 * h_norms[0]
    snap.assert_unchanged()


def test_gradient_flow_matches_a_manual_tape_and_chunks_combine_exactly(digits_flat):
    import tensorflow as tf

    x, y = digits_flat
    model = _mlp("relu", "he_normal", depth=2)
    rows = nv.gradient_flow(model, x, y, batch_size=100)  # 3 uneven chunks
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=False))
    grads = tape.gradient(loss, model.trainable_weights)
    assert [r["name"] for r in rows] == list(nv.get_weights(model))
    for row, g, w in zip(rows, grads, model.trainable_weights):
        g = np.asarray(g)
        assert row["grad_norm"] == pytest.approx(np.linalg.norm(g), rel=1e-4)
        assert row["grad_max_abs"] == pytest.approx(np.abs(g).max(), rel=1e-4)
        assert row["grad_mean_abs"] == pytest.approx(np.abs(g).mean(), rel=1e-4)
        w_norm = np.linalg.norm(w.numpy())
        if w_norm > 0:
            assert row["ratio"] == pytest.approx(np.linalg.norm(g) / w_norm, rel=1e-4)
    assert rows[0]["loss"] == pytest.approx(float(loss), rel=1e-5)


def test_gradient_flow_is_compiled_once(digits_flat):
    x, y = digits_flat
    model = _mlp("relu", "he_normal", depth=2)
    for n in (64, 100, 256):
        nv.gradient_flow(model, x[:n], y[:n], batch_size=64)
    (flow,) = nv.core.compiled.cached_passes(model).values()
    assert flow.trace_count <= 2  # one full-batch trace, one relaxed-shape trace at most


@pytest.mark.slow
def test_gradient_flow_leaves_training_bitwise_identical(digits_flat):
    x, y = digits_flat

    def train(probe_first):
        model = _mlp("relu", "he_normal", depth=3, seed=1)
        model.compile(
            keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        if probe_first:
            nv.gradient_flow(model, x, y)
        keras.utils.set_random_seed(7)
        model.fit(x, y, epochs=2, batch_size=64, shuffle=False, verbose=0)
        return [w.numpy() for w in model.weights], model

    plain, _ = train(False)
    probed, model = train(True)
    for a, b in zip(plain, probed):
        assert a.tobytes() == b.tobytes()
    assert model.loss == "sparse_categorical_crossentropy"


def test_gradient_flow_with_explicit_loss_on_uncompiled_model(digits_flat):
    x, y = digits_flat
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, name="d")])
    rows = nv.gradient_flow(
        model, x, y, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    assert [r["name"] for r in rows] == ["d/kernel", "d/bias"]
    assert all(r["grad_norm"] > 0 for r in rows)


def test_gradient_flow_bad_input(digits_flat):
    x, y = digits_flat
    uncompiled = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    with pytest.raises(nv.UnsupportedModelError, match="loss="):
        nv.gradient_flow(uncompiled, x, y)
    model = _mlp("relu", "he_normal", depth=1)
    with pytest.raises(nv.InvalidInputError, match="needs labels"):
        nv.gradient_flow(model, x, None)
    with pytest.raises(nv.InvalidInputError, match="one label per sample"):
        nv.gradient_flow(model, x, y[:10])


def test_dead_units_find_the_sick_layer(digits_flat, snapshot):
    x, _ = digits_flat
    model = _mlp("relu", "he_normal", depth=4, sick_layer=2)
    snap = snapshot(model)
    report = nv.dead_units(model, x)
    assert list(report) == ["dense_0", "dense_1", "dense_2", "dense_3"]  # ReLU layers only
    assert report["dense_2"]["dead_fraction"] >= 0.9
    for healthy in ("dense_0", "dense_1"):
        assert report[healthy]["dead_fraction"] < 0.2
    freq = report["dense_0"]["frequency"]
    acts = nv.get_activation(model, x, "dense_0")
    np.testing.assert_allclose(freq, (acts > 0).mean(axis=0), atol=1e-6)
    snap.assert_unchanged()


def test_dead_units_count_conv_channels(zoo):
    case = zoo("sequential")
    report = nv.dead_units(case.model, case.x, batch_size=3)
    acts = nv.get_activation(case.model, case.x, "conv2")
    alive = (acts > 0).any(axis=(0, 1, 2))
    assert report["conv2"]["units"] == 8
    assert report["conv2"]["dead"] == int((~alive).sum())


def test_activation_stats_saturation_and_zeros(digits_flat):
    x, _ = digits_flat
    keras.utils.set_random_seed(0)
    inp = keras.Input((64,))
    big = keras.initializers.RandomNormal(stddev=3.0, seed=1)
    h = keras.layers.Dense(32, activation="tanh", kernel_initializer=big, name="tanh")(inp)
    h = keras.layers.Dense(32, activation="sigmoid", kernel_initializer="zeros", name="sig")(h)
    h = keras.layers.Dense(16, activation="relu", name="relu")(h)
    model = keras.Model(inp, h)
    rows = {r["layer"]: r for r in nv.activation_stats(model, x, batch_size=50)}
    tanh = nv.get_activation(model, x, "tanh")
    assert rows["tanh"]["saturated"] == pytest.approx((np.abs(tanh) > 0.99).mean(), abs=1e-6)
    assert rows["tanh"]["saturated"] > 0.3
    assert rows["tanh"]["mean"] == pytest.approx(tanh.mean(), abs=1e-5)
    assert rows["tanh"]["std"] == pytest.approx(tanh.std(), abs=1e-4)
    assert rows["sig"]["saturated"] == 0.0  # zero kernel: every output is sigmoid(0) = 0.5
    assert rows["sig"]["mean"] == pytest.approx(0.5)
    relu = nv.get_activation(model, x, "relu")
    assert rows["relu"]["zeros"] == pytest.approx((relu == 0).mean())
    assert np.isnan(rows["relu"]["saturated"])


def test_no_relu_layers_gives_a_clear_error():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="linear")])
    with pytest.raises(nv.InvalidArgumentError, match="linear"):
        nv.dead_units(model, np.zeros((3, 4), "float32"))


def test_snapshot_passes_compute_on_the_frozen_weights(digits_flat):
    """The callbacks' path: freeze the weights, let them change, compute on the snapshot."""
    x, y = digits_flat
    model = _mlp("relu", "he_normal", depth=3)
    before_rows = nv.gradient_flow(model, x, y, batch_size=100)
    before_dead = nv.dead_units(model, x, batch_size=100)
    flow = diagnostics.gradient_flow_pass(model, weights="snapshot")
    probe = nv.core.compiled.layer_pass(model, diagnostics.watched_layers(model), "snapshot")
    flow_values, probe_values = flow.snapshot(), probe.snapshot()
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)  # the weights move on
    after_rows = nv.gradient_flow(model, x, y, batch_size=100)
    assert not np.isclose(after_rows[0]["grad_norm"], before_rows[0]["grad_norm"], rtol=1e-3)
    data = nv.core.inputs.prepare(model, x, 100)
    batches = list(zip(data.batches(100), diagnostics.labels_batches(model, y, len(x), 100)))
    rows = diagnostics.flow_rows(model, flow, batches, len(x), flow_values)
    for got, want in zip(rows, before_rows):
        assert got["name"] == want["name"]
        for key in ("grad_norm", "weight_norm", "loss"):
            assert got[key] == pytest.approx(want[key], rel=1e-4), (got["name"], key)
    dead = diagnostics.count_dead_units(probe, data.batches(100), 0.0, probe_values)
    assert list(dead) == list(before_dead)
    for path, row in dead.items():
        np.testing.assert_allclose(row["frequency"], before_dead[path]["frequency"], atol=1e-6)
