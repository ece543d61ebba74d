"""Weights, weight statistics and conv filters."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_nnviz as nv


def test_get_weights_keys_follow_layer_paths(zoo, snapshot):
    model = zoo("nested").model
    snap = snapshot(model)
    w = nv.get_weights(model)
    assert list(w) == [
        "base/block1_conv/kernel",
        "base/block1_conv/bias",
        "base/block2_conv/kernel",
        "base/block2_conv/bias",
        "dense/kernel",
        "dense/bias",
        "predictions/kernel",
        "predictions/bias",
    ]
    np.testing.assert_array_equal(w["dense/kernel"], model.get_layer("dense").kernel.numpy())
    w["dense/kernel"][:] = 0  # a copy: the model is untouched
    snap.assert_unchanged()


def test_get_weights_selected_layers_and_sublayers(zoo):
    model = zoo("custom_layer").model
    assert set(nv.get_weights(model, "block")) == {
        "block/inner_conv/kernel",
        "block/inner_conv/bias",
        "block/inner_mix/kernel",
    }
    assert set(nv.get_weights(model, ["block/inner_mix"])) == {"block/inner_mix/kernel"}
    assert set(nv.get_weights(zoo("nested").model, "base")) == {
        "base/block1_conv/kernel",
        "base/block1_conv/bias",
        "base/block2_conv/kernel",
        "base/block2_conv/bias",
    }


def test_trainable_only_skips_moving_statistics():
    model = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(name="bn")])
    assert set(nv.get_weights(model)) == {
        "bn/gamma",
        "bn/beta",
        "bn/moving_mean",
        "bn/moving_variance",
    }
    assert set(nv.get_weights(model, trainable_only=True)) == {"bn/gamma", "bn/beta"}


def test_weight_stats_match_numpy(zoo):
    model = zoo("sequential").model
    rows = {r["name"]: r for r in nv.weight_stats(model)}
    kernel = model.get_layer("conv2").kernel.numpy().astype(np.float64)
    row = rows["conv2/kernel"]
    matrix = kernel.reshape(-1, kernel.shape[-1])
    sigma = np.linalg.svd(matrix, compute_uv=False)
    assert row["shape"] == (3, 3, 8, 8) and row["layer"] == "conv2"
    assert row["mean"] == pytest.approx(kernel.mean())
    assert row["std"] == pytest.approx(kernel.std())
    assert row["min"] == pytest.approx(kernel.min()) and row["max"] == pytest.approx(kernel.max())
    assert row["norm"] == pytest.approx(np.linalg.norm(kernel))
    assert row["spectral_norm"] == pytest.approx(sigma[0])
    assert row["stable_rank"] == pytest.approx((sigma**2).sum() / sigma[0] ** 2)
    assert 1.0 <= row["stable_rank"] <= 8.0
    bias = rows["conv2/bias"]
    assert bias["zeros"] == 1.0 and np.isnan(bias["stable_rank"])  # zero-initialised bias


@pytest.mark.slow
def test_stable_rank_of_known_matrices():
    from keras_nnviz.weights import spectral_norm

    eye = np.eye(6)
    assert spectral_norm(eye) == pytest.approx(1.0)
    rank_one = np.outer(np.arange(1, 5), np.arange(1, 4)).astype(float)
    assert spectral_norm(rank_one) == pytest.approx(np.linalg.norm(rank_one))
    big = np.random.default_rng(0).normal(size=(2100, 2000))
    assert spectral_norm(big) == pytest.approx(np.linalg.norm(big, 2), rel=1e-3)


def test_conv_filters_are_filters_first(zoo):
    model = zoo("sequential").model
    f = nv.conv_filters(model, "conv1")
    assert f.shape == (8, 3, 3, 3)
    np.testing.assert_array_equal(f[2], model.get_layer("conv1").kernel.numpy()[..., 2])
    with pytest.raises(nv.IncompatibleLayerError, match="no convolution kernel"):
        nv.conv_filters(model, "predictions")


@pytest.mark.parametrize("shape", [(7, 3), (3, 7), (64, 64), (1, 5), (300, 12)])
def test_spectral_norm_equals_the_largest_singular_value(shape):
    from keras_nnviz.weights import spectral_norm

    m = np.random.default_rng(1).normal(size=shape)
    assert spectral_norm(m) == pytest.approx(np.linalg.svd(m, compute_uv=False)[0], rel=1e-9)


def test_weight_stats_of_a_diverged_model_say_so_instead_of_failing():
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(3, name="d")(inp))
    kernel = model.get_layer("d").kernel
    kernel.assign(np.where(np.eye(4, 3) > 0, np.nan, 1.0).astype("float32"))
    rows = {r["name"]: r for r in nv.weight_stats(model)}
    assert rows["d/kernel"]["nonfinite"] == pytest.approx(3 / 12)
    assert np.isnan(rows["d/kernel"]["spectral_norm"]) and np.isnan(rows["d/kernel"]["mean"])
    assert rows["d/bias"]["nonfinite"] == 0.0 and rows["d/bias"]["norm"] == 0.0
