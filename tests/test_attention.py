"""Attention capture, rollout and ViT patch maps: shapes, values, masks, training, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from keras_nnviz import attention as nva
from tests import zoo as zoo_mod

L = keras.layers


@pytest.fixture(scope="module")
def cases():
    built = {}

    def get(name, **kwargs):
        key = (name, tuple(sorted(kwargs.items())))
        if key not in built:
            built[key] = zoo_mod.ATTENTION_ZOO[name](**kwargs)
        return built[key]

    return get


# ----------------------------------------------------------------------------------------------
# Finding layers


def test_finds_attention_layers_in_graph_and_inside_custom_layers(cases):
    assert nva.attention_layers(cases("transformer").model) == ["mha_1", "mha_2"]
    block = cases("transformer_block").model
    paths = nva.attention_layers(block)
    assert len(paths) == 2
    assert paths[0].startswith("encoder_1/") and paths[1].startswith("encoder_2/")
    assert nv.find_layer(block, paths[0]) is block.get_layer("encoder_1").att
    assert nva.attention_layers(cases("single_head_attention").model) == [
        "dot_attention",
        "additive_attention",
    ]


@pytest.mark.parametrize("name", ["transformer", "transformer_block", "single_head_attention"])
def test_shapes_and_rows_sum_to_one(cases, name):
    case = cases(name)
    att = nv.get_attention(case.model, case.x)
    n = len(case.x[0]) if isinstance(case.x, list) else len(case.x)
    expected_heads = {
        "transformer": [4, 2],
        "transformer_block": [2, 4],
        "single_head_attention": [1, 1],
    }[name]
    assert [a.shape[1] for a in att.values()] == expected_heads
    for a in att.values():
        assert a.dtype == np.float32 and a.shape[0] == n
        assert a.min() >= 0
        np.testing.assert_allclose(a.sum(axis=-1), 1.0, atol=1e-5)
    if name == "single_head_attention":
        assert all(a.shape[2:] == (6, 9) for a in att.values())  # cross-attention, Tq != Tk


# ----------------------------------------------------------------------------------------------
# Same numbers as calling the layer yourself


def _direct(mha, h):
    _, scores = mha(h, h, return_attention_scores=True)
    return np.asarray(scores)


def test_functional_scores_equal_a_direct_call(cases):
    case = cases("transformer")
    model = case.model
    att = nv.get_attention(model, case.x)
    inputs = nv.get_activations(model, case.x, ["embedding", "ln_ffn_1"])
    np.testing.assert_allclose(
        att["mha_1"], _direct(model.get_layer("mha_1"), inputs["embedding"]), atol=1e-5
    )
    np.testing.assert_allclose(
        att["mha_2"], _direct(model.get_layer("mha_2"), inputs["ln_ffn_1"]), atol=1e-5
    )


def test_transformer_block_scores_equal_a_direct_call(cases, snapshot):
    case = cases("transformer_block")
    model = case.model
    snap = snapshot(model)
    att = nv.get_attention(model, case.x, layers=["encoder_1/att", "encoder_2/att"])
    snap.assert_unchanged()  # the intercepted MHA calls were restored
    inputs = nv.get_activations(model, case.x, ["embedding", "encoder_1"])
    first = nv.core.graph.layer_path(model, "encoder_1/att")  # attribute name -> canonical path
    second = nv.core.graph.layer_path(model, "encoder_2/att")
    assert list(att) == [first, second]
    block1, block2 = model.get_layer("encoder_1"), model.get_layer("encoder_2")
    np.testing.assert_allclose(att[first], _direct(block1.att, inputs["embedding"]), atol=1e-5)
    np.testing.assert_allclose(att[second], _direct(block2.att, inputs["encoder_1"]), atol=1e-5)


def test_single_head_layers_equal_a_direct_call(cases):
    case = cases("single_head_attention")
    att = nv.get_attention(case.model, case.x)
    q, v = (tf.constant(a) for a in case.x)
    for name in ("dot_attention", "additive_attention"):
        _, scores = case.model.get_layer(name)([q, v], return_attention_scores=True)
        np.testing.assert_allclose(att[name][:, 0], np.asarray(scores), atol=1e-5)


def test_capturing_leaves_the_models_outputs_alone(cases, snapshot):
    """The hook hands the layer's normal output on: the model predicts what it always does."""
    case = cases("transformer_block")
    snap = snapshot(case.model)
    result = nva.attention_pass(case.model)([tf.constant(case.x)])
    snap.assert_unchanged()
    expected = case.model.predict(case.x, verbose=0)
    # Asking for scores moves MHA from its fused kernel to the einsum path: equal to float noise.
    np.testing.assert_allclose(np.asarray(result["outputs"]), expected, atol=1e-5)


