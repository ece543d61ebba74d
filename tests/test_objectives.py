"""Objectives: algebra, values equal manual computations, bad input gives clear errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz import objectives as O
from keras_nnviz.core.compiled import cached_passes
from keras_nnviz.featureviz import objective_values


def _scores(model, obj, x):
    return objective_values(model, x, obj)


# ----------------------------------------------------------------------------------------------
# Algebra


def test_objectives_combine_with_plus_minus_and_scalars():
    a, b = O.channel("conv2", 3), O.total_variation()
    obj = 2 * a - 0.5 * b
    assert [w for w, _ in obj.terms] == [2.0, -0.5]
    assert str(obj) == "2·conv2 ch 3 - 0.5·total_variation"
    assert str(-a) == "-conv2 ch 3"
    assert [w for w, _ in (a / 4).terms] == [0.25]
    assert [w for w, _ in sum([a, b, a]).terms] == [1.0, 1.0, 1.0]
    assert str(O.neuron("c", 1, position=(2, 3))) == "c unit 1 @ (2, 3)"
    assert "class 4" in repr(O.class_logit(4))


@pytest.mark.parametrize(
    "make",
    [
        lambda a: a * a,
        lambda a: a + 3,
        lambda a: 3 - a,
        lambda a: a * "2",
        lambda a: a / 0,
        lambda a: a * float("nan"),
        lambda a: a * True,
    ],
    ids=["obj*obj", "obj+3", "3-obj", "obj*str", "div0", "nan", "bool"],
)
def test_bad_algebra_raises_clear_error(make):
    with pytest.raises(nv.InvalidArgumentError):
        make(O.channel("conv2", 0))


# ----------------------------------------------------------------------------------------------
# Values equal manual computations (untrained zoo models; nested model's inner layer)


def test_channel_and_neuron_values_on_nested_inner_layer(zoo):
    case = zoo("nested")
    act = nv.get_activation(case.model, case.x, "base/block2_conv")  # (N, 5, 5, 8)
    np.testing.assert_allclose(
        _scores(case.model, O.channel("base/block2_conv", 3), case.x),
        act[..., 3].mean(axis=(1, 2)),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        _scores(case.model, O.channel("base/block2_conv", -1), case.x),
        act[..., 7].mean(axis=(1, 2)),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        _scores(case.model, O.neuron("base/block2_conv", 2), case.x), act[:, 2, 2, 2], atol=1e-6
    )
    np.testing.assert_allclose(
        _scores(case.model, O.neuron("base/block2_conv", 5, position=(0, 4)), case.x),
        act[:, 0, 4, 5],
        atol=1e-6,
    )


def test_dense_direction_and_layer_norm_values(zoo):
    case = zoo("nested")
    dense = nv.get_activation(case.model, case.x, "dense")
    np.testing.assert_allclose(
        _scores(case.model, O.neuron("dense", 4), case.x), dense[:, 4], atol=1e-6
    )
    np.testing.assert_allclose(
        _scores(case.model, O.channel("dense", 1), case.x), dense[:, 1], atol=1e-6
    )
    v = np.arange(1, 9, dtype=np.float32) - 4
    gap = nv.get_activation(case.model, case.x, "gap")
    np.testing.assert_allclose(
        _scores(case.model, O.direction("gap", v), case.x),
        gap @ (v / np.linalg.norm(v)),
        rtol=1e-5,
        atol=1e-6,
    )
    conv = nv.get_activation(case.model, case.x, "base/block1_conv")
    direction = np.linspace(-1, 1, 8).astype(np.float32)
    np.testing.assert_allclose(
        _scores(case.model, O.direction("base/block1_conv", direction), case.x),
        (conv @ (direction / np.linalg.norm(direction))).mean(axis=(1, 2)),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        _scores(case.model, O.layer_norm("base/block1_conv"), case.x),
        (conv**2).mean(axis=(1, 2, 3)),
        rtol=1e-5,
    )


def test_class_logit_reads_logits_behind_softmax(zoo):
    case = zoo("nested")
    dense = nv.get_activation(case.model, case.x, "dense")
    kernel, bias = case.model.get_layer("predictions").get_weights()
    logits = dense @ kernel + bias
    np.testing.assert_allclose(
        _scores(case.model, O.class_logit(2), case.x), logits[:, 2], rtol=1e-5, atol=1e-5
    )


def test_class_logit_on_multi_output_model_needs_output(zoo):
    case = zoo("multi_output")
    gap = nv.get_activation(case.model, case.x, "gap")
    kernel, bias = case.model.get_layer("class_head").get_weights()
    np.testing.assert_allclose(
        _scores(case.model, O.class_logit(1, output="class_head"), case.x),
        (gap @ kernel + bias)[:, 1],
        rtol=1e-5,
        atol=1e-5,
    )
    kernel, bias = case.model.get_layer("box_head").get_weights()
    np.testing.assert_allclose(
        _scores(case.model, O.class_logit(0, output=1), case.x),
        (gap @ kernel + bias)[:, 0],
        rtol=1e-5,
        atol=1e-5,
    )
    with pytest.raises(nv.InvalidTargetError, match="class_head"):
        _scores(case.model, O.class_logit(1), case.x)
    with pytest.raises(nv.InvalidTargetError, match="Unknown output"):
        _scores(case.model, O.class_logit(1, output="nope"), case.x)


def _tv(x):
    return np.abs(np.diff(x, axis=1)).mean(axis=(1, 2, 3)) + np.abs(np.diff(x, axis=2)).mean(
        axis=(1, 2, 3)
    )


def test_regularizers_and_weighted_sums(zoo):
    case = zoo("sequential")
    x = case.x
    chan = nv.get_activation(case.model, x, "conv2")[..., 1].mean(axis=(1, 2))
    np.testing.assert_allclose(_scores(case.model, O.total_variation(), x), _tv(x), rtol=1e-5)
    np.testing.assert_allclose(
        _scores(case.model, O.l1(), x), np.abs(x - 0.5).mean(axis=(1, 2, 3)), rtol=1e-5
    )
    np.testing.assert_allclose(
        _scores(case.model, O.l2(constant=0.0), x),
        np.sqrt((x**2).mean(axis=(1, 2, 3))),
        rtol=1e-5,
    )
    conv1 = nv.get_activation(case.model, x, "conv1")
    np.testing.assert_allclose(
        _scores(case.model, O.l1(0.0, layer="conv1"), x), conv1.mean(axis=(1, 2, 3)), rtol=1e-5
    )
    padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="symmetric")
    blurred = sum(
        padded[:, i : i + 12, j : j + 12] for i in range(3) for j in range(3)
    ) / np.float32(9)
    np.testing.assert_allclose(
        _scores(case.model, O.blur(), x),
        0.5 * ((x - blurred) ** 2).mean(axis=(1, 2, 3)),
        rtol=1e-4,
        atol=1e-7,
    )
    combo = 3 * O.channel("conv2", 1) - 0.5 * O.total_variation()
    np.testing.assert_allclose(
        _scores(case.model, combo, x), 3 * chan - 0.5 * _tv(x), rtol=1e-5, atol=1e-6
    )


def test_diversity_is_one_for_identical_images_and_lower_for_different_ones(zoo):
    case = zoo("sequential")
    same = np.repeat(case.x[:1], 3, axis=0)
    np.testing.assert_allclose(_scores(case.model, O.diversity("conv1"), same), 1.0, atol=1e-5)
    act = nv.get_activation(case.model, case.x[:3], "conv1").reshape(3, -1, 8)
    grams = np.einsum("bpc,bpd->bcd", act, act).reshape(3, -1)
    grams /= np.linalg.norm(grams, axis=1, keepdims=True)
    sims = grams @ grams.T
    expected = (sims.sum(axis=1) - 1.0) / 2
    np.testing.assert_allclose(
        _scores(case.model, O.diversity("conv1"), case.x[:3]), expected, rtol=1e-4
    )


def test_sublayer_of_custom_layer_and_mixed_precision(zoo):
    custom = zoo("custom_layer")
    inner = nv.get_activation(custom.model, custom.x, "block/inner_conv")
    np.testing.assert_allclose(
        _scores(custom.model, O.channel("block/inner_conv", 2), custom.x),
        inner[..., 2].mean(axis=(1, 2)),
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(nv.IncompatibleLayerError, match="out of range"):
        _scores(custom.model, O.channel("block/inner_conv", 6), custom.x)
    mixed = zoo("mixed_float16")
    values = _scores(mixed.model, O.channel("conv2", 0), mixed.x)
    assert values.dtype == np.float32
    ref = nv.get_activation(mixed.model, mixed.x, "conv2")[..., 0].mean(axis=(1, 2))
    np.testing.assert_allclose(values, ref, rtol=2e-2, atol=2e-2)


def test_scoring_compiles_once_per_objective_structure(zoo):
    case = zoo("functional")
    for k in (0, 5, 7):
        _scores(case.model, O.channel("conv2", k) - 0.1 * O.total_variation(), case.x)
    scorers = [p for key, p in cached_passes(case.model).items() if key[0] == "objective_values"]
    assert len(scorers) == 1 and scorers[0].trace_count == 1


# ----------------------------------------------------------------------------------------------
# Errors


def _bind(model, obj):
    return nv.maximize_activation(model, obj, steps=1, progress=False)


def test_channel_index_out_of_range(zoo):
    model = zoo("nested").model
    with pytest.raises(
        nv.IncompatibleLayerError, match=r"Channel 8 .*'base/block2_conv'.*0 \.\.\. 7"
    ):
        _bind(model, O.channel("base/block2_conv", 8))
    with pytest.raises(nv.IncompatibleLayerError, match="out of range"):
        _bind(model, O.neuron("dense", -7))
    with pytest.raises(nv.InvalidArgumentError, match="int"):
        _bind(model, O.channel("dense", 1.5))


def test_neuron_position_on_non_spatial_layer(zoo):
    model = zoo("nested").model
    with pytest.raises(nv.IncompatibleLayerError, match=r"spatial layer.*'dense'"):
        _bind(model, O.neuron("dense", 1, position=(0, 0)))
    with pytest.raises(nv.IncompatibleLayerError, match=r"outside the spatial shape \(5, 5\)"):
        _bind(model, O.neuron("base/block2_conv", 1, position=(5, 0)))
    with pytest.raises(nv.IncompatibleLayerError, match="2 spatial axes"):
        _bind(model, O.neuron("base/block2_conv", 1, position=(1,)))


def test_objective_on_layer_not_in_model(zoo):
    model = zoo("nested").model
    with pytest.raises(nv.LayerNotFoundError, match=r"block2_conv"):
        _bind(model, O.channel("base/block2_cnv", 0))
    other = keras.layers.Dense(3)
    other.build((None, 4))
    with pytest.raises(nv.LayerNotFoundError, match="not part of model"):
        _bind(model, O.channel(other, 0))


def test_other_bad_objectives(zoo):
    model = zoo("nested").model
    with pytest.raises(nv.IncompatibleLayerError, match="8 channels"):
        _bind(model, O.direction("gap", [1.0, 2.0]))
    with pytest.raises(nv.InvalidArgumentError, match="non-zero"):
        _bind(model, O.direction("gap", np.zeros(8)))
    with pytest.raises(nv.InvalidTargetError, match=r"0 \.\.\. 3"):
        _bind(model, O.class_logit(4))
    with pytest.raises(nv.InvalidArgumentError, match="Objective"):
        _bind(model, "conv2:3")
    with pytest.raises(nv.InvalidArgumentError, match="empty"):
        _bind(model, [])


def test_objective_on_a_layer_the_model_never_calls():
    class WithSpare(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = keras.layers.Conv2D(4, 3, name="conv")
            self.spare = keras.layers.Conv2D(4, 3, name="spare")

        def build(self, shape):
            self.conv.build(shape)
            self.spare.build(shape)

        def call(self, x):
            return self.conv(x)

    inp = keras.Input((8, 8, 3))
    model = keras.Model(inp, WithSpare(name="block")(inp))
    x = np.zeros((2, 8, 8, 3), "float32")
    for run in (
        lambda: nv.maximize_activation(model, O.channel("block/spare", 0), steps=1, progress=False),
        lambda: objective_values(model, x, O.channel("block/spare", 0)),
    ):
        with pytest.raises(nv.IncompatibleLayerError, match="'block/spare'.*not called"):
            run()
