"""nv.lrp: relevance conservation, the rules against hand-computed LRP, AttnLRP on attention,
bad options (issue 23)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.errors import InvalidArgumentError
from tests.bad_input import assert_named_error

L = keras.layers


@pytest.fixture(scope="module")
def cnn():
    """A bias-free ReLU CNN: every rule conserves relevance exactly (up to the stabilizer)."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 3))
    h = L.Conv2D(8, 3, activation="relu", use_bias=False, name="c1")(inp)
    h = L.MaxPooling2D(name="pool")(h)
    h = L.Conv2D(8, 3, activation="relu", use_bias=False, padding="same", name="c2")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    h = L.Dense(16, activation="relu", use_bias=False, name="d1")(h)
    model = keras.Model(inp, L.Dense(4, activation="softmax", use_bias=False, name="out")(h))
    x = np.random.default_rng(0).uniform(0, 1, (4, 12, 12, 3)).astype("float32")
    return model, x


def _raw(model, x, target=None, **kwargs):
    return nv.lrp(model, x, target, signed=True, normalize=False, **kwargs)


@pytest.mark.parametrize("rules", ["epsilon", "epsilon_plus", "epsilon_plus_flat"])
def test_relevance_is_conserved_on_a_bias_free_cnn(cnn, rules):
    model, x = cnn
    maps = _raw(model, x, rules=rules)
    assert maps.shape == (4, 12, 12) and maps.conservation_error.shape == (4,)
    assert maps.conservation_error.max() <= 1e-3, maps.conservation_error
    assert np.abs(np.asarray(maps).sum(axis=(1, 2))).min() > 0


def test_epsilon_zero_is_gradient_times_input_and_composites_differ(cnn):
    model, x = cnn
    eps0 = _raw(model, x, rules="epsilon", epsilon=0.0)
    np.testing.assert_allclose(eps0, nv.gradient_x_input(model, x, signed=True, normalize=False))
    plus, flat = _raw(model, x, rules="epsilon_plus"), _raw(model, x)
    assert not np.allclose(plus, eps0, atol=1e-6) and not np.allclose(flat, plus, atol=1e-6)


def test_rules_match_hand_computed_lrp():
    """zplus on the first layer of a 2-layer MLP, then flat, against numpy."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((5,))
    h = L.Dense(6, activation="relu", use_bias=False, name="d1")(inp)
    model = keras.Model(inp, L.Dense(3, use_bias=False, name="d2")(h))
    x = np.random.default_rng(1).uniform(0.1, 1, (2, 5)).astype("float32")
    w1, w2 = (np.asarray(model.get_layer(n).kernel, np.float64) for n in ("d1", "d2"))
    a1 = np.maximum(x @ w1, 0)
    r1 = a1 * w2[:, 0]  # epsilon rule at d2 for class 0: a1 * w2 * R / z with R = z
    zp = x @ np.maximum(w1, 0)
    ratio = np.divide(r1, zp, out=np.zeros_like(r1), where=zp > 0)
    expected = x * (ratio @ np.maximum(w1, 0).T)
    got = _raw(model, x, 0, rules={"d1": "zplus", "d2": "epsilon"}, keep_channels=True)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    flat = (r1 / w1.shape[0]) @ np.ones_like(w1).T  # each output's relevance spread evenly
    got = _raw(model, x, 0, rules={"d1": "flat"}, keep_channels=True)
    np.testing.assert_allclose(got, flat, rtol=1e-4, atol=1e-6)


def test_attnlrp_conserves_through_attention_and_norms():
    """Softmax detached, LayerNorm as identity: a bias-free attention block conserves."""
    keras.utils.set_random_seed(2)
    inp = keras.Input((6, 8))
    a = L.MultiHeadAttention(2, 4, use_bias=False, name="mha")(inp, inp)
    h = L.LayerNormalization(center=False, name="norm")(L.Add()([inp, a]))
    h = L.Dense(8, activation="gelu", use_bias=False, name="mlp")(h)
    out = L.Dense(3, use_bias=False, name="out")(L.GlobalAveragePooling1D()(h))
    model = keras.Model(inp, out)
    x = np.random.default_rng(2).normal(size=(3, 6, 8)).astype("float32")
    maps = _raw(model, x, rules="epsilon")
    assert maps.shape == (3, 6)
    assert maps.conservation_error.max() <= 1e-3, maps.conservation_error
    # without the rules, gradient x input does not conserve here
    gxi = nv.gradient_x_input(model, x, signed=True, normalize=False).sum(axis=1)
    score = np.asarray(model(x))[np.arange(3), np.asarray(model(x)).argmax(1)]
    assert np.abs(gxi - score).max() > 1e-2 * np.abs(score).max()


@pytest.mark.parametrize(
    "kwargs, phrase",
    [
        ({"rules": "zennit"}, "rules must be one of"),
        ({"rules": {"c1": "gamma"}}, "rules must be one of"),
        ({"epsilon": -1.0}, "epsilon must be"),
        ({"epsilon": True}, "epsilon must be"),
        ({"embedding": "position"}, "embedding must be"),
    ],
    ids=["unknown-composite", "unknown-rule", "negative-eps", "bool-eps", "embedding"],
)
def test_bad_lrp_options(cnn, kwargs, phrase):
    model, x = cnn
    assert_named_error(lambda: nv.lrp(model, x, **kwargs), InvalidArgumentError, phrase)


def test_bias_relevance_closes_the_balance():
    """Dense biases and LayerNormalization's beta take their epsilon-rule share, reported per
    sample: sum(R) + bias_relevance is the score."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((6,))
    h = L.Dense(8, activation="tanh", bias_initializer="random_normal", name="d1")(inp)
    h = L.LayerNormalization(beta_initializer="random_normal", name="norm")(h)
    model = keras.Model(inp, L.Dense(3, bias_initializer="random_normal", name="out")(h))
    x = np.random.default_rng(3).normal(size=(4, 6)).astype("float32")
    maps = _raw(model, x, rules="epsilon")
    logits = np.asarray(model(x))
    score = logits.max(axis=1)
    assert maps.conservation_error.min() > 1e-3  # the biases matter here
    np.testing.assert_allclose(maps.sum(axis=1) + maps.bias_relevance, score, atol=1e-4)
    assert np.all(maps.position_relevance == 0)


