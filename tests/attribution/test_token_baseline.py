"""Token integrated gradients: baselines that mean "no token" (the padding token's embedding,
special tokens and padding kept), every baseline form, bad baselines, and completeness on tiny
KerasHub language models and classifiers (issue 23)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.errors import InvalidArgumentError
from tests import hub
from tests.bad_input import assert_named_error

L = keras.layers
V, T, D = 20, 6, 8


@pytest.fixture(scope="module")
def text():
    """Ids -> Embedding -> LayerNormalization -> pooled -> Dense: scale-invariant in the
    embedding like a transformer, so zero is a poor baseline."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((T,), dtype="int32", name="ids")
    e = L.Embedding(V, D, name="embedding")(inputs)
    h = L.LayerNormalization(name="norm")(L.Dense(D, activation="tanh", name="mix")(e))
    outputs = L.Dense(3, name="logits")(L.GlobalAveragePooling1D(name="pool")(h))
    model = keras.Model(inputs, outputs)
    ids = np.random.default_rng(0).integers(1, V, size=(4, T)).astype("int32")
    ids[0, 0] = 0  # a padding token: id 0, the reference, keeps its embedding
    ids[1, 1] = 7
    return model, ids


def _ig(model, ids, **kwargs):
    return nv.integrated_gradients(model, ids, 0, signed=True, normalize=False, **kwargs)


def _score_with(model, ids, emb_baseline):
    """f with the embedding output replaced: the head applied to given embeddings."""
    h = model.get_layer("norm")(model.get_layer("mix")(emb_baseline))
    return np.asarray(model.get_layer("logits")(np.mean(np.asarray(h), axis=1)))[:, 0]


@pytest.mark.slow
def test_default_baseline_is_the_padding_token_and_adds_up(text):
    model, ids = text
    maps = _ig(model, ids)
    assert maps.shape == (4, T) and maps.converged.all()
    emb = model.get_layer("embedding")
    gap = _score_with(model, ids, emb(ids)) - _score_with(model, ids, emb(np.zeros_like(ids)))
    np.testing.assert_allclose(maps.sum(1), gap, rtol=0.02, atol=1e-4)
    assert maps[0, 0] == 0.0  # the padding token is its own baseline: no attribution
    # the same as the explicit forms of that baseline
    np.testing.assert_allclose(_ig(model, ids, baseline=0, steps=16), _ig(model, ids, steps=16))
    table = np.asarray(emb.embeddings)
    np.testing.assert_allclose(
        _ig(model, ids, baseline=table[0], steps=16), _ig(model, ids, steps=16), atol=1e-6
    )


def test_reference_token_and_kept_tokens(text):
    model, ids = text
    maps = _ig(model, ids, baseline=3, keep_tokens=[7])
    emb = model.get_layer("embedding")
    kept = np.isin(ids, [3, 7])
    assert (maps[kept] == 0).all() and (maps[~kept] != 0).all()
    reference = np.where(kept, ids, 3)
    gap = _score_with(model, ids, emb(ids)) - _score_with(model, ids, emb(reference))
    np.testing.assert_allclose(maps.sum(1), gap, rtol=0.02, atol=1e-4)


def test_callable_and_array_baselines(text):
    model, ids = text
    emb = model.get_layer("embedding")
    by_ids = _ig(model, ids, baseline=lambda t: np.full_like(t, 5), steps=16)
    by_emb = _ig(model, ids, baseline=lambda t: np.asarray(emb(np.full_like(t, 5))), steps=16)
    np.testing.assert_allclose(by_ids, by_emb, atol=1e-6)
    per_sample = np.asarray(emb(np.full_like(ids, 5)))
    np.testing.assert_allclose(_ig(model, ids, baseline=per_sample, steps=16), by_ids, atol=1e-6)
    np.testing.assert_allclose(_ig(model, ids, baseline=per_sample[0], steps=16), by_ids, atol=1e-6)
    zero = _ig(model, ids, baseline=0.0, steps=16)  # the zero embedding, as before
    assert not np.allclose(zero, by_ids)


@pytest.mark.parametrize(
    "baseline, phrase",
    [
        ("pad", "token id"),
        (True, "token id"),
        (99, "not a token id"),
        (-1, "not a token id"),
        (np.zeros(5, "float32"), "embedding of shape (8,)"),
        (lambda t: t[:, :2], "must return token ids of that shape"),
        (lambda t: np.full_like(t, 50), "not a token id"),
    ],
    ids=["string", "bool", "id-too-large", "negative-id", "wrong-dim", "callable-shape", "cb-id"],
)
def test_bad_token_baselines(text, baseline, phrase):
    model, ids = text
    assert_named_error(lambda: _ig(model, ids, baseline=baseline), InvalidArgumentError, phrase)


def test_bad_keep_tokens(text):
    model, ids = text
    assert_named_error(
        lambda: _ig(model, ids, keep_tokens=["[CLS]"]), InvalidArgumentError, "keep_tokens"
    )


@pytest.mark.slow
@pytest.mark.parametrize("family", ["llama", "bert"])
def test_token_ig_adds_up_on_hub_families(family):
    """Completeness <= 2 % with the default options (zero embeddings: Llama 5-64 %)."""
    models = hub._hub().models
    if family == "llama":
        backbone = models.LlamaBackbone(
            vocabulary_size=64,
            num_layers=2,
            hidden_dim=32,
            intermediate_dim=64,
            num_query_heads=4,
            num_key_value_heads=2,
        )
        model = models.LlamaCausalLM(backbone, preprocessor=None)
    else:
        model = hub.bert_classifier()
    x = hub.inputs(model, n=3)
    x["token_ids"] = x["token_ids"] % 30 + 5  # within every vocabulary (BERT's has 37)
    maps = nv.integrated_gradients(model, x, signed=True, normalize=False)
    assert maps.shape == (3, 8)
    assert maps.completeness_error.max() <= 0.02, maps.completeness_error
    assert (maps[1, 6:] == 0).all()  # padding positions keep their embedding
