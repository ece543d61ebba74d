"""Built-in data that needs no network: scikit-learn's bundled digits and synthetic tasks whose
right answer is known, plus tiny model builders for examples, tests and benchmarks."""

from __future__ import annotations

from typing import Any, NamedTuple

import keras
import numpy as np

__all__ = [
    "ClassToken",
    "Digits",
    "digits",
    "digits_cnn",
    "digits_vit",
    "flagged_value",
    "flagged_value_transformer",
    "FlaggedSequences",
    "Localization",
    "patch_localization",
    "PositionEmbedding",
    "Split",
    "trained_digits_cnn",
    "TransformerEncoder",
]


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
    return _classifier(inputs, outputs, name, learning_rate=3e-3, from_logits=not softmax)


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


# ----------------------------------------------------------------------------------------------
# Attention: a selection task and a small vision transformer


class FlaggedSequences(NamedTuple):
    """The flagged-value task: features, labels, where the answer sits, and token strings.

    Attributes:
        x: ``(n, length, values + 2)`` float32 features per token: one-hot value, flag bit,
            CLS bit. Token 0 is the CLS token.
        y: ``(n,)`` int32 label: the value of the flagged token.
        position: ``(n,)`` int32 index of the flagged token (1 ... length - 1).
        tokens: ``(n, length)`` strings for plots: ``"[CLS]"``, ``"3"``, flagged ``"*3"``.
    """

    x: np.ndarray
    y: np.ndarray
    position: np.ndarray
    tokens: np.ndarray


def flagged_value(
    n: int = 2048, length: int = 12, values: int = 4, seed: int = 0
) -> FlaggedSequences:
    """Sequences of random values where the label is the value at the one flagged position.

    Every non-CLS token carries a random value in ``[0, values)``; exactly one is flagged. The
    label is the flagged token's value. Other tokens are noise drawn from the same values, so an
    average over tokens (what a model with uniform attention sees through a linear embedding)
    holds almost nothing about the label: a transformer classifying from its CLS token must
    *select* the flagged token. That is what makes the task a test of attention maps — a task
    whose answer survives averaging ("which marker appears somewhere") is solved with uniform
    attention.

    Args:
        n: number of sequences.
        length: tokens per sequence, CLS included.
        values: number of values (= classes).
        seed: generator seed.

    Returns:
        :class:`FlaggedSequences`.

    Example:
        >>> data = nv.datasets.flagged_value(1024)
        >>> model = nv.datasets.flagged_value_transformer()
        >>> model.fit(data.x, data.y, epochs=4, verbose=0)
    """
    if length < 2 or values < 2:
        raise ValueError(f"need length >= 2 and values >= 2; received {length=}, {values=}")
    rng = np.random.default_rng(seed)
    value = rng.integers(0, values, size=(n, length))
    position = rng.integers(1, length, size=n).astype(np.int32)
    rows = np.arange(n)
    x = np.zeros((n, length, values + 2), np.float32)
    x[rows[:, None], np.arange(length)[None], value] = 1.0
    x[:, 0, :values] = 0.0
    x[:, 0, values + 1] = 1.0  # CLS bit
    x[rows, position, values] = 1.0  # flag bit
    y = value[rows, position].astype(np.int32)
    tokens = value.astype(str).astype(object)
    tokens[:, 0] = "[CLS]"
    tokens[rows, position] = np.char.add("*", value[rows, position].astype(str))
    return FlaggedSequences(x, y, position, tokens.astype(str))


