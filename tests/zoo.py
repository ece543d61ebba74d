"""The model zoo every explainer must pass.

Each case builds a small model with a known structure plus matching inputs, and knows how to
compute any layer's activation *manually* (calling layers step by step), which tests compare
against keras_nnviz. Builders are deterministic (seeded initializers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

L = keras.layers


@keras.saving.register_keras_serializable(package="nnviz_tests")
class ConvBlock(L.Layer):
    """A custom layer holding two sub-layers (invisible to the functional graph)."""

    def __init__(self, filters=6, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv = L.Conv2D(filters, 3, padding="same", activation="relu", name="inner_conv")
        self.scale = L.Dense(filters, use_bias=False, name="inner_mix")

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.scale.build((*input_shape[:-1], self.filters))

    def call(self, x):
        return self.scale(self.conv(x))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@dataclass
class ZooCase:
    """A model, inputs for it, and a manual reference for layer activations."""

    name: str
    model: keras.Model
    x: object
    kind: str  # "image", "sequence", "vector"
    spatial_layer: str | None = None
    reference: Callable[[str, object], np.ndarray] | None = None
    notes: dict = field(default_factory=dict)


def _init(seed):
    return keras.initializers.GlorotUniform(seed=seed)


def _images(n=10, size=12, channels=3, seed=0):
    return (
        np.random.default_rng(seed).uniform(0, 1, size=(n, size, size, channels)).astype("float32")
    )


def _sub_model_reference(model):
    """Reference for flat functional models: a Keras sub-model to the layer's output."""

    def ref(path, x):
        layer = model.get_layer(path)
        sub = keras.Model(model.inputs, layer.output)
        return np.asarray(sub(x if isinstance(x, list) else [x]))

    return ref


def _chain_reference(model, base_name):
    """Reference for ``input -> base (a chain) -> head layers``: call layers one by one."""

    def ref(path, x):
        h = x
        base = model.get_layer(base_name)
        for layer in base.layers:
            h = layer(h)
            if path == f"{base_name}/{layer.name}":
                return np.asarray(h)
        if path == base_name:
            return np.asarray(h)
        started = False
        for layer in model.layers:
            if layer is base:
                started = True
                continue
            if started and not isinstance(layer, L.InputLayer):
                h = layer(h)
                if layer.name == path:
                    return np.asarray(h)
        raise KeyError(path)

    return ref


def sequential():
    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            L.Conv2D(8, 3, activation="relu", name="conv1", kernel_initializer=_init(1)),
            L.Conv2D(8, 3, activation="relu", name="conv2", kernel_initializer=_init(2)),
            L.GlobalAveragePooling2D(name="gap"),
            L.Dense(4, activation="softmax", name="predictions", kernel_initializer=_init(3)),
        ],
        name="seq",
    )
    return ZooCase("sequential", model, _images(), "image", "conv2", _sub_model_reference(model))


def functional():
    inputs = keras.Input((12, 12, 3), name="image")
    h = L.Conv2D(8, 3, activation="relu", name="conv1", kernel_initializer=_init(1))(inputs)
    skip = h
    h = L.Conv2D(
        8, 3, padding="same", activation="relu", name="conv2", kernel_initializer=_init(2)
    )(h)
    h = L.Add(name="add")([h, skip])
    h = L.GlobalAveragePooling2D(name="gap")(h)
    outputs = L.Dense(4, activation="softmax", name="predictions", kernel_initializer=_init(3))(h)
    model = keras.Model(inputs, outputs, name="func")
    return ZooCase("functional", model, _images(), "image", "add", _sub_model_reference(model))


def nested():
    """A transfer-learning shape: a Sequential base model inside a Functional model."""
    base = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            L.Conv2D(8, 3, activation="relu", name="block1_conv", kernel_initializer=_init(1)),
            L.MaxPooling2D(name="block1_pool"),
            L.Conv2D(
                8,
                3,
                padding="same",
                activation="relu",
                name="block2_conv",
                kernel_initializer=_init(2),
            ),
        ],
        name="base",
    )
    inputs = keras.Input((12, 12, 3), name="image")
    h = base(inputs)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    h = L.Dense(6, activation="relu", name="dense", kernel_initializer=_init(3))(h)
    outputs = L.Dense(4, activation="softmax", name="predictions", kernel_initializer=_init(4))(h)
    model = keras.Model(inputs, outputs, name="nested")
    return ZooCase(
        "nested", model, _images(), "image", "base/block2_conv", _chain_reference(model, "base")
    )


def seq_in_seq():
    base = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            L.Conv2D(6, 3, activation="relu", name="inner_conv", kernel_initializer=_init(1)),
            L.Conv2D(6, 3, activation="relu", name="inner_conv2", kernel_initializer=_init(2)),
        ],
        name="base",
    )
    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            base,
            L.Flatten(name="flatten"),
            L.Dense(4, activation="softmax", name="predictions", kernel_initializer=_init(3)),
        ],
        name="seq_in_seq",
    )
    return ZooCase(
        "seq_in_seq", model, _images(), "image", "base/inner_conv2", _chain_reference(model, "base")
    )


