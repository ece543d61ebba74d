"""Vision-language generation (tiny KerasHub PaliGemma and Gemma 3, random weights) and speech
alignment (tiny Whisper): shapes, plumbing, completeness of the image / text split, maps that
follow the image, and the plots."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz import vlm
from keras_nnviz.core.compiled import cached_passes
from tests import hub
from tests.bad_input import assert_named_error

IMAGE_TOKEN = 3  # Gemma 3's image placeholder in these tests


@pytest.fixture(scope="module")
def paligemma():
    keras.utils.set_random_seed(7)
    M = hub._hub().models
    backbone = M.PaliGemmaBackbone(
        vocabulary_size=64, image_size=16, num_layers=2, num_query_heads=2,
        num_key_value_heads=1, hidden_dim=16, intermediate_dim=32, head_dim=8,
        vit_patch_size=4, vit_num_heads=2, vit_hidden_dim=16, vit_num_layers=1,
        vit_intermediate_dim=32,
    )  # fmt: skip
    return M.PaliGemmaCausalLM(backbone=backbone, preprocessor=None)


@pytest.fixture(scope="module")
def gemma3():
    keras.utils.set_random_seed(7)
    M = hub._hub().models
    encoder = M.Gemma3VisionEncoder(
        image_size=16, patch_size=4, num_heads=2, hidden_dim=16, num_layers=1,
        intermediate_dim=32, output_dim=16, pool_size=1,
    )  # fmt: skip
    backbone = M.Gemma3Backbone(
        vocabulary_size=64, image_size=16, num_layers=2, num_query_heads=2,
        num_key_value_heads=1, hidden_dim=16, intermediate_dim=32, head_dim=8,
        vision_encoder=encoder,
    )  # fmt: skip
    return M.Gemma3CausalLM(backbone=backbone, preprocessor=None)


def _data(n=2, steps=6, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 64, (n, steps)).astype("int32")
    ids[1, 4:] = 0  # the second prompt is padded
    return rng.random((n, 16, 16, 3)).astype("float32"), ids


@pytest.fixture(scope="module")
def pali_ig(paligemma):
    images, ids = _data()
    return images, ids, nv.vlm_attribution(paligemma, images, ids)


@pytest.mark.slow
def test_paligemma_integrated_gradients_split_the_score(paligemma, pali_ig):
    images, ids, r = pali_ig
    assert r.image.shape == (2, 4, 4) and r.text.shape == (2, 6)
    assert np.all(r.text[1, 4:] == 0)  # padding gets nothing
    change = r.score - r.baseline_score
    # complete: the patches' and tokens' attributions add up to the score's change
    assert np.all(np.abs(r.image_total + r.text_total - change) <= 0.05 * np.abs(change) + 1e-3)
    assert np.all(r.completeness_error <= 0.05 * np.abs(change) + 1e-3)
    np.testing.assert_allclose(r.image_share + r.text_share, 1.0, rtol=1e-6)
    assert np.all(r.image_share > 0) and np.all(r.text_share > 0)
    # the token explained is the one the model predicts after each prompt's last real token
    np.testing.assert_array_equal(r.position, [5, 3])
    x, _ = vlm.model_inputs(paligemma, images, ids)
    named = {t.name: v for t, v in zip(paligemma.inputs, x)}
    logits = np.asarray(paligemma(named, training=False))
    np.testing.assert_array_equal(r.token, logits[[0, 1], r.position].argmax(-1))
    np.testing.assert_allclose(r.score, logits[[0, 1], r.position, r.token], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_paligemma_map_follows_the_image_without_retracing(paligemma, pali_ig):
    images, ids, first = pali_ig
    traces = {k: p.trace_count for k, p in cached_passes(paligemma).items()}
    other = nv.vlm_attribution(paligemma, images[::-1].copy(), ids)
    assert not np.allclose(other.image, first.image, atol=1e-4)
    one_by_one = nv.vlm_attribution(paligemma, images, ids, batch_size=1)
    np.testing.assert_allclose(one_by_one.image, first.image, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(one_by_one.text, first.text, rtol=1e-3, atol=1e-5)
    for key, compiled in cached_passes(paligemma).items():
        if key in traces:
            assert compiled.trace_count == traces[key]


@pytest.mark.slow
def test_paligemma_text_to_image_attention(paligemma):
    images, ids = _data()
    att = nv.text_to_image_attention(paligemma, images, ids)
    assert list(att) == [
        "pali_gemma_backbone/decoder_block_0/attention",
        "pali_gemma_backbone/decoder_block_1/attention",
    ]
    a = att["pali_gemma_backbone/decoder_block_1/attention"]
    assert a.shape == (2, 2, 6, 4, 4)
    mass = a.sum(axis=(-1, -2))
    assert np.all(mass > 0) and np.all(mass <= 1 + 1e-5)  # the rest goes to the text
    b = nv.text_to_image_attention(paligemma, images[::-1].copy(), ids)
    assert not np.allclose(b["pali_gemma_backbone/decoder_block_1/attention"], a)


@pytest.mark.slow
def test_gemma3_image_tokens_inside_the_prompt(gemma3):
    images, ids = _data()
    tokens = gemma3.backbone.num_vision_tokens_per_image
    prompts = np.concatenate([ids[:, :2], np.full((2, tokens), IMAGE_TOKEN), ids[:, 2:]], 1)
    r = nv.vlm_attribution(gemma3, images, prompts, image_token_id=IMAGE_TOKEN)
    assert r.image.shape == (2, 4, 4) and r.text.shape == prompts.shape
    change = r.score - r.baseline_score
    assert np.all(r.completeness_error <= 0.05 * np.abs(change) + 1e-3)
    placeholders = prompts == IMAGE_TOKEN  # overwritten by image tokens: no text attribution
    assert np.all(r.text[placeholders] == 0)
    att = nv.text_to_image_attention(gemma3, images, prompts, image_token_id=IMAGE_TOKEN)
    assert all(a.shape == (2, 2, prompts.shape[1], 4, 4) for a in att.values())


@pytest.mark.slow
def test_whisper_cross_attention_alignment():
    whisper = hub._hub().models.WhisperBackbone(
        vocabulary_size=64, num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64,
        num_mels=8, max_encoder_sequence_length=16, max_decoder_sequence_length=8,
    )  # fmt: skip
    x = hub.inputs(whisper)
    a = nv.audio_text_alignment(whisper, x)
    assert nv.audio_text.cross_attention_layers(whisper) == [
        "transformer_decoder_layer_0/cross_attention",
        "transformer_decoder_layer_1/cross_attention",
    ]
    assert a.shape == (3, 2, 2, 8, 4)  # 8 feature frames -> 4 encoder steps
    np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)


def _self_attention_model() -> keras.Model:
    """A model with attention but no cross-attention and no vision tower."""
    x = keras.Input((4, 8))
    y = keras.layers.MultiHeadAttention(2, 4, name="self_attention")(x, x)
    return keras.Model(x, keras.layers.Dense(2)(y))


def test_bad_arguments_are_named(paligemma, gemma3):
    images, ids = _data()
    assert_named_error(
        lambda: nv.vlm_attribution(paligemma, images, ids, method="grad_cam"),
        nv.InvalidArgumentError, "integrated_gradients",
    )  # fmt: skip
    assert_named_error(
        lambda: nv.vlm_attribution(paligemma, images, ids, steps=0),
        nv.InvalidArgumentError, "steps",
    )  # fmt: skip
    assert_named_error(
        lambda: nv.vlm_attribution(paligemma, images, ids.astype("float32")),
        nv.InvalidInputError, "token ids",
    )  # fmt: skip
    assert_named_error(
        lambda: nv.vlm_attribution(paligemma, images[:1], ids),
        nv.InvalidInputError, "1 images and 2 prompts",
    )  # fmt: skip
    assert_named_error(
        lambda: vlm.model_inputs(gemma3, images, ids), nv.InvalidArgumentError, "image_token_id"
    )
    assert_named_error(
        lambda: vlm.model_inputs(gemma3, images, ids, image_token_id=IMAGE_TOKEN),
        nv.InvalidInputError, "placeholders",
    )  # fmt: skip
    assert_named_error(
        lambda: nv.vlm_attribution(paligemma.backbone, images, ids),
        nv.IncompatibleLayerError, "causal lm",
    )  # fmt: skip
    assert_named_error(
        lambda: nv.audio_text_alignment(_self_attention_model(), np.zeros((1, 4, 8))),
        nv.IncompatibleLayerError, "cross-attention",
    )  # fmt: skip


def test_vision_layer(paligemma, gemma3):
    assert vlm.vision_layer(paligemma) == "pali_gemma_backbone/pali_gemma_vit"
    assert vlm.vision_layer(gemma3) == "gemma3_backbone/gemma3_vision_encoder"
    assert_named_error(
        lambda: vlm.vision_layer(_self_attention_model()), nv.IncompatibleLayerError, "vision"
    )


def test_plots_render():
    rng = np.random.default_rng(0)
    fig = nv.plot.vlm_attribution(
        rng.random((16, 16, 3)), rng.normal(size=(4, 4)), ["a", "red", "car"],
        rng.normal(size=5), image_share=0.3, generated="car",
    )  # fmt: skip
    assert len(nv.plot.to_png(fig)) > 1000
    weights = rng.random((2, 3, 8, 20))
    fig = nv.plot.audio_text_alignment(weights, list("abcdefgh"), step_seconds=0.02)
    assert fig.axes[0].get_xlabel() == "time (s)"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list("abcdefgh")
    assert_named_error(
        lambda: nv.plot.vlm_attribution(np.zeros((8, 8, 3)), np.zeros((2, 2)), list("abc"), [1.0]),
        nv.InvalidInputError, "3 tokens",
    )  # fmt: skip
    assert_named_error(
        lambda: nv.plot.audio_text_alignment(np.zeros((3, 4)), ["a"]),
        nv.InvalidInputError, "1 tokens for 3 rows",
    )  # fmt: skip
