"""The perturbation methods against their definitions: KernelSHAP = exact Shapley values
(linear models; any model when every coalition is enumerated, brute force here), feature
ablation = f(x) - f(x with the group replaced) by hand, LIME recovers a linear model's ranking,
RISE finds the one region a model looks at, feature permutation is reproducible; feature groups
(masks, grid, superpixels, tokens, columns) and baselines."""

from __future__ import annotations

import itertools
from math import factorial

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.attribution import features as G
from keras_nnviz.attribution.ablation import derangements
from keras_nnviz.report.views import explain_view

L = keras.layers
RAW = {"signed": True, "normalize": False, "progress": False}


@pytest.fixture(scope="module")
def linear():
    """A linear model on 6 columns: Shapley values are w * (x - baseline)."""
    inp = keras.Input((6,))
    model = keras.Model(inp, L.Dense(2)(inp))
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 2)).astype("float32")
    model.layers[1].set_weights([w, np.array([0.3, -0.1], "float32")])
    x = rng.normal(size=(5, 6)).astype("float32")
    return model, w[:, 0], x


@pytest.fixture(scope="module")
def mlp():
    inp = keras.Input((7,))
    h = L.Dense(16, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1))(inp)
    h = L.Dense(8, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(2))(h)
    model = keras.Model(inp, L.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(3))(h))
    x = np.random.default_rng(1).normal(size=(3, 7)).astype("float32")
    return model, x


@pytest.fixture(scope="module")
def cnn():
    inp = keras.Input((8, 8, 2))
    h = L.Conv2D(4, 3, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(4))(
        inp
    )
    h = L.GlobalMaxPooling2D()(h)
    model = keras.Model(inp, L.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(5))(h))
    x = np.random.default_rng(2).uniform(size=(3, 8, 8, 2)).astype("float32")
    return model, x


def _masked(x, ids, z, base):
    """Every coalition ``z`` (C, F) of one sample ``x``: (C, *x.shape)."""
    keep = z[:, ids]  # (C, *spatial)
    if x.ndim > ids.ndim:
        keep = keep[..., None]
    return x[None] * keep + base[None] * (1 - keep)


def _exact_shapley(model, x, ids, target, base):
    """Brute-force Shapley values of one sample: every coalition evaluated."""
    f = ids.max() + 1
    z = np.array(list(itertools.product([0, 1], repeat=f)), np.float32)
    v = np.asarray(model(_masked(x, ids, z, base)))[:, target].astype(np.float64)
    value = {tuple(row.astype(int)): s for row, s in zip(z, v)}
    phi = np.zeros(f)
    for i in range(f):
        for row, s in value.items():
            if row[i]:
                continue
            k = sum(row)
            with_i = row[:i] + (1,) + row[i + 1 :]
            phi[i] += factorial(k) * factorial(f - k - 1) / factorial(f) * (value[with_i] - s)
    return phi


@pytest.mark.slow
def test_kernel_shap_is_exact_on_a_linear_model_enumerated_and_sampled(linear):
    model, w, x = linear
    exact = w * x  # baseline 0
    enumerated = nv.kernel_shap(model, x, 0, **RAW)  # 6 features: every coalition
    np.testing.assert_allclose(enumerated, exact, atol=1e-5)
    # 12 columns, 100 sampled coalitions: a linear score is fitted exactly by any full-rank design
    wide = keras.Model(inp := keras.Input((12,)), L.Dense(1)(inp))
    w12 = np.random.default_rng(3).normal(size=(12, 1)).astype("float32")
    wide.layers[1].set_weights([w12, np.zeros(1, "float32")])
    x12 = np.random.default_rng(4).normal(size=(4, 12)).astype("float32")
    sampled = nv.kernel_shap(wide, x12, 0, samples=100, baseline=0.5, **RAW)
    np.testing.assert_allclose(sampled, w12[:, 0] * (x12 - 0.5), atol=1e-4)


