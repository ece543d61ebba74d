"""Published sanity checks: CAM = Grad-CAM, IG completeness, nested = flat, pointing game,
model randomization."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.utils.scores import CategoricalScore

import keras_nnviz as nv
from tests.attribution._models import correlations, localization, trained_digits

L = keras.layers


def _nonflat(maps: np.ndarray) -> np.ndarray:
    return np.ptp(maps.reshape(len(maps), -1), axis=1) > 0


@pytest.mark.slow
def test_grad_cam_equals_cam_on_a_gap_dense_head(snapshot):
    model, data = localization()
    snap = snapshot(model)
    x = data.x[:32]
    for target in (0, 1):  # both classes, including the one not predicted
        cam = nv.cam(model, x, target)
        grad_cam = nv.grad_cam(model, x, target)
        assert np.array_equal(_nonflat(cam), _nonflat(grad_cam))
        keep = _nonflat(cam)
        assert keep.sum() >= 8
        assert correlations(cam[keep], grad_cam[keep]).min() > 0.999
    snap.assert_unchanged()


def _logits(model, x):
    """Reference logits of the digits CNN: penultimate activations times the dense weights."""
    dense = model.get_layer("predictions")
    h = nv.get_activation(model, x, "dense")
    return h @ np.asarray(dense.kernel) + np.asarray(dense.bias)


@pytest.mark.slow
def test_integrated_gradients_completeness():
    model, data = trained_digits()
    x = data.test.x[:32]
    attr = nv.integrated_gradients(
        model, x, steps=128, signed=True, keep_channels=True, normalize=False
    )
    predicted = model.predict(x, verbose=0).argmax(axis=1)
    rows = np.arange(len(x))
    gap = _logits(model, x)[rows, predicted] - _logits(model, np.zeros_like(x))[rows, predicted]
    error = np.abs(attr.reshape(len(x), -1).sum(axis=1) - gap)
    assert np.all(error < 0.01 * np.abs(gap)), (error / np.abs(gap)).max()
    # The same holds from a blurred baseline.
    from keras_nnviz.attribution.integrated import blur

    x, predicted, rows = x[:8], predicted[:8], rows[:8]
    attr = nv.integrated_gradients(
        model, x, predicted, baseline="blur", steps=128, signed=True, normalize=False
    )
    gap = _logits(model, x)[rows, predicted] - _logits(model, blur(x))[rows, predicted]
    assert np.all(np.abs(attr.reshape(8, -1).sum(axis=1) - gap) < 0.01 * np.abs(gap))


def _flat_twin(nested: keras.Model) -> keras.Model:
    """The zoo's nested model rebuilt flat, with the very same weights."""
    inputs = keras.Input((12, 12, 3))
    h = L.Conv2D(8, 3, activation="relu", name="block1_conv")(inputs)
    h = L.MaxPooling2D(name="block1_pool")(h)
    h = L.Conv2D(8, 3, padding="same", activation="relu", name="block2_conv")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    h = L.Dense(6, activation="relu", name="dense")(h)
    outputs = L.Dense(4, activation="softmax", name="predictions")(h)
    flat = keras.Model(inputs, outputs)
    for name in ("block1_conv", "block2_conv"):
        flat.get_layer(name).set_weights(nested.get_layer("base").get_layer(name).get_weights())
    for name in ("dense", "predictions"):
        flat.get_layer(name).set_weights(nested.get_layer(name).get_weights())
    return flat


def test_grad_cam_inside_a_nested_base_model_equals_the_flat_model(zoo, snapshot):
    case = zoo("nested")
    snap = snapshot(case.model)
    flat = _flat_twin(case.model)
    for target in range(4):
        nested_maps = nv.grad_cam(case.model, case.x, target, layer="base/block2_conv")
        flat_maps = nv.grad_cam(flat, case.x, target, layer="block2_conv")
        keep = _nonflat(flat_maps)
        assert np.array_equal(keep, _nonflat(nested_maps))
        if keep.any():
            assert correlations(nested_maps[keep], flat_maps[keep]).min() > 0.999
    snap.assert_unchanged()
    # The peer cannot build its sub-model through the nested model ("not connected").
    with pytest.raises(ValueError):
        Gradcam(case.model)(CategoricalScore([0] * 10), case.x, penultimate_layer="block2_conv")


@pytest.mark.slow
def test_grad_cam_pointing_game_on_the_localization_task():
    model, data = localization()
    accuracy = (model.predict(data.x, verbose=0).argmax(axis=1) == data.y).mean()
    assert accuracy > 0.95
    maps = nv.grad_cam(model, data.x)  # predicted classes, last conv layer (8×8), upsampled
    assert nv.metrics.pointing_game(maps, data.masks).rate >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize("method", ["grad_cam", "saliency"])
def test_maps_change_when_the_weights_are_randomized(method, snapshot):
    model, data = trained_digits()
    snap = snapshot(model)
    rho = nv.metrics.randomization_similarity(model, data.test.x[:48], method=method)
    assert rho.shape == (48,)
    assert np.isfinite(rho).sum() >= 24  # a randomized Grad-CAM may be flat (all ReLU'd out)
    assert np.nanmean(rho) < 0.5
    snap.assert_unchanged()
