"""HiRes-CAM, XGrad-CAM, Eigen-CAM, Ablation-CAM and Guided Grad-CAM equal their papers'
formulas (pytorch-grad-cam's definitions) computed by hand under ``tf.GradientTape`` on a tiny
conv -> conv -> GAP -> Dense model, at the layer's resolution and unnormalized."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from tests.bad_input import assert_named_error

L = keras.layers
TARGET = 2


@pytest.fixture(scope="module")
def tiny():
    init = keras.initializers.GlorotUniform
    inputs = keras.Input((10, 10, 3))
    h = L.Conv2D(5, 3, padding="same", activation="relu", name="c1", kernel_initializer=init(1))(
        inputs
    )
    h = L.Conv2D(6, 3, padding="same", activation="relu", name="c2", kernel_initializer=init(2))(h)
    pooled = L.GlobalAveragePooling2D(name="gap")(h)
    outputs = L.Dense(4, activation="softmax", name="head", kernel_initializer=init(3))(pooled)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).uniform(size=(3, 10, 10, 3)).astype("float32")
    features = keras.Model(inputs, model.get_layer("c2").output)
    kernel, bias = model.get_layer("head").get_weights()

    def logit(a):  # the target's logit from c2's activations
        return tf.reduce_sum(tf.reduce_mean(a, axis=[1, 2]) * kernel[:, TARGET], -1) + bias[TARGET]

    a = tf.constant(features(x))
    with tf.GradientTape() as tape:
        tape.watch(a)
        y = logit(a)
    g = tape.gradient(y, a).numpy()
    return model, x, a.numpy(), g, logit


def _ours(method, model, x, **options):
    options = {"layer": "c2", "upsample": None, "normalize": False, **options}
    return np.asarray(nv.explain(model, x, TARGET, method=method, **options))


def _relu(v):
    return np.maximum(v, 0.0)


@pytest.mark.slow
def test_hires_cam_is_the_gradient_times_activation_summed_over_channels(tiny):
    model, x, a, g, _ = tiny
    expected = _relu((g * a).sum(-1))
    np.testing.assert_allclose(_ours("hires_cam", model, x), expected, rtol=1e-4, atol=1e-6)
    # behind global average pooling the gradient is uniform: HiRes-CAM equals Grad-CAM
    np.testing.assert_allclose(
        _ours("hires_cam", model, x), _ours("grad_cam", model, x), rtol=1e-4, atol=1e-6
    )


def test_xgrad_cam_weights_are_sum_grad_times_activation_over_sum_activation(tiny):
    model, x, a, g, _ = tiny
    weights = (g * a).sum(axis=(1, 2)) / (a.sum(axis=(1, 2)) + 1e-7)
    expected = _relu((a * weights[:, None, None, :]).sum(-1))
    np.testing.assert_allclose(_ours("xgrad_cam", model, x), expected, rtol=1e-4, atol=1e-6)


def test_eigen_cam_is_the_projection_on_the_first_principal_component(tiny):
    model, x, a, _, _ = tiny
    expected = []
    for sample in a:
        rows = sample.reshape(-1, sample.shape[-1]).astype(np.float64)
        rows = rows - rows.mean(axis=0)
        first = np.linalg.svd(rows, full_matrices=False)[2][0]
        first = first if first.sum() >= 0 else -first
        expected.append(_relu(rows @ first).reshape(sample.shape[:-1]))
    ours = _ours("eigen_cam", model, x)
    np.testing.assert_allclose(ours, np.array(expected), rtol=1e-3, atol=1e-5)
    assert np.ptp(ours) > 0
    # class-agnostic: another target gives the same map
    other = np.asarray(nv.eigen_cam(model, x, 0, layer="c2", upsample=None, normalize=False))
    np.testing.assert_allclose(other, ours, atol=1e-6)


def test_ablation_cam_weights_are_the_relative_score_drop_per_zeroed_channel(tiny):
    model, x, a, _, logit = tiny
    y = logit(a).numpy()
    drops = []
    for k in range(a.shape[-1]):
        ablated = a.copy()
        ablated[..., k] = 0.0
        drops.append((y - logit(ablated).numpy()) / y)
    weights = np.stack(drops, axis=-1)  # (N, C)
    expected = _relu((a * weights[:, None, None, :]).sum(-1))
    ours = _ours("ablation_cam", model, x, max_channels=None, batch_size=4)
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-5)
    # a budget keeps the most active channels: 6 of 6 is the full method
    np.testing.assert_allclose(_ours("ablation_cam", model, x, max_channels=6), ours, atol=1e-5)


@pytest.mark.slow
def test_guided_grad_cam_is_guided_backprop_times_the_upsampled_grad_cam(tiny):
    model, x, a, g, _ = tiny
    cam = _relu((a * g.mean(axis=(1, 2), keepdims=True)).sum(-1))
    upsampled = tf.image.resize(cam[..., None], (10, 10), method="bilinear")[..., 0].numpy()
    guided = nv.guided_backprop(model, x, TARGET, normalize=False)
    ours = nv.guided_grad_cam(model, x, TARGET, layer="c2", normalize=False)
    np.testing.assert_allclose(ours, guided * upsampled, rtol=1e-4, atol=1e-6)
    channels = nv.guided_grad_cam(model, x, TARGET, layer="c2", keep_channels=True)
    assert channels.shape == x.shape and channels.min() < 0 <= channels.max() <= 1


def test_bad_options_name_what_works(tiny):
    model, x, *_ = tiny
    assert_named_error(
        lambda: nv.guided_grad_cam(model, x, upsample=None),
        nv.InvalidArgumentError,
        "upsample cannot be None",
    )
    assert_named_error(
        lambda: nv.ablation_cam(model, x, max_channels=0), nv.InvalidArgumentError, "max_channels"
    )
    assert_named_error(
        lambda: nv.hires_cam(model, x, layer="gap"), nv.IncompatibleLayerError, "spatial"
    )
