"""Activations over the model zoo equal manual computations; streaming; input handling."""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from keras_nnviz.core.compiled import layer_pass
from tests.zoo import ZOO


def _paths_with_reference(case):
    paths = nv.list_layers(case.model)
    if case.name == "multi_output":
        paths = [p for p in paths if p not in ("class_head", "box_head")] + ["class_head"]
    return paths


def test_every_layer_matches_manual_computation(zoo_case, snapshot):
    snap = snapshot(zoo_case.model)
    paths = _paths_with_reference(zoo_case)
    acts = nv.get_activations(zoo_case.model, zoo_case.x, paths, batch_size=4)
    atol = zoo_case.notes.get("atol", 1e-5)
    for path in paths:
        expected = zoo_case.reference(path, zoo_case.x)
        got = acts[path]
        assert got.shape == expected.shape, path
        np.testing.assert_allclose(
            got, expected.astype(np.float32), atol=atol, rtol=atol, err_msg=path
        )
    snap.assert_unchanged()


def test_mixed_precision_activations_come_back_float32(zoo):
    acts = nv.get_activations(zoo("mixed_float16").model, zoo("mixed_float16").x, ["conv1"])
    assert acts["conv1"].dtype == np.float32


def test_custom_layer_sublayer_activation(zoo):
    case = zoo("custom_layer")
    block = case.model.get_layer("block")
    got = nv.get_activation(case.model, case.x, "block/inner_conv")
    np.testing.assert_allclose(got, block.conv(case.x), atol=1e-5)
    assert "call" not in block.conv.__dict__


@pytest.mark.parametrize(
    "kind", ["numpy", "tensor", "dataset_batched", "dataset_unbatched", "dataset_xy"]
)
def test_input_kinds_give_the_same_result(zoo, kind):
    case = zoo("nested")
    x = case.x
    data = {
        "numpy": x,
        "tensor": tf.constant(x),
        "dataset_batched": tf.data.Dataset.from_tensor_slices(x).batch(3),
        "dataset_unbatched": tf.data.Dataset.from_tensor_slices(x),
        "dataset_xy": tf.data.Dataset.from_tensor_slices((x, np.arange(len(x)))).batch(4),
    }[kind]
    got = nv.get_activations(case.model, data, ["base/block1_conv", "dense"], batch_size=4)
    ref = nv.get_activations(case.model, x, ["base/block1_conv", "dense"], batch_size=32)
    for key in ref:
        np.testing.assert_allclose(got[key], ref[key], atol=1e-5)


def test_multi_input_as_dict_and_dataset(zoo):
    case = zoo("multi_input")
    as_list = nv.get_activation(case.model, case.x, "concat")
    as_dict = nv.get_activation(case.model, {"image": case.x[0], "meta": case.x[1]}, "concat")
    ds = tf.data.Dataset.from_tensor_slices(((case.x[0], case.x[1]), np.zeros(10))).batch(3)
    from_ds = nv.get_activation(case.model, ds, "concat")
    np.testing.assert_allclose(as_dict, as_list, atol=1e-6)
    np.testing.assert_allclose(from_ds, as_list, atol=1e-6)


def test_large_input_streams_in_batches(zoo):
    case = zoo("sequential")
    x = np.random.default_rng(0).uniform(size=(10_000, 12, 12, 3)).astype("float32")
    probe = layer_pass(case.model, ["gap"])
    nv.get_activations(case.model, x[:3], ["gap"])
    before = probe.trace_count
    acts = nv.get_activations(case.model, x, ["gap"], batch_size=512)
    assert acts["gap"].shape == (10_000, 8)
    np.testing.assert_allclose(
        acts["gap"][-5:], nv.get_activation(case.model, x[-5:], "gap"), atol=1e-5
    )
    assert probe.trace_count == before  # the last, smaller batch reused the trace


