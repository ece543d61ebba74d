"""Moonshine (tiny random-init KerasHub MoonshineBackbone): attention captured at each
MultiHeadAttention's Softmax with the call kept off Keras' fused path, encoder self / decoder
self / cross-attention as three stacks, and the audio-text alignment."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.attention.layout import attention_layout, cross_paths, stacks
from keras_nnviz.core.inputs import prepare
from tests import hub

pytestmark = pytest.mark.slow

T_TEXT, T_AUDIO, SAMPLES = 6, 8, 3600  # 3600 samples: conv strides 64·3·2 -> 8 encoder steps


@pytest.fixture(scope="module")
def moonshine():
    keras.utils.set_random_seed(3)
    model = hub._hub().models.MoonshineBackbone(
        vocabulary_size=hub.VOCABULARY, filter_dim=16, encoder_num_layers=2,
        decoder_num_layers=2, hidden_dim=16, intermediate_dim=32, encoder_num_heads=2,
        decoder_num_heads=2, max_position_embeddings=32, initializer_range=0.5,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    audio_mask = np.ones((3, SAMPLES), bool)
    audio_mask[1, 2000:] = False  # sample 1: the audio ends early
    text_mask = np.ones((3, T_TEXT), bool)
    text_mask[2, 4:] = False  # sample 2: two padding tokens
    x = {
        "encoder_input_values": rng.normal(size=(3, SAMPLES, 1)).astype("float32"),
        "encoder_padding_mask": audio_mask,
        "decoder_token_ids": rng.integers(5, hub.VOCABULARY, (3, T_TEXT)).astype("int32"),
        "decoder_padding_mask": text_mask,
    }
    return model, x, nv.get_attention(model, x)


def _keys(model, stack):
    found = stacks(nv.attention.attention_layers(model), cross_paths(attention_layout(model)))
    return found[stack]


def test_every_attention_layer_is_captured_with_its_masks(moonshine):
    model, x, att = moonshine
    assert len(att) == 6
    encoder, decoder, cross = (
        _keys(model, s) for s in ("encoder self", "decoder self", "decoder cross")
    )
    assert encoder == [
        "encoder_block_0/self_attention_layer",
        "encoder_block_1/self_attention_layer",
    ]
    assert [k.split("/")[0] for k in decoder + cross] == ["decoder_block_0", "decoder_block_1"] * 2
    audio_kept = np.asarray(model(x)["encoder_attention_mask"]).astype(bool)  # (3, T_AUDIO)
    assert audio_kept[1].sum() < T_AUDIO and audio_kept[0].all()
    for key in encoder:
        assert att[key].shape == (3, 2, T_AUDIO, T_AUDIO)
    for key in decoder:
        assert att[key].shape == (3, 2, T_TEXT, T_TEXT)
        # causal: nothing above the diagonal; padded tokens are not keys
        assert np.all(np.triu(att[key], k=1) == 0)
        assert np.all(att[key][2, :, :, 4:] == 0)
    for key in cross:
        assert att[key].shape == (3, 2, T_TEXT, T_AUDIO)  # text queries, audio keys
    for key in encoder + cross:
        assert np.all(att[key][1][..., ~audio_kept[1]] == 0)  # audio after its end: no weight
    for a in att.values():
        np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)
    # the model's own probabilities, not a uniform stand-in
    assert att[cross[0]][0].std() > 0.01


def test_capturing_changes_neither_the_outputs_nor_the_model(moonshine, snapshot):
    model, x, _ = moonshine
    snap = snapshot(model)
    (batch,) = prepare(model, x).batches(32)
    result = nv.attention.attention_pass(model)(batch)
    snap.assert_unchanged()
    plain = model(x)  # Keras' fused attention path: equal up to float noise
    for name in ("encoder_sequence_output", "decoder_sequence_output"):
        np.testing.assert_allclose(
            np.asarray(result["outputs"][name]), np.asarray(plain[name]), atol=1e-5
        )


def test_rollout_is_per_stack(moonshine):
    model, x, att = moonshine
    encoder = _keys(model, "encoder self")
    r = nv.attention_rollout(model, x)  # the encoder's self-attention by default
    np.testing.assert_allclose(r, nv.attention.rollout({k: att[k] for k in encoder}), atol=1e-6)
    decoder = nv.attention_rollout(
        model, x, layers=["decoder_block_0/self_attention", "decoder_block_1/self_attention"]
    )
    assert decoder.shape == (3, T_TEXT, T_TEXT)
    assert np.all(np.triu(decoder, k=1) < 1e-7)  # token flow stays causal
    with pytest.raises(nv.errors.IncompatibleLayerError, match="decoder cross"):
        nv.attention_rollout(model, x, layers=list(att))
    square = {k: a[..., :T_TEXT, :T_TEXT] for k, a in att.items() if k.startswith("decoder")}
    with pytest.raises(nv.errors.IncompatibleLayerError, match="decoder cross"):
        # as square as self-attention, yet the layouts say which are cross-attention
        nv.attention.rollout(square, layouts=attention_layout(model))


def test_audio_text_alignment(moonshine):
    model, x, att = moonshine
    cross = nv.audio_text.cross_attention_layers(model)
    assert cross == _keys(model, "decoder cross")
    a = nv.audio_text_alignment(model, x)
    assert a.shape == (3, 2, 2, T_TEXT, T_AUDIO)
    np.testing.assert_allclose(a[:, 1], att[cross[1]], atol=1e-6)
    fig = nv.plot.audio_text_alignment(a[0, -1], list("abcdef"), step_seconds=0.024)
    assert fig.axes[0].get_xlabel() == "time (s)"


def test_lrp_runs_through_moonshines_attention(moonshine):
    # AttnLRP's attention rule re-issues the call the same way (its Softmax detached)
    model, x, _ = moonshine
    r = nv.lrp(model, x, target=0, output="decoder_post_norm", layer="token_embedding")
    assert r.shape == (3, T_TEXT) and np.all(np.isfinite(r))
