"""activation_stats and diagnose stream over a tf.data.Dataset of any length: one pass, running
(mergeable) summaries, the same result as in memory (up to float rounding: rtol 1e-5).

Memory flat in the dataset's length is measured in benchmarks/bench_scale.py (``stats``), not
here.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from keras_nnviz.core.summaries import Moments
from keras_nnviz.errors import InvalidInputError
from tests.bad_input import assert_named_error

RTOL = 1e-5


def test_moments_merge_equals_numpy_on_uneven_batches_with_a_large_mean():
    rng = np.random.default_rng(0)
    values = rng.normal(1e4, 0.5, size=(1000, 3))  # sum of squares would cancel here
    whole, left, right = Moments(3), Moments(3), Moments(3)
    for chunk in np.split(values, [1, 7, 300, 301, 640]):
        whole.update(chunk)
    left.update(values[:500])
    right.update(values[500:])
    for m in (whole, left.merge(right)):
        assert m.count == 1000
        np.testing.assert_allclose(m.mean, values.mean(0), rtol=1e-12)
        np.testing.assert_allclose(m.std, values.std(0), rtol=1e-9)
        np.testing.assert_array_equal(m.low, values.min(0))
        np.testing.assert_array_equal(m.high, values.max(0))
    scalar = Moments()
    scalar.update(values[:10])
    scalar.update(np.zeros((0, 3)))  # an empty batch changes nothing
    np.testing.assert_allclose(scalar.std, values[:10].std(), rtol=1e-9)


@pytest.fixture(scope="module")
def mlp():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dense(5, activation="tanh", name="squash"),
            keras.layers.Dense(3, name="logits"),
        ],
        name="mlp",
    )
    # Sick on purpose, so that the diagnosis has findings whose numbers are compared: four of
    # eight ReLUs never fire, the inputs are far from unit scale and saturate the tanh layer.
    kernel, bias = model.get_layer("hidden").get_weights()
    bias[:4] = -1e3
    model.get_layer("hidden").set_weights([kernel, bias])
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(40, 6)) * 50).astype("float32")
    y = np.arange(40) % 3
    return model, x, y


def numpy_stats(acts: np.ndarray, activation: str | None, margin: float = 0.01) -> dict:
    a = acts.astype(np.float64)
    sat = float(np.mean(np.abs(a) > 1 - margin)) if activation == "tanh" else float("nan")
    return {
        "mean": a.mean(),
        "std": a.std(),
        "min": a.min(),
        "max": a.max(),
        "zeros": float(np.mean(a == 0)),
        "saturated": sat,
    }


def assert_rows_close(got: list[dict], want: list[dict]) -> None:
    assert [r["layer"] for r in got] == [r["layer"] for r in want]
    for g, w in zip(got, want):
        for key in ("mean", "std", "min", "max", "zeros", "saturated"):
            np.testing.assert_allclose(g[key], w[key], rtol=RTOL, atol=1e-12, err_msg=key)


@pytest.mark.slow
def test_activation_stats_over_datasets_equal_numpy_on_all_activations(mlp):
    model, x, _ = mlp
    acts = nv.get_activations(model, x, ["hidden", "squash"])
    want = [
        {"layer": "hidden", **numpy_stats(acts["hidden"], "relu")},
        {"layer": "squash", **numpy_stats(acts["squash"], "tanh")},
    ]
    assert_rows_close(nv.activation_stats(model, x), want)
    unknown = tf.data.Dataset.from_tensor_slices((x, x[:, 0])).batch(7).filter(lambda a, b: True)
    assert_rows_close(nv.activation_stats(model, unknown), want)  # (x, y) batches, 7 rows
    unbatched = tf.data.Dataset.from_tensor_slices(x)
    assert_rows_close(nv.activation_stats(model, unbatched, batch_size=5), want)
    # A long repeat()-limited dataset of the same samples: the same statistics, in one pass.
    long = tf.data.Dataset.from_tensor_slices(x).repeat().take(40 * 100).batch(256)
    assert_rows_close(nv.activation_stats(model, long), want)
    assert_named_error(lambda: nv.activation_stats(model, unknown.take(0)), InvalidInputError, "no")


def assert_same(got, want, where="diagnosis"):
    """Equal JSON-like trees, floats to rtol 1e-5."""
    if isinstance(want, dict):
        assert sorted(got) == sorted(want), where
        for key in want:
            assert_same(got[key], want[key], f"{where}[{key!r}]")
    elif isinstance(want, list | tuple):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-9, err_msg=where)
    else:
        assert got == want, where


@pytest.mark.slow
def test_diagnose_over_a_dataset_equals_diagnose_over_the_arrays(mlp):
    model, x, y = mlp
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def tree(d):
        out = d.to_dict()
        out.pop("seconds")
        return out

    want = tree(nv.diagnose(model, x, y, loss=loss))
    assert "saturated_units" in want["checked"] and "label_noise" in want["checked"]
    codes = {f["code"] for f in want["findings"]}
    assert {"dead_units", "saturated_units", "unscaled_inputs"} <= codes, codes
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(7)
    assert_same(tree(nv.diagnose(model, ds, loss=loss, batch_size=16)), want)
    unbatched = tf.data.Dataset.from_tensor_slices((x, y))
    assert_same(tree(nv.diagnose(model, unbatched, loss=loss, batch_size=9)), want)
    no_labels = tree(nv.diagnose(model, x))
    assert_same(tree(nv.diagnose(model, tf.data.Dataset.from_tensor_slices(x))), no_labels)
    assert_named_error(
        lambda: nv.diagnose(model, ds, y), InvalidInputError, "from its (x, y) elements"
    )
    assert_named_error(lambda: nv.diagnose(model, ds.take(0)), InvalidInputError, "empty")
    bad_late = ds.concatenate(tf.data.Dataset.from_tensor_slices((x[:3], y[:3] + 5)).batch(3))
    assert_named_error(lambda: nv.diagnose(model, bad_late, loss=loss), InvalidInputError, "class")


@pytest.mark.slow
def test_diagnose_streams_a_long_dataset_and_keeps_only_max_samples(mlp):
    model, x, y = mlp
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    want = nv.diagnose(model, x, y, loss=loss).to_dict()
    # 4,000 samples (the 40 repeated) read once; the per-sample checks see the first 40.
    long = tf.data.Dataset.from_tensor_slices((x, y)).repeat().take(4000).batch(128)
    got = nv.diagnose(model, long, loss=loss, max_samples=40).to_dict()
    assert got["checked"] == want["checked"]
    assert [f["code"] for f in got["findings"]] == [f["code"] for f in want["findings"]]
    assert got["suspect_samples"] == want["suspect_samples"]
