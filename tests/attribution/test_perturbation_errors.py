"""Bad arguments of the perturbation methods fail with a named error that says what works."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.errors import IncompatibleLayerError, MethodWarning
from tests.bad_input import assert_named_error

Arg, Inp, Layer = nv.InvalidArgumentError, nv.InvalidInputError, IncompatibleLayerError
L = keras.layers


@pytest.fixture(scope="module")
def m():
    inp = keras.Input((6, 6, 2), name="image")
    cnn = keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(L.Conv2D(3, 3)(inp))))
    tab_in = keras.Input((4,))
    table = keras.Model(tab_in, L.Dense(2, name="dense")(tab_in))
    ids = keras.Input((5,), dtype="int32")
    text = keras.Model(ids, L.Dense(2)(L.GlobalAveragePooling1D()(L.Embedding(9, 3)(ids))))
    meta = keras.Input((3,), name="meta")
    both = keras.Model(
        [inp, meta], L.Dense(1)(L.Concatenate()([L.GlobalAveragePooling2D()(inp), meta]))
    )
    rng = np.random.default_rng(0)

    class M:
        pass

    out = M()
    out.cnn, out.table, out.text, out.both = cnn, table, text, both
    out.x = rng.uniform(size=(2, 6, 6, 2)).astype("float32")
    out.t = rng.normal(size=(2, 4)).astype("float32")
    out.ids = rng.integers(1, 9, size=(2, 5)).astype("int32")
    out.meta = rng.normal(size=(2, 3)).astype("float32")
    return out


def row(name, call, error, phrase):
    return pytest.param(call, error, phrase, id=name)


ROWS = [
    row("mask-wrong-shape", lambda m: nv.kernel_shap(m.cnn, m.x, features=np.zeros((5, 5), int)),
        Arg, "features mask has shape"),
    row("mask-float", lambda m: nv.lime(m.cnn, m.x, features=np.zeros((6, 6))), Arg,
        "integer group ids"),
    row("mask-channels-differ", lambda m: nv.feature_ablation(
        m.cnn, m.x, features=np.arange(72).reshape(6, 6, 2)), Arg, "same id"),
    row("mask-all-negative", lambda m: nv.feature_ablation(
        m.cnn, m.x, features=-np.ones((6, 6), int)), Inp, "no feature"),
    row("features-unknown", lambda m: nv.rise(m.cnn, m.x, features="pixels"), Arg,
        "features must be one of"),
    row("superpixels-on-a-table", lambda m: nv.kernel_shap(m.table, m.t, features="superpixels"),
        Arg, "2-D images"),
    row("features-list-length", lambda m: nv.kernel_shap(
        m.both, [m.x, m.meta], features=["grid", None, None]), Arg, "list of 2"),
    row("callable-returns-none", lambda m: nv.kernel_shap(m.cnn, m.x, features=lambda x: None),
        Arg, "callable must return"),
    row("samples-0", lambda m: nv.kernel_shap(m.cnn, m.x, samples=0), Arg, "samples"),
    row("samples-negative", lambda m: nv.lime(m.cnn, m.x, samples=-5), Arg, "samples"),
    row("samples-string", lambda m: nv.rise(m.cnn, m.x, samples="many"), Arg, "samples"),
    row("samples-too-many", lambda m: nv.kernel_shap(m.cnn, m.x, samples=10**7), Arg,
        "too large a design"),
    row("seed-negative", lambda m: nv.rise(m.cnn, m.x, seed=-1), Arg, "seed"),
    row("baseline-nan", lambda m: nv.kernel_shap(m.cnn, m.x, baseline=np.nan), Arg, "baseline"),
    row("baseline-shape", lambda m: nv.feature_ablation(m.cnn, m.x, baseline=np.zeros((4, 4))),
        Arg, "does not broadcast"),
    row("baseline-string", lambda m: nv.lime(m.cnn, m.x, baseline="zeros"), Arg,
        "baseline must be"),
    row("baseline-mean-of-tokens", lambda m: nv.kernel_shap(m.text, m.ids, baseline="mean"), Arg,
        "token id"),
    row("baseline-fraction-token", lambda m: nv.feature_ablation(m.text, m.ids, baseline=0.5),
        Arg, "integer id"),
    row("layer-given", lambda m: nv.kernel_shap(m.table, m.t, layer="dense"), Arg,
        "no layer form"),
    row("rise-keep-0", lambda m: nv.rise(m.cnn, m.x, keep=0), Arg, "keep"),
    row("rise-cells-0", lambda m: nv.rise(m.cnn, m.x, cells=0), Arg, "cells"),
    row("lime-width-0", lambda m: nv.lime(m.cnn, m.x, kernel_width=0.0), Arg, "kernel_width"),
    row("permutations-0", lambda m: nv.feature_permutation(m.cnn, m.x, permutations=0), Arg,
        "permutations"),
    row("sobol-designs-not-power-of-2", lambda m: nv.sobol_attribution(m.cnn, m.x, designs=24),
        Arg, "power of two"),
    row("sobol-designs-1", lambda m: nv.sobol_attribution(m.cnn, m.x, designs=1), Arg, "designs"),
    row("unknown-option", lambda m: nv.feature_ablation(m.cnn, m.x, samples=8), Arg,
        "has no option"),
    row("explain-by-name", lambda m: nv.explain(m.cnn, m.x, method="kernel_shap", samples=0),
        Arg, "samples"),
]  # fmt: skip


@pytest.mark.parametrize("call, error, phrase", ROWS)
def test_bad_input_raises_a_named_error(m, call, error, phrase):
    assert_named_error(lambda: call(m), error, phrase)


@pytest.mark.slow
def test_feature_permutation_of_a_single_sample_warns(m):
    with pytest.warns(MethodWarning, match="batch of one sample"):
        maps = nv.feature_permutation(m.table, m.t[:1], normalize=False, progress=False)
    assert np.all(maps == 0)


@pytest.mark.slow
def test_kernel_shap_with_fewer_samples_than_features_warns(m):
    with pytest.warns(MethodWarning, match="underdetermined"):
        nv.kernel_shap(m.cnn, m.x, samples=8, features="tokens", progress=False)
