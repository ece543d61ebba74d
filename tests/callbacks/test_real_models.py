"""Callbacks on models outside the toy zoo: multi-output labels, recurrent text models, ReLUs
inside custom layers, an image transformer without 2-D feature maps.

The rule: a callback whose default has nothing to show on a model draws nothing and says so
once (a :class:`~keras_nnviz.callbacks.NothingToShowWarning`); the fit always completes. Where
there is something to show, it is drawn.
"""

from __future__ import annotations

import html
import warnings

import keras
import numpy as np
import pytest
from keras import layers as L

import keras_nnviz as nv
from keras_nnviz.callbacks import NothingToShowWarning


@keras.saving.register_keras_serializable(package="nnviz_real_models")
class ReluBlock(L.Layer):
    """A custom layer holding a ReLU Dense as an attribute (not a graph node of the model)."""

    def __init__(self, units=6, **kwargs):
        super().__init__(**kwargs)
        self.inner = L.Dense(units, activation="relu", name="inner_relu")
        # A setting, as KerasHub blocks have one: the block's output is not a ReLU's.
        self.activation = keras.activations.get("relu")

    def call(self, x):
        return self.inner(x) * 1.0


def _init(seed: int):
    return keras.initializers.GlorotUniform(seed=seed)


@pytest.fixture(scope="module")
def m():
    """Tiny models of each kind (built once); nothing here is big enough to matter."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 8)).astype("float32")

    inp = keras.Input((8,), name="x")
    h = L.Dense(6, activation="relu", name="hidden", kernel_initializer=_init(1))(inp)
    outputs = {
        "cls": L.Dense(3, activation="softmax", name="cls", kernel_initializer=_init(2))(h),
        "reg": L.Dense(1, name="reg", kernel_initializer=_init(3))(h),
    }
    multi = keras.Model(inp, outputs, name="multi_head")
    multi.compile("sgd", {"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    y = {"cls": (np.arange(24) % 3).astype("int32"), "reg": rng.normal(size=(24, 1)).astype("f4")}

    tok = keras.Input((7,), dtype="int32", name="ids")
    e = L.Embedding(20, 8, name="embed")(tok)
    g = L.GRU(5, return_sequences=False, name="gru", kernel_initializer=_init(4))(e)
    text = keras.Model(tok, L.Dense(2, activation="softmax", name="out")(g), name="gru_text")
    text.compile("sgd", "sparse_categorical_crossentropy")
    ids = rng.integers(0, 20, size=(24, 7)).astype("int32")

    cin = keras.Input((8,), name="x")
    c = ReluBlock(6, name="block")(cin)
    custom = keras.Model(cin, L.Dense(3, activation="softmax", name="out")(c), name="custom")
    custom.compile("sgd", "sparse_categorical_crossentropy")

    # An image transformer in miniature: the image cut into 16 tokens, no 2-D feature map.
    img = keras.Input((8, 8, 3), name="image")
    t = L.Reshape((16, 12), name="patches")(img)
    t = L.Dense(8, name="patch_embed", kernel_initializer=_init(5))(t)
    t = L.MultiHeadAttention(2, 4, name="mha")(t, t)
    t = L.GlobalAveragePooling1D(name="pool")(t)
    vit = keras.Model(img, L.Dense(3, activation="softmax", name="out")(t), name="tiny_vit")
    vit.compile("sgd", "sparse_categorical_crossentropy")
    images = rng.normal(size=(24, 8, 8, 3)).astype("float32")

    labels = (np.arange(24) % 3).astype("int32")
    return {
        "x": x,
        "y": y,
        "labels": labels,
        "multi": multi,
        "text": text,
        "ids": ids,
        "custom": custom,
        "vit": vit,
        "images": images,
    }


def _fit(model, x, y, callbacks, epochs=2):
    """Fit, returning the warnings raised (all recorded, none filtered)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=callbacks)
    assert len(history.history["loss"]) == epochs  # the fit completed
    return record


def _notes(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, NothingToShowWarning)]


def _failures(record) -> list[str]:
    failed = nv.callbacks.VisualizationWarning
    return [str(w.message) for w in record if issubclass(w.category, failed)]


# ----------------------------------------------------------------------------------------------
# Multi-output labels


def test_gradient_flow_takes_dict_labels_of_a_multi_output_model(m):
    rows_dict = nv.gradient_flow(m["multi"], m["x"], m["y"])
    rows_list = nv.gradient_flow(m["multi"], m["x"], [m["y"]["cls"], m["y"]["reg"]])
    # Same labels, two spellings: the same loss and gradients (dict put in output order).
    assert [r["name"] for r in rows_dict] == [r["name"] for r in rows_list]
    for a, b in zip(rows_dict, rows_list):
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-6)
    assert rows_dict[0]["loss"] == pytest.approx(rows_list[0]["loss"], rel=1e-6)
    # Both heads' losses count: dropping the regression labels' head changes the hidden grads.
    only_cls = nv.gradient_flow(
        m["multi"], m["x"], m["y"], loss={"cls": "sparse_categorical_crossentropy", "reg": None}
    )
    hidden = [r for r in rows_dict if r["name"] == "hidden/kernel"][0]["grad_norm"]
    hidden_cls = [r for r in only_cls if r["name"] == "hidden/kernel"][0]["grad_norm"]
    assert hidden != pytest.approx(hidden_cls, rel=1e-3)
    # The regression head gets gradient only from its own labels.
    reg = [r for r in rows_dict if r["name"] == "reg/kernel"][0]["grad_norm"]
    assert reg > 0
    assert [r for r in only_cls if r["name"] == "reg/kernel"][0]["grad_norm"] == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("form", ["dict", "list"])