def test_layer_asking_for_scores_itself_still_gets_them():
    class Keeper(L.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.att = L.MultiHeadAttention(2, 4, name="mha")

        def call(self, x):
            out, scores = self.att(x, x, return_attention_scores=True)
            return out + keras.ops.mean(scores) * 0.0

    inp = keras.Input((5, 8))
    model = keras.Model(inp, Keeper(name="keeper")(inp))
    x = np.random.default_rng(0).normal(size=(3, 5, 8)).astype("float32")
    att = nv.get_attention(model, x)
    assert att["keeper/mha"].shape == (3, 2, 5, 5)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(model.predict(x, verbose=0)))


def test_nested_model_paths(cases):
    inner = cases("transformer").model
    ids = keras.Input((10,), dtype="int32")
    outer = keras.Model(ids, inner(ids), name="outer")
    att = nv.get_attention(outer, cases("transformer").x, layers="transformer/mha_2")
    direct = nv.get_attention(inner, cases("transformer").x, layers="mha_2")
    assert list(att) == ["transformer/mha_2"]
    np.testing.assert_allclose(att["transformer/mha_2"], direct["mha_2"], atol=1e-6)


# ----------------------------------------------------------------------------------------------
# Masks


@pytest.mark.filterwarnings("ignore:Layer 'encoder_1'.*does not support masking:UserWarning")
@pytest.mark.parametrize("name", ["transformer", "transformer_block"])
def test_padded_keys_get_zero_weight_with_mask_zero(cases, name):
    case = cases(name, mask_zero=True)
    first = nv.get_attention(case.model, case.x)
    scores = next(iter(first.values()))  # the layer right after the masking embedding
    for i, ids in enumerate(case.x):
        keep = int(np.count_nonzero(ids))
        assert np.all(scores[i, :, :keep, keep:] == 0.0), f"sample {i} attends to padding"
        np.testing.assert_allclose(scores[i, :, :keep].sum(-1), 1.0, atol=1e-5)
        if keep < ids.size:  # padded queries: MHA's masked softmax zeroes the whole row
            assert np.all(scores[i, :, keep:] == 0.0)


def test_explicit_attention_mask():
    ids = keras.Input((8,), dtype="int32", name="tokens")
    valid = keras.ops.not_equal(ids, 0)
    mask = keras.ops.logical_and(keras.ops.expand_dims(valid, 2), keras.ops.expand_dims(valid, 1))
    h = L.Embedding(12, 8, name="embedding")(ids)
    a = L.MultiHeadAttention(2, 4, name="mha")(h, h, attention_mask=mask)
    model = keras.Model(ids, L.GlobalAveragePooling1D()(a))
    x = np.array([[3, 4, 5, 6, 7, 8, 9, 10], [1, 2, 3, 0, 0, 0, 0, 0]], dtype="int32")
    scores = nv.get_attention(model, x)["mha"]
    assert np.all(scores[1, :, :3, 3:] == 0.0)
    np.testing.assert_allclose(scores[1, :, :3].sum(-1), 1.0, atol=1e-5)
    assert np.all(scores[0] > 0)


# ----------------------------------------------------------------------------------------------
# Compile once, stream batches


def test_one_trace_for_many_calls_and_batch_sizes(cases):
    case = cases("transformer")
    probe = nva.attention_pass(case.model)
    nv.get_attention(case.model, case.x, batch_size=4)  # batches of 4 and 2
    nv.get_attention(case.model, case.x[:3])
    nv.get_attention(case.model, case.x, batch_size=32)
    assert nva.attention_pass(case.model) is probe
    assert nva.attention_pass(case.model, ["mha_1", "mha_2"]) is probe
    assert probe.trace_count == 1


