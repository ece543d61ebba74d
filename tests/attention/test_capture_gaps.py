"""XLNet attention capture and GPT-OSS's attention sink, on tiny KerasHub configs."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.attention.layout import attention_layout
from tests import hub

pytestmark = pytest.mark.slow


def test_xlnet_attention_is_captured_per_layer_and_rolls_out():
    import keras_hub

    model = keras_hub.models.XLNetBackbone(
        vocabulary_size=hub.VOCABULARY,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
    )
    x = hub.inputs(model, length=8)
    att = nv.get_attention(model, x)
    assert list(att) == ["xlnet_encoder_0/rel_attn", "xlnet_encoder_1/rel_attn"]
    for a in att.values():
        assert a.shape == (3, 2, 8, 8)
        np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)
    assert not np.allclose(att["xlnet_encoder_0/rel_attn"][0], 1 / 8)  # not a uniform stand-in
    assert nv.attention_rollout(model, x).shape == (3, 8, 8)


def test_gpt_oss_sink_column_is_labelled_and_dropped_by_rollout():
    import keras_hub

    model = keras_hub.models.GptOssBackbone(
        vocabulary_size=hub.VOCABULARY,
        num_layers=2,
        num_query_heads=4,
        num_key_value_heads=2,
        hidden_dim=32,
        intermediate_dim=32,
        num_experts=2,
        top_k=1,
        head_dim=8,
    )
    x = hub.inputs(model, length=8)
    att = nv.get_attention(model, x)
    layout = attention_layout(model)
    for key, a in att.items():
        assert layout[key].sink, key
        assert a.shape == (3, 4, 8, 9)  # 8 tokens + the sink's column, documented as last
        np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)
    r = nv.attention_rollout(model, x)
    assert r.shape == (3, 8, 8)
    np.testing.assert_allclose(r.sum(-1), 1.0, atol=1e-5)
    with pytest.raises(nv.errors.IncompatibleLayerError, match="attention_layout"):
        nv.attention.rollout(att)  # without the layout the extra column is not a token
