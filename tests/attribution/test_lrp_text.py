"""nv.lrp and token integrated gradients on KerasHub models trained on deciding-token tasks
(issue 23): the token that decides the answer is the top-attributed token, LRP's relevance is
conserved up to the biases and IG's attributions add up to f(x) - f(all padding)."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from tests.attribution import _text_tasks as tasks

# (sequences, epochs) per task. BERT trains longer than the tasks' default (768, 3), the
# benchmark's: there LRP's top-1 was 96.8 / 98.6 / 96.8 % over seeds 0-2, one sample above the
# 95 % asserted, and seed 2's f(x) - f(all padding) fell to 0.14 (IG's test asks > 1). With
# (1,024, 6): 98.4-100 % and gaps >= 4.9 over seeds 0-4, for about a second more training
# (benchmarks/README.md, "Text tasks: margins over seeds").
TRAINING = {"bert": (1024, 6), "llama": (640, 5)}


@pytest.mark.slow
@pytest.mark.parametrize("task", ["bert", "llama"])
def test_lrp_puts_the_deciding_token_on_top(task):
    model, x, answer, position = getattr(tasks, f"trained_{task}")(*TRAINING[task])
    logits = np.asarray(model(x, training=False))
    if logits.ndim == 3:  # causal LM: the next token after the last one
        logits = logits[:, -1]
    assert (logits.argmax(axis=1) == answer).mean() >= 0.95  # the model learned the task
    relevance = nv.lrp(model, x, signed=True, normalize=False)
    assert relevance.shape == (len(position), tasks.T)
    assert (relevance.argmax(axis=1) == position).mean() >= 0.95
    # what the map does not hold went to the biases (none in Llama)
    score = logits.max(axis=1)
    balance = relevance.sum(axis=1) + relevance.bias_relevance - score
    assert np.abs(balance).max() <= 1e-3 * np.abs(score).max() + 1e-4, balance


@pytest.mark.slow
@pytest.mark.parametrize("task", ["bert", "llama"])
def test_token_ig_puts_the_deciding_token_on_top(task):
    """Default options: the padding token's embedding as baseline, adaptive rule. The tasks
    teach padding as "no token", so the deciding token is what moves the score from the
    baseline's (see ``_text_tasks._sequences``)."""
    model, x, _, position = getattr(tasks, f"trained_{task}")(*TRAINING[task])  # cached
    x, position = {k: v[:32] for k, v in x.items()}, position[:32]  # IG's time ~ LRP test's
    maps = nv.integrated_gradients(model, x, signed=True, normalize=False)
    assert maps.shape == (len(position), tasks.T)
    assert (np.asarray(maps).argmax(axis=1) == position).mean() >= 0.95
    assert maps.completeness_error.max() <= 0.01
    # the sum is f(x) - f(baseline): the deciding token is necessary against that reference
    logits = np.asarray(model(x, training=False))
    padded = np.asarray(model(dict(x, token_ids=np.zeros_like(x["token_ids"])), training=False))
    if logits.ndim == 3:
        logits, padded = logits[:, -1], padded[:, -1]
    rows, predicted = np.arange(len(position)), logits.argmax(axis=1)
    gap = logits[rows, predicted] - padded[rows, predicted]
    assert np.allclose(np.asarray(maps).sum(axis=1), gap, rtol=0.02, atol=1e-3)
    assert gap.min() > 1.0


@pytest.mark.slow
def test_token_ig_and_lrp_on_a_trained_mistral():
    """A third family trained on the task (benchmarks/bench_token_ig.py --trained has them
    all): at random init, IG from the zero embedding was 63-70 % off on Mistral; with the
    defaults the attributions add up within 2 % and both methods find the deciding token."""
    model, x, answer, position = tasks.trained_mistral()
    x, answer, position = {k: v[:32] for k, v in x.items()}, answer[:32], position[:32]
    logits = np.asarray(model(x, training=False))[:, -1]
    assert (logits.argmax(axis=1) == answer).mean() >= 0.9
    maps = nv.integrated_gradients(model, x, signed=True, normalize=False)
    assert maps.completeness_error.max() <= 0.02
    assert (np.asarray(maps).argmax(axis=1) == position).mean() >= 0.9
    relevance = nv.lrp(model, x, signed=True, normalize=False)
    assert (relevance.argmax(axis=1) == position).mean() >= 0.9
    balance = relevance.sum(axis=1) + relevance.bias_relevance - logits.max(axis=1)
    assert np.abs(balance).max() <= 1e-3 * np.abs(logits).max() + 1e-4, balance
