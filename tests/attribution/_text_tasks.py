"""Deciding-token tasks on tiny KerasHub models, trained in seconds (issue 23): one token decides
the answer, every other token is noise, so a faithful token attribution puts the deciding token
on top. Shared by tests/attribution/test_lrp_text.py and benchmarks/bench_fidelity.py."""

from __future__ import annotations

import functools

import keras
import numpy as np

from tests import hub

T = 8
PAD = 0


def _sequences(n: int, deciding: list[int], seed: int):
    """Noise token ids with one deciding token at a random position; class = which one, class
    ``len(deciding)`` = none (the sample has no deciding token).

    The padding token is noise too: each sample replaces a random share (0 to 100 %) of its
    noise tokens by it, so the model learns that padding means "no token". Token IG's default
    baseline (the padding token at every position) is then an input of the "none" class, and
    the deciding token is what moves the score away from it. Without this the all-padding
    sequence is one the model never saw, its score is an extrapolation, and where it lands on a
    class's logit (an earlier version of these tasks: the all-padding Llama input scored "hate"
    at full confidence) replacing that class's word by padding changes nothing, so IG rightly
    gives it nothing: "the deciding token" did not decide against that reference."""
    rng = np.random.default_rng(seed)
    noise = [i for i in range(5, len(hub.VOCAB)) if i not in deciding]
    ids = rng.choice(noise, size=(n, T)).astype("int32")
    padded = rng.random((n, T)) < rng.random((n, 1))
    ids[padded] = PAD
    position = rng.integers(0, T, size=n)
    y = rng.integers(0, len(deciding) + 1, size=n)
    has = np.flatnonzero(y < len(deciding))
    ids[has, position[has]] = np.array(deciding)[y[has]]
    return ids, y, position, has


@functools.cache
def trained_bert(n: int = 768, epochs: int = 3, seed: int = 0):
    """BERT classifier (2 layers, width 32): "bad" -> class 0, "good" -> class 1, neither ->
    class 2. Returns ``(model, held-out x, y, deciding position)`` for held-out samples that
    hold a deciding word."""
    keras.utils.set_random_seed(seed)
    deciding = [hub.VOCAB.index(w) for w in ("bad", "good")]
    held = 96
    ids, y, position, has = _sequences(n + held, deciding, seed)
    x = {"token_ids": ids, "padding_mask": np.ones_like(ids), "segment_ids": np.zeros_like(ids)}
    model = hub.new_bert_classifier(num_classes=3)
    model.compile(
        keras.optimizers.Adam(2e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit({k: v[:n] for k, v in x.items()}, y[:n], epochs=epochs, batch_size=32, verbose=0)
    keep = has[has >= n]
    return model, {k: v[keep] for k, v in x.items()}, y[keep], position[keep]


@functools.cache
def trained_llama(n: int = 640, epochs: int = 5, seed: int = 0):
    """Llama causal LM (2 layers, width 32, GQA): the token after the last one is "love" when
    "good" is in the sequence, "hate" when "bad" is, "the" when neither is (the loss is on the
    last position only). Returns ``(model, held-out x, answer token ids, deciding position)`` for
    held-out samples that hold a deciding word."""
    keras.utils.set_random_seed(seed)
    deciding = [hub.VOCAB.index(w) for w in ("bad", "good")]
    answers = np.array([hub.VOCAB.index(w) for w in ("hate", "love", "the")])
    held = 96
    ids, y, position, has = _sequences(n + held, deciding, seed + 1)
    x = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    target = np.zeros_like(ids)
    target[:, -1] = answers[y]
    weight = np.zeros(ids.shape, "float32")
    weight[:, -1] = 1.0
    import keras_hub

    M = keras_hub.models
    backbone = M.LlamaBackbone(
        vocabulary_size=len(hub.VOCAB),
        num_layers=2,
        num_query_heads=4,
        num_key_value_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
    )
    model = M.LlamaCausalLM(backbone=backbone, preprocessor=None)
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    first = {k: v[:n] for k, v in x.items()}
    model.fit(first, target[:n], sample_weight=weight[:n], epochs=epochs, batch_size=32, verbose=0)
    keep = has[has >= n]
    return model, {k: v[keep] for k, v in x.items()}, answers[y[keep]], position[keep]
