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


def task_inputs(model, ids: np.ndarray) -> dict:
    """``model``'s input dict for token ids ``ids`` (N, T): no padding (``padding_mask`` all 1;
    the padding token is noise, see :func:`_sequences`), segment ids 0."""
    x = {}
    for t in model.inputs:
        if "padding_mask" in t.name:
            x[t.name] = np.ones_like(ids)
        elif "segment" in t.name:
            x[t.name] = np.zeros_like(ids)
        else:
            x[t.name] = ids
    return x


ANSWER_WORDS = ("hate", "love", "the")  # causal LM: what follows "bad" / "good" / neither


def train_on_task(
    build,
    causal: bool,
    *,
    n: int,
    epochs: int,
    lr: float,
    data_seed: int,
    held: int = 96,
    seed: int = 0,
    until: float | None = None,
    max_epochs: int = 0,
    report: dict | None = None,
):
    """Train the model ``build()`` returns on the deciding-token task ("bad" / "good" / neither
    decides): a classifier (3 classes) on the class, a causal LM on the token after the last one
    ("hate" / "love" / "the"; the loss is on the last position only). ``n`` training samples,
    ``held`` held out. Any KerasHub text classifier or CausalLM with a vocabulary of at least
    ``len(hub.VOCAB)`` ids works (its inputs are read from ``model.inputs``).

    With ``until``, training goes on one epoch at a time (up to ``max_epochs`` in all) while
    the accuracy on the first 256 training samples is below it. ``report`` (a dict), when
    given, receives ``epochs`` (trained), ``accuracy`` (on all ``held`` held-out samples, the
    "neither" class included) and ``train_accuracy``.

    Returns ``(model, held-out x, answer, deciding position)`` for the held-out samples that
    hold a deciding word; the answer is the class (classifier) or the answer token id (LM)."""
    keras.utils.set_random_seed(seed)
    deciding = [hub.VOCAB.index(w) for w in ("bad", "good")]
    ids, y, position, has = _sequences(n + held, deciding, data_seed)
    model = build()
    x = task_inputs(model, ids)
    target, weight, answer = y, None, y
    if causal:
        answer = np.array([hub.VOCAB.index(w) for w in ANSWER_WORDS])[y]
        target = np.zeros_like(ids)
        target[:, -1] = answer
        weight = np.zeros(ids.shape, "float32")
        weight[:, -1] = 1.0
    model.compile(
        keras.optimizers.Adam(lr),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    first = {k: v[:n] for k, v in x.items()}
    fit = dict(epochs=epochs, batch_size=32, verbose=0)
    if weight is not None:
        fit["sample_weight"] = weight[:n]
    model.fit(first, target[:n], **fit)

    def accuracy(rows: slice) -> float:
        out = np.asarray(model.predict({k: v[rows] for k, v in x.items()}, verbose=0))
        out = out[:, -1] if causal else out
        return float((out.argmax(axis=1) == answer[rows]).mean())

    trained = epochs
    while until is not None and trained < max_epochs and accuracy(slice(0, 256)) < until:
        model.fit(first, target[:n], **dict(fit, epochs=trained + 1, initial_epoch=trained))
        trained += 1
    if report is not None:
        report["epochs"] = trained
        report["accuracy"] = accuracy(slice(n, n + held))
        report["train_accuracy"] = accuracy(slice(0, 256))
    keep = has[has >= n]
    return model, {k: v[keep] for k, v in x.items()}, answer[keep], position[keep]


@functools.cache
def trained_bert(n: int = 768, epochs: int = 3, seed: int = 0):
    """BERT classifier (2 layers, width 32): "bad" -> class 0, "good" -> class 1, neither ->
    class 2. Returns ``(model, held-out x, y, deciding position)`` for held-out samples that
    hold a deciding word."""
    build = functools.partial(hub.new_bert_classifier, num_classes=3)
    return train_on_task(build, False, n=n, epochs=epochs, lr=2e-3, data_seed=seed, seed=seed)


@functools.cache
def trained_llama(n: int = 640, epochs: int = 5, seed: int = 0):
    """Llama causal LM (2 layers, width 32, GQA): the token after the last one is "love" when
    "good" is in the sequence, "hate" when "bad" is, "the" when neither is (the loss is on the
    last position only). Returns ``(model, held-out x, answer token ids, deciding position)`` for
    held-out samples that hold a deciding word."""

    return train_on_task(
        _decoder("Llama"), True, n=n, epochs=epochs, lr=3e-3, data_seed=seed + 1, seed=seed
    )


@functools.cache
def trained_mistral(n: int = 640, epochs: int = 5):
    """:func:`trained_llama`'s task on a Mistral causal LM (same sizes; the sliding window
    covers the 8 tokens, a shorter one would hide the first token from the last)."""
    build = _decoder("Mistral", sliding_window=T)
    return train_on_task(build, True, n=n, epochs=epochs, lr=3e-3, data_seed=1)


def _decoder(family: str, **extra):
    """A builder of ``{family}CausalLM`` (2 layers, width 32, 4 query / 2 key-value heads)."""

    def build():
        import keras_hub

        M = keras_hub.models
        backbone = getattr(M, f"{family}Backbone")(
            vocabulary_size=len(hub.VOCAB),
            num_layers=2,
            num_query_heads=4,
            num_key_value_heads=2,
            hidden_dim=32,
            intermediate_dim=64,
            **extra,
        )
        return getattr(M, f"{family}CausalLM")(backbone=backbone, preprocessor=None)

    return build
