"""Small models shared by the attribution tests, built (and trained) once per session."""

from __future__ import annotations

import functools

import keras
import numpy as np

import keras_nnviz as nv

L = keras.layers


def _init(seed: int):
    return keras.initializers.GlorotUniform(seed=seed)


@functools.cache
def trained_digits():
    """The digits CNN trained for a few epochs (about 3 s) and its data."""
    return nv.datasets.trained_digits_cnn(epochs=4, seed=0)


@functools.cache
def localization():
    """A CNN trained in seconds on the bright-patch task: (model, held-out Localization)."""
    keras.utils.set_random_seed(0)
    data = nv.datasets.patch_localization(n=640, size=32, seed=0)
    inputs = keras.Input((32, 32, 1), name="image")
    h = L.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
    h = L.MaxPooling2D(name="pool1")(h)
    h = L.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
    h = L.MaxPooling2D(name="pool2")(h)
    h = L.Conv2D(32, 3, padding="same", activation="relu", name="conv3")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    outputs = L.Dense(2, activation="softmax", name="predictions")(h)
    model = keras.Model(inputs, outputs, name="patch_cnn")
    model.compile(
        keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(data.x[:512], data.y[:512], epochs=6, batch_size=32, verbose=0)
    held_out = nv.datasets.Localization(data.x[512:], data.y[512:], data.masks[512:])
    return model, held_out


def plain_cnn(seed: int = 0, classes: int = 5) -> keras.Model:
    """conv -> pool -> conv -> GAP -> dense softmax on 16×16×3 (random, seeded weights)."""
    inputs = keras.Input((16, 16, 3), name="image")
    h = L.Conv2D(
        8, 3, padding="same", activation="relu", name="c1", kernel_initializer=_init(seed)
    )(inputs)
    h = L.MaxPooling2D(name="pool")(h)
    h = L.Conv2D(
        12, 3, padding="same", activation="relu", name="c2", kernel_initializer=_init(seed + 1)
    )(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    outputs = L.Dense(
        classes, activation="softmax", name="predictions", kernel_initializer=_init(seed + 2)
    )(h)
    return keras.Model(inputs, outputs, name="plain_cnn")


def images(n: int = 6, size: int = 16, channels: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, size=(n, size, size, channels)).astype("float32")


def correlations(a, b) -> np.ndarray:
    """Per-sample Pearson correlation of two stacks of maps."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.array([np.corrcoef(u.ravel(), v.ravel())[0, 1] for u, v in zip(a, b)])
