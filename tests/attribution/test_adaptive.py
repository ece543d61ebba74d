"""Less compute for the same map: adaptive integrated gradients (stopping rule on integrals known
in closed form), SmoothGrad's noise schemes (unbiased, reproducible) and Score-CAM's channel
selection (exact where the dropped channels are dead)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from keras_nnviz.attribution import _sampling

from ._models import correlations, images, plain_cnn

L = keras.layers


def _sigmoid(t):
    return 1.0 / (1.0 + np.exp(-np.clip(t, -60, 60)))


def steep_model(k: float, c: float = 0.5, d: int = 8) -> keras.Model:
    """``f(x) = sum_i sigmoid(k (x_i - c))``: from a zero baseline integrated gradients is
    exactly ``A_i = sigmoid(k (x_i - c)) - sigmoid(-k c)``; a large ``k`` is a sharp step."""
    inputs = keras.Input((d,))
    h = L.Activation("sigmoid")(L.Rescaling(k, offset=-k * c)(inputs))
    outputs = L.Dense(1, use_bias=False, kernel_initializer="ones")(h)
    return keras.Model(inputs, outputs)


def exact_ig(x, k, c=0.5):
    return _sigmoid(k * (x - c)) - _sigmoid(-k * c)


@pytest.fixture(scope="module")
def vectors():
    return np.random.default_rng(0).uniform(0, 1, (4, 8)).astype("float32")


def raw_ig(model, x, **options):
    return nv.integrated_gradients(model, x, 0, signed=True, normalize=False, **options)


def test_smooth_integrand_stops_early_within_tolerance(vectors):
    maps = raw_ig(steep_model(2.0), vectors)
    exact = exact_ig(vectors, 2.0)
    assert isinstance(maps, nv.attribution.integrated.IntegratedMaps)
    assert (maps.steps <= 7).all() and maps.converged.all()
    assert (maps.completeness_error <= 0.01).all()
    # the reported error is the true one: the sum of the maps against f(x) - f(0)
    true_error = np.abs(np.asarray(maps).sum(1) - exact.sum(1)) / np.abs(exact.sum(1))
    np.testing.assert_allclose(maps.completeness_error, true_error, rtol=1e-2, atol=1e-5)
    assert np.abs(np.asarray(maps) - exact).max() <= 0.02 * np.abs(exact).max()


def test_sharp_integrand_takes_more_than_64_points_and_reaches_tolerance(vectors):
    k = 400.0
    exact = exact_ig(vectors, k)
    fixed = raw_ig(steep_model(k), vectors, steps=64)
    assert fixed.completeness_error.max() > 0.01  # 64 midpoints are not enough here
    maps = raw_ig(steep_model(k), vectors)
    assert (maps.steps > 64).all() and maps.converged.all()
    assert (maps.completeness_error <= 0.01).all()
    assert np.abs(np.asarray(maps) - exact).max() <= 0.02 * np.abs(exact).max()


def test_each_sample_stops_on_its_own():
    x = np.full((2, 8), 0.9, "float32")
    x[0] = 0.2  # the path never reaches the step at 0.5: a flat integrand
    maps = raw_ig(steep_model(200.0), x)
    assert maps.steps[0] < maps.steps[1] and maps.converged.all()
    np.testing.assert_allclose(maps, exact_ig(x, 200.0), atol=0.02)


def test_cap_warns_and_reports_the_error_reached(vectors):
    with pytest.warns(nv.MethodWarning, match="did not reach the completeness tolerance"):
        maps = raw_ig(steep_model(400.0), vectors, max_steps=9)
    assert (maps.steps <= 9).all() and not maps.converged.all()
    assert maps.completeness_error.max() > 0.01


def test_int_steps_is_the_midpoint_rule(vectors):
    k = 6.0
    maps = raw_ig(steep_model(k), vectors, steps=8)
    alphas = (np.arange(8) + 0.5) / 8
    s = _sigmoid(k * (alphas[:, None, None] * vectors[None] - 0.5))
    expected = vectors * (k * s * (1 - s)).mean(0)
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-6)
    assert (maps.steps == 8).all() and maps.completeness_error.shape == (4,)


@pytest.mark.slow
def test_auto_on_a_cnn_and_at_a_layer_matches_many_steps():
    model, x = plain_cnn(), images(4)
    auto = raw_ig(model, x, batch_size=8)
    many = raw_ig(model, x, steps=256)
    assert (auto.completeness_error <= 0.01).all() and (auto.steps < 256).all()
    assert correlations(auto, many).min() > 0.98
    np.testing.assert_allclose(auto, raw_ig(model, x, batch_size=3), atol=1e-5)
    at_layer = raw_ig(model, x, layer="c2")  # completeness at the layer
    assert at_layer.shape == (4, 8, 8) and (at_layer.completeness_error <= 0.01).all()
    assert correlations(at_layer, raw_ig(model, x, layer="c2", steps=256)).min() > 0.98


def test_options_are_checked(vectors):
    model = steep_model(1.0)
    for bad, match in [
        ({"steps": "fast"}, "steps must be 'auto'"),
        ({"tolerance": 0.0}, "tolerance"),
        ({"max_steps": 0}, "max_steps must be"),
    ]:
        with pytest.raises(nv.InvalidArgumentError, match=match):
            nv.integrated_gradients(model, vectors, 0, **bad)
    with pytest.raises(nv.InvalidArgumentError, match="sampling must be one of"):
        nv.saliency(model, vectors, 0, smooth_samples=4, sampling="halton")
    with pytest.raises(nv.InvalidArgumentError, match="channels must be one of"):
        nv.score_cam(plain_cnn(), images(1), channels="random")


# ----------------------------------------------------------------------------------------------
# SmoothGrad noise


@pytest.mark.parametrize("scheme", _sampling.SAMPLINGS)
def test_noise_schemes_are_standard_normal_on_average(scheme):
    shape = tf.constant([2, 3000])
    draws = np.stack(
        [
            _sampling.standard_normal(scheme, shape, 0, 8, tf.constant([s, 0]), total=8).numpy()
            for s in range(16)
        ]
    )  # (seeds, samples, 2, 3000)
    assert draws.shape == (16, 8, 2, 3000)
    # drawn by index: samples 3 ... 6 alone are the same values
    part = _sampling.standard_normal(scheme, shape, 3, 7, tf.constant([15, 0]), total=8).numpy()
    np.testing.assert_allclose(part, draws[15, 3:7], atol=1e-6)
    total = draws.size
    assert abs(draws.mean()) < 4 / np.sqrt(total)  # mean 0 (about 4 standard errors)
    assert abs(draws.var() - 1.0) < 0.02
    per_feature = draws.mean(axis=(0, 1))  # each feature's mean over seeds and samples
    assert abs(per_feature.mean()) < 4 / np.sqrt(total) and per_feature.std() < 0.15
    if scheme.startswith("antithetic"):
        np.testing.assert_allclose(draws[:, 0::2], -draws[:, 1::2])
    if scheme == "simplex":  # one block of 8 that sums to zero
        np.testing.assert_allclose(draws.sum(axis=1), 0.0, atol=1e-4)
    if scheme == "sobol":  # 8 samples: every feature hits each eighth of the distribution once
        strata = np.floor(_normal_cdf(draws) * 8).astype(int)
        assert (np.sort(strata, axis=1) == np.arange(8)[:, None, None]).mean() > 0.999


def test_simplex_blocks_sum_to_zero_and_do_not_depend_on_chunks():
    shape, seed = tf.constant([2, 500]), tf.constant([4, 1])
    draws = _sampling.standard_normal("simplex", shape, 0, 20, seed, total=20).numpy()
    # 20 samples -> blocks of 7, 7 and 6, each centred (sums to zero) yet not all zero
    for lo, hi in [(0, 7), (7, 14), (14, 20)]:
        np.testing.assert_allclose(draws[lo:hi].sum(axis=0), 0.0, atol=1e-4)
        assert np.abs(draws[lo:hi]).mean() > 0.5
    assert abs(draws[0:8].sum(axis=0)).max() > 0.1  # not blocks of 8
    chunks = [
        _sampling.standard_normal("simplex", shape, a, min(a + 3, 20), seed, total=20).numpy()
        for a in range(0, 20, 3)
    ]
    np.testing.assert_allclose(np.concatenate(chunks), draws, atol=1e-5)
    one = _sampling.standard_normal("simplex", shape, 0, 1, seed, total=1).numpy()
    assert 0.8 < one.std() < 1.2  # a single sample is a plain draw, not zero


def _normal_cdf(z):
    from scipy.special import ndtr

    return ndtr(z)


def cubic_model(d: int = 64) -> keras.Model:
    """``f(x) = sum_i a_i x_i^3``: SmoothGrad's expected gradient is ``3 a (x^2 + sigma^2)``."""
    inputs = keras.Input((d,))
    cubes = L.Lambda(lambda t: t**3)(inputs)
    dense = L.Dense(1, use_bias=False)
    outputs = dense(cubes)
    dense.kernel.assign(np.linspace(-1, 1, d, dtype="float32")[:, None])
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("scheme", _sampling.SAMPLINGS)
def test_smoothgrad_schemes_have_the_expected_mean(scheme):
    model = cubic_model()
    x = np.random.default_rng(1).uniform(0, 1, (3, 64)).astype("float32")
    noise = 0.2
    sigma = noise * (x.max(1, keepdims=True) - x.min(1, keepdims=True))
    a = np.linspace(-1, 1, 64)
    expected = 3 * a * (x**2 + sigma**2)
    got = nv.saliency(
        model, x, 0, smooth_samples=64, noise=noise, sampling=scheme, seed=3,
        keep_channels=True, normalize=False,
    )  # fmt: skip
    # Monte Carlo error of 64 samples: sd of 3a(2 x sigma z + sigma^2 z^2) / 8
    bound = 4 * 3 * np.abs(a) * (2 * x * sigma + np.sqrt(2) * sigma**2) / 8
    assert (np.abs(got - expected) <= bound + 1e-4).all()


