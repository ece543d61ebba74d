"""Inputs that used to give a silently wrong attribution (issue 21), one row each.

``LAYOUT_ROWS``: every registered image method on a channels-first model agrees with the same
model built channels-last (the weights of a convolution and a Dense are the same arrays in both
layouts; only the input and the feature maps are transposed). ``ERROR_ROWS``: calls that must
raise a named error. ``VALUE_ROWS``: calls whose result (or warning) is asserted.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.attribution import registry
from keras_nnviz.core.finite import all_finite
from keras_nnviz.core.model import image_layout, inputs_channels_first, layer_channels_first
from keras_nnviz.errors import InvalidArgumentError, NNVizError

L = keras.layers
H, W = 12, 10  # not square: a map with H and W swapped, or (C, H), cannot pass


def _cnn(data_format: str) -> keras.Model:
    """conv -> pool -> conv -> GAP -> dense, seeded weights, in one data format."""
    shape = (3, H, W) if data_format == "channels_first" else (H, W, 3)

    def conv(filters, seed, name):
        init = keras.initializers.GlorotUniform(seed=seed)
        fmt = {"data_format": data_format, "padding": "same", "activation": "relu"}
        return L.Conv2D(filters, 3, kernel_initializer=init, name=name, **fmt)

    inputs = keras.Input(shape, name="image")
    h = conv(6, 1, "c1")(inputs)
    h = L.MaxPooling2D(2, data_format=data_format, name="pool")(h)
    h = conv(8, 2, "c2")(h)
    h = L.GlobalAveragePooling2D(data_format=data_format, name="gap")(h)
    init = keras.initializers.GlorotUniform(seed=3)
    outputs = L.Dense(4, "softmax", name="probs", kernel_initializer=init)(h)
    return keras.Model(inputs, outputs, name=f"cnn_{data_format}")


@pytest.fixture(scope="module")
def pair():
    """The same CNN channels-last and channels-first, and one input in both layouts."""
    last, first = _cnn("channels_last"), _cnn("channels_first")
    first.set_weights(last.get_weights())  # kernels (kh, kw, in, out) in both layouts
    x = np.random.default_rng(0).uniform(0, 1, (3, H, W, 3)).astype("float32")
    x_first = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(first(x_first), last(x), rtol=1e-4, atol=1e-5)
    return last, first, x, x_first


def _cl(a: np.ndarray) -> np.ndarray:
    """(N, C, *S) -> (N, *S, C)."""
    return np.moveaxis(np.asarray(a), 1, -1)


# Method options that make the two layouts comparable: SmoothGrad's noise is drawn in the
# input's layout (so noise=0 checks its averaging path), IG with fixed steps (adaptive stops
# may differ by one halving when the error sits at the tolerance).
OPTIONS = {
    "integrated_gradients": {"steps": 16},
    "cam": {"layer": "c2"},
    "grad_cam": {"layer": "c2"},
    "grad_cam_plus_plus": {"layer": "c2"},
    "layer_cam": {"layer": "c1"},
    "score_cam": {"layer": "c2"},
    "gradient_shap": {"seed": 0},  # path points and references drawn per sample, not per pixel
    "noise_tunnel": {"stdev": 0.0, "seed": 0},  # noise is drawn in the input's layout
}

LAYOUT_ROWS = [pytest.param(name, OPTIONS.get(name, {}), id=name) for name in registry.names()]
LAYOUT_ROWS += [
    pytest.param("saliency", {"smooth_samples": 4, "noise": 0.0}, id="smoothgrad-path"),
    pytest.param("saliency", {"layer": "c1"}, id="saliency-layer-c1"),
    pytest.param("gradient_x_input", {"layer": "c2"}, id="gradient_x_input-layer-c2"),
    pytest.param("integrated_gradients", {"layer": "c1", "steps": 8}, id="ig-layer-c1"),
    pytest.param("occlusion", {"patch": 3, "stride": 2}, id="occlusion-patch-3"),
    pytest.param("occlusion", {"layer": "c1", "patch": 2}, id="occlusion-layer-c1"),
    pytest.param("grad_cam", {}, id="grad_cam-default-layer"),
    pytest.param("grad_cam", {"layer": "c2", "upsample": None}, id="grad_cam-no-upsample"),
    pytest.param("score_cam", {"layer": "c1", "max_channels": 3}, id="score_cam-top-3"),
]


def test_every_registered_method_has_a_layout_row():
    assert {p.values[0] for p in LAYOUT_ROWS} >= set(registry.names())


@pytest.mark.parametrize(("method", "options"), LAYOUT_ROWS)
def test_channels_first_maps_equal_channels_last(pair, method, options):
    last, first, x, x_first = pair
    expected = nv.explain(last, x, 1, method=method, **options)
    got = nv.explain(first, x_first, 1, method=method, **options)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert np.isfinite(expected).all() and np.ptp(expected) > 0  # a map, not a flat one
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("method", ["saliency", "gradient_x_input", "guided_backprop"])
def test_keep_channels_stays_in_the_input_layout(pair, method):
    last, first, x, x_first = pair
    expected = nv.explain(last, x, 1, method=method, keep_channels=True)
    got = nv.explain(first, x_first, 1, method=method, keep_channels=True)
    assert got.shape == x_first.shape
    np.testing.assert_allclose(_cl(got), expected, rtol=1e-3, atol=1e-4)


def test_the_layout_is_read_from_the_first_spatial_layer(pair):
    last, first, _, _ = pair
    assert image_layout(first) == ("channels_first", 4)
    assert image_layout(last) == ("channels_last", 4)
    assert inputs_channels_first(first) == [True] and inputs_channels_first(last) == [False]
    assert layer_channels_first(first, first.get_layer("c2"))
    assert not layer_channels_first(first, first.get_layer("probs"))
    assert not layer_channels_first(last, last.get_layer("c2"))


def test_image_data_format_at_build_time_is_the_models_layout(pair):
    last, _, x, x_first = pair
    before = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        inputs = keras.Input((3, H, W))
        h = L.Conv2D(6, 3, padding="same", activation="relu")(inputs)
        model = keras.Model(inputs, L.Dense(4)(L.GlobalAveragePooling2D()(h)))
    finally:
        keras.config.set_image_data_format(before)
    assert image_layout(model)[0] == "channels_first"
    assert nv.saliency(model, x_first).shape == (len(x), H, W)


def test_a_side_input_of_another_rank_is_not_channels_first():
    image = keras.Input((3, H, W), name="image")
    side = keras.Input((5,), name="side")
    h = L.Conv2D(4, 3, data_format="channels_first", activation="relu")(image)
    h = L.GlobalAveragePooling2D(data_format="channels_first")(h)
    model = keras.Model([image, side], L.Dense(2)(L.Concatenate()([h, side])))
    assert inputs_channels_first(model) == [True, False]
    rng = np.random.default_rng(1)
    maps = nv.saliency(model, [rng.random((2, 3, H, W)), rng.random((2, 5))])
    assert maps[0].shape == (2, H, W) and maps[1].shape == (2, 5)


def test_get_channel_and_neuron_read_the_channel_axis(pair):
    last, first, x, x_first = pair
    expected = nv.get_channel(last, x, "c2", 5)
    got = nv.get_channel(first, x_first, "c2", 5)
    assert got.shape == expected.shape == (len(x), H // 2, W // 2)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    neuron = nv.get_neuron(first, x_first, "c2", 5, position=(1, 2))
    np.testing.assert_allclose(neuron, nv.get_neuron(last, x, "c2", 5, position=(1, 2)), atol=1e-5)


# -- named errors ------------------------------------------------------------------------------

ERROR_ROWS = [
    pytest.param({"patch": 2, "stride": 8}, InvalidArgumentError, "stride <= patch", id="2-8"),
    pytest.param({"patch": 2, "stride": 3}, InvalidArgumentError, "gap of (1, 1)", id="2-3"),
    pytest.param(
        {"patch": (2, 4), "stride": (2, 5)}, InvalidArgumentError, "gap of (0, 1)", id="per-axis"
    ),
    pytest.param({"stride": 8}, InvalidArgumentError, "larger than patch (2, 2)", id="default"),
]


@pytest.mark.parametrize(("options", "error", "phrase"), ERROR_ROWS)
def test_occlusion_refuses_a_stride_that_leaves_holes(pair, options, error, phrase):
    last, _, x, _ = pair
    with pytest.raises(NNVizError) as info:
        nv.occlusion(last, x, **options)
    assert isinstance(info.value, error)
    assert phrase in str(info.value), str(info.value)


@pytest.mark.parametrize(
    ("patch", "stride"), [((2, 2), (2, 2)), ((3, 2), (1, 2)), ((4, 3), (3, 3))]
)
def test_every_allowed_stride_occludes_every_position(patch, stride):
    from keras_nnviz.attribution.occlusion import patch_masks

    assert patch_masks((H, W), patch, stride).sum(axis=0).min() >= 1


# -- non-finite weights ------------------------------------------------------------------------


def _tanh_cnn() -> keras.Model:
    """conv -> conv -> GAP -> dense with tanh: NaN propagates through tanh on every CPU path
    (a ReLU or max pooling may turn it into 0 or pick the other operand)."""
    inputs = keras.Input((H, W, 3), name="image")
    h = inputs
    for i, filters in enumerate((6, 8), start=1):
        init = keras.initializers.GlorotUniform(seed=10 + i)
        h = L.Conv2D(
            filters, 3, padding="same", activation="tanh", name=f"c{i}", kernel_initializer=init
        )(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    init = keras.initializers.GlorotUniform(seed=13)
    outputs = L.Dense(4, "softmax", name="probs", kernel_initializer=init)(h)
    return keras.Model(inputs, outputs, name="tanh_cnn")


def _with_nan(model: keras.Model, layer: str) -> keras.Model:
    """A copy of ``model`` (same architecture, fresh variables) with one NaN in ``layer``'s
    kernel."""
    broken = keras.models.clone_model(model)
    broken.set_weights(model.get_weights())
    kernel = broken.get_layer(layer).kernel
    value = kernel.numpy()
    value.flat[0] = np.nan
    kernel.assign(value)
    return broken


def _attention_model() -> keras.Model:
    inputs = keras.Input((6, 8), name="tokens")
    h = L.Dense(8, name="proj", kernel_initializer=keras.initializers.GlorotUniform(seed=4))(inputs)
    h = L.MultiHeadAttention(2, 4, name="mha")(h, h)
    outputs = L.Dense(3, name="head")(L.GlobalAveragePooling1D(name="pool")(h))
    return keras.Model(inputs, outputs, name="tiny_attention")


NONFINITE_ROWS = [
    pytest.param(lambda m, x, **k: nv.grad_cam(m, x, layer="c2", **k), id="grad_cam"),
    pytest.param(lambda m, x, **k: nv.saliency(m, x, **k), id="saliency"),
    pytest.param(
        lambda m, x, **k: nv.integrated_gradients(m, x, steps=8, **k), id="integrated_gradients"
    ),
    pytest.param(lambda m, x, **k: nv.occlusion(m, x, patch=4, **k), id="occlusion"),
    pytest.param(lambda m, x, **k: nv.get_activations(m, x, ["c2"], **k), id="get_activations"),
]


@pytest.fixture(scope="module")
def broken(pair):
    healthy = _tanh_cnn()
    return healthy, _with_nan(healthy, "c1"), pair[2]


@pytest.mark.parametrize("call", NONFINITE_ROWS)
def test_a_nan_weight_warns_once_naming_the_layer(broken, call, recwarn):
    healthy, model, x = broken
    call(model, x)
    found = [w for w in recwarn.list if issubclass(w.category, nv.NonFiniteWarning)]
    assert len(found) == 1, [str(w.message) for w in recwarn.list]
    assert "first layer with NaN/inf weights is 'c1'" in str(found[0].message)
    assert found[0].filename == __file__  # points at the caller's line, not inside the package


@pytest.mark.parametrize("call", NONFINITE_ROWS)
def test_a_healthy_model_or_allow_nonfinite_does_not_warn(broken, call, recwarn):
    healthy, model, x = broken
    assert all_finite(call(healthy, x))
    result = call(model, x, allow_nonfinite=True)
    assert not all_finite(result)  # the NaN is still there, just expected
    assert not [w for w in recwarn.list if issubclass(w.category, nv.NonFiniteWarning)]


@pytest.mark.slow
def test_get_attention_warns_naming_the_layer(recwarn):
    model = _attention_model()
    x = np.random.default_rng(2).random((2, 6, 8)).astype("float32")
    assert all_finite(nv.get_attention(model, x))
    assert not recwarn.list
    broken = _with_nan(model, "proj")
    with pytest.warns(nv.NonFiniteWarning, match="weights is 'proj'"):
        assert not all_finite(nv.get_attention(broken, x))


@pytest.mark.parametrize(
    "objective",
    [
        nv.objectives.channel("c2", 5),
        nv.objectives.neuron("c1", 4, position=(3, 1)),
        nv.objectives.direction("c2", [1.0, -1.0, 0.5, 0.0, 2.0, 0.0, -0.5, 1.0]),
    ],
    ids=["channel", "neuron", "direction"],
)
def test_objectives_read_the_channel_axis_of_a_channels_first_layer(pair, objective):
    # An objective target explains that unit: the same unit in both layouts gives one map.
    last, first, x, x_first = pair
    want = nv.saliency(last, x, objective, normalize=False)
    got = nv.saliency(first, x_first, objective, normalize=False)
    assert np.abs(want).max() > 0
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * np.abs(want).max())
