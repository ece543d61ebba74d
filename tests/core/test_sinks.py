"""``out=`` on every compute function that returns per-sample arrays, through the one writer
(keras_nnviz.core.sinks): arrays, memmaps and ``.npy`` paths, from datasets of known and unknown
length, equal to the in-memory result; wrong targets name what was expected and received.

Memory itself (flat in the dataset's length) is measured in benchmarks/bench_scale.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from keras_nnviz.core.sinks import BatchOutput, NpyWriter
from keras_nnviz.errors import InvalidArgumentError
from tests import zoo as zoo_mod
from tests.bad_input import assert_named_error
from tests.conftest import build_case


@pytest.fixture(scope="module")
def cnn():
    case = build_case("functional")
    return case.model, case.x


@pytest.fixture(scope="module")
def transformer():
    return zoo_mod.ATTENTION_ZOO["transformer"]()


def unknown_length(x, batch=3):
    """A batched dataset whose cardinality is unknown (as after a filter)."""
    ds = tf.data.Dataset.from_tensor_slices(x).batch(batch).filter(lambda b: True)
    assert int(ds.cardinality()) < 0
    return ds


def test_npy_writer_appends_rows_of_unknown_count(tmp_path):
    parts = [np.full((3, 2, 2), i, np.float32) for i in range(4)] + [np.ones((1, 2, 2), "f4")]
    writer = NpyWriter(tmp_path / "a.npy", np.float32, (2, 2))
    for p in parts:
        writer.write(p)
    got = writer.close()
    assert isinstance(got, np.memmap) and not got.flags.writeable
    np.testing.assert_array_equal(got, np.concatenate(parts))
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.concatenate(parts))
    assert (10 + int.from_bytes((tmp_path / "a.npy").read_bytes()[8:10], "little")) % 64 == 0
    empty = NpyWriter(tmp_path / "e.npy", np.int32, (5,)).close()
    assert empty.shape == (0, 5) and empty.dtype == np.int32


def test_batch_output_mixes_arrays_npy_paths_and_side_results(tmp_path):
    batches = [np.arange(6, dtype=np.float32).reshape(3, 2) + i for i in range(3)]
    side = [np.full((3,), i) for i in range(3)]
    buf = np.zeros((9, 2), np.float32)
    sink = BatchOutput(None, [buf, tmp_path / "b.npy"], auxiliary=1)
    for b, s in zip(batches, side):
        sink.write([b, b * 2, s])
    got, on_disk, steps = sink.result()
    assert got is buf
    np.testing.assert_array_equal(on_disk, np.concatenate(batches) * 2)
    np.testing.assert_array_equal(steps, np.concatenate(side))
    only_disk = BatchOutput(None, tmp_path / "c.npy", auxiliary=1)  # unknown n: side joined
    for b, s in zip(batches, side):
        only_disk.write([b, s])
    maps, steps = only_disk.result()
    np.testing.assert_array_equal(maps, np.concatenate(batches))
    np.testing.assert_array_equal(steps, np.concatenate(side))


@pytest.mark.slow
def test_activations_and_rnn_states_into_memmaps_and_npy_files(cnn, tmp_path):
    model, x = cnn
    want = nv.get_activations(model, x, ["conv2", "gap"])
    buf = np.lib.format.open_memmap(tmp_path / "c.npy", "w+", np.float32, want["conv2"].shape)
    got = nv.get_activations(
        model, unknown_length(x), out={"conv2": buf, "gap": str(tmp_path / "g.npy")}
    )
    assert list(got) == list(want) and got["conv2"] is buf
    for key in want:
        np.testing.assert_allclose(got[key], want[key], atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "g.npy"), want["gap"], atol=1e-6)
    one = nv.get_activation(model, x, "gap", out=tmp_path / "one.npy", batch_size=4)
    np.testing.assert_allclose(one, want["gap"], atol=1e-6)
    maps = nv.saliency(model, x)  # the attribution engine writes through the same sink
    disk = nv.saliency(model, unknown_length(x), out=str(tmp_path / "sal.npy"))
    np.testing.assert_allclose(disk, maps, atol=1e-6)

    rnn = build_case("recurrent")
    states = nv.get_rnn_states(rnn.model, rnn.x, "gru")
    disk = nv.get_rnn_states(rnn.model, rnn.x, "gru", out=tmp_path / "s.npy", batch_size=4)
    np.testing.assert_allclose(disk, states, atol=1e-6)


@pytest.mark.slow
def test_attention_maps_stats_and_rollout_into_out(transformer, tmp_path):
    model, x = transformer.model, transformer.x
    maps = nv.get_attention(model, x)
    targets = {key: str(tmp_path / f"m{i}.npy") for i, key in enumerate(maps)}
    got = nv.get_attention(model, unknown_length(x, 2), out=targets)
    assert list(got) == list(maps)
    for key in maps:
        np.testing.assert_allclose(got[key], maps[key], atol=1e-6)

    stats = nv.attention_stats(model, x, k=2, block=3)
    out = {
        key: {
            name: np.zeros(a.shape, np.int32 if a.dtype.kind == "i" else np.float32)
            for name, a in per.items()
        }
        for key, per in stats.items()
    }
    streamed = nv.attention_stats(model, x, k=2, block=3, out=out, batch_size=2)
    for key, per in stats.items():
        for name, a in per.items():
            assert streamed[key][name] is out[key][name]
            np.testing.assert_allclose(out[key][name], a, atol=1e-6)

    rolled = nv.attention_rollout(model, x)
    disk = nv.attention_rollout(model, x, out=tmp_path / "r.npy", batch_size=4)
    np.testing.assert_allclose(disk, rolled, atol=1e-6)


@pytest.mark.slow
def test_bad_out_targets_name_what_was_expected_and_received(cnn, transformer, tmp_path):
    model, x = cnn
    shape = nv.get_activation(model, x[:2], "gap").shape[1:]  # (channels,)
    n = len(x)
    read_only = np.lib.format.open_memmap(tmp_path / "r.npy", "w+", np.float32, (n, *shape))
    del read_only
    read_only = np.load(tmp_path / "r.npy", mmap_mode="r")
    att = transformer.model
    key = next(iter(nv.get_attention(att, transformer.x[:1])))
    stats_shape = nv.attention_stats(att, transformer.x, key, stats=("topk",), k=2)[key]
    rows = [
        # (call, phrase naming what was expected and what was received)
        (
            lambda: nv.get_activation(model, x, "gap", out=np.zeros((n + 1, *shape), "f4")),
            f"has shape ({n + 1}, {shape[0]}); the results have shape ({n}, {shape[0]})",
        ),
        (
            lambda: nv.get_activation(model, x, "gap", out=np.zeros((n, *shape), np.int32)),
            "has dtype int32; the results are floating point (float32)",
        ),
        (lambda: nv.get_activation(model, x, "gap", out=read_only), "read-only"),
        (
            lambda: nv.get_activation(model, x, "gap", out=[1, 2]),
            "must be a writable numpy array or np.memmap of shape",
        ),
        (
            lambda: nv.get_activations(model, x, ["gap"], out={"conv2": np.zeros(1)}),
            "keys ['gap']; received keys ['conv2']",
        ),
        (lambda: nv.get_activations(model, x, out=np.zeros(3)), "must be a dict {layer"),
        (lambda: nv.get_activation(model, x, "gap", out="acts.txt"), "must name a .npy file"),
        (
            lambda: nv.get_activation(model, x, "gap", out=tmp_path / "no" / "a.npy"),
            "does not exist",
        ),
        (
            lambda: nv.get_attention(att, transformer.x, key, out={"nope": np.zeros(1)}),
            f"keys [{key!r}]; received keys ['nope']",
        ),
        (
            lambda: nv.attention_stats(
                att,
                transformer.x,
                key,
                stats=("topk",),
                k=2,
                out={
                    key: {
                        "topk_index": np.zeros(stats_shape["topk_index"].shape, np.float32),
                        "topk_weight": np.zeros(stats_shape["topk_weight"].shape, np.float32),
                    }
                },
            ),
            "has dtype float32; the results are int32 (integers)",
        ),
        (
            lambda: nv.grad_cam(model, x, out=np.zeros((n, 2), np.float16)),
            "has shape (10, 2); the results have shape",
        ),
    ]
    for call, phrase in rows:
        assert_named_error(call, InvalidArgumentError, phrase)
