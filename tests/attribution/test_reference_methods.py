"""DeepLIFT, DeepSHAP, GradientSHAP and the noise tunnel against their definitions: DeepLIFT's
summation-to-delta on ReLU / max-pool networks and its multipliers by hand, DeepSHAP as the mean
of DeepLIFT over references, GradientSHAP's estimate on a linear model and its expectation, the
noise tunnel as SmoothGrad / VarGrad with the library's own noise."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from tests.bad_input import assert_named_error

L = keras.layers
RAW = {"normalize": False, "signed": True, "keep_channels": True}


def _init(seed):
    return keras.initializers.GlorotUniform(seed=seed)


@pytest.fixture(scope="module")
def mlp():
    """x -> Dense(relu) -> Dense(3, softmax): DeepLIFT's multipliers have a closed form."""
    inputs = keras.Input((6,))
    h = L.Dense(8, activation="relu", name="hidden", kernel_initializer=_init(1))(inputs)
    outputs = L.Dense(3, activation="softmax", name="out", kernel_initializer=_init(2))(h)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    model.get_layer("hidden").bias.assign(rng.normal(size=8).astype("float32") * 0.3)
    return model, rng.normal(size=(4, 6)).astype("float32")


@pytest.fixture(scope="module")
def cnn():
    """conv(relu) -> max pool -> conv -> LeakyReLU -> flatten -> Dense(tanh) -> Dense(softmax)."""
    inputs = keras.Input((8, 8, 2))
    h = L.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=_init(3))(inputs)
    h = L.MaxPooling2D(name="pool")(h)
    h = L.Conv2D(4, 3, padding="same", kernel_initializer=_init(4), name="c2")(h)
    h = L.LeakyReLU(0.2)(h)
    h = L.Flatten()(h)
    h = L.Dense(6, activation="tanh", kernel_initializer=_init(5))(h)
    outputs = L.Dense(3, activation="softmax", kernel_initializer=_init(6), name="out")(h)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(1).normal(size=(3, 8, 8, 2)).astype("float32")
    return model, x


def _logits(model, x):
    head = model.get_layer("out")
    before = keras.Model(model.inputs[0], head.input)
    kernel, bias = head.get_weights()
    return np.asarray(before(x)) @ kernel + bias


def _mlp_deeplift(model, x, b, target):
    """Rescale multipliers by hand: sum_j W2[j, t] * secant_j * W1[i, j] * (x_i - b_i)."""
    w1, b1 = model.get_layer("hidden").get_weights()
    w2, _ = model.get_layer("out").get_weights()
    z, z0 = x @ w1 + b1, b @ w1 + b1
    dz = z - z0
    safe = np.where(np.abs(dz) > 1e-6, dz, 1.0)
    secant = np.where(np.abs(dz) > 1e-6, (np.maximum(z, 0) - np.maximum(z0, 0)) / safe, 0)
    return ((secant * w2[:, target]) @ w1.T) * (x - b)