class _GatedMLP(L.Layer):
    """Activations called inside ``call`` (Bloom's MLP) and a gated product (Llama's MLP)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.up = L.Dense(12, use_bias=False, name="up")
        self.gate = L.Dense(12, use_bias=False, name="gate")
        self.hidden = L.Dense(12, use_bias=False, name="hidden")
        self.down = L.Dense(8, use_bias=False, name="down")

    def call(self, x):
        plain = self.down(keras.activations.gelu(self.hidden(x)))
        return plain + self.down(keras.ops.silu(self.gate(x)) * self.up(x))


def test_attnlrp_conserves_through_activation_calls_and_gates():
    keras.utils.set_random_seed(4)
    inp = keras.Input((5, 8))
    h = _GatedMLP(name="mlp")(inp)
    model = keras.Model(inp, L.Dense(3, use_bias=False, name="out")(L.Flatten()(h)))
    x = np.random.default_rng(4).normal(size=(3, 5, 8)).astype("float32")
    maps = _raw(model, x, rules="epsilon")
    assert maps.conservation_error.max() <= 1e-3, maps.conservation_error


def test_position_embeddings_are_summed_into_each_token():
    """Token + position embeddings: each token's relevance is its summed input embedding's;
    embedding="token" keeps the token share only (the position share is then missing)."""
    keras.utils.set_random_seed(5)
    ids = keras.Input((6,), dtype="int32", name="ids")
    positions = keras.Input((6,), dtype="int32", name="positions")
    tok = L.Embedding(20, 8, name="token_embedding")(ids)
    pos = L.Embedding(6, 8, name="position_embedding")(positions)
    h = L.Add(name="add")([tok, pos])
    a = L.MultiHeadAttention(2, 4, use_bias=False, name="mha")(h, h)
    out = L.Dense(3, use_bias=False, name="out")(L.GlobalAveragePooling1D()(L.Add()([h, a])))
    model = keras.Model([ids, positions], out)
    rng = np.random.default_rng(5)
    x = [rng.integers(1, 20, (3, 6)).astype("int32"), np.tile(np.arange(6, dtype="int32"), (3, 1))]
    summed = _raw(model, x, layer="token_embedding")
    assert summed.shape == (3, 6)
    assert summed.conservation_error.max() <= 1e-3, summed.conservation_error
    assert np.abs(summed.position_relevance).min() > 0
    token = _raw(model, x, layer="token_embedding", embedding="token")
    np.testing.assert_allclose(
        token.sum(axis=1) + summed.position_relevance, summed.sum(axis=1), rtol=1e-4, atol=1e-6
    )
    assert np.all(token.position_relevance == 0)


@pytest.fixture(scope="module")
def strided():
    """A strided, same-padded ReLU convolution with a bias (the rules keep its fused call)."""
    keras.utils.set_random_seed(6)
    inp = keras.Input((7, 7, 2))
    h = L.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="conv")(inp)
    model = keras.Model(
        inp, L.Dense(3, bias_initializer="random_normal", name="out")(L.Flatten()(h))
    )
    conv = model.get_layer("conv")
    conv.bias.assign(np.random.default_rng(6).normal(size=4).astype("float32") * 0.1)
    x = np.random.default_rng(6).uniform(0.1, 1, (2, 7, 7, 2)).astype("float32")
    return model, x


def test_flat_rule_on_a_strided_padded_conv_matches_its_definition(strided):
    """flat: R_in = W1^T (R_out / (W1 1)) with W1 the all-ones kernel (every output channel
    and border position: the receptive field is counted, not assumed)."""
    import tensorflow as tf

    model, x = strided
    conv, out = model.get_layer("conv"), model.get_layer("out")
    xt = tf.constant(x)
    a = conv(xt)
    logits = out(tf.reshape(a, (2, -1)))
    k = np.asarray(logits).argmax(axis=1)
    g = tf.reshape(tf.transpose(tf.gather(out.kernel, k, axis=1)), a.shape)  # dscore/da (ε -> 0)
    ones = tf.ones((3, 3, 2, 4))
    field = tf.nn.conv2d(tf.ones((1, 7, 7, 2)), ones, 2, "SAME")
    with tf.GradientTape() as tape:
        tape.watch(xt)
        spread = tf.nn.conv2d(xt, ones, 2, "SAME")
    expected = tape.gradient(spread, xt, output_gradients=g * a / field)
    got = _raw(model, x, rules={"conv": "flat", "out": "epsilon"}, keep_channels=True)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_bias_relevance_of_a_fused_relu_conv_closes_the_balance(strided):
    model, x = strided
    maps = _raw(model, x, rules="epsilon")
    score = np.asarray(model(x)).max(axis=1)
    assert np.abs(maps.bias_relevance).min() > 1e-3
    np.testing.assert_allclose(maps.sum(axis=(1, 2)) + maps.bias_relevance, score, atol=1e-4)


def test_activation_rule_reaches_only_the_tracing_thread():
    """elementwise_identity replaces keras.activations.gelu for the thread that traces; another
    thread (training beside a callback) keeps the true gradient; the name is restored."""
    import threading

    import tensorflow as tf

    from keras_nnviz.attribution.lrp_rules import elementwise_identity

    original = keras.activations.gelu
    x = tf.constant([[-1.0, 0.5, 2.0]])

    def grad():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = keras.activations.gelu(x)
        return tape.gradient(y, x).numpy()

    plain, other = grad(), {}
    with elementwise_identity(1e-6):
        ruled = grad()
        thread = threading.Thread(target=lambda: other.setdefault("grad", grad()))
        thread.start()
        thread.join()
    np.testing.assert_allclose(other["grad"], plain)
    np.testing.assert_allclose(ruled, np.asarray(original(x)) / np.asarray(x), rtol=1e-5)
    assert keras.activations.gelu is original


def test_zplus_on_a_causal_dilated_conv1d_follows_the_layer():
    """The rules re-run a convolution with another kernel: a causal Conv1D's left padding too.
    With a non-negative kernel and no bias, z+ is the ε rule (W+ x = W x)."""
    keras.utils.set_random_seed(7)
    inp = keras.Input((10, 2))
    conv = L.Conv1D(3, 3, padding="causal", dilation_rate=2, use_bias=False, name="c1")
    h = conv(inp)
    model = keras.Model(inp, L.Dense(2, use_bias=False, name="out")(L.Flatten()(h)))
    conv.kernel.assign(np.abs(np.asarray(conv.kernel)))
    x = np.random.default_rng(7).uniform(0.1, 1, (2, 10, 2)).astype("float32")
    plus = _raw(model, x, rules={"c1": "zplus", "out": "epsilon"})
    eps = _raw(model, x, rules={"c1": "epsilon", "out": "epsilon"})
    np.testing.assert_allclose(plus, eps, rtol=1e-4, atol=1e-7)
    assert _raw(model, x).conservation_error.max() <= 1e-3