def test_gradient_flow_callback_fits_a_multi_output_model(m, tmp_path, form):
    y = m["y"] if form == "dict" else [m["y"]["cls"], m["y"]["reg"]]
    cb = nv.callbacks.GradientFlow(tmp_path, x=m["x"][:16], y=_head(y, 16), sinks=["png"])
    record = _fit(m["multi"], m["x"], m["y"], [cb])
    assert not _failures(record) and not _notes(record)
    assert set(cb.history["grad_norm"]) >= {"hidden", "cls", "reg"}
    assert len(cb.history["step"]) == 3  # the first compute, two epochs
    assert sorted(p.name for p in (tmp_path / "gradient_flow" / "layers").glob("epoch_*.png"))


def _head(y, n):
    if isinstance(y, dict):
        return {k: v[:n] for k, v in y.items()}
    return [v[:n] for v in y]


@pytest.mark.slow
def test_attributions_take_the_explained_outputs_labels(m, tmp_path):
    cb = nv.callbacks.Attributions(
        tmp_path, x=m["x"][:4], y=_head(m["y"], 4), output="cls", sinks=["png"]
    )
    record = _fit(m["multi"], m["x"], m["y"], [cb], epochs=1)
    assert not _failures(record)
    np.testing.assert_array_equal(cb._true, m["y"]["cls"][:4])
    assert list((tmp_path / "saliency" / "maps").glob("*.png"))


# ----------------------------------------------------------------------------------------------
# Defaults with nothing to show: one note, no pictures, the fit goes on


@pytest.mark.slow
def test_dead_units_on_a_gru_text_model_is_a_note(m, tmp_path):
    cb = nv.callbacks.DeadUnits(tmp_path, x=m["ids"][:8], sinks=["png"])
    record = _fit(m["text"], m["ids"], m["labels"] % 2, [cb, nv.callbacks.Report(tmp_path)])
    notes = _notes(record)
    assert len(notes) == 1 and "ReLU" in notes[0] and "gru_text" in notes[0]
    assert not _failures(record)
    assert cb.history["step"] == []
    assert not list(tmp_path.glob("dead_units*/**/*.png"))
    # The report's section says why it is empty (the note), not "no pictures yet".
    page = html.unescape((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert page.count(f'<p class="nv-note">{notes[0]}</p>') == 1


def test_dead_units_see_relus_inside_custom_layers(m):
    report = nv.dead_units(m["custom"], m["x"])
    assert list(report) == ["block/inner_relu"]
    acts = nv.get_activation(m["custom"], m["x"], "block/inner_relu")
    np.testing.assert_allclose(report["block/inner_relu"]["frequency"], (acts > 0).mean(axis=0))


@pytest.mark.slow
def test_dead_units_callback_watches_the_nested_relu(m, tmp_path):
    cb = nv.callbacks.DeadUnits(tmp_path, x=m["x"][:8], sinks=["png"])
    record = _fit(m["custom"], m["x"], m["labels"], [cb])
    assert not _notes(record) and not _failures(record)
    assert list(cb.history["dead_fraction"]) == ["block/inner_relu"]
    assert list((tmp_path / "dead_units" / "layers").glob("epoch_*.png"))


def test_recurrent_cells_are_not_watched():
    # An LSTM's cell has an activation too, but it runs inside the layer's loop: only the
    # layer itself is a nonlinear layer.
    inp = keras.Input((5, 3))
    h = L.LSTM(4, return_sequences=True, name="lstm")(inp)
    model = keras.Model(inp, L.Dense(2, activation="relu", name="relu")(h))
    assert nv.core.model.nonlinear_layers(model) == ["lstm", "relu"]


@pytest.mark.slow
def test_grad_cam_on_an_image_transformer_is_a_note(m, tmp_path):
    cb = nv.callbacks.GradCAM(tmp_path, x=m["images"][:4], sinks=["png"])
    record = _fit(m["vit"], m["images"], m["labels"], [cb])
    notes = _notes(record)
    assert len(notes) == 1 and "GradCAM" in notes[0] and "spatial" in notes[0]
    assert not _failures(record)
    assert not list(tmp_path.glob("grad_cam*/**/*.png"))


# ----------------------------------------------------------------------------------------------
# The same on tiny KerasHub models


@pytest.mark.slow
def test_grad_cam_on_a_keras_hub_vit_uses_its_patch_grid_and_dead_units_see_its_mlp(tmp_path):
    from tests import hub

    # A fresh one (hub.vit_classifier() is shared and cached): this test trains it.
    M = hub._hub().models
    backbone = M.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32
    )
    model = M.ViTImageClassifier(backbone, num_classes=3, preprocessor=None)
    model.compile("sgd", "sparse_categorical_crossentropy")
    images = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype("float32")
    labels = np.arange(8) % 3
    cam = nv.callbacks.GradCAM(tmp_path, x=images[:2], sinks=["png"])
    dead = nv.callbacks.DeadUnits(tmp_path, x=images[:4], sinks=["png"])
    record = _fit(model, images, labels, [cam, dead], epochs=1)
    # Its patch tokens (the last block's input) laid out on the 4x4 patch grid (issue 23;
    # before, a note: "no spatial layer").
    assert not [n for n in _notes(record) if n.startswith("GradCAM")]
    assert not _failures(record)
    assert list(tmp_path.glob("grad_cam*/**/*.png"))
    # The ViT's MLP Dense (GELU) sits inside its transformer blocks: watched, drawn.
    watched = list(dead.history["dead_fraction"])
    assert watched and all("/mlp/" in p for p in watched), watched
    assert list((tmp_path / "dead_units" / "layers").glob("epoch_*.png"))
