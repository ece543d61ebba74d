"""Attribution to a layer's output (layer=) and of a unit (an objective as the target)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from keras_nnviz import objectives as O
from tests.attribution._models import images, plain_cnn

L = keras.layers
VOCAB, T = 40, 12


@pytest.fixture(scope="module")
def text():
    """Embedding -> dot-product self-attention block -> pooling -> Dense, trained (about 4 s)
    on a task whose answer is known: token 2 anywhere means class 0, token 3 means class 1; the
    other tokens (4 ... 39) are noise."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = 1536
    ids = rng.integers(4, VOCAB, size=(n, T))
    position = rng.integers(0, T, size=n)
    y = rng.integers(0, 2, size=n)
    ids[np.arange(n), position] = 2 + y
    inputs = keras.Input((T,), dtype="int32", name="ids")
    e = L.Embedding(VOCAB, 16, name="embedding")(inputs)
    a = L.Attention(name="attention")([L.Dense(16, name="query")(e), e])
    h = L.Conv1D(16, 1, activation="relu", name="mix")(L.Add(name="residual")([e, a]))
    h = L.GlobalAveragePooling1D(name="pool")(h)
    outputs = L.Dense(2, activation="softmax", name="predictions")(h)
    model = keras.Model(inputs, outputs, name="text")
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit(ids, y, epochs=4, batch_size=64, verbose=0)
    held_out = slice(n - 48, n)  # the model saw them, but the task has no other answer
    return model, ids[held_out], position[held_out]


def _logits_from_embeddings(model, emb):
    """The text model's logits computed by hand from given embeddings (no keras_nnviz code)."""
    a = model.get_layer("attention")([model.get_layer("query")(emb), emb])
    h = tf.reduce_mean(model.get_layer("mix")(emb + a), axis=1)
    dense = model.get_layer("predictions")
    return (h @ dense.kernel + dense.bias).numpy()


def test_integrated_gradients_at_the_embedding_finds_the_deciding_token(text):
    model, ids, position = text
    attr = nv.integrated_gradients(
        model, ids, layer="embedding", steps=32, signed=True, normalize=False, batch_size=48
    )
    assert attr.shape == (len(ids), T) and attr.dtype == np.float32
    predicted = model.predict(ids, verbose=0).argmax(axis=1)
    rows = np.arange(len(ids))
    emb = model.get_layer("embedding")(ids)
    reference = model.get_layer("embedding")(np.zeros_like(ids))  # the padding token, id 0
    gap = (
        _logits_from_embeddings(model, emb)[rows, predicted]
        - _logits_from_embeddings(model, reference)[rows, predicted]
    )
    # Completeness at the layer: the token scores add up to f(x) - f(padding tokens), the
    # default baseline at a token embedding (no tokenizer: id 0 at every position).
    error = np.abs(attr.sum(axis=1) - gap)
    assert np.all(error <= 0.02 * np.abs(gap)), (error / np.abs(gap)).max()
    assert (attr.argmax(axis=1) == position).mean() >= 0.9


def test_lrp_at_the_embedding_finds_the_deciding_token(text):
    model, ids, position = text
    relevance = nv.lrp(model, ids, signed=True, normalize=False, batch_size=48)
    assert relevance.shape == (len(ids), T)  # the token embedding is the default layer
    assert (relevance.argmax(axis=1) == position).mean() >= 0.9
    assert np.isfinite(relevance.conservation_error).all()


@pytest.mark.slow
def test_every_gradient_method_takes_layer(text):
    model, ids, position = text
    x = ids[:8]
    for maps in (
        nv.saliency(model, x, layer="embedding"),
        nv.saliency(model, x, layer="embedding", smooth_samples=4, seed=0),
        nv.gradient_x_input(model, x, layer="embedding", signed=True),
    ):
        assert maps.shape == (8, T) and np.isfinite(maps).all() and np.ptp(maps) > 0
    # Token ids have no gradient: the token embedding is the default layer.
    np.testing.assert_allclose(
        nv.saliency(model, x), nv.saliency(model, x, layer="embedding"), atol=1e-6
    )
    np.testing.assert_allclose(
        nv.explain(model, x, method="gradient_x_input"),
        nv.gradient_x_input(model, x, layer="embedding"),
        atol=1e-6,
    )


def test_occlusion_of_tokens_at_the_embedding(text):
    model, ids, position = text
    occ = nv.occlusion(model, ids[:16], patch=1, signed=True, normalize=False)
    assert occ.shape == (16, T)
    np.testing.assert_allclose(
        occ, nv.occlusion(model, ids[:16], layer="embedding", patch=1, signed=True, normalize=False)
    )
    # Zeroing the deciding token's embedding costs the most score.
    assert (occ.argmax(axis=1) == position[:16]).mean() >= 0.9


@pytest.mark.slow
def test_layer_ig_baseline_is_an_activation(text):
    model, ids, _ = text
    x = ids[:4]
    emb = np.asarray(model.get_layer("embedding")(x))
    same = nv.integrated_gradients(model, x, layer="embedding", baseline=emb, normalize=False)
    assert np.abs(same).max() == 0.0  # no path, no attribution
    one = nv.integrated_gradients(model, x, layer="embedding", baseline=emb[0], steps=8)
    assert one.shape == (4, T) and np.isfinite(one).all()
    with pytest.raises(nv.InvalidArgumentError, match="layer's output baseline"):
        nv.integrated_gradients(model, x, layer="embedding", baseline="blur")


