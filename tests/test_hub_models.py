"""Real-world KerasHub models: language-model targets, token attribution on a trained BERT
classifier, gradient flow on BERT and Llama, Grad-CAM on a ViT's patch embedding."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from keras_nnviz.errors import InvalidTargetError
from tests import hub

EMB = "gpt2_backbone/token_embedding"


def _lm_inputs():
    """Two prompts: sample 0 full (8 tokens), sample 1 padded after 5 tokens."""
    rng = np.random.default_rng(3)
    ids = rng.integers(5, hub.VOCABULARY, size=(2, 8)).astype("int32")
    mask = np.ones((2, 8), "int32")
    mask[1, 5:] = 0
    ids[1, 5:] = 0
    return {"token_ids": ids, "padding_mask": mask}


def _manual_embedding_gradient(lm, x, position, token):
    """Gradient × input of logit[i, position[i], token[i]] at the token embeddings, by a
    hand-written GPT-2 forward pass under tf.GradientTape (no keras_nnviz code)."""
    bb = lm.backbone
    tokens = bb.token_embedding(x["token_ids"])
    with tf.GradientTape() as tape:
        tape.watch(tokens)
        h = bb.embeddings_add((tokens, bb.position_embedding(tokens)))
        for block in bb.transformer_layers:
            h = block(h, decoder_padding_mask=x["padding_mask"])
        logits = bb.token_embedding(bb.layer_norm(h), reverse=True)
        rows = np.arange(len(position))
        score = tf.reduce_sum(tf.gather_nd(logits, np.stack([rows, position, token], 1)))
    return (tape.gradient(score, tokens) * tokens).numpy(), logits.numpy()


def test_causal_lm_default_target_is_the_next_token_after_the_prompt():
    lm = hub.gpt2_lm()
    x = _lm_inputs()
    last = x["padding_mask"].sum(axis=1) - 1  # [7, 4]
    _, logits = _manual_embedding_gradient(lm, x, last, np.zeros(2, int))
    predicted = logits[np.arange(2), last].argmax(axis=-1)
    grad, _ = _manual_embedding_gradient(lm, x, last, predicted)
    expected = grad.sum(axis=-1)  # gradient x input at a layer sums over the features
    ours = nv.gradient_x_input(lm, x, layer=EMB, signed=True, normalize=False)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6)
    # An int target is that token at the same position, for every sample.
    grad, _ = _manual_embedding_gradient(lm, x, last, np.array([9, 9]))
    ours = nv.gradient_x_input(lm, x, 9, layer=EMB, signed=True, normalize=False)
    np.testing.assert_allclose(ours, grad.sum(axis=-1), rtol=1e-4, atol=1e-6)
    # Nothing after the scored position can matter to a causal model.
    assert np.all(ours[1, 5:] == 0) and np.abs(ours[1, :5]).sum() > 0


def test_token_target_position_and_id():
    lm = hub.gpt2_lm()
    x = _lm_inputs()
    tokens = np.array([11, 12])
    grad, _ = _manual_embedding_gradient(lm, x, np.array([2, 2]), tokens)
    target = nv.targets.Token(token=tokens, position=2)
    ours = nv.gradient_x_input(lm, x, target, layer=EMB, signed=True, normalize=False)
    np.testing.assert_allclose(ours, grad.sum(axis=-1), rtol=1e-4, atol=1e-6)
    assert np.all(ours[:, 3:] == 0)
    # Negative positions count back from each sample's last real token.
    grad, _ = _manual_embedding_gradient(lm, x, np.array([6, 3]), tokens)
    back = nv.gradient_x_input(
        lm, x, nv.targets.Token(tokens, position=-2), layer=EMB, signed=True, normalize=False
    )
    np.testing.assert_allclose(back, grad.sum(axis=-1), rtol=1e-4, atol=1e-6)
    with pytest.raises(InvalidTargetError, match="position"):
        nv.saliency(lm, x, nv.targets.Token(position=1.5), layer=EMB)
    with pytest.raises(InvalidTargetError, match="out of range"):
        nv.saliency(lm, x, nv.targets.Token(token=hub.VOCABULARY), layer=EMB)
    with pytest.raises(InvalidTargetError, match="language model"):
        nv.saliency(hub.vit_classifier(), np.zeros((1, 32, 32, 3), "float32"), nv.targets.Token())