def multi_input():
    img = keras.Input((12, 12, 3), name="image")
    meta = keras.Input((5,), name="meta")
    h = L.Conv2D(8, 3, activation="relu", name="conv1", kernel_initializer=_init(1))(img)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    m = L.Dense(4, activation="relu", name="meta_dense", kernel_initializer=_init(2))(meta)
    h = L.Concatenate(name="concat")([h, m])
    outputs = L.Dense(3, activation="softmax", name="predictions", kernel_initializer=_init(3))(h)
    model = keras.Model([img, meta], outputs, name="multi_in")
    rng = np.random.default_rng(1)
    x = [_images(), rng.normal(size=(10, 5)).astype("float32")]
    return ZooCase("multi_input", model, x, "image", "conv1", _sub_model_reference(model))


def multi_output():
    inputs = keras.Input((12, 12, 3), name="image")
    h = L.Conv2D(8, 3, activation="relu", name="conv1", kernel_initializer=_init(1))(inputs)
    h = L.Conv2D(8, 3, activation="relu", name="conv2", kernel_initializer=_init(2))(h)
    g = L.GlobalAveragePooling2D(name="gap")(h)
    cls = L.Dense(4, activation="softmax", name="class_head", kernel_initializer=_init(3))(g)
    reg = L.Dense(2, name="box_head", kernel_initializer=_init(4))(g)
    model = keras.Model(inputs, [cls, reg], name="multi_out")
    return ZooCase("multi_output", model, _images(), "image", "conv2", _sub_model_reference(model))


def conv1d():
    inputs = keras.Input((20, 3), name="signal")
    h = L.Conv1D(8, 3, activation="relu", name="conv1", kernel_initializer=_init(1))(inputs)
    h = L.Conv1D(8, 3, activation="relu", name="conv2", kernel_initializer=_init(2))(h)
    h = L.GlobalAveragePooling1D(name="gap")(h)
    outputs = L.Dense(3, activation="softmax", name="predictions", kernel_initializer=_init(3))(h)
    model = keras.Model(inputs, outputs, name="conv1d")
    x = np.random.default_rng(2).normal(size=(10, 20, 3)).astype("float32")
    return ZooCase("conv1d", model, x, "sequence", "conv2", _sub_model_reference(model))


def recurrent():
    inputs = keras.Input((9, 4), name="sequence")
    h = L.LSTM(6, return_sequences=True, name="lstm", kernel_initializer=_init(1))(inputs)
    h = L.GRU(5, return_sequences=True, name="gru", kernel_initializer=_init(2))(h)
    h = L.Bidirectional(L.SimpleRNN(4, kernel_initializer=_init(3)), name="bidir")(h)
    outputs = L.Dense(3, activation="softmax", name="predictions", kernel_initializer=_init(4))(h)
    model = keras.Model(inputs, outputs, name="recurrent")
    x = np.random.default_rng(3).normal(size=(10, 9, 4)).astype("float32")
    return ZooCase("recurrent", model, x, "sequence", None, _sub_model_reference(model))


def mixed_float16():
    policy = "mixed_float16"
    inputs = keras.Input((12, 12, 3), name="image")
    h = L.Conv2D(8, 3, activation="relu", name="conv1", dtype=policy, kernel_initializer=_init(1))(
        inputs
    )
    h = L.Conv2D(8, 3, activation="relu", name="conv2", dtype=policy, kernel_initializer=_init(2))(
        h
    )
    h = L.GlobalAveragePooling2D(name="gap", dtype=policy)(h)
    h = L.Dense(4, name="logits", dtype=policy, kernel_initializer=_init(3))(h)
    outputs = L.Activation("softmax", name="predictions", dtype="float32")(h)
    model = keras.Model(inputs, outputs, name="mixed")
    return ZooCase(
        "mixed_float16",
        model,
        _images(),
        "image",
        "conv2",
        _sub_model_reference(model),
        notes={"atol": 2e-2},
    )


def custom_layer():
    inputs = keras.Input((12, 12, 3), name="image")
    h = ConvBlock(6, name="block")(inputs)
    h = L.Conv2D(6, 3, activation="relu", name="conv_after", kernel_initializer=_init(1))(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    outputs = L.Dense(4, activation="softmax", name="predictions", kernel_initializer=_init(2))(h)
    model = keras.Model(inputs, outputs, name="custom")
    return ZooCase(
        "custom_layer", model, _images(), "image", "conv_after", _sub_model_reference(model)
    )


ZOO: dict[str, Callable[[], ZooCase]] = {
    "sequential": sequential,
    "functional": functional,
    "nested": nested,
    "seq_in_seq": seq_in_seq,
    "multi_input": multi_input,
    "multi_output": multi_output,
    "conv1d": conv1d,
    "recurrent": recurrent,
    "mixed_float16": mixed_float16,
    "custom_layer": custom_layer,
}

# Cases with a spatial (image or sequence) layer, for CAM-style explainers.
SPATIAL = [name for name in ZOO if name != "recurrent"]
