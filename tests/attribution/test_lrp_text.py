"""nv.lrp on KerasHub models trained on deciding-token tasks (issue 23): the token that decides
the answer is the top-relevance token, and relevance is conserved up to the biases."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from tests.attribution import _text_tasks as tasks


@pytest.mark.slow
@pytest.mark.parametrize("task", ["bert", "llama"])
def test_lrp_puts_the_deciding_token_on_top(task):
    model, x, answer, position = getattr(tasks, f"trained_{task}")()
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
