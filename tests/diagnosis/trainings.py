"""The sick/healthy zoo of nv.diagnose: small trainings, each sick one with one known fault.

Every builder returns a :class:`Case`: the trained model, the data to diagnose with, the keyword
arguments of ``nv.diagnose`` and the codes it must name (empty for a healthy training). Builds
are seeded and small (scikit-learn digits as 64 features or 8×8 images, the flagged-value token
task) so the whole zoo trains in well under a minute on two CPU cores.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

import keras_nnviz as nv

L = keras.layers


@dataclass
class Case:
    name: str
    model: keras.Model
    x: Any
    y: Any
    kwargs: dict[str, Any] = field(default_factory=dict)
    expect: tuple[str, ...] = ()  # codes that must be among the top two; () = healthy
    extra: dict[str, Any] = field(default_factory=dict)


def _digits():
    data = nv.datasets.digits(test_fraction=0.25, seed=0)
    flat = lambda s: s.x.reshape(len(s.x), 64)  # noqa: E731
    return flat(data.train), data.train.y, flat(data.test), data.test.y


def _mlp(hidden=(64,), activation="relu", name="mlp", **dense) -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((64,), name="pixels")
    h = inputs
    for i, units in enumerate(hidden):
        h = L.Dense(units, activation=activation, name=f"dense_{i}", **dense)(h)
    outputs = L.Dense(10, activation="softmax", name="predictions")(h)
    return keras.Model(inputs, outputs, name=name)


def _fit(model, x, y, epochs, optimizer=None, validation=None, batch_size=32):
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model.fit(
        x, y, epochs=epochs, batch_size=batch_size, verbose=0, validation_data=validation
    )


@functools.cache
def healthy_mlp() -> Case:
    x, y, xv, yv = _digits()
    model = _mlp(name="healthy_mlp")
    h = _fit(model, x, y, 12, validation=(xv, yv), batch_size=64)
    return Case("healthy_mlp", model, x, y, {"history": h, "x_new": xv})


def healthy_cnn() -> Case:
    data = nv.datasets.digits(test_fraction=0.25, seed=0)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            L.Conv2D(16, 3, activation="relu", padding="same", name="conv"),
            L.MaxPooling2D(name="pool"),
            L.Flatten(name="flatten"),
            L.Dense(32, activation="relu", name="hidden"),
            L.Dense(10, activation="softmax", name="predictions"),
        ],
        name="healthy_cnn",
    )
    h = _fit(
        model, data.train.x, data.train.y, 6, validation=(data.test.x, data.test.y), batch_size=64
    )
    return Case(
        "healthy_cnn",
        model,
        data.train.x,
        data.train.y,
        {"history": h, "x_new": data.test.x},
    )


def healthy_tanh() -> Case:
    x, y, xv, yv = _digits()
    model = _mlp((64, 32), activation="tanh", name="healthy_tanh")
    h = _fit(model, x, y, 12, batch_size=64)
    return Case("healthy_tanh", model, x, y, {"history": h, "validation_data": (xv, yv)})


def healthy_transformer() -> Case:
    data = nv.datasets.flagged_value(768, seed=0)
    keras.utils.set_random_seed(0)
    model = nv.datasets.flagged_value_transformer(name="healthy_transformer")
    h = model.fit(data.x, data.y, epochs=5, batch_size=32, verbose=0)
    return Case("healthy_transformer", model, data.x, data.y, {"history": h})


def healthy_bert() -> Case:
    """A tiny KerasHub BERT classifier (2 layers, width 32) that learns whether token 7 sits at
    position 3; its second layer's heads stay near-uniform (an info, not a warning)."""
    from tests import hub

    keras.utils.set_random_seed(0)
    model = hub.new_bert_classifier(2)
    x = hub.inputs(model, n=384, length=8, pad_from=8)
    rng = np.random.default_rng(0)
    ids = next(k for k in x if "token" in k)
    x[ids] = rng.integers(5, len(hub.VOCAB), size=x[ids].shape).astype("int32")
    y = rng.integers(0, 2, len(x[ids]))
    x[ids][:, 3] = np.where(y == 1, 7, np.where(x[ids][:, 3] == 7, 8, x[ids][:, 3]))
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    h = model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    return Case("healthy_bert", model, x, y, {"history": h})


