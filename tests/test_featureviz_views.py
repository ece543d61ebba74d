"""Unit-level deconvnet / guided-backprop views: exact rules, receptive fields, model untouched."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz import objectives as O
from keras_nnviz.featureviz import views as V

L = keras.layers


@pytest.fixture(scope="module")
def mlp():
    """x(5) -> Dense(6, relu) -> ReLU layer after Dense(4) -> Dense(3): fused and plain ReLUs."""
    init = lambda s: keras.initializers.RandomNormal(stddev=1.0, seed=s)
    inp = keras.Input((5,))
    h1 = L.Dense(6, activation="relu", name="h1", kernel_initializer=init(1))(inp)
    z2 = L.Dense(4, name="z2", kernel_initializer=init(2), bias_initializer=init(3))(h1)
    h2 = L.ReLU(name="h2")(z2)
    out = L.Dense(3, name="out", kernel_initializer=init(4))(h2)
    model = keras.Model(inp, out, name="mlp")
    x = np.random.default_rng(0).normal(size=(16, 5)).astype("float32")
    return model, x


def _manual(model, x, k, rule):
    """Hand-written backward pass of out[:, k] under each rule."""
    w1, b1 = model.get_layer("h1").get_weights()
    w2, b2 = model.get_layer("z2").get_weights()
    w3, _ = model.get_layer("out").get_weights()
    z1 = x @ w1 + b1
    z2 = np.maximum(z1, 0) @ w2 + b2
    g = np.tile(w3[:, k], (len(x), 1))  # d out_k / d h2
    relu_mask = {"plain": lambda g, z: g * (z > 0)}
    relu_mask["guided"] = lambda g, z: np.maximum(g, 0) * (z > 0)
    relu_mask["deconv"] = lambda g, z: np.maximum(g, 0)
    g = relu_mask[rule](g, z2) @ w2.T  # through h2 (ReLU layer) and z2
    g = relu_mask[rule](g, z1) @ w1.T  # through h1's fused ReLU
    return g


@pytest.mark.parametrize("rule", ["guided", "deconv"])
def test_rules_match_a_hand_written_backward_pass(mlp, rule, snapshot):
    model, x = mlp
    snap = snapshot(model)
    got = V.backprop_view(model, x, O.class_logit(1), rule=rule, batch_size=5)
    expected = _manual(model, x, 1, rule)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # The rules matter on this model: neither equals the plain gradient.
    assert np.abs(expected - _manual(model, x, 1, "plain")).max() > 1e-2
    snap.assert_unchanged()  # the fused activation swapped while tracing deconv is restored


def test_views_of_an_intermediate_unit(mlp):
    model, x = mlp
    got = nv.guided_view(model, x, O.neuron("h2", 2))
    w1, b1 = model.get_layer("h1").get_weights()
    w2, b2 = model.get_layer("z2").get_weights()
    z1 = x @ w1 + b1
    z2 = np.maximum(z1, 0) @ w2 + b2
    # The unit's own ReLU keeps its ordinary gradient; the rule applies below it.
    g = np.tile(np.eye(4)[2], (len(x), 1)) * (z2 > 0)
    g = np.maximum(g @ w2.T, 0) * (z1 > 0)
    np.testing.assert_allclose(got, g @ w1.T, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def digits():
    model, data = nv.datasets.trained_digits_cnn(epochs=2)
    return model, data.test.x[:24]


@pytest.mark.slow
@pytest.mark.parametrize("view", [nv.guided_view, nv.deconv_view])
def test_neuron_view_stays_in_its_receptive_field(digits, view, snapshot):
    model, x = digits
    snap = snapshot(model)
    # The unit that fires most at (2, 5) on these images: a fixed channel index could be silent
    # in the model another CPU's floating-point path trained.
    channel = int(np.argmax(nv.get_activation(model, x, "conv2")[:, 2, 5].sum(axis=0)))
    maps = view(model, x, O.neuron("conv2", channel, position=(2, 5)))[..., 0]
    # conv1 and conv2 are 3×3 'same' convolutions: unit (2, 5) sees rows 0-4, columns 3-7.
    inside = np.zeros((8, 8), bool)
    inside[0:5, 3:8] = True
    assert np.all(maps[:, ~inside] == 0)
    assert np.count_nonzero(np.abs(maps[:, inside]).sum(axis=0)) > 15
    snap.assert_unchanged()


@pytest.mark.slow
def test_views_compile_once_and_work_on_nested_inner_layers(zoo, snapshot):
    case = zoo("nested")
    snap = snapshot(case.model)
    for k in (0, 3, 5):
        maps = nv.deconv_view(case.model, case.x, O.channel("base/block2_conv", k, reduce="max"))
        assert maps.shape == case.x.shape and np.isfinite(maps).all()
    # One compiled pass (guided backprop's, rule deconv) serves every channel index.
    compiled = [
        p
        for key, p in nv.core.compiled.cached_passes(case.model).items()
        # Other families' passes of this shared zoo model have keys of other shapes.
        if len(key) >= 4 and key[2] == "GuidedBackprop" and ("rule", "deconv") in key[-2]
    ]
    assert len(compiled) == 1 and compiled[0].trace_count == 1
    snap.assert_unchanged()


def test_view_errors(zoo, mlp):
    model, x = mlp
    with pytest.raises(nv.InvalidArgumentError, match="rule"):
        V.backprop_view(model, x, O.class_logit(0), rule="smooth")
    with pytest.raises(nv.UnsupportedModelError):
        nv.guided_view(zoo("multi_input").model, zoo("multi_input").x, O.channel("conv1", 0))
    with pytest.raises(nv.LayerNotFoundError):
        nv.guided_view(model, x, O.neuron("h3", 0))
    with pytest.raises(nv.InvalidArgumentError, match="reduce"):
        O.channel("h1", 0, reduce="median")
