"""Built-in data that needs no network: scikit-learn's bundled digits and synthetic tasks whose
right answer is known, plus tiny model builders for examples, tests and benchmarks."""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np


class Split(NamedTuple):
    """Images/sequences ``x`` with integer labels ``y``."""

    x: np.ndarray
    y: np.ndarray


class Digits(NamedTuple):
    """scikit-learn digits: train/test splits and the class names ("0" ... "9")."""

    train: Split
    test: Split
    class_names: list[str]


def digits(test_fraction: float = 0.2, seed: int = 0) -> Digits:
    """scikit-learn's 1 797 bundled 8×8 digit images, shaped ``(N, 8, 8, 1)`` in ``[0, 1]``.

    Args:
        test_fraction: share of samples held out (stratified-free random split).
        seed: permutation seed.

    Returns:
        :class:`Digits` with float32 images and int32 labels.

    Example:
        >>> data = nv.datasets.digits()
        >>> data.train.x.shape, data.test.x.shape
        ((1438, 8, 8, 1), (359, 8, 8, 1))
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[..., None]
    y = bunch.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    n_test = int(round(len(x) * test_fraction))
    return Digits(
        Split(x[n_test:], y[n_test:]), Split(x[:n_test], y[:n_test]), [str(i) for i in range(10)]
    )


def digits_cnn(
    filters: tuple[int, int] = (16, 32),
    dense: int = 32,
    softmax: bool = True,
    name: str = "digits_cnn",
) -> keras.Model:
    """A small compiled CNN for 8×8×1 digits (about 10 k parameters; trains in seconds).

    Layers: ``conv1`` → ``conv2`` → ``pool`` → ``flatten`` → ``dense`` (embedding) →
    ``predictions``.

    Args:
        filters: channels of the two convolutions.
        dense: units of the penultimate (embedding) layer.
        softmax: end in softmax (True) or return logits (False).
        name: model name.

    Example:
        >>> model = nv.datasets.digits_cnn()
        >>> model.fit(data.train.x, data.train.y, epochs=3, verbose=0)
    """
    inputs = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(filters[0], 3, padding="same", activation="relu", name="conv1")(inputs)
    h = keras.layers.Conv2D(filters[1], 3, padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.MaxPooling2D(2, name="pool")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(dense, activation="relu", name="dense")(h)
    outputs = keras.layers.Dense(10, activation="softmax" if softmax else None, name="predictions")(
        h
    )
    model = keras.Model(inputs, outputs, name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax),
        metrics=["accuracy"],
    )
    return model


def trained_digits_cnn(epochs: int = 8, seed: int = 0) -> tuple[keras.Model, Digits]:
    """:func:`digits_cnn` trained on :func:`digits` (≈95 % test accuracy in a few seconds).

    Example:
        >>> model, data = nv.datasets.trained_digits_cnn()
    """
    keras.utils.set_random_seed(seed)
    data = digits(seed=seed)
    model = digits_cnn()
    model.fit(data.train.x, data.train.y, epochs=epochs, batch_size=32, verbose=0)
    return model, data


class Localization(NamedTuple):
    """Synthetic localization data: images, labels and the mask of the decisive patch."""

    x: np.ndarray
    y: np.ndarray
    masks: np.ndarray


def patch_localization(
    n: int = 512,
    size: int = 32,
    patch: int = 6,
    channels: int = 1,
    noise: float = 0.1,
    seed: int = 0,
) -> Localization:
    """Images whose class is decided by a bright patch at a random position.

    Class 0 patches are squares filled with 1; class 1 patches are crosses (a plus sign). The
    patch is the only signal; background is uniform noise. ``masks`` marks the patch, so a
    trustworthy attribution map must peak inside it (pointing game).

    Args:
        n: number of images.
        size: image height and width.
        patch: patch side in pixels.
        channels: 1 (grayscale) or 3 (the patch is the same in every channel).
        noise: background noise amplitude.
        seed: generator seed.

    Returns:
        :class:`Localization` with ``x (n, size, size, channels)`` float32 in [0, 1], ``y (n,)``
        int32 and boolean ``masks (n, size, size)``.

    Example:
        >>> data = nv.datasets.patch_localization(256, size=32)
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, noise, size=(n, size, size, 1)).astype(np.float32)
    y = rng.integers(0, 2, size=n).astype(np.int32)
    masks = np.zeros((n, size, size), dtype=bool)
    square = np.ones((patch, patch), dtype=np.float32)
    cross = np.zeros((patch, patch), dtype=np.float32)
    cross[patch // 2 - 1 : patch // 2 + 1, :] = 1
    cross[:, patch // 2 - 1 : patch // 2 + 1] = 1
    for i in range(n):
        r, c = rng.integers(0, size - patch + 1, size=2)
        shape = square if y[i] == 0 else cross
        x[i, r : r + patch, c : c + patch, 0] = np.maximum(
            x[i, r : r + patch, c : c + patch, 0], shape
        )
        masks[i, r : r + patch, c : c + patch] = True
    if channels > 1:
        x = np.repeat(x, channels, axis=-1)
    return Localization(x, y, masks)
