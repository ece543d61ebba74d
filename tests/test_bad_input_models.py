"""The bad-input table for labels of multi-output models and for callbacks on models outside
the toy zoo (the rows of :mod:`tests.test_bad_input`, kept apart to keep that file mergeable).

One row each: a call, the expected :class:`~keras_nnviz.errors.NNVizError` subclass and a phrase
of its message. A row fails on any other exception, a missing phrase, or no error at all.
Nothing here trains past train begin (the callbacks raise before the first epoch).
"""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest
from keras import layers as L

import keras_nnviz as nv
from keras_nnviz.errors import (
    IncompatibleLayerError,
    InvalidInputError,
    LayerNotFoundError,
)
from tests.bad_input import assert_named_error

Inp, Lay, Inc = InvalidInputError, LayerNotFoundError, IncompatibleLayerError


@pytest.fixture(scope="module")
def m(tmp_path_factory):
    """A dict-output MLP, a GRU text model and a patch-token image model (built once)."""
    rng = np.random.default_rng(0)
    inp = keras.Input((8,), name="x")
    h = L.Dense(6, activation="relu", name="hidden")(inp)
    heads = {
        "cls": L.Dense(3, activation="softmax", name="cls")(h),
        "reg": L.Dense(1, name="reg")(h),
    }
    multi = keras.Model(inp, heads, name="multi_head")
    multi.compile("sgd", {"cls": "sparse_categorical_crossentropy", "reg": "mse"})

    tok = keras.Input((7,), dtype="int32")
    g = L.GRU(5, name="gru")(L.Embedding(20, 8)(tok))
    text = keras.Model(tok, L.Dense(2, activation="softmax")(g), name="gru_text")
    text.compile("sgd", "sparse_categorical_crossentropy")

    img = keras.Input((8, 8, 3))
    t = L.Dense(8, name="embed")(L.Reshape((16, 12))(img))
    vit = keras.Model(
        img, L.Dense(3, activation="softmax")(L.GlobalAveragePooling1D(name="pool")(t))
    )
    vit.compile("sgd", "sparse_categorical_crossentropy")
    return SimpleNamespace(
        multi=multi,
        x=rng.normal(size=(6, 8)).astype("float32"),
        cls=np.array([0, 1, 2, 0, 1, 2]),
        reg=np.zeros((6, 1), "float32"),
        text=text,
        ids=rng.integers(0, 20, size=(6, 7)).astype("int32"),
        vit=vit,
        images=rng.normal(size=(6, 8, 8, 3)).astype("float32"),
        logs=tmp_path_factory.mktemp("bad_input_models"),
    )


def row(name, call, error, phrase):
    return pytest.param(call, error, phrase, id=name)


def fit(model, x, y, callback):
    """Train begin only: the callbacks check their arguments there."""
    model.fit(x, y, epochs=1, batch_size=6, verbose=0, callbacks=[callback])


ROWS = [
    row(
        "gradient_flow-dict-wrong-keys",
        lambda m: nv.gradient_flow(m.multi, m.x, {"cls": m.cls, "box": m.reg}),
        Inp,
        "keys ['cls', 'reg']",
    ),
    row(
        "gradient_flow-list-wrong-length",
        lambda m: nv.gradient_flow(m.multi, m.x, [m.cls]),
        Inp,
        "one array per output",
    ),
    row(
        "gradient_flow-dict-rows",
        lambda m: nv.gradient_flow(m.multi, m.x, {"cls": m.cls[:3], "reg": m.reg}),
        Inp,
        "3 rows but x has 6",
    ),
    row(
        "gradient_flow-dict-class-out-of-range",
        lambda m: nv.gradient_flow(m.multi, m.x, {"cls": m.cls + 5, "reg": m.reg}),
        Inp,
        "not a class index of output",
    ),
    row(
        "GradientFlow-dict-wrong-keys",
        lambda m: fit(
            m.multi,
            m.x,
            {"cls": m.cls, "reg": m.reg},
            nv.callbacks.GradientFlow(m.logs, x=m.x, y={"cls": m.cls}),
        ),
        Inp,
        "one entry per output",
    ),
    row(
        "GradientFlow-dict-class-out-of-range",
        lambda m: fit(
            m.multi,
            m.x,
            {"cls": m.cls, "reg": m.reg},
            nv.callbacks.GradientFlow(m.logs, x=m.x, y={"cls": m.cls + 3, "reg": m.reg}),
        ),
        Inp,
        "valid 0 ... 2",
    ),
    row(
        "Attributions-y-dict-wrong-keys",
        lambda m: fit(
            m.multi,
            m.x,
            {"cls": m.cls, "reg": m.reg},
            nv.callbacks.Attributions(m.logs, x=m.x, y={"nope": m.cls}, output="cls"),
        ),
        Inp,
        "keys ['cls', 'reg']",
    ),
    # Only the defaults degrade to a note: what the user names must fit.
    row(
        "DeadUnits-named-missing-layer-on-rnn",
        lambda m: fit(
            m.text, m.ids, m.cls % 2, nv.callbacks.DeadUnits(m.logs, x=m.ids, layers="nope")
        ),
        Lay,
        "nope",
    ),
    row(
        "GradCAM-named-flat-layer-on-patch-model",
        lambda m: fit(
            m.vit, m.images, m.cls, nv.callbacks.GradCAM(m.logs, x=m.images, layer="pool")
        ),
        Inc,
        "without spatial axes",
    ),
]


@pytest.mark.parametrize(("call", "error", "phrase"), ROWS)
def test_bad_input_raises_a_named_error(m, call, error, phrase):
    assert_named_error(lambda: call(m), error, phrase)