def test_channel_and_neuron_helpers(zoo):
    case = zoo("sequential")
    full = nv.get_activation(case.model, case.x, "conv2")
    np.testing.assert_allclose(nv.get_channel(case.model, case.x, "conv2", 3), full[..., 3])
    np.testing.assert_allclose(nv.get_neuron(case.model, case.x, "conv2", 3), full[:, 4, 4, 3])
    np.testing.assert_allclose(
        nv.get_neuron(case.model, case.x, "conv2", 3, position=(1, 2)), full[:, 1, 2, 3]
    )
    with pytest.raises(nv.IncompatibleLayerError, match="0 ... 7"):
        nv.get_channel(case.model, case.x, "conv2", 8)
    with pytest.raises(nv.IncompatibleLayerError, match="spatial shape"):
        nv.get_neuron(case.model, case.x, "conv2", 0, position=(9, 9))
    summary = nv.activations.channel_summary(full, reduce="max")
    np.testing.assert_allclose(summary, full.max(axis=(1, 2)))


# ---------------------------------------------------------------------------- recurrent states


def _manual_states(rnn_layer, x, reverse=False):
    """Step a recurrent cell by hand: the ground truth for get_rnn_states."""
    cell = rnn_layer.cell
    seq = x[:, ::-1] if reverse else x
    states = [tf.zeros((x.shape[0], s)) for s in tf.nest.flatten(cell.state_size)]
    out = []
    for t in range(x.shape[1]):
        h, states = cell(seq[:, t], states if len(states) > 1 else states[0])
        states = tf.nest.flatten(states)
        out.append(np.asarray(h))
    out = np.stack(out, axis=1)
    return out[:, ::-1] if reverse else out


@pytest.mark.parametrize("layer_type", ["SimpleRNN", "GRU", "LSTM"])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_rnn_states_match_stepping_the_cell(layer_type, return_sequences, snapshot):
    inp = keras.Input((7, 3))
    rnn = getattr(keras.layers, layer_type)(5, return_sequences=return_sequences, name="rnn")
    h = rnn(inp)
    if return_sequences:
        h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(inp, keras.layers.Dense(2)(h))
    snap = snapshot(model)
    x = np.random.default_rng(0).normal(size=(6, 7, 3)).astype("float32")
    states = nv.get_rnn_states(model, x, "rnn", batch_size=4)
    assert states.shape == (6, 7, 5)
    np.testing.assert_allclose(states, _manual_states(rnn, x), atol=1e-5)
    if not return_sequences:  # the layer's own output is the last state
        np.testing.assert_allclose(states[:, -1], nv.get_activation(model, x, "rnn"), atol=1e-5)
    snap.assert_unchanged()


@pytest.mark.slow
def test_bidirectional_states_are_time_aligned(zoo):
    case = zoo("recurrent")
    bidir = case.model.get_layer("bidir")
    states = nv.get_rnn_states(case.model, case.x, "bidir")
    assert states.shape == (10, 9, 8)
    gru_out = nv.get_activation(case.model, case.x, "gru")
    np.testing.assert_allclose(
        states[..., :4], _manual_states(bidir.forward_layer, gru_out), atol=1e-5
    )
    np.testing.assert_allclose(
        states[..., 4:], _manual_states(bidir.backward_layer, gru_out, reverse=True), atol=1e-5
    )
    # The layer output (return_sequences=False) = [forward last step, backward first step].
    out = nv.get_activation(case.model, case.x, "bidir")
    np.testing.assert_allclose(
        out, np.concatenate([states[:, -1, :4], states[:, 0, 4:]], -1), atol=1e-5
    )


def test_rnn_states_respect_masks():
    inp = keras.Input((6,), dtype="int32")
    h = keras.layers.Embedding(10, 4, mask_zero=True, name="emb")(inp)
    h = keras.layers.LSTM(3, name="lstm")(h)
    model = keras.Model(inp, keras.layers.Dense(2)(h))
    x = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9]], dtype="int32")
    states = nv.get_rnn_states(model, x, "lstm")
    np.testing.assert_allclose(states[0, 3:], np.repeat(states[0, 2:3], 3, axis=0), atol=1e-6)
    np.testing.assert_allclose(states[:, -1], nv.get_activation(model, x, "lstm"), atol=1e-5)


def test_rnn_states_reject_non_recurrent_layer(zoo):
    with pytest.raises(nv.IncompatibleLayerError, match="not a recurrent layer"):
        nv.get_rnn_states(zoo("recurrent").model, zoo("recurrent").x, "predictions")


# ---------------------------------------------------------------------------- bad input table