def vanishing() -> Case:
    x, y, _, _ = _digits()
    model = _mlp((32,) * 8, activation="sigmoid", name="deep_sigmoid")
    h = _fit(model, x, y, 3, optimizer=keras.optimizers.SGD(0.05))
    return Case("vanishing_gradients", model, x, y, {"history": h}, ("vanishing_gradients",))


def exploding() -> Case:
    x, y, _, _ = _digits()
    model = _mlp(
        (64,) * 5,
        activation="relu",
        name="big_init",
        kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=0),
    )
    _fit(model, x, y, 0)
    return Case("exploding_gradients", model, x, y, {}, ("exploding_gradients",))


def dead() -> Case:
    x, y, _, _ = _digits()
    model = _mlp((64, 64), name="dead_relu", bias_initializer=keras.initializers.Constant(-3.0))
    h = _fit(model, x, y, 3)
    return Case("dead_units", model, x, y, {"history": h}, ("dead_units",))


def saturated() -> Case:
    x, y, _, _ = _digits()
    model = _mlp(
        (64,),
        activation="tanh",
        name="saturated_tanh",
        kernel_initializer=keras.initializers.RandomNormal(stddev=3.0, seed=0),
    )
    h = _fit(model, x, y, 3)
    return Case("saturated_units", model, x, y, {"history": h}, ("saturated_units",))


def diverged() -> Case:
    x, y, _, _ = _digits()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((64,)), L.Dense(32, name="hidden"), L.Dense(1, name="value")],
        name="diverged",
    )
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    h = model.fit(x * 16, y.astype(np.float32), epochs=3, batch_size=32, verbose=0)
    return Case("divergence", model, x * 16, y.astype(np.float32), {"history": h}, ("divergence",))


def lr_high() -> Case:
    x, y, _, _ = _digits()
    model = _mlp((64,), activation="tanh", name="lr_high")
    h = _fit(model, x, y, 8, optimizer=keras.optimizers.Adam(0.3))
    return Case("learning_rate_too_high", model, x, y, {"history": h}, ("learning_rate_too_high",))


def lr_low() -> Case:
    x, y, _, _ = _digits()
    model = _mlp((64,), name="lr_low")
    h = _fit(model, x, y, 5, optimizer=keras.optimizers.SGD(1e-4))
    return Case("learning_rate_too_low", model, x, y, {"history": h}, ("learning_rate_too_low",))


def overfit() -> Case:
    x, y, xv, yv = _digits()
    model = _mlp((256, 256), name="overfit")
    h = _fit(
        model,
        x[:40],
        y[:40],
        15,
        optimizer=keras.optimizers.Adam(1e-2),
        validation=(xv[:100], yv[:100]),
        batch_size=40,
    )
    return Case("overfitting", model, x[:40], y[:40], {"history": h}, ("overfitting",))


def underfit() -> Case:
    x, y, _, _ = _digits()
    model = _mlp((1,), activation="linear", name="bottleneck")
    h = _fit(model, x, y, 15, optimizer=keras.optimizers.Adam(1e-2), batch_size=64)
    return Case("underfitting", model, x, y, {"history": h}, ("underfitting",))


def unscaled() -> Case:
    x, y, _, _ = _digits()
    x = np.round(x * 255).astype(np.float32)
    model = _mlp((64,), name="unscaled")
    h = _fit(model, x, y, 4)
    return Case("unscaled_inputs", model, x, y, {"history": h}, ("unscaled_inputs",))


def noisy_labels() -> Case:
    x, y, _, _ = _digits()
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(y), size=len(y) // 4, replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, 10, size=flipped.size)) % 10
    model = _mlp((64,), name="noisy_labels")
    h = _fit(model, x, noisy, 8)
    return Case(
        "label_noise", model, x, noisy, {"history": h}, ("label_noise",), {"flipped": flipped}
    )