@pytest.mark.slow
def test_smoothgrad_seed_reproducible_and_independent_of_batch_size():
    model, x = plain_cnn(), images(4)
    for scheme in _sampling.SAMPLINGS:
        kw = {"smooth_samples": 6, "sampling": scheme}
        a = nv.saliency(model, x, 1, seed=7, **kw)
        np.testing.assert_array_equal(a, nv.saliency(model, x, 1, seed=7, **kw))
        np.testing.assert_allclose(a, nv.saliency(model, x, 1, seed=7, batch_size=4, **kw), 1e-5)
        assert not np.allclose(a, nv.saliency(model, x, 1, seed=8, **kw))
    # noise added at a layer (simplex sums drawn once per batch at the layer's shape)
    kw = {"smooth_samples": 10, "layer": "pool", "seed": 2}
    a = nv.saliency(model, x, 1, **kw)
    np.testing.assert_allclose(a, nv.saliency(model, x, 1, batch_size=4, **kw), 1e-5)
    assert not np.allclose(a, nv.saliency(model, x, 1, sampling="iid", **kw))


# ----------------------------------------------------------------------------------------------
# Score-CAM channel selection


def half_dead_cnn(live: int = 6, dead: int = 90) -> keras.Model:
    """A conv layer with ``live`` working channels and ``dead`` zero ones (always 0 after ReLU)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    conv = L.Conv2D(live + dead, 3, padding="same", activation="relu", name="conv")
    h = conv(inputs)
    outputs = L.Dense(3, activation="softmax")(L.GlobalAveragePooling2D()(h))
    model = keras.Model(inputs, outputs)
    kernel, bias = conv.get_weights()
    kernel[..., live:] = 0.0
    bias[live:] = -1.0
    conv.set_weights([kernel, bias])
    return model


@pytest.mark.parametrize("ranking", ["activation", "gradient", "std"])
def test_score_cam_selection_keeps_the_map_when_the_rest_is_dead(ranking):
    model, x = half_dead_cnn(), images(3)
    full = nv.score_cam(model, x, 1, channels="all", normalize=False)
    chosen = nv.score_cam(model, x, 1, channels=ranking, max_channels=6, normalize=False)
    np.testing.assert_allclose(chosen, full, rtol=1e-4, atol=1e-6)
    fewer = nv.score_cam(model, x, 1, channels=ranking, max_channels=2, normalize=False)
    assert not np.allclose(fewer, full, atol=1e-6)


def test_score_cam_default_caps_channels():
    model, x = half_dead_cnn(live=96, dead=0), images(2)
    default = nv.score_cam(model, x, 1)
    assert np.allclose(default, nv.score_cam(model, x, 1, max_channels=64))
    assert not np.allclose(default, nv.score_cam(model, x, 1, channels="all"), atol=1e-6)
    small = plain_cnn()  # 12 channels at c2: the cap masks them all
    np.testing.assert_allclose(
        nv.score_cam(small, x, 1), nv.score_cam(small, x, 1, channels="all"), atol=1e-6
    )
