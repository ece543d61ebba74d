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


# ----------------------------------------------------------------------------------------------
# Transformers for attention tests. Kept out of ZOO on purpose: ZOO cases run through every
# family's zoo-wide tests (and SPATIAL), whose expectations were written for the cases above.


@keras.saving.register_keras_serializable(package="nnviz_tests")
class TransformerBlock(L.Layer):
    """keras.io's text-classification block: the MHA is an attribute, not a graph node."""

    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim, self.num_heads, self.ff_dim, self.rate = embed_dim, num_heads, ff_dim, rate
        self.att = L.MultiHeadAttention(
            num_heads=num_heads, key_dim=embed_dim, kernel_initializer=_init(seed)
        )
        self.ffn = keras.Sequential(
            [
                L.Dense(ff_dim, activation="relu", kernel_initializer=_init(seed + 1)),
                L.Dense(embed_dim, kernel_initializer=_init(seed + 2)),
            ]
        )
        self.layernorm1 = L.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = L.LayerNormalization(epsilon=1e-6)
        self.dropout1 = L.Dropout(rate)
        self.dropout2 = L.Dropout(rate)

    def call(self, inputs, training=False):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output, training=training)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.dropout2(self.ffn(out1), training=training)
        return self.layernorm2(out1 + ffn_output)

    def get_config(self):
        return {
            **super().get_config(),
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "ff_dim": self.ff_dim,
            "rate": self.rate,
        }