def imbalanced() -> Case:
    x, y, _, _ = _digits()
    rng = np.random.default_rng(0)
    keep = (y >= 5) | (rng.random(len(y)) < 0.08)
    x, y = x[keep], y[keep]
    model = _mlp((64,), name="imbalanced")
    h = _fit(model, x, y, 10)
    return Case("class_imbalance", model, x, y, {"history": h}, ("class_imbalance",))


def out_of_distribution() -> Case:
    """The healthy MLP, asked about inverted digits and uniform noise."""
    healthy = healthy_mlp()
    _, _, xv, _ = _digits()
    rng = np.random.default_rng(0)
    new = np.concatenate([1.0 - xv[:200], rng.random((100, 64)).astype(np.float32)])
    kwargs = {"history": healthy.kwargs["history"], "x_new": new}
    return Case("ood_inputs", healthy.model, healthy.x, healthy.y, kwargs, ("ood_inputs",))


def frozen() -> Case:
    x, y, _, _ = _digits()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((64,), name="pixels")
    a = L.Dense(32, activation="relu", name="stem")(inputs)
    b = L.Dense(32, activation="relu", name="side")(inputs)
    b = L.Lambda(lambda t: keras.ops.stop_gradient(t), name="detach")(b)
    h = L.Concatenate(name="join")([a, b])
    outputs = L.Dense(10, activation="softmax", name="predictions")(h)
    model = keras.Model(inputs, outputs, name="frozen_branch")
    h = _fit(model, x, y, 6)
    return Case("frozen_layer", model, x, y, {"history": h}, ("frozen_layer",))


def attention_collapse() -> Case:
    data = nv.datasets.flagged_value(512, seed=0)
    keras.utils.set_random_seed(0)
    model = nv.datasets.flagged_value_transformer(name="collapsed")
    attention = model.get_layer("attention")
    # No query: every query row scores every key alike, so attention is uniform and cannot
    # select the flagged token, whatever training does.
    query = attention.query_dense
    query.kernel.assign(np.zeros(query.kernel.shape, np.float32))
    query.bias.assign(np.zeros(query.bias.shape, np.float32))
    query.trainable = False
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = model.fit(data.x, data.y, epochs=4, batch_size=32, verbose=0)
    return Case(
        "attention_collapse", model, data.x, data.y, {"history": h}, ("attention_collapse",)
    )


def shortcut() -> Case:
    """A digits CNN whose training images carry the label as the brightness of a 2×2 corner
    patch (a watermark) while the digit shown is another sample's: only the corner tells the
    label, and the network reads it there for every class."""
    data = nv.datasets.digits(test_fraction=0.25, seed=0)
    order = np.random.default_rng(0).permutation(len(data.train.x))
    x = data.train.x[order].copy()
    x[:, :2, :2, 0] = (data.train.y[:, None, None] + 1) / 10.0
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            L.Conv2D(16, 3, activation="relu", padding="same", name="conv"),
            L.MaxPooling2D(name="pool"),
            L.Flatten(name="flatten"),
            L.Dense(32, activation="relu", name="hidden"),
            L.Dense(10, activation="softmax", name="predictions"),
        ],
        name="watermarked_cnn",
    )
    h = _fit(model, x, data.train.y, 15, batch_size=64)
    return Case("shortcut", model, x, data.train.y, {"history": h}, ("shortcut",))


HEALTHY: dict[str, Callable[[], Case]] = {
    "healthy_mlp": healthy_mlp,
    "healthy_cnn": healthy_cnn,
    "healthy_tanh": healthy_tanh,
    "healthy_transformer": healthy_transformer,
    "healthy_bert": healthy_bert,
}
SICK: dict[str, Callable[[], Case]] = {
    "vanishing_gradients": vanishing,
    "exploding_gradients": exploding,
    "dead_units": dead,
    "saturated_units": saturated,
    "divergence": diverged,
    "learning_rate_too_high": lr_high,
    "learning_rate_too_low": lr_low,
    "overfitting": overfit,
    "underfitting": underfit,
    "unscaled_inputs": unscaled,
    "label_noise": noisy_labels,
    "class_imbalance": imbalanced,
    "ood_inputs": out_of_distribution,
    "frozen_layer": frozen,
    "attention_collapse": attention_collapse,
    "shortcut": shortcut,
}
