"""Layer paths, lookup, errors that help, the probe and its cache."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from keras_nnviz.core import graph
from keras_nnviz.core.compiled import layer_pass


def test_list_layers_descends_into_nested_models_in_order(zoo):
    assert nv.list_layers(zoo("nested").model) == [
        "base",
        "base/block1_conv",
        "base/block1_pool",
        "base/block2_conv",
        "gap",
        "dense",
        "predictions",
    ]
    assert nv.list_layers(zoo("seq_in_seq").model) == [
        "base",
        "base/inner_conv",
        "base/inner_conv2",
        "flatten",
        "predictions",
    ]


def test_list_layers_sublayers_of_custom_layers(zoo):
    model = zoo("custom_layer").model
    assert "block/inner_conv" not in nv.list_layers(model)
    paths = nv.list_layers(model, include_sublayers=True)
    assert paths.index("block") < paths.index("block/inner_conv") < paths.index("conv_after")


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("base/block2_conv", "block2_conv"),
        ("block2_conv", "block2_conv"),  # plain name, unique in the tree
        (0, "base"),
        (-1, "predictions"),
        (3, "block2_conv"),
    ],
)
def test_find_layer_by_path_name_and_index(zoo, ref, expected):
    assert nv.find_layer(zoo("nested").model, ref).name == expected


def test_find_layer_by_object_and_attribute_alias(zoo):
    model = zoo("custom_layer").model
    block = model.get_layer("block")
    assert nv.find_layer(model, block.conv) is block.conv
    assert nv.find_layer(model, "block/conv") is block.conv  # attribute name
    assert nv.find_layer(model, "block/inner_conv") is block.conv  # layer name


def test_unknown_layer_lists_close_matches_and_paths(zoo):
    with pytest.raises(nv.LayerNotFoundError) as info:
        nv.find_layer(zoo("nested").model, "block2_cnov")
    msg = str(info.value)
    assert "base/block2_conv" in msg and "nv.list_layers" in msg
    assert isinstance(info.value, ValueError)


def test_index_out_of_range_names_the_valid_range(zoo):
    with pytest.raises(nv.LayerNotFoundError, match=r"valid indices -7 \.\.\. 6"):
        nv.find_layer(zoo("nested").model, 7)


def test_foreign_layer_object_is_rejected(zoo):
    with pytest.raises(nv.LayerNotFoundError, match="not part of model"):
        nv.find_layer(zoo("nested").model, keras.layers.Dense(2))


def test_ambiguous_plain_name_asks_for_a_path():
    a = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")], name="a")
    b = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")], name="b")
    inp = keras.Input((4,))
    model = keras.Model(inp, b(a(inp)))
    with pytest.raises(nv.AmbiguousLayerError, match="'a/d'.*'b/d'"):
        nv.find_layer(model, "d")
    assert nv.find_layer(model, "b/d") is b.get_layer("d")


def test_not_a_keras_model_and_unbuilt_model():
    with pytest.raises(nv.UnsupportedModelError, match="Keras 3 model"):
        nv.list_layers(object())
    with pytest.raises(nv.UnsupportedModelError, match="not built"):
        nv.list_layers(keras.Sequential([keras.layers.Dense(2)]))


@pytest.mark.parametrize(
    "case, expected",
    [
        ("sequential", "conv2"),
        ("functional", "add"),
        ("nested", "base/block2_conv"),
        ("conv1d", "conv2"),
        ("custom_layer", "conv_after"),
    ],
)
def test_last_spatial_layer(zoo, case, expected):
    assert nv.last_spatial_layer(zoo(case).model) == expected


def test_last_spatial_layer_error_on_dense_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(nv.IncompatibleLayerError, match="saliency"):
        nv.last_spatial_layer(model)


@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_pre_activation_finds_logits_without_touching_the_model(activation, snapshot):
    inp = keras.Input((5,))
    logits_layer = keras.layers.Dense(3, name="dense")
    model = keras.Model(inp, keras.layers.Activation(activation)(logits_layer(inp)))
    snap = snapshot(model)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")

    @tf.function
    def logits(x):
        out = model(x, training=False)
        found, kind = graph.pre_activation(out)
        return found, kind == activation

    found, ok = logits(x)
    assert bool(ok)
    np.testing.assert_allclose(found, logits_layer(x), atol=1e-5)
    snap.assert_unchanged()


def test_pre_activation_through_mixed_precision_cast(zoo):
    model = zoo("mixed_float16").model

    @tf.function
    def run(x):
        found, kind = graph.pre_activation(model(x, training=False))
        return found, kind is not None

    found, ok = run(zoo("mixed_float16").x)
    assert bool(ok) and found.shape == (10, 4)


def test_pre_activation_passes_through_linear_outputs():
    @tf.function
    def run(x):
        return graph.pre_activation(x * 2.0)[1] is None

    assert bool(run(tf.ones((2, 2))))


def test_probe_is_cached_and_traced_once(zoo):
    case = zoo("nested")
    probe = layer_pass(case.model, ["base/block1_conv", "dense"])
    assert layer_pass(case.model, ["base/block1_conv", "dense"]) is probe
    assert layer_pass(case.model, ["block1_conv", -2]) is probe  # same layers, other refs
    for n in (3, 7, 10):  # batch sizes differ, one trace
        out = probe([tf.constant(case.x[:n])])
        assert out["layers"]["dense"].shape == (n, 6)
    assert probe.trace_count == 1


def test_forward_hook_sees_nested_layer_and_leaves_model_intact(zoo, snapshot):
    case = zoo("nested")
    model = case.model
    snap = snapshot(model)
    inner = nv.find_layer(model, "base/block1_conv")
    seen = {}

    def hook(layer, call, args, kwargs):
        out = call(*args, **kwargs)
        seen["out"] = out
        return out * 0.0  # replaced output flows downstream

    out = graph.forward(model, [tf.constant(case.x)], {id(inner): (inner, hook)})
    assert seen["out"].shape == (10, 10, 10, 8)
    # With zeroed features the prediction is the softmax of the head's biases only: rows equal.
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)
    snap.assert_unchanged()


def test_interception_is_undone_even_when_the_hook_fails(zoo, snapshot):
    model = zoo("custom_layer").model
    snap = snapshot(model)
    inner = nv.find_layer(model, "block/inner_conv")

    def hook(layer, call, args, kwargs):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        graph.forward(model, [tf.constant(zoo("custom_layer").x)], {id(inner): (inner, hook)})
    assert "call" not in inner.__dict__
    snap.assert_unchanged()


def test_subclassed_model_layers_are_reachable():
    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.conv = keras.layers.Conv2D(4, 3, name="c")
            self.pool = keras.layers.GlobalAveragePooling2D(name="p")
            self.out = keras.layers.Dense(2, name="o")

        def call(self, x):
            return self.out(self.pool(self.conv(x)))

    model = Net()
    x = np.random.default_rng(0).normal(size=(3, 6, 6, 1)).astype("float32")
    model(x)
    assert nv.list_layers(model) == ["c", "p", "o"]
    acts = nv.get_activations(model, x, ["c", "o"])
    np.testing.assert_allclose(acts["c"], model.conv(x), atol=1e-5)
    np.testing.assert_allclose(acts["o"], model(x), atol=1e-5)
    assert "call" not in model.conv.__dict__
