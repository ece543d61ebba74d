"""Attention of the KerasHub transformers and LLMs people run: every class, masks honoured."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.core import graph
from tests import hub

pytestmark = pytest.mark.slow

HEADS = {"llama": 4, "gemma": 4, "mistral": 4, "qwen": 4, "phi3": 4}  # query heads, not KV heads
CALLS = {"t5": 6, "whisper": 6}  # encoder self + decoder self + decoder cross


@pytest.fixture(scope="module")
def models():
    return hub.backbones()


NAMES = [
    "bert",
    "distilbert",
    "gpt2",
    "llama",
    "gemma",
    "mistral",
    "qwen",
    "phi3",
    "deberta",
    "t5",
    "whisper",
    "albert",
    "vit",
]


@pytest.mark.parametrize("name", NAMES)
def test_every_attention_call_is_captured_as_probabilities(models, name):
    model = models[name]
    x = hub.inputs(model)
    att = nv.get_attention(model, x)
    assert len(att) == CALLS.get(name, 2), list(att)
    padded = "padding_mask" in x or "decoder_padding_mask" in x
    for path, a in att.items():
        n, heads, tq, tk = a.shape
        assert n == 3 and heads == HEADS.get(name, 2), (path, a.shape)
        np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-4, err_msg=path)
        if name in hub.CAUSAL or ("decoder" in path and "self" in path):
            assert np.abs(np.triu(a, 1)).max() < 1e-6, f"{path}: attends to the future"
        if padded and tq == tk == 8 and name not in ("vit",):
            # Sample 1 is padded from position 6: no real query looks at a padded key.
            assert np.abs(a[1, :, :6, 6:]).max() < 1e-6, f"{path}: attends to padding"


def test_albert_shared_layer_reports_every_call():
    import keras_hub

    model = keras_hub.models.AlbertBackbone(
        vocabulary_size=64,
        num_layers=3,
        num_heads=2,
        embedding_dim=16,
        hidden_dim=32,
        intermediate_dim=64,
        num_groups=1,
        num_inner_repetitions=1,
        max_sequence_length=16,
    )
    att = nv.get_attention(model, hub.inputs(model))
    assert len(att) == 3  # one shared layer, called three times
    (first, *later) = att
    assert later == [f"{first}@1", f"{first}@2"]
    assert not np.allclose(att[first], att[later[0]])  # different inputs, different maps
    rollout = nv.attention_rollout(model, hub.inputs(model))
    assert rollout.shape == (3, 8, 8)


def test_llama_probabilities_equal_an_explicit_recomputation(models):
    """Independent of the capture: q, k from the layer's weights, RoPE, masked softmax."""
    import keras
    import tensorflow as tf

    model = models["llama"]
    x = hub.inputs(model)
    path = "transformer_layer_0/self_attention"
    layer = graph.find_layer(model, path)
    seen = {}

    def hook(lyr, call, args, kwargs):
        seen["h"] = args[0] if args else kwargs["hidden_states"]
        seen["mask"] = kwargs.get("attention_mask")
        return call(*args, **kwargs)

    flat = [tf.constant(x[t.name]) for t in model.inputs]
    graph.forward(model, flat, {id(layer): (layer, hook)})
    h = seen["h"]
    q = layer.rotary_embedding_layer(layer._query_dense(h))
    k = layer.rotary_embedding_layer(layer._key_dense(h))
    k = keras.ops.repeat(k, layer.num_key_value_groups, axis=2)
    logits = np.einsum("bqhd,bkhd->bhqk", np.asarray(q), np.asarray(k)) * float(
        layer._inv_norm_factor
    )
    mask = np.asarray(seen["mask"]).astype(bool)[:, None]
    logits = np.where(mask, logits, -np.inf)
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    got = nv.get_attention(model, x, [path])[path]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_mha_probabilities_equal_the_layers_own_scores(models):
    """BERT's MultiHeadAttention asked directly for its scores on the same inputs."""
    import tensorflow as tf

    model = models["bert"]
    x = hub.inputs(model)
    path = "transformer_layer_1/self_attention_layer"
    layer = graph.find_layer(model, path)
    seen = {}

    def hook(lyr, call, args, kwargs):
        # The layer's own call, asked for its scores on the inputs it really received.
        out, scores = call(*args, **{**kwargs, "return_attention_scores": True})
        seen["scores"] = scores
        return out

    flat = [tf.constant(x[t.name]) for t in model.inputs]
    graph.forward(model, flat, {id(layer): (layer, hook)})
    got = nv.get_attention(model, x, [path])[path]
    np.testing.assert_allclose(got, np.asarray(seen["scores"]), atol=1e-5)


def test_where_nothing_can_be_captured_the_error_names_the_class():
    import keras

    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(2)(inp))
    with pytest.raises(nv.IncompatibleLayerError, match="no attention layer"):
        nv.get_attention(model, np.ones((1, 4), "float32"))
