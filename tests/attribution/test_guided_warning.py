"""Guided backprop on a model whose nonlinearities are not ReLUs says so instead of a quiet
saliency map."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import keras_nnviz as nv


def _cnn(activation: str, second: str | None = None) -> keras.Model:
    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, activation=activation, name="c1")(inp)
    h = keras.layers.Conv2D(4, 3, activation=second or activation, name="c2")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax")(h))


X = np.random.default_rng(0).uniform(size=(2, 8, 8, 3)).astype("float32")


@pytest.mark.parametrize(
    ("first", "second", "phrase"),
    [
        ("gelu", None, "has no ReLU"),
        ("swish", None, "has no ReLU"),
        ("relu", "gelu", "1 ReLU layer"),
    ],
)
def test_guided_backprop_warns_where_the_rule_does_not_reach(first, second, phrase):
    model = _cnn(first, second)
    with pytest.warns(nv.MethodWarning, match=phrase):
        maps = nv.guided_backprop(model, X)
    assert maps.shape == (2, 8, 8)
    if second is None:  # no ReLU at all: exactly the saliency map, which is why it warns
        np.testing.assert_allclose(maps, nv.saliency(model, X), atol=1e-6)


def test_a_relu_network_gets_no_warning():
    model = _cnn("relu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", nv.MethodWarning)
        nv.guided_backprop(model, X)
