"""Real-world KerasHub models: language-model targets, token attribution on a trained BERT
classifier, gradient flow on BERT and Llama, Grad-CAM on a ViT's patch embedding."""

from __future__ import annotations

import keras
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


@pytest.mark.slow
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


@pytest.mark.slow
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


# ----------------------------------------------------------------------------------------------
# Token attribution on a BERT classifier trained on a task whose answer is known


DECIDING = ("bad", "good")  # class 0 / class 1: that word, anywhere; class 2: neither
T = 8


@pytest.fixture(scope="module")
def trained_bert(tmp_path_factory):
    """The tiny KerasHub BERT classifier trained (a few seconds) on the deciding-token task,
    with a GradientFlow callback watching the training. A third class, "no deciding word",
    makes both words evidence (with two classes the model learns one word and its absence)."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    deciding = [hub.VOCAB.index(w) for w in DECIDING]
    noise = [i for i in range(5, len(hub.VOCAB)) if i not in deciding]
    n = 768
    ids = rng.choice(noise, size=(n, T)).astype("int32")
    position = rng.integers(0, T, size=n)
    y = rng.integers(0, 3, size=n)
    has = np.flatnonzero(y < 2)
    ids[has, position[has]] = np.array(deciding)[y[has]]
    x = {"token_ids": ids, "padding_mask": np.ones_like(ids), "segment_ids": np.zeros_like(ids)}
    model = hub.new_bert_classifier(num_classes=3)
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    probe = {k: v[:16] for k, v in x.items()}
    flow = nv.callbacks.GradientFlow(
        str(tmp_path_factory.mktemp("flow")), x=probe, y=y[:16], on_error="raise"
    )
    model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[flow])
    held = has[has >= n - 96]  # held-out samples that hold a deciding word
    return model, {k: v[held] for k, v in x.items()}, y[held], position[held], flow


@pytest.mark.slow
def test_token_integrated_gradients_on_a_trained_bert(trained_bert):
    model, x, y, position, _ = trained_bert
    logits = np.asarray(model(x, training=False))
    predicted = logits.argmax(axis=1)
    assert (predicted == y).mean() >= 0.9
    emb = nv.core.model.embedding_layer(model)
    assert emb.endswith("token_embedding")
    attr = nv.integrated_gradients(model, x, steps=64, signed=True, normalize=False)
    assert attr.shape == (len(position), T)  # the token embedding is the default layer
    # f(baseline): the default baseline at the token embedding is the padding token's ([PAD],
    # id 0) embedding at every position (no tokenizer: no special tokens kept)
    padded = dict(x, token_ids=np.zeros_like(x["token_ids"]))
    baseline = np.asarray(model(padded, training=False))
    rows = np.arange(len(predicted))
    gap = logits[rows, predicted] - baseline[rows, predicted]
    error = np.abs(attr.sum(axis=1) - gap) / np.abs(gap)
    assert error.max() <= 0.02, error.max()
    assert (attr.argmax(axis=1) == position).mean() >= 0.9


def test_gradient_flow_on_bert_and_llama(trained_bert):
    flow = trained_bert[-1]
    grads = flow.history["grad_norm"]
    assert any("token_embedding" in name for name in grads)
    snapshots = len(flow.history["epoch"])
    assert snapshots >= 3
    assert all(np.isfinite(v).all() and len(v) == snapshots for v in grads.values()), {
        k: v for k, v in grads.items() if not np.isfinite(v).all() or len(v) != snapshots
    }
    llama = hub.backbones()["llama"]
    inputs = hub.inputs(llama, n=2)
    target = np.zeros((2, 8, 32), "float32")
    rows = nv.gradient_flow(llama, inputs, target, loss="mse")
    # The embedding table gets a gradient (its IndexedSlices are made dense); the untied
    # output table is not used by a backbone, so its gradient is exactly zero.
    embedding = [r["grad_norm"] for r in rows if r["layer"].endswith("token_embedding")]
    assert max(embedding) > 0
    assert all(np.isfinite(r["grad_norm"]) for r in rows)


def test_grad_cam_on_the_patch_embedding_of_a_vit():
    vit = hub.vit_classifier()
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    from keras_nnviz.core.model import patch_layer

    layer = patch_layer(vit)
    assert layer.endswith("vit_patching_and_embedding")
    # A token layer of an image transformer is laid out on its patch grid, the CLS token
    # dropped (issue 23; before: one score per token, (2, 17)).
    grid = nv.grad_cam(vit, x, layer=layer, upsample=None, normalize=False)
    assert grid.shape == (2, 4, 4) and np.isfinite(grid).all() and grid.max() > 0
    maps = nv.grad_cam(vit, x, layer=layer)
    assert maps.shape == (2, 32, 32)
    # The patch grid is laid out row-major: the hottest patch is where the map peaks.
    hot = grid[0].argmax()
    row, col = np.unravel_index(maps[0].argmax(), (32, 32))
    assert (row // 8) * 4 + col // 8 == hot