def _bad_inputs(zoo):
    seq = zoo("sequential")
    multi = zoo("multi_input")
    x = seq.x
    return [
        ("unknown layer", seq.model, x, {"layers": ["conv9"]}, nv.LayerNotFoundError, "conv1"),
        ("wrong rank", seq.model, x[0], {}, nv.InvalidInputError, r"x\[None\]"),
        ("wrong shape", seq.model, x[:, :10], {}, nv.InvalidInputError, "axis 1 should be 12"),
        ("wrong dtype", seq.model, x.astype(str), {}, nv.InvalidInputError, "not numeric"),
        ("empty batch", seq.model, x[:0], {}, nv.InvalidInputError, "empty batch"),
        ("nan values", seq.model, np.where(x > 0.99, np.nan, x), {}, nv.InvalidInputError, "NaN"),
        (
            "list to single-input",
            seq.model,
            [x, x],
            {},
            nv.InvalidInputError,
            "received a list of 2 arrays",
        ),
        (
            "single to multi-input",
            multi.model,
            multi.x[0],
            {},
            nv.InvalidInputError,
            "has 2 inputs",
        ),
        (
            "dict with wrong keys",
            multi.model,
            {"img": multi.x[0]},
            {},
            nv.InvalidInputError,
            "missing",
        ),
        (
            "sample counts differ",
            multi.model,
            [multi.x[0], multi.x[1][:3]],
            {},
            nv.InvalidInputError,
            "different numbers of samples",
        ),
        ("bad batch size", seq.model, x, {"batch_size": 0}, nv.InvalidArgumentError, "batch_size"),
    ]


@pytest.mark.parametrize("index", range(11))
def test_bad_input_table(zoo, index):
    label, model, x, kwargs, error, pattern = _bad_inputs(zoo)[index]
    with pytest.raises(error, match=pattern):
        nv.get_activations(model, x, **kwargs)


def test_channel_axis_hint():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(nv.InvalidInputError, match=r"x\[\.\.\., None\]"):
        nv.get_activations(model, np.zeros((4, 8, 8), "float32"))


def test_nonfinite_values_allowed_on_request():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="linear")])
    x = np.ones((4, 3), "float32")
    x[0, 1] = np.nan
    acts = nv.get_activations(model, x, ["linear"], allow_nonfinite=True)
    assert np.isnan(acts["linear"][0]).all() and np.isfinite(acts["linear"][1:]).all()


def test_zoo_registry_is_complete():
    assert {
        "sequential",
        "functional",
        "nested",
        "multi_input",
        "multi_output",
        "conv1d",
        "recurrent",
        "mixed_float16",
        "custom_layer",
    } <= set(ZOO)


# ----------------------------------------------------------------------------------------------
# One convention


@pytest.mark.parametrize(
    "fn, positional",
    [
        (nv.get_activations, ["model", "x", "layers"]),
        (nv.get_activation, ["model", "x", "layer"]),
        (nv.get_channel, ["model", "x", "layer", "channel"]),
        (nv.get_neuron, ["model", "x", "layer", "channel"]),
        (nv.get_rnn_states, ["model", "x", "layer"]),
        (nv.get_attention, ["model", "x", "layers"]),
        (nv.attention_rollout, ["model", "x", "layers"]),
        (nv.top_examples, ["model", "x", "layer", "channel"]),
        (nv.featureviz.objective_values, ["model", "x", "objective"]),
        (nv.maximize_activation, ["model", "objectives"]),
    ],
)
def test_model_x_first_options_keyword_only_with_one_set_of_defaults(fn, positional):
    params = inspect.signature(fn).parameters.values()
    named = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert named == positional
    options = {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert options.get("progress") is None
    if fn is not nv.maximize_activation:
        assert options["batch_size"] == 32
    if "x" in positional and fn is not nv.featureviz.objective_values:
        assert options["allow_nonfinite"] is False
    assert "k" not in options and "batch" not in options and "return_history" not in options


def test_progress_bar_counts_samples_only_when_asked(zoo, capsys):
    case = zoo("sequential")
    x = np.repeat(case.x, 3, axis=0)[:10]
    nv.get_activations(case.model, x, ["gap"], batch_size=4)
    assert "10/10" not in capsys.readouterr().out
    nv.get_activations(case.model, x, ["gap"], batch_size=4, progress=True)
    assert "10/10" in capsys.readouterr().out