def test_layer_attribution_of_a_conv_layer_is_per_location():
    model = plain_cnn(seed=11)
    x = images(4, seed=3)
    ig = nv.integrated_gradients(model, x, 1, layer="c1", signed=True, normalize=False, steps=64)
    assert ig.shape == (4, 16, 16)
    # Completeness at c1: f(x) - f(c1 output = 0), the latter computed by hand.
    conv, pool, c2, dense = (model.get_layer(n) for n in ("c1", "pool", "c2", "predictions"))

    def logits_from_c1(a):
        h = tf.reduce_mean(c2(pool(a)), axis=[1, 2])
        return (h @ dense.kernel + dense.bias).numpy()[:, 1]

    a = conv(x)
    gap = logits_from_c1(a) - logits_from_c1(tf.zeros_like(a))
    np.testing.assert_allclose(ig.reshape(4, -1).sum(axis=1), gap, rtol=0.02, atol=1e-4)
    assert nv.saliency(model, x, layer="c2").shape == (4, 8, 8)
    assert nv.occlusion(model, x, layer="c2", patch=2).shape == (4, 8, 8)
    assert nv.guided_backprop(model, x, layer="c1").shape == (4, 16, 16)


@pytest.fixture(scope="module")
def cnn():
    return plain_cnn(seed=12), images(5, seed=4)


def test_grad_cam_of_a_channel_equals_a_hand_written_tape(cnn):
    model, x = cnn
    c1, pool, c2 = (model.get_layer(n) for n in ("c1", "pool", "c2"))
    for k in (2, 7):
        t = tf.constant(x)
        with tf.GradientTape() as tape:
            a = c1(t)
            tape.watch(a)
            score = tf.reduce_mean(c2(pool(a))[..., k], axis=[1, 2])
        g = tape.gradient(score, a)
        expected = tf.nn.relu(tf.reduce_sum(a * tf.reduce_mean(g, axis=[1, 2], keepdims=True), -1))
        got = nv.grad_cam(model, x, O.channel("c2", k), layer="c1", upsample=None, normalize=False)
        expected = expected.numpy()
        assert np.abs(expected).max() > 0  # (random weights: the maps are small, not zero)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_integrated_gradients_of_a_channel_equals_a_hand_written_tape(cnn):
    model, x = cnn
    c1, pool, c2 = (model.get_layer(n) for n in ("c1", "pool", "c2"))
    steps, k = 16, 5
    total = np.zeros_like(x)
    for i in range(steps):
        point = tf.constant(x * (i + 0.5) / steps)
        with tf.GradientTape() as tape:
            tape.watch(point)
            score = tf.reduce_mean(c2(pool(c1(point)))[..., k], axis=[1, 2])
        total += tape.gradient(score, point).numpy()
    expected = x * total / steps
    got = nv.integrated_gradients(
        model,
        x,
        O.channel("c2", k),
        steps=steps,
        signed=True,
        keep_channels=True,
        normalize=False,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    # Another channel reuses the trace: channel indices travel as tensors.
    explainer = nv.IntegratedGradients(model)
    explainer(x, O.channel("c2", 1), steps=4)
    explainer(x, O.channel("c2", 3), steps=4)
    assert explainer.trace_count == 1


def test_guided_backprop_and_occlusion_of_a_neuron(cnn):
    model, x = cnn
    target = O.neuron("c2", 3, position=(1, 1))
    guided = nv.guided_backprop(model, x, target, keep_channels=True, normalize=False)
    # c2's unit (1, 1) sees pooled rows/columns 0-2, i.e. input pixels 0-5 (plus c1's border).
    assert np.all(guided[:, 7:, :] == 0) and np.all(guided[:, :, 7:] == 0)
    occ = nv.occlusion(model, x, target, patch=4, stride=4, normalize=False, signed=True)
    assert occ.shape == (5, 16, 16) and np.all(occ[:, 8:, 8:] == 0)
    with pytest.raises(nv.InvalidArgumentError, match="use nv.grad_cam"):
        nv.cam(model, x, target)


def test_signatures_follow_one_convention():
    import inspect

    common = {"layer", "output", "batch_size", "progress", "allow_nonfinite", "strategy"}
    for name, method in nv.attribution.METHODS.items():
        params = inspect.signature(method.function).parameters
        positional = [
            p.name
            for p in params.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        assert positional == ["model", "x", "target"], name
        assert common <= set(params), (name, common - set(params))
        assert params["batch_size"].default == 32 and params["progress"].default is None, name
        assert params["target"].default is None and params["layer"].default is None, name
        assert getattr(nv, name) is method.function and name in nv.__all__
    with pytest.raises(nv.InvalidArgumentError, match="method must be one of"):
        nv.explain(plain_cnn(), images(1), method="no_such_method")
    with pytest.raises(nv.InvalidArgumentError, match="has no option 'steps'"):
        nv.GradCAM(plain_cnn())(images(1), steps=3)


@pytest.mark.slow
def test_snapshot_explainer_computes_on_frozen_weights():
    model = plain_cnn(seed=13)
    x = images(4, seed=5)
    for cls in (nv.GradCAM, nv.IntegratedGradients):
        explainer = cls(model, weights="snapshot")
        values = explainer.snapshot()
        before = cls(model)(x, 1, normalize=False)
        np.testing.assert_allclose(
            explainer(x, 1, values=values, normalize=False), before, atol=1e-5
        )
        saved = model.get_weights()
        try:
            model.set_weights([w * 1.5 for w in saved])  # training moves on ...
            assert not np.allclose(cls(model)(x, 1, normalize=False), before, atol=1e-4)
            frozen = explainer(x, 1, values=values, normalize=False)  # ... the snapshot does not
            np.testing.assert_allclose(frozen, before, atol=1e-5)
        finally:
            model.set_weights(saved)
    with pytest.raises(nv.InvalidArgumentError, match="values=explainer.snapshot"):
        explainer(x, 1)
    with pytest.raises(nv.InvalidArgumentError, match="values=explainer.snapshot"):
        nv.grad_cam(model, x, values=values)
