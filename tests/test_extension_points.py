"""The public extension points: a new attention class (register_attention_site) and a new
attribution method (Explainer.compute with one ComputeContext, registered with @method)."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_nnviz as nv
from keras_nnviz.attribution import ComputeContext, Explainer, registry
from keras_nnviz.core import caches
from keras_nnviz.errors import IncompatibleLayerError, InvalidArgumentError

T, D = 6, 8


def _mixer_class():
    """A fresh attention class per test (registrations are global): softmax(q kᵀ / √d) in its
    own call, under a class name without "Attention", so the library cannot guess it."""

    class TokenMixer(keras.layers.Layer):
        def __init__(self, dim: int, **kwargs):
            super().__init__(**kwargs)
            self.dim = dim
            self.q = keras.layers.Dense(dim)
            self.k = keras.layers.Dense(dim)
            self.v = keras.layers.Dense(dim)

        def probabilities(self, x):
            logits = keras.ops.matmul(self.q(x), keras.ops.transpose(self.k(x), (0, 2, 1)))
            return keras.ops.softmax(logits / self.dim**0.5, axis=-1)

        def call(self, x):
            return keras.ops.matmul(self.probabilities(x), self.v(x))

    return TokenMixer


def _model(layer: keras.layers.Layer) -> keras.Model:
    inp = keras.Input((T, D))
    h = layer(inp)
    out = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(h))
    return keras.Model(inp, out)


def _x(n: int = 4) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, T, D)).astype("float32")


def test_builtin_attention_classes_are_registrations():
    rules = {(r.layer_class, r.how) for r in nv.attention.site_rules()}
    assert (keras.layers.MultiHeadAttention, "scores") in rules
    assert (keras.layers.Attention, "scores") in rules


def test_registered_attention_class_is_found_and_read_exactly():
    cls = _mixer_class()
    mixer = cls(D, name="mixer")
    model, x = _model(mixer), _x()
    sites = caches.per_model("attention sites")

    with pytest.raises(IncompatibleLayerError, match="register_attention_site"):
        nv.get_attention(model, x)
    assert sites.get(model) == []  # the empty answer is cached per model ...

    rule = nv.attention.register_attention_site(cls, how="ops")
    assert rule.layer_class is cls
    assert model not in sites  # ... and a registration forgets it
    assert nv.attention.attention_layers(model) == ["mixer"]

    att = nv.get_attention(model, x)
    want = keras.ops.convert_to_numpy(mixer.probabilities(tf.constant(x)))
    assert att["mixer"].shape == (len(x), 1, T, T)
    np.testing.assert_allclose(att["mixer"][:, 0], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(att["mixer"].sum(-1), 1.0, rtol=1e-5)

    nv.clear_cache(model)
    assert model not in sites
    np.testing.assert_allclose(nv.get_attention(model, x)["mixer"], att["mixer"], rtol=1e-6)
    assert [s.how for s in sites[model]] == ["ops"]


def test_softmax_sub_layer_named_by_attribute():
    class SoftmaxMixer(_mixer_class()):
        def __init__(self, dim: int, **kwargs):
            super().__init__(dim, **kwargs)
            self.weigh = keras.layers.Softmax()

        def probabilities(self, x):
            logits = keras.ops.matmul(self.q(x), keras.ops.transpose(self.k(x), (0, 2, 1)))
            return self.weigh(logits / self.dim**0.5)

    mixer = SoftmaxMixer(D, name="mixer")
    model, x = _model(mixer), _x()
    nv.attention.register_attention_site(SoftmaxMixer, how="softmax", softmax="weigh")
    (site,) = _sites(model)
    assert site.how == "softmax" and site.softmax is mixer.weigh
    want = keras.ops.convert_to_numpy(mixer.probabilities(tf.constant(x)))
    np.testing.assert_allclose(nv.get_attention(model, x)["mixer"][:, 0], want, rtol=1e-5)


def _sites(model):
    nv.attention.attention_layers(model)
    return caches.per_model("attention sites")[model]


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((object,), {}),
        ((keras.layers.Dense,), {"how": "probabilities"}),
        ((keras.layers.Dense,), {"how": "ops", "softmax": "weigh"}),
        ((keras.layers.Dense,), {"layout": "heads"}),
        ((keras.layers.Dense,), {"how": "ops", "ask_scores": True}),
    ],
)
def test_bad_registration_names_what_works(args, kwargs):
    before = nv.attention.site_rules()
    with pytest.raises(InvalidArgumentError, match="received"):
        nv.attention.register_attention_site(*args, **kwargs)
    assert nv.attention.site_rules() == before


# ----------------------------------------------------------------------------------------------
# A new attribution method: "gradient squared"


class GradientSquared(Explainer):
    """Squared score gradients, summed over channels."""

    method = "gradient_squared"
    takes_layer = False

    def compute(self, ctx: ComputeContext) -> list[tf.Tensor]:
        assert isinstance(ctx, ComputeContext)
        grads = self.gradients(ctx.inputs, ctx.indices, ctx.signs)[0]
        maps = [tf.reduce_sum(tf.square(g), axis=-1) for g in grads]
        if ctx.options["normalize"]:
            maps = [m / tf.reduce_max(m, axis=[1, 2], keepdims=True) for m in maps]
        return maps


@pytest.fixture
def gradient_squared():
    """Register the method for one test; the global registry is restored afterwards."""

    @registry.method(GradientSquared, kind="gradient")
    def gradient_squared(
        model,
        x,
        target=None,
        *,
        layer=None,
        output=None,
        batch_size=32,
        progress=None,
        allow_nonfinite=False,
        strategy=None,
        negative=False,
        logits=True,
        normalize=True,
        out=None,
    ):
        """Squared score gradients, summed over channels."""
        return registry.run(GradientSquared, locals())

    try:
        yield gradient_squared
    finally:
        registry.METHODS.pop("gradient_squared", None)


def test_new_method_through_the_compute_context(gradient_squared):
    inp = keras.Input((5, 5, 2))
    h = keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(inp)
    out = keras.layers.Dense(4)(keras.layers.Flatten()(h))
    model = keras.Model(inp, out)
    x = np.random.default_rng(1).normal(size=(3, 5, 5, 2)).astype("float32")

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        score = model(xt)[:, 2]
    want = tf.reduce_sum(tf.square(tape.gradient(score, xt)), axis=-1).numpy()

    got = gradient_squared(model, x, 2, normalize=False)
    assert got.shape == (3, 5, 5)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-8)
    by_name = nv.explain(model, x, 2, method="gradient_squared")
    np.testing.assert_allclose(by_name, want / want.max(axis=(1, 2), keepdims=True), rtol=1e-4)
    assert "gradient_squared" in registry.names("gradient")


def test_compute_context_is_frozen():
    ctx = ComputeContext(None, [], tf.zeros([0], tf.int32), tf.zeros([0]), (), {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.indices = None
