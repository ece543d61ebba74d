"""Rollout of encoder-decoders: one stack at a time, never encoder, decoder and cross as a chain."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.attention.windows import Layout
from keras_nnviz.errors import IncompatibleLayerError
from tests import hub


@pytest.mark.slow
def test_t5_rollout_is_the_encoders_and_mixed_stacks_are_refused():
    import keras_hub

    # T5 alone (hub.backbones() builds every family)
    model = keras_hub.models.T5Backbone(
        vocabulary_size=hub.VOCABULARY,
        num_layers=2,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        key_value_dim=16,
    )
    x = hub.inputs(model, length=8)
    att = nv.get_attention(model, x)
    encoder = [k for k in att if "encoder" in k]
    r = nv.attention_rollout(model, x)
    np.testing.assert_allclose(r, nv.attention.rollout({k: att[k] for k in encoder}), atol=1e-6)
    with pytest.raises(IncompatibleLayerError, match="decoder cross"):
        nv.attention.rollout(att)  # all 8x8: multiplying them would silently succeed
    with pytest.raises(IncompatibleLayerError, match="stacks"):  # refused before compiling
        nv.attention_rollout(model, x, layers=[k for k in att if "decoder" in k])
    decoder = {k: a for k, a in att.items() if "decoder" in k and "cross" not in k}
    assert nv.attention.rollout(decoder).shape == (3, 8, 8)


def test_rollout_without_grids_names_what_would_work():
    maps = {"a": np.full((1, 1, 4, 4), 0.25), "b": np.full((1, 1, 2, 2), 0.5)}
    with pytest.raises(IncompatibleLayerError, match="attention_layout"):
        nv.attention.rollout(maps)


def test_reduced_keys_are_spread_over_the_query_grid():
    # 4x4 queries, 2x2 reduced keys: all weight on key 0 flows evenly to the 4 tokens it reduces
    a = np.zeros((1, 1, 16, 4), np.float32)
    a[..., 0] = 1.0
    layout = {"sr": Layout(query_grid=(4, 4), key_grid=(2, 2))}
    r = nv.attention.rollout({"sr": a}, layouts=layout)
    expected = np.zeros(16)
    expected[[0, 1, 4, 5]] = 0.5 * 0.25
    np.testing.assert_allclose(r[0, 15], expected + 0.5 * np.eye(16)[15], atol=1e-6)


def test_a_sink_column_is_dropped_before_rolling_out():
    a = np.full((1, 1, 3, 4), 0.25, np.float32)  # 3 tokens + a sink column
    r = nv.attention.rollout({"s": a}, layouts={"s": Layout(sink=True)})
    assert r.shape == (1, 3, 3)
    np.testing.assert_allclose(r.sum(-1), 1.0, atol=1e-6)


@pytest.mark.slow
def test_block_rollout_of_a_model_whose_tokens_change_says_to_drop_block():
    import keras_hub

    model = keras_hub.models.MiTBackbone(
        layerwise_depths=[1, 1],
        num_layers=2,
        layerwise_num_heads=[1, 1],
        layerwise_sr_ratios=[2, 1],
        max_drop_path_rate=0.0,
        layerwise_patch_sizes=[3, 3],
        layerwise_strides=[2, 2],
        image_shape=(16, 16, 3),
        hidden_dims=[8, 8],
    )
    with pytest.raises(IncompatibleLayerError, match="block=None"):
        nv.attention_rollout(model, np.zeros((1, 16, 16, 3), "float32"), block=2)