def test_batching_and_datasets_give_the_same_weights(cases):
    case = cases("transformer_block")
    full = nv.get_attention(case.model, case.x)
    small = nv.get_attention(case.model, case.x, batch_size=4)
    ds = nv.get_attention(case.model, tf.data.Dataset.from_tensor_slices(case.x).batch(5))
    for path in full:
        np.testing.assert_allclose(small[path], full[path], atol=1e-6)
        np.testing.assert_allclose(ds[path], full[path], atol=1e-6)


# ----------------------------------------------------------------------------------------------
# Rollout


def test_rollout_matches_the_definition(cases):
    case = cases("transformer_block")
    att = nv.get_attention(case.model, case.x)
    r = nv.attention_rollout(case.model, case.x)
    n, t = len(case.x), case.x.shape[1]
    assert r.shape == (n, t, t)
    np.testing.assert_allclose(r.sum(-1), 1.0, atol=1e-5)
    eye = np.eye(t)
    expected = None
    for a in att.values():  # call order: encoder_1 first
        step = 0.5 * a.mean(axis=1) + 0.5 * eye
        step /= step.sum(-1, keepdims=True)
        expected = step if expected is None else step @ expected
    np.testing.assert_allclose(r, expected, atol=1e-5)


def test_rollout_options(cases):
    case = cases("transformer")
    mean = nv.attention_rollout(case.model, case.x)
    high = nv.attention_rollout(case.model, case.x, head_fusion="max")
    sharp = nv.attention_rollout(case.model, case.x, discard_ratio=0.5)
    assert not np.allclose(mean, high) and not np.allclose(mean, sharp)
    single = nva.rollout(
        {"a": nv.get_attention(case.model, case.x, "mha_1")["mha_1"]}, discard_ratio=0.5
    )
    # After dropping half of each row, a one-layer rollout keeps 5 of 10 keys plus the diagonal.
    assert np.all((single > 0).sum(-1) <= 6)
    for bad in ({"head_fusion": "median"}, {"discard_ratio": 1.0}, {"discard_ratio": -0.1}):
        with pytest.raises(nv.InvalidArgumentError):
            nv.attention_rollout(case.model, case.x, **bad)


def test_rollout_refuses_cross_attention(cases):
    case = cases("single_head_attention")
    with pytest.raises(nv.IncompatibleLayerError, match="self-attention"):
        nv.attention_rollout(case.model, case.x)


# ----------------------------------------------------------------------------------------------
# Attention must carry the signal: a trained model selects the flagged token


@pytest.fixture(scope="module")
def flagged():
    keras.utils.set_random_seed(0)
    train = nv.datasets.flagged_value(2048, seed=0)
    test = nv.datasets.flagged_value(256, seed=1)
    untrained = nv.datasets.flagged_value_transformer(name="flagged_untrained")
    model = nv.datasets.flagged_value_transformer()
    model.fit(train.x, train.y, epochs=4, batch_size=64, verbose=0)
    return model, untrained, test


def _cls_row(model, data):
    att = nv.get_attention(model, data.x)["attention"]  # (N, heads, T, T)
    return att[:, :, 0].mean(axis=1)  # CLS query, heads averaged: (N, T)


@pytest.mark.slow
def test_trained_attention_points_at_the_flagged_token(flagged):
    model, untrained, test = flagged
    accuracy = float((model.predict(test.x, verbose=0).argmax(-1) == test.y).mean())
    assert accuracy > 0.9, accuracy
    rows = np.arange(len(test.x))
    length = test.x.shape[1]
    cls = _cls_row(model, test)
    ratio = cls[rows, test.position] * length  # 1.0 = uniform attention
    assert np.median(ratio) >= 3.0, np.median(ratio)
    assert (cls.argmax(-1) == test.position).mean() >= 0.8
    r = nv.attention_rollout(model, test.x)
    assert (r[:, 0, 1:].argmax(-1) + 1 == test.position).mean() >= 0.8
    assert np.median(r[rows, 0, test.position] * length) >= 3.0
    # Control: the same architecture untrained does not pass the bar.
    before = _cls_row(untrained, test)
    assert np.median(before[rows, test.position] * length) < 2.0


