"""Results written into preallocated arrays: ``out=`` (a ``np.memmap`` too) and the batch writer.

Peak memory itself is measured in ``benchmarks/bench_memory.py`` (not here: no timings or RSS in
unit tests).
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from keras_nnviz.core.sinks import BatchOutput
from keras_nnviz.errors import InvalidArgumentError
from tests.conftest import build_case


@pytest.fixture(scope="module")
def cnn():
    case = build_case("functional")
    return case.model, case.x


def test_grad_cam_into_a_memmap_equals_the_in_memory_maps(cnn, tmp_path):
    model, x = cnn
    expected = nv.grad_cam(model, x, batch_size=3)
    path = tmp_path / "maps.npy"
    buf = np.lib.format.open_memmap(path, "w+", np.float32, expected.shape)
    got = nv.grad_cam(model, x, batch_size=3, out=buf)
    assert got is buf
    del buf, got
    np.testing.assert_allclose(np.load(path), expected, atol=1e-6)


def test_out_from_a_dataset_and_multi_input_lists(cnn):
    model, x = cnn
    expected = nv.saliency(model, x)
    buf = np.zeros(expected.shape, np.float32)
    nv.saliency(model, tf.data.Dataset.from_tensor_slices(x).batch(4), out=buf)
    np.testing.assert_allclose(buf, expected, atol=1e-6)
    with pytest.raises(InvalidArgumentError, match=r"out has shape \(11, 12, 12\)"):
        nv.saliency(model, x, out=np.zeros((len(x) + 1, *expected.shape[1:]), np.float32))

    case = build_case("multi_input")
    want = nv.saliency(case.model, case.x)
    bufs = [np.zeros_like(a) for a in want]  # one per attributable input, aligned to inputs
    got = nv.saliency(case.model, case.x, out=bufs)
    for g, b, w in zip(got, bufs, want):
        assert g is b
        np.testing.assert_allclose(b, w, atol=1e-6)


def test_activations_from_a_dataset_of_known_and_unknown_length(cnn):
    model, x = cnn
    expected = nv.get_activation(model, x, "conv2")
    known = tf.data.Dataset.from_tensor_slices(x).batch(3)
    np.testing.assert_allclose(nv.get_activation(model, known, "conv2"), expected, atol=1e-6)
    unknown = known.filter(lambda b: True)  # cardinality unknown: joined at the end
    assert int(unknown.cardinality()) < 0
    np.testing.assert_allclose(nv.get_activation(model, unknown, "conv2"), expected, atol=1e-6)


def test_batch_output_preallocates_trims_and_falls_back():
    batches = [np.full((3, 2), i, np.float32) for i in range(3)] + [np.full((1, 2), 9, "f4")]
    want = np.concatenate(batches)

    exact = BatchOutput(10)
    estimated = BatchOutput(None, batches=4)  # 4 batches x 3 rows allocated, 10 used
    chunked = BatchOutput(None)
    for b in batches:
        for sink in (exact, estimated, chunked):
            sink.write([b])
    for sink in (exact, estimated, chunked):
        np.testing.assert_array_equal(sink.result()[0], want)

    growing = BatchOutput(None, batches=2)  # batches larger than the first: chunk fallback
    for b in (np.zeros((1, 2)), np.ones((3, 2)), np.ones((3, 2))):
        growing.write([b])
    assert growing.result()[0].shape == (7, 2)

    short = BatchOutput(10, out=np.zeros((10, 2), np.float32))
    short.write([batches[0]])
    with pytest.raises(InvalidArgumentError, match="yielded 3 samples"):
        short.result()


def test_adaptive_integrated_gradients_into_out_keeps_its_side_information(cnn):
    # Integrated gradients also returns per-sample steps and errors: out= holds only the maps.
    model, x = cnn
    x = x[:5]
    expected = nv.integrated_gradients(model, x, progress=False)
    out = np.full(expected.shape, np.nan, np.float32)
    maps = nv.integrated_gradients(model, x, out=out, batch_size=2, progress=False)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert np.shares_memory(maps, out)
    np.testing.assert_array_equal(maps.steps, expected.steps)
    assert maps.completeness_error.shape == (5,)