def flagged_value_transformer(
    length: int = 12, values: int = 4, dim: int = 32, heads: int = 2, name: str = "flagged"
) -> keras.Model:
    """A one-layer transformer that classifies :func:`flagged_value` sequences from CLS.

    Layers: ``embed`` (linear, so values cannot be gated per token before attention) →
    ``attention`` (MultiHeadAttention) → residual + ``norm`` → CLS token → ``hidden`` →
    ``predictions``. Trains to 100 % in a few epochs.

    Example:
        >>> model = nv.datasets.flagged_value_transformer()
    """
    layers = keras.layers
    inputs = keras.Input((length, values + 2), name="sequence")
    h = layers.Dense(dim, name="embed")(inputs)
    a = layers.MultiHeadAttention(heads, dim // heads, name="attention")(h, h)
    h = layers.LayerNormalization(name="norm")(layers.Add(name="residual")([h, a]))
    h = layers.Dense(dim, activation="relu", name="hidden")(h[:, 0])
    outputs = layers.Dense(values, activation="softmax", name="predictions")(h)
    return _classifier(inputs, outputs, name, learning_rate=3e-3)


@keras.saving.register_keras_serializable(package="keras_nnviz")
class ClassToken(keras.layers.Layer):
    """Prepend one learned token to a sequence ``(B, T, D) -> (B, T + 1, D)`` (ViT's CLS)."""

    def build(self, input_shape):
        self.token = self.add_weight(
            shape=(1, 1, input_shape[-1]), initializer="zeros", name="token"
        )

    def call(self, x):
        batch = keras.ops.shape(x)[0]
        token = keras.ops.broadcast_to(
            keras.ops.cast(self.token, x.dtype), (batch, 1, keras.ops.shape(x)[-1])
        )
        return keras.ops.concatenate([token, x], axis=1)

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], length, input_shape[2])


@keras.saving.register_keras_serializable(package="keras_nnviz")
class PositionEmbedding(keras.layers.Layer):
    """Add a learned embedding per position to ``(B, T, D)``."""

    def build(self, input_shape):
        self.positions = self.add_weight(
            shape=(1, input_shape[1], input_shape[2]),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="positions",
        )

    def call(self, x):
        return x + keras.ops.cast(self.positions, x.dtype)


@keras.saving.register_keras_serializable(package="keras_nnviz")
class TransformerEncoder(keras.layers.Layer):
    """Pre-norm transformer encoder block; its MultiHeadAttention is the attribute ``attention``.

    Args:
        dim: model width.
        heads: attention heads.
        mlp: hidden units of the feed-forward part.
    """

    def __init__(self, dim: int, heads: int, mlp: int, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.heads, self.mlp = dim, heads, mlp
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm1")
        self.attention = keras.layers.MultiHeadAttention(heads, dim // heads, name="mha")
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm2")
        self.mlp_in = keras.layers.Dense(mlp, activation="gelu", name="mlp_in")
        self.mlp_out = keras.layers.Dense(dim, name="mlp_out")

    def build(self, input_shape):
        self.norm1.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.norm2.build(input_shape)
        self.mlp_in.build(input_shape)
        self.mlp_out.build((*input_shape[:-1], self.mlp))

    def call(self, x):
        h = self.norm1(x)
        x = x + self.attention(h, h)
        return x + self.mlp_out(self.mlp_in(self.norm2(x)))

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "heads": self.heads, "mlp": self.mlp}


def digits_vit(
    patch: int = 2, dim: int = 32, heads: int = 4, depth: int = 2, name: str = "digits_vit"
) -> keras.Model:
    """A small compiled vision transformer for 8×8×1 digits (CLS token + 16 patches).

    Layers: ``patch_embed`` (Conv2D, stride ``patch``) → ``patches`` (Reshape) →
    ``cls_token`` → ``pos_embed`` → ``encoder_1`` ... (:class:`TransformerEncoder`, MHA inside
    as ``encoder_i/mha``) → ``norm`` → CLS → ``predictions``.

    Example:
        >>> vit = nv.datasets.digits_vit()
        >>> r = nv.attention_rollout(vit, data.test.x[:8])      # (8, 17, 17)
    """
    layers = keras.layers
    grid = 8 // patch
    inputs = keras.Input((8, 8, 1), name="image")
    h = layers.Conv2D(dim, patch, strides=patch, name="patch_embed")(inputs)
    h = layers.Reshape((grid * grid, dim), name="patches")(h)
    h = ClassToken(name="cls_token")(h)
    h = PositionEmbedding(name="pos_embed")(h)
    for i in range(1, depth + 1):
        h = TransformerEncoder(dim, heads, 2 * dim, name=f"encoder_{i}")(h)
    h = layers.LayerNormalization(epsilon=1e-6, name="norm")(h)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(h[:, 0])
    return _classifier(inputs, outputs, name, learning_rate=2e-3)


def _classifier(
    inputs: Any, outputs: Any, name: str, learning_rate: float, from_logits: bool = False
) -> keras.Model:
    """The builders' one compile: Adam, sparse categorical cross-entropy, accuracy."""
    model = keras.Model(inputs, outputs, name=name)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        metrics=["accuracy"],
    )
    return model
