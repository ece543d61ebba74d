"""core/loop.py: the one batch loop (offsets, progress bar, errors, empty input, NaN books)."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_nnviz.core.inputs import prepare
from keras_nnviz.core.loop import BatchLoop, fixed_batches, head, iterate
from keras_nnviz.errors import InvalidInputError, InvalidTargetError, NonFiniteWarning


@pytest.fixture(scope="module")
def model():
    inputs = keras.Input((3,), name="x")
    return keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs))


X = np.arange(30, dtype="float32").reshape(10, 3)


def test_batches_carry_their_offsets_for_arrays_and_datasets(model):
    for x in (X, tf.data.Dataset.from_tensor_slices(X).batch(4)):
        loop = BatchLoop(model, x, 4)
        got = [(b.start, b.size, np.asarray(b.inputs[0])[0, 0]) for b in loop]
        assert got == [(0, 4, 0.0), (4, 4, 12.0), (8, 2, 24.0)]
        assert loop.samples == 10
    assert [(b.start, b.size) for b in iterate(prepare(model, X, 3), 3)][-1] == (9, 1)
    assert [len(b[0]) for b in fixed_batches(model, X, 6)] == [6, 4]


def test_head_reads_the_first_samples_of_a_dataset(model):
    ds = tf.data.Dataset.from_tensor_slices(X).batch(3)
    assert head(prepare(model, ds, 3), 5)[0].shape == (5, 3)
    assert head(prepare(model, ds, 3), 5, batches=1)[0].shape == (3, 3)
    assert head(prepare(model, X, 3), 4)[0].shape == (4, 3)


def test_the_progress_bar_counts_samples(model, capsys):
    for _ in BatchLoop(model, X, 4, progress=True):
        pass
    assert "10/10" in capsys.readouterr().out
    # None: a bar only for a heavy pass of more than one batch.
    for _ in BatchLoop(model, X, 4):
        pass
    assert "10/10" not in capsys.readouterr().out


def test_an_input_without_samples_raises_the_callers_error(model):
    empty = tf.data.Dataset.from_tensor_slices(X).filter(lambda v: v[0] < 0).batch(4)
    with pytest.raises(InvalidInputError, match="nothing to explain"):
        list(BatchLoop(model, empty, 4, empty="nothing to explain"))
    assert list(BatchLoop(model, empty, 4)) == []


def _nan(batch):
    return np.full((len(batch[0]), 2), np.nan, np.float32)


def test_nonfinite_results_warn_once_after_the_loop(model):
    seen = []
    loop = BatchLoop(model, X, 4, results="the maps", done=seen.append)
    with pytest.warns(NonFiniteWarning, match="the maps hold NaN") as record:
        for batch in loop:
            loop.call(_nan, batch.inputs)
            assert not record  # not inside the loop
    assert len(record) == 1 and seen == [10]
    for quiet in (dict(check=False), dict(allow_nonfinite=True)):
        loop = BatchLoop(model, X, 4, **quiet)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for batch in loop:
                loop.call(_nan, batch.inputs)


def test_a_failing_target_callable_is_named(model):
    def my_score(outputs):
        raise ValueError("boom")

    loop = BatchLoop(model, X, 4, what="the maps", target=my_score)
    with pytest.raises(InvalidTargetError, match="'my_score' failed .* the maps"):
        for batch in loop:
            loop.call(my_score, batch.inputs)


def test_the_report_keeps_at_most_max_samples_of_a_batched_dataset(model):
    from keras_nnviz.report._context import as_arrays

    # Read through core's head(): one batch of the dataset, cut to max_samples (the whole
    # first batch of 8 came back before).
    ds = tf.data.Dataset.from_tensor_slices(X).batch(8)
    assert as_arrays(model, ds, 5).shape == (5, 3)
    assert as_arrays(model, X, 5).shape == (5, 3)