@pytest.mark.slow
def test_kernel_shap_enumerated_equals_brute_force_shapley(mlp, cnn):
    model, x = mlp
    phi = nv.kernel_shap(model, x, 1, samples=128, baseline="mean", **RAW)
    for i in range(len(x)):
        base = np.full_like(x[i], x[i].mean())
        exact = _exact_shapley(model, x[i], np.arange(7), 1, base)
        np.testing.assert_allclose(phi[i], exact, atol=2e-5)
        # efficiency: the values sum to f(x) - f(baseline)
        full, empty = np.asarray(model(np.stack([x[i], base])))[:, 1]
        assert phi[i].sum() == pytest.approx(full - empty, abs=1e-4)
    # image groups from an integer mask: each position carries its group's value
    model, x = cnn
    ids = (np.arange(64).reshape(8, 8) // 11).astype(np.int32)  # 6 groups
    phi = nv.kernel_shap(model, x, 2, features=ids, samples=64, **RAW)
    assert phi.shape == (3, 8, 8)
    for i in range(len(x)):
        exact = _exact_shapley(model, x[i], ids, 2, np.zeros_like(x[i]))
        np.testing.assert_allclose(phi[i], exact[ids], atol=2e-5)


def test_feature_ablation_is_the_drop_by_hand(cnn):
    model, x = cnn
    ids = G.grid((8, 8), 2)  # 4 quadrants
    drops = nv.feature_ablation(model, x, 0, features="grid", baseline=0.25, **RAW)
    cells = nv.feature_ablation(model, x, 0, features=G.grid((8, 8), 8), baseline=0.25, **RAW)
    np.testing.assert_allclose(drops, cells)  # "grid" is 8 cells per axis
    quads = nv.feature_ablation(model, x, 0, features=ids, baseline=0.25, **RAW)
    full = np.asarray(model(x))[:, 0]
    for g in range(4):
        hidden = np.where((ids == g)[None, ..., None], 0.25, x)
        expected = full - np.asarray(model(hidden))[:, 0]
        np.testing.assert_allclose(
            quads[:, ids == g], np.repeat(expected[:, None], 16, 1), atol=1e-5
        )


def test_lime_recovers_the_ranking_of_a_linear_model():
    inp = keras.Input((6,))
    model = keras.Model(inp, L.Dense(1)(inp))
    w = np.array([0.6, -2.0, 0.1, 3.0, -0.7, 1.5], "float32")
    model.layers[1].set_weights([w[:, None], np.array([0.2], "float32")])
    x = np.random.default_rng(6).uniform(0.5, 1.5, size=(4, 6)).astype("float32")
    coef = nv.lime(model, x, 0, samples=400, **RAW)
    truth = w * x  # baseline 0: a present feature adds w * x
    for c, t in zip(coef, truth):
        assert np.array_equal(np.argsort(c), np.argsort(t))
        np.testing.assert_allclose(c, t, rtol=0.1, atol=0.02)  # ridge shrinks a little
    # the coefficients' ranking of the model itself (x = 1 everywhere)
    ones = nv.lime(model, np.ones((1, 6), "float32"), 0, samples=400, **RAW)[0]
    assert np.array_equal(np.argsort(ones), np.argsort(w))


@pytest.mark.slow
def test_rise_puts_its_maximum_on_the_one_region_the_model_reads():
    inp = keras.Input((16, 16, 1))
    dense = L.Dense(1, use_bias=False)
    model = keras.Model(inp, dense(L.Flatten()(inp)))
    region = np.zeros((16, 16), bool)
    region[9:14, 2:7] = True
    dense.set_weights([region.reshape(-1, 1).astype("float32")])
    x = np.random.default_rng(5).uniform(0.5, 1, size=(2, 16, 16, 1)).astype("float32")
    maps = nv.rise(model, x, 0, samples=500, seed=1, progress=False)
    for m in maps:
        peak = np.unravel_index(np.argmax(m), m.shape)
        assert region[peak]
        assert m[region].mean() > m[~region].mean() + 0.2
    # with features=: random groups instead of smooth masks (the region its own group)
    groups = nv.rise(model, x, 0, samples=64, features=region.astype(int), progress=False)
    assert np.all(groups[:, region] == 1.0) and np.all(groups[:, ~region] == 0.0)
    # the masks come from seed and mask index: batching changes nothing
    again = nv.rise(model, x, 0, samples=500, seed=1, batch_size=1, progress=False)
    np.testing.assert_allclose(maps, again, atol=1e-5)


def test_feature_permutation_is_reproducible_and_matches_hand_on_a_linear_model(linear):
    model, w, x = linear
    a = nv.feature_permutation(model, x, 0, permutations=3, seed=7, **RAW)
    b = nv.feature_permutation(model, x, 0, permutations=3, seed=7, **RAW)
    c = nv.feature_permutation(model, x, 0, permutations=3, seed=8, **RAW)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    perms = derangements(len(x), 3, seed=7, start=0)
    assert not np.any(perms == np.arange(len(x)))  # every sample borrows from another
    expected = np.mean([w * (x - x[p]) for p in perms], axis=0)
    np.testing.assert_allclose(a, expected, atol=1e-5)


@pytest.mark.slow
def test_tokens_of_a_text_model_are_replaced_by_the_padding_id():
    ids_in = keras.Input((6,), dtype="int32")
    h = L.Embedding(20, 4, embeddings_initializer=keras.initializers.RandomNormal(seed=6))(ids_in)
    model = keras.Model(ids_in, L.Dense(2)(L.GlobalAveragePooling1D()(h)))
    tokens = np.array([[3, 5, 7, 9, 11, 0], [1, 2, 3, 4, 5, 6]], np.int32)
    drops = nv.feature_ablation(model, tokens, 1, features="tokens", baseline=0, **RAW)
    assert drops.shape == (2, 6)
    full = np.asarray(model(tokens))[:, 1]
    for t in range(6):
        hidden = tokens.copy()
        hidden[:, t] = 0
        np.testing.assert_allclose(drops[:, t], full - np.asarray(model(hidden))[:, 1], atol=1e-5)
    assert drops[0, 5] == 0.0  # already the padding id
    # default features of a token input: one per token; KernelSHAP exact for 6 tokens
    phi = nv.kernel_shap(model, tokens, 1, samples=64, **RAW)
    assert phi.shape == (2, 6) and np.allclose(
        phi.sum(1), full - np.asarray(model(tokens * 0))[:, 1], atol=1e-4
    )
    # the report and `nnviz gradcam --method` perturb the tokens (no embedding layer= for them)
    view = explain_view(model, tokens, method="feature_ablation")
    assert view.kind == "tokens" and view.maps.shape == (2, 6)


def test_feature_groups_and_baselines():
    x = np.random.default_rng(0).uniform(size=(2, 12, 10, 3)).astype("float32")
    image = G.InputKind(integer=False, channels=True)
    grid = G.feature_ids("grid", x, image)
    assert grid.shape == (2, 12, 10) and len(np.unique(grid)) == 64
    sp = G.feature_ids("superpixels", x, image)
    assert sp.shape == (2, 12, 10) and sp.min() == 0 and sp.max() > 1
    mask = np.arange(120).reshape(12, 10) % 5
    assert G.feature_ids(mask, x, image).shape == (2, 12, 10)
    per_channel = np.repeat(mask[..., None], 3, -1)  # the input's own shape, same over channels
    np.testing.assert_array_equal(G.feature_ids(per_channel, x, image)[0], mask)
    numbered, count = G.renumber([np.array([[7, 7, -1, 3]]), np.array([[5, 5]])])
    assert (
        count == 3 and numbered[0].tolist() == [[1, 1, -1, 0]] and numbered[1].tolist() == [[2, 2]]
    )
    mean = G.baseline_values("mean", x, image)
    np.testing.assert_allclose(mean[0, 0, 0], x[0].mean(axis=(0, 1)), rtol=1e-5)
    columns = G.InputKind(integer=False, channels=False)
    table = np.ones((3, 4), np.float32)
    assert G.feature_ids(None, table, columns).tolist() == [[0, 1, 2, 3]] * 3


@pytest.mark.slow
def test_multi_input_features_are_numbered_across_inputs_and_no_retrace(linear):
    img = keras.Input((6, 6, 1), name="image")
    meta = keras.Input((3,), name="meta")
    joined = L.Concatenate()([L.Flatten()(img), meta])
    model = keras.Model([img, meta], L.Dense(1, kernel_initializer="ones")(joined))
    rng = np.random.default_rng(9)
    x = [
        rng.uniform(size=(2, 6, 6, 1)).astype("float32"),
        rng.normal(size=(2, 3)).astype("float32"),
    ]
    ids = G.grid((6, 6), 2)  # 4 image groups + 3 columns = 7 features: enumerated
    phi = nv.kernel_shap(model, x, 0, features=[ids, None], samples=128, **RAW)
    sums = np.stack([x[0][:, ids == g, 0].sum(1) for g in range(4)], 1)
    np.testing.assert_allclose(phi[0][:, ids == 0], np.repeat(sums[:, :1], 9, 1), atol=1e-5)
    np.testing.assert_allclose(phi[1], x[1], atol=1e-5)
    explainer = nv.KernelShap(model)
    explainer(x, 0, samples=64, progress=False)
    traces = explainer.trace_count
    explainer(x, 0, samples=40, features=[ids, "columns"], baseline=0.5, progress=False)
    assert explainer.trace_count == traces


def test_sobol_attribution_of_a_linear_model_is_each_features_share_of_variance(linear):
    model, w, x = linear
    # f = sum_i w_i x_i m_i with independent uniform masks m: ST_i = (w_i x_i)^2 / sum_j (.)^2
    st = nv.sobol_attribution(model, x, 0, designs=512, normalize=False, progress=False)
    share = (w * x) ** 2 / ((w * x) ** 2).sum(1, keepdims=True)
    np.testing.assert_allclose(st, share, atol=0.01)  # 0.004 measured at 512 designs
    for s, t in zip(st, share):
        big = t > 0.05  # the ranking of the features that matter
        assert np.array_equal(np.argsort(s[big]), np.argsort(t[big]))
