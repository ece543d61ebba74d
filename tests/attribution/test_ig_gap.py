"""Integrated gradients warns when the baseline already scores what the input scores: the
attributions add up to f(x) - f(baseline) ~ 0, so which feature they put on top says little
(benchmarks/README.md, "Why IG's top-1 was 44-57 %": the all-padding baseline scoring the
answer). The warning names the samples, their gap and what to do."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import keras_nnviz as nv

L = keras.layers


def _linear():
    """Class 0: f(x) = 1 + x0 - x1, so x = (1, 1, 0) scores exactly its zero baseline."""
    inputs = keras.Input((3,))
    dense = L.Dense(2)
    model = keras.Model(inputs, dense(inputs))
    weights = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0]], np.float32)
    dense.set_weights([weights, np.array([1.0, 0.0], np.float32)])
    return model


@pytest.mark.slow
def test_a_baseline_scoring_like_the_input_is_named():
    model = _linear()
    x = np.array([[1.0, 1.0, 0.0], [2.0, 1.0, 0.0], [1.005, 1.0, 0.0]], np.float32)
    with pytest.warns(nv.MethodWarning, match="baseline") as record:
        maps = nv.integrated_gradients(model, x, 0, signed=True, normalize=False)
    message = str(record[0].message)
    # sample 0: f(x) = f(0) = 1 while its attributions are +1 and -1; sample 2: a gap of 0.5 %
    # of f(x); sample 1 (gap 1 of f(x) = 2) is fine
    assert "2 of 3 samples ([0, 2])" in message and "baseline=" in message, message
    np.testing.assert_allclose(maps[0], [1.0, -1.0, 0.0], atol=1e-5)
    # a gap of 3 % of f(x) is no warning; nor is another baseline for sample 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", nv.MethodWarning)
        nv.integrated_gradients(model, np.array([[1.03, 1.0, 0.0]], np.float32), 0, steps=4)
        nv.integrated_gradients(model, x[:1], 0, baseline=np.array([0.0, 1.0, 0.0]), steps=4)


@pytest.mark.slow
def test_token_ig_warns_when_the_padding_baseline_scores_the_same():
    """A token whose embedding is the padding token's: against the all-padding baseline the
    sequence of that token changes nothing."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,), dtype="int32")
    embedding = L.Embedding(10, 4)
    pooled = L.GlobalAveragePooling1D()(L.Dense(4, activation="tanh")(embedding(inputs)))
    model = keras.Model(inputs, L.Dense(2)(pooled))
    table = np.asarray(embedding.embeddings).copy()
    table[7] = table[0]  # token 7 looks like padding (id 0, the default baseline)
    embedding.embeddings.assign(table)
    ids = np.array([[7, 7, 7, 7], [1, 2, 3, 4]], np.int32)
    with pytest.warns(nv.MethodWarning, match=r"1 of 2 samples \(\[0\]\)"):
        nv.integrated_gradients(model, ids, 0)