@keras.saving.register_keras_serializable(package="nnviz_tests")
class TokenAndPositionEmbedding(L.Layer):
    """keras.io's token + position embedding (the token embedding may propagate a padding mask)."""

    def __init__(self, maxlen, vocab_size, embed_dim, mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.maxlen, self.vocab_size, self.embed_dim = maxlen, vocab_size, embed_dim
        self.mask_zero = mask_zero
        self.token_emb = L.Embedding(
            vocab_size, embed_dim, mask_zero=mask_zero, embeddings_initializer=_init(7)
        )
        self.pos_emb = L.Embedding(maxlen, embed_dim, embeddings_initializer=_init(8))

    def call(self, x):
        positions = keras.ops.arange(0, keras.ops.shape(x)[-1], 1)
        return self.token_emb(x) + self.pos_emb(positions)

    def compute_mask(self, inputs, mask=None):
        return keras.ops.not_equal(inputs, 0) if self.mask_zero else None

    def get_config(self):
        return {
            **super().get_config(),
            "maxlen": self.maxlen,
            "vocab_size": self.vocab_size,
            "embed_dim": self.embed_dim,
            "mask_zero": self.mask_zero,
        }


def _token_ids(n=6, length=10, vocab=20, seed=4, pad_from=None):
    ids = np.random.default_rng(seed).integers(1, vocab, size=(n, length)).astype("int32")
    if pad_from is not None:  # sample i keeps its first pad_from[i] tokens, the rest is padding
        for i, keep in enumerate(pad_from):
            ids[i, keep:] = 0
    return ids


def transformer_functional(mask_zero=False):
    """Two MultiHeadAttention layers as functional-graph nodes (post-norm encoder)."""
    length, dim = 10, 16
    ids = keras.Input((length,), dtype="int32", name="tokens")
    h = L.Embedding(
        20, dim, mask_zero=mask_zero, name="embedding", embeddings_initializer=_init(1)
    )(ids)
    for i, heads in enumerate((4, 2), start=1):
        a = L.MultiHeadAttention(heads, 8, name=f"mha_{i}", kernel_initializer=_init(10 + i))(h, h)
        h = L.LayerNormalization(name=f"ln_{i}")(L.Add(name=f"add_{i}")([h, a]))
        f = L.Dense(dim, activation="relu", name=f"ffn_{i}", kernel_initializer=_init(20 + i))(h)
        h = L.LayerNormalization(name=f"ln_ffn_{i}")(L.Add(name=f"add_ffn_{i}")([h, f]))
    h = L.GlobalAveragePooling1D(name="gap")(h)
    out = L.Dense(3, activation="softmax", name="predictions", kernel_initializer=_init(30))(h)
    model = keras.Model(ids, out, name="transformer")
    pad = [10, 7, 4, 10, 2, 9] if mask_zero else None
    return ZooCase("transformer", model, _token_ids(pad_from=pad), "sequence")


def transformer_block(mask_zero=False):
    """keras.io's text classifier: MHA hidden inside custom TransformerBlock layers."""
    length, dim = 10, 16
    ids = keras.Input((length,), dtype="int32", name="tokens")
    h = TokenAndPositionEmbedding(length, 20, dim, mask_zero=mask_zero, name="embedding")(ids)
    h = TransformerBlock(dim, 2, 24, seed=40, name="encoder_1")(h)
    h = TransformerBlock(dim, 4, 24, seed=50, name="encoder_2")(h)
    h = L.GlobalAveragePooling1D(name="gap")(h)
    out = L.Dense(3, activation="softmax", name="predictions", kernel_initializer=_init(60))(h)
    model = keras.Model(ids, out, name="transformer_block")
    pad = [10, 7, 4, 10, 2, 9] if mask_zero else None
    return ZooCase("transformer_block", model, _token_ids(pad_from=pad), "sequence")


def single_head_attention():
    """keras.layers.Attention and AdditiveAttention (Luong / Bahdanau), query 6 × value 9."""
    q_in = keras.Input((6, 8), name="query")
    v_in = keras.Input((9, 8), name="value")
    dot = L.Attention(name="dot_attention")([q_in, v_in])
    add = L.AdditiveAttention(name="additive_attention")([q_in, v_in])
    h = L.Concatenate(name="concat")([dot, add])
    out = L.Dense(2, name="out", kernel_initializer=_init(70))(L.GlobalAveragePooling1D()(h))
    model = keras.Model([q_in, v_in], out, name="single_head")
    rng = np.random.default_rng(5)
    x = [rng.normal(size=(5, 6, 8)).astype("float32"), rng.normal(size=(5, 9, 8)).astype("float32")]
    return ZooCase("single_head_attention", model, x, "sequence")


ATTENTION_ZOO: dict[str, Callable[[], ZooCase]] = {
    "transformer": transformer_functional,
    "transformer_block": transformer_block,
    "single_head_attention": single_head_attention,
}


# ----------------------------------------------------------------------------------------------
# A subclassed model (no functional graph: no model.inputs, no layer nodes) and the same network
# built functionally from the same layers' weights. Kept out of ZOO: the zoo-wide tests read
# shapes from the graph.


@keras.saving.register_keras_serializable(package="nnviz_tests")
class SubclassedCNN(keras.Model):
    """conv1 -> conv2 -> global average pool -> softmax Dense, written as a subclass."""

    def __init__(self, classes=4, **kwargs):
        super().__init__(**kwargs)
        self.classes = classes
        self.conv1 = L.Conv2D(8, 3, activation="relu", name="conv1", kernel_initializer=_init(81))
        self.conv2 = L.Conv2D(8, 3, activation="relu", name="conv2", kernel_initializer=_init(82))
        self.gap = L.GlobalAveragePooling2D(name="gap")
        self.head = L.Dense(
            classes, activation="softmax", name="predictions", kernel_initializer=_init(83)
        )

    def call(self, x):
        return self.head(self.gap(self.conv2(self.conv1(x))))

    def get_config(self):
        return {**super().get_config(), "classes": self.classes}


def subclassed_pair() -> tuple[ZooCase, ZooCase]:
    """``(subclassed, functional)``: one network twice, the functional copy holding the
    subclassed model's weights, so every explanation of the two must agree."""
    x = _images(n=6)
    sub = SubclassedCNN(name="subclassed")
    sub(x[:1])  # builds it: a subclassed model has no shapes before its first call
    inputs = keras.Input((12, 12, 3), name="image")
    h = L.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
    h = L.Conv2D(8, 3, activation="relu", name="conv2")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    outputs = L.Dense(4, activation="softmax", name="predictions")(h)
    func = keras.Model(inputs, outputs, name="functional_twin")
    for name in ("conv1", "conv2", "predictions"):
        func.get_layer(name).set_weights(
            getattr(sub, name if name != "predictions" else "head").get_weights()
        )
    return (
        ZooCase("subclassed", sub, x, "image", "conv2"),
        ZooCase("functional_twin", func, x, "image", "conv2", _sub_model_reference(func)),
    )
