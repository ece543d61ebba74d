"""Many models in one process: no spurious "triggered tf.function retracing" warning.

TensorFlow warns when one Python function is traced again and again; it keys that count on the
wrapped function's code object, which a lambda, closure or bound method shares with every other
pass of every other model. Each family's passes go through ``core.compiled``, which wraps a
``functools.partial`` (no code object), so six models compiled one after the other are six
separate functions, each traced once.
"""

from __future__ import annotations

import logging
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from keras_nnviz import objectives as O

L = keras.layers
RETRACING = "triggered tf.function retracing"
# TensorFlow warns from the fifth trace of one function on; six models leave a margin, and the
# control below shows that this many are enough to trigger it.
MODELS = 6


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def logged():
    """Every message of TensorFlow's and absl's loggers and every Python warning, while active."""
    handler = _Collect()
    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl", "")]
    for logger in loggers:
        logger.addHandler(handler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield lambda: handler.messages + [str(w.message) for w in caught]
    for logger in loggers:
        logger.removeHandler(handler)


def _attention(i: int, tokens):
    kind = i % 4
    if kind == 0:
        return L.MultiHeadAttention(2, 4, name="attention")(tokens, tokens)
    if kind == 1:
        return L.Attention(name="attention")([tokens, tokens])
    if kind == 2:
        return L.MultiHeadAttention(1, 6, name="attention")(tokens, tokens)
    return L.AdditiveAttention(name="attention")([tokens, tokens])


def _rnn(i: int):
    return [
        L.LSTM(5, name="rnn"),
        L.GRU(4, name="rnn"),
        L.SimpleRNN(3, name="rnn"),
        L.Bidirectional(L.LSTM(2), name="rnn"),
    ][i % 4]


def _model(i: int) -> tuple[keras.Model, str]:
    """Different small image models, each with a conv layer, attention and an RNN."""
    inp = keras.Input((8, 8, 3))
    h = L.Conv2D(4 + i, 3, padding="same", activation="relu", name="conv")(inp)
    h = L.MaxPooling2D(2)(h)
    tokens = L.Reshape((16, 4 + i))(h)
    seq = _attention(i, tokens)
    out = L.Dense(3, activation="softmax", name="head")(_rnn(i)(seq))
    model = keras.Model(inp, out, name=f"model_{i}")
    if i % 3 == 2:  # a nested model: the same families through a path
        outer_in = keras.Input((8, 8, 3))
        return keras.Model(outer_in, model(outer_in), name=f"outer_{i}"), f"model_{i}/"
    return model, ""


def test_control_a_lambda_per_model_does_warn(logged):
    """The capture works: one tf.function per model around lambdas (what AttentionProbe did)."""
    for i in range(MODELS):
        tf.function(lambda t: t * 2)(tf.constant(float(i)))
    assert any(RETRACING in m for m in logged())


@pytest.mark.slow
def test_every_family_on_six_models_logs_no_retracing_warning(logged):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(5, 8, 8, 3)).astype("float32")
    for i in range(MODELS):
        model, prefix = _model(i)
        acts = nv.get_activations(model, x, batch_size=2)
        assert acts, i
        att = nv.get_attention(model, x, batch_size=2)
        assert [a.shape[0] for a in att.values()] == [5], i
        states = nv.get_rnn_states(model, x, f"{prefix}rnn", batch_size=2)
        assert states.shape[:2] == (5, 16), i
        nv.attention_rollout(model, x)
        objs = [O.channel(f"{prefix}conv", 1), O.class_logit(i % 3)]
        result = nv.maximize_activation(model, objs, steps=3, progress=False)
        assert result.images.shape == (2, 8, 8, 3), i
        values = nv.featureviz.objective_values(model, x, objs[0], batch_size=2)
        assert values.shape == (5,), i
        nv.top_examples(model, x, f"{prefix}conv", 1, n=2)
    messages = logged()
    assert not [m for m in messages if RETRACING in m]


# Evaluation counts (samples, designs, steps) change how long a method runs, not how often its
# pass is traced: the fewest that still exercise each method's whole path.
CHEAP = {
    "integrated_gradients": {"steps": 4},
    "score_cam": {"batch_size": 4},
    "sobol_attribution": {"designs": 4},
    "rise": {"samples": 16},
    "kernel_shap": {"samples": 16},
    "lime": {"samples": 16},
    "noise_tunnel": {"samples": 2},
    "gradient_shap": {"samples": 2},
}


@pytest.mark.slow
def test_every_attribution_method_and_diagnostic_on_six_models_logs_no_retracing_warning(
    logged,
):
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(3, 8, 8, 3)).astype("float32")
    y = np.array([0, 1, 2])
    # CAM needs a conv -> global-average-pooling -> Dense head, which these models do not have
    # (it says so); every other method applies.
    methods = sorted(m for m in nv.attribution.METHODS if m != "cam")
    for i in range(MODELS):
        model, prefix = _model(i)
        for method in methods:
            options = {"batch_size": 2, **CHEAP.get(method, {})}
            maps = nv.explain(model, x, method=method, progress=False, **options)
            assert np.asarray(maps).shape[0] == 3, (i, method)
        nv.saliency(model, x, layer=f"{prefix}conv")  # a layer form too
        rows = nv.gradient_flow(model, x, y, loss="sparse_categorical_crossentropy")
        assert rows, i
        nv.dead_units(model, x)
    messages = logged()
    assert not [m for m in messages if RETRACING in m]