def test_deeplift_multipliers_equal_the_rescale_rule_by_hand(mlp):
    model, x = mlp
    b = np.random.default_rng(5).normal(size=6).astype("float32")
    ours = nv.deeplift(model, x, 1, baseline=b, **RAW)
    np.testing.assert_allclose(ours, _mlp_deeplift(model, x, b, 1), rtol=1e-4, atol=1e-6)
    delta = _logits(model, x)[:, 1] - _logits(model, b[None])[:, 1]
    np.testing.assert_allclose(ours.sum(-1), delta, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_deeplift_sums_to_the_score_difference_through_max_pooling(cnn):
    model, x = cnn
    b = np.random.default_rng(2).normal(size=x.shape[1:]).astype("float32") * 0.5
    attr = nv.deeplift(model, x, 2, baseline=b, **RAW)
    delta = _logits(model, x)[:, 2] - _logits(model, b[None])[:, 2]
    np.testing.assert_allclose(attr.sum(axis=(1, 2, 3)), delta, rtol=1e-4, atol=1e-5)
    # at a layer: (a - a0) * multipliers there sum to the same difference
    at_layer = nv.deeplift(model, x, 2, baseline=b, layer="pool", normalize=False, signed=True)
    np.testing.assert_allclose(at_layer.sum(axis=(1, 2)), delta, rtol=1e-4, atol=1e-5)
    # plain gradient x (x - b) does not: the rule is what makes it exact
    grads = nv.saliency(model, x, 2, keep_channels=True, normalize=False)
    assert np.abs((grads * (x - b)).sum(axis=(1, 2, 3)) - delta).max() > 1e-2


@pytest.mark.slow
def test_deep_shap_is_deeplift_averaged_over_the_references(cnn):
    model, x = cnn
    refs = np.random.default_rng(3).normal(size=(5, *x.shape[1:])).astype("float32")
    ours = nv.deep_shap(model, x, 0, baselines=refs, batch_size=6, **RAW)
    by_hand = np.mean([nv.deeplift(model, x, 0, baseline=r, **RAW) for r in refs], axis=0)
    np.testing.assert_allclose(ours, by_hand, rtol=1e-4, atol=1e-6)
    delta = _logits(model, x)[:, 0] - _logits(model, refs)[:, 0].mean()
    np.testing.assert_allclose(ours.sum(axis=(1, 2, 3)), delta, rtol=1e-4, atol=1e-5)


def test_gradient_shap_on_a_linear_model_is_weight_times_distance(mlp):
    inputs = keras.Input((6,))
    linear = keras.Model(inputs, L.Dense(3, kernel_initializer=_init(9))(inputs))
    _, x = mlp
    b = np.full(6, 0.5, "float32")
    kernel = linear.get_weights()[0]
    ours = nv.gradient_shap(linear, x, 1, baselines=b, samples=3, seed=0, **RAW)
    np.testing.assert_allclose(ours, kernel[:, 1] * (x - b), rtol=1e-5, atol=1e-6)


def test_gradient_shap_is_seeded_and_complete_in_expectation(mlp):
    model, x = mlp
    refs = np.random.default_rng(4).normal(size=(4, 6)).astype("float32")
    options = {"baselines": refs, "samples": 256, "batch_size": 256, **RAW}
    first = nv.gradient_shap(model, x, 1, seed=3, **options)
    np.testing.assert_array_equal(nv.gradient_shap(model, x, 1, seed=3, **options), first)
    assert not np.allclose(nv.gradient_shap(model, x, 1, seed=4, **options), first)
    delta = _logits(model, x)[:, 1] - _logits(model, refs)[:, 1].mean()
    scale = np.abs(_logits(model, x)).max()
    np.testing.assert_allclose(first.sum(-1), delta, atol=0.15 * scale)


@pytest.mark.slow
def test_noise_tunnel_smoothgrad_and_vargrad_equal_saliencys_with_the_same_noise(mlp):
    model, x = mlp
    noise = {"samples": 6, "stdev": 0.2, "seed": 7, "normalize": False}
    channels = {"attribution": "saliency", "attribution_options": {"keep_channels": True}}
    smooth = nv.noise_tunnel(model, x, 1, **channels, **noise)
    expected = nv.saliency(
        model, x, 1, smooth_samples=6, noise=0.2, seed=7, keep_channels=True, normalize=False
    )
    np.testing.assert_allclose(smooth, expected, rtol=1e-4, atol=1e-6)
    var = nv.noise_tunnel(model, x, 1, nt_type="vargrad", **channels, **noise)
    expected = nv.saliency(
        model, x, 1, smooth_samples=6, noise=0.2, seed=7, vargrad=True, normalize=False
    )
    np.testing.assert_allclose(var, expected, rtol=1e-3, atol=1e-7)
    square = nv.noise_tunnel(model, x, 1, nt_type="smoothgrad_sq", **channels, **noise)
    np.testing.assert_allclose(square - smooth**2, var, rtol=1e-3, atol=1e-6)


@pytest.mark.slow
def test_noise_tunnel_without_noise_is_the_wrapped_method(mlp):
    model, x = mlp
    options = {"baseline": 0.3, "steps": 4}
    tunnel = nv.noise_tunnel(
        model, x, attribution="integrated_gradients", attribution_options=options, stdev=0.0
    )
    # the wrapped method's per-sample extras (a baseline per sample) follow the tiled copies
    np.testing.assert_allclose(tunnel, nv.integrated_gradients(model, x, **options), atol=1e-5)


def test_deeplift_names_the_nonlinearities_its_rule_does_not_cover():
    inputs = keras.Input((5, 4))
    h = L.LayerNormalization()(L.Dense(4, activation="relu")(inputs))
    model = keras.Model(inputs, L.Dense(2)(L.Flatten()(h)))
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    with pytest.warns(nv.MethodWarning, match="LayerNormalization"):
        nv.deeplift(model, x)


@pytest.mark.parametrize(
    ("call", "error", "phrase"),
    [
        (
            lambda m, x: nv.noise_tunnel(m, x, attribution="grad_cam"),
            nv.InvalidArgumentError,
            "gradient method the noise tunnel can wrap",
        ),
        (
            lambda m, x: nv.noise_tunnel(m, x, attribution="gradient_shap"),
            nv.InvalidArgumentError,
            "received 'gradient_shap'",
        ),
        (
            lambda m, x: nv.noise_tunnel(m, x, nt_type="smooth"),
            nv.InvalidArgumentError,
            "nt_type must be one of",
        ),
        (
            lambda m, x: nv.noise_tunnel(m, x, nt_type="vargrad", samples=1),
            nv.InvalidArgumentError,
            "samples",
        ),
        (
            lambda m, x: nv.noise_tunnel(m, x, attribution_options={"stepz": 3}),
            nv.InvalidArgumentError,
            "no option 'stepz'",
        ),
        (
            lambda m, x: nv.deep_shap(m, x, baselines=np.zeros((3, 5))),
            nv.InvalidArgumentError,
            "reference samples",
        ),
        (
            lambda m, x: nv.gradient_shap(m, x, stdev=-1.0),
            nv.InvalidArgumentError,
            "stdev must be a float >= 0",
        ),
        (
            lambda m, x: nv.gradient_shap(m, x, samples=0),
            nv.InvalidArgumentError,
            "samples",
        ),
        (
            lambda m, x: nv.deeplift(m, x, baseline=np.zeros((2, 2))),
            nv.InvalidArgumentError,
            "does not fit",
        ),
    ],
    ids=[
        "tunnel-a-cam",
        "tunnel-gradient-shap",
        "tunnel-bad-type",
        "vargrad-one-sample",
        "tunnel-unknown-option",
        "deep-shap-shape",
        "gradient-shap-stdev",
        "gradient-shap-samples",
        "deeplift-baseline-shape",
    ],
)
def test_bad_input_names_what_works(mlp, call, error, phrase):
    model, x = mlp
    assert_named_error(lambda: call(model, x), error, phrase)