# ----------------------------------------------------------------------------------------------
# Vision transformer: patch maps on the image


@pytest.fixture(scope="module")
def vit():
    keras.utils.set_random_seed(0)
    return nv.datasets.digits_vit(), nv.datasets.digits().test.x[:6]


@pytest.mark.slow
def test_vit_rollout_map_has_the_image_size(vit):
    model, x = vit
    assert nva.attention_layers(model) == ["encoder_1/mha", "encoder_2/mha"]
    assert set(nv.get_attention(model, x, layers=["encoder_1/attention"])) == {"encoder_1/mha"}
    r = nv.attention_rollout(model, x)
    assert r.shape == (6, 17, 17)
    maps = nv.patch_attention_map(r, x.shape[1:3])
    assert maps.shape == (6, *x.shape[1:3]) and maps.dtype == np.float32
    assert maps.min() == 0.0 and np.allclose(maps.max(axis=(1, 2)), 1.0)
    mean = nv.patch_attention_map(r, x.shape[1:3], query="mean")
    assert mean.shape == maps.shape and not np.allclose(mean, maps)
    one_layer = nv.get_attention(model, x, "encoder_2/mha")["encoder_2/mha"]
    assert nv.patch_attention_map(one_layer, (16, 16)).shape == (6, 16, 16)


def test_patch_map_puts_patches_where_they_belong():
    """A CLS row attending to one patch lights up that patch's pixels."""
    row = np.zeros((1, 17))
    row[0, 1 + 2 * 4 + 3] = 1.0  # patch (row 2, col 3) of a 4×4 grid
    heat = nv.patch_attention_map(row, (8, 8), normalize=False, prefix_tokens=1)
    assert np.unravel_index(heat[0].argmax(), (8, 8)) in {(4, 6), (4, 7), (5, 6), (5, 7)}
    assert nv.patch_attention_map(np.ones((2, 6, 6)), (4, 6), query="mean").shape == (2, 4, 6)
    with pytest.raises(nv.InvalidInputError, match="grid"):
        nv.patch_attention_map(np.ones((1, 7, 7)), (8, 8))
    with pytest.raises(nv.InvalidInputError, match="CLS"):
        nv.patch_attention_map(np.ones((1, 16, 16)), (8, 8), prefix_tokens=0)
    with pytest.raises(nv.InvalidInputError):
        nv.patch_attention_map(np.ones((1, 17, 17)), (8, 8), grid=(3, 3), prefix_tokens=1)


# ----------------------------------------------------------------------------------------------
# Bad input


def test_model_without_attention(zoo):
    with pytest.raises(nv.IncompatibleLayerError, match="no attention layer"):
        nv.get_attention(zoo("functional").model, zoo("functional").x)


def test_unknown_and_wrong_layers(cases):
    case = cases("transformer")
    with pytest.raises(nv.LayerNotFoundError, match="mha_1") as err:
        nv.get_attention(case.model, case.x, layers="mha_7")
    assert "Attention layers of this model" in str(err.value)
    with pytest.raises(nv.IncompatibleLayerError, match="not an attention layer"):
        nv.get_attention(case.model, case.x, layers="gap")
    with pytest.raises(nv.InvalidInputError):
        nv.get_attention(case.model, case.x[:, :5])
    with pytest.raises(nv.InvalidArgumentError, match="empty"):
        nv.get_attention(case.model, case.x, layers=[])


def test_flash_attention_layer_gets_a_clear_error():
    inp = keras.Input((5, 8))
    out = L.MultiHeadAttention(2, 4, flash_attention=True, name="fast")(inp, inp)
    model = keras.Model(inp, out)
    x = np.zeros((2, 5, 8), "float32")
    with pytest.raises(nv.IncompatibleLayerError, match="flash_attention=False") as err:
        nv.get_attention(model, x)
    assert isinstance(err.value, nv.NNVizError) and "'fast'" in str(err.value)


# ----------------------------------------------------------------------------------------------
# Other layouts: subclassed models, causal masks, 2-D attention, grouped-query, float16


class CausalModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.mha = L.MultiHeadAttention(2, 4, name="mha")
        self.spare = L.MultiHeadAttention(2, 4, name="spare")  # tracked, never called
        self.out = L.Dense(3)

    def call(self, x):
        return self.out(self.mha(x, x, use_causal_mask=True))


@pytest.mark.filterwarnings("ignore:`build\\(\\)` was called on layer:UserWarning")  # unused layer
def test_subclassed_model_with_causal_mask():
    model = CausalModel()
    x = np.random.default_rng(1).normal(size=(4, 6, 8)).astype("float32")
    model(x)
    scores = nv.get_attention(model, x, layers="mha")["mha"]
    assert scores.shape == (4, 2, 6, 6)
    assert np.all(scores[..., np.triu_indices(6, 1)[0], np.triu_indices(6, 1)[1]] == 0.0)
    with pytest.raises(nv.IncompatibleLayerError, match="not called"):
        nv.get_attention(model, x, layers="spare")


def test_image_attention_grouped_query_and_mixed_precision():
    rng = np.random.default_rng(2)
    img = keras.Input((4, 5, 8))
    seq = keras.Input((6, 8))
    out_2d = L.MultiHeadAttention(2, 4, attention_axes=(1, 2), name="mha_2d")(img, img)
    gqa = L.GroupQueryAttention(4, 4, num_key_value_heads=2, name="gqa")(seq, seq)
    half = L.MultiHeadAttention(2, 4, dtype="mixed_float16", name="mha_16")(seq, seq)
    model = keras.Model([img, seq], [out_2d, gqa, half])
    x = [
        rng.normal(size=(3, 4, 5, 8)).astype("float32"),
        rng.normal(size=(3, 6, 8)).astype("float32"),
    ]
    att = nv.get_attention(model, x)
    assert att["mha_2d"].shape == (3, 2, 20, 20)  # query and key positions flattened row-major
    assert att["gqa"].shape == (3, 4, 6, 6)
    assert att["mha_16"].dtype == np.float32
    for a in att.values():
        np.testing.assert_allclose(a.sum(-1), 1.0, atol=2e-3)


def test_attention_over_some_axes_is_refused_clearly():
    img = keras.Input((4, 5, 8))
    model = keras.Model(img, L.MultiHeadAttention(2, 4, attention_axes=(2,), name="rows")(img, img))
    with pytest.raises(nv.IncompatibleLayerError, match="attention_axes"):
        nv.get_attention(model, np.zeros((2, 4, 5, 8), "float32"))


@pytest.mark.filterwarnings("ignore:`build\\(\\)` was called on layer:UserWarning")
def test_errors_raised_while_tracing_keep_their_type():
    """Foundation fix: an NNVizError raised inside a tf.function trace is not a StagingError."""
    model = CausalModel()
    x = np.zeros((2, 6, 8), "float32")
    model(x)
    with pytest.raises(nv.IncompatibleLayerError, match="not called"):
        nv.get_activations(model, x, ["spare"])


def test_results_follow_the_call_order_not_the_layer_tree():
    class CallsTheLaterLayerFirst(L.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.made_first = L.MultiHeadAttention(2, 4, name="a_made_first")
            self.made_second = L.MultiHeadAttention(2, 4, name="b_made_second")

        def call(self, x):
            h = self.made_second(x, x)
            return self.made_first(h, h)

    inp = keras.Input((6, 8))
    model = keras.Model(inp, CallsTheLaterLayerFirst(name="block")(inp))
    x = np.random.default_rng(1).normal(size=(3, 6, 8)).astype("float32")
    assert nva.attention_layers(model) == ["block/a_made_first", "block/b_made_second"]
    att = nv.get_attention(model, x, batch_size=2)
    assert list(att) == ["block/b_made_second", "block/a_made_first"]
    rolled = nv.attention_rollout(model, x)
    np.testing.assert_allclose(rolled, nva.rollout(att), atol=1e-6)
    backwards = nva.rollout(dict(reversed(list(att.items()))))
    assert np.abs(rolled - backwards).max() > 1e-4  # the order matters, so the test can fail
