"""One answer to "what kind of model, which layers by default"."""

import keras
import pytest

from keras_nnviz.core import graph
from keras_nnviz.core import model as M
from tests import zoo as zoo_mod

_TEXT: dict = {}


@pytest.fixture
def build(zoo):
    """Any zoo model by name, the attention zoo's text models included (built once)."""

    def get(name):
        if name in zoo_mod.ATTENTION_ZOO:
            if name not in _TEXT:
                _TEXT[name] = zoo_mod.ATTENTION_ZOO[name]()
            return _TEXT[name].model
        return zoo(name).model

    return get


KINDS = {
    "sequential": "image",
    "nested": "image",
    "multi_input": "multi",
    "conv1d": "sequence",
    "recurrent": "sequence",
    "transformer": "text",
    "transformer_block": "text",
}


@pytest.mark.parametrize(("name", "kind"), sorted(KINDS.items()))
def test_input_kind(build, name, kind):
    assert M.input_info(build(name)).kind == kind


def test_default_activation_layers_prefer_the_inputs_rank_and_are_evenly_spaced(zoo):
    model = zoo("nested").model
    chosen = M.default_activation_layers(model)
    assert 1 <= len(chosen) <= M.DEFAULT_ACTIVATION_LAYERS
    shapes = [graph.output_shape(graph.find_layer(model, p)) for p in chosen]
    assert all(len(s) == 4 for s in shapes), shapes
    every = M.default_activation_layers(model, limit=None)
    assert chosen[0] == every[0] and chosen[-1] == every[-1]


def test_default_activation_layers_of_an_mlp_are_all_layers():
    inp = keras.Input((5,))
    h = keras.layers.Dense(4, activation="relu", name="h")(inp)
    model = keras.Model(inp, keras.layers.Dense(2, name="out")(h))
    assert M.default_activation_layers(model) == ["h", "out"]


def test_recurrent_layers_count_as_sequence_layers(zoo):
    model = zoo("recurrent").model
    chosen = M.default_activation_layers(model, limit=None)
    assert any(M.is_recurrent(graph.find_layer(model, p)) for p in chosen)


def test_embedding_layer_is_found_inside_custom_layers(build):
    model = build("transformer_block")
    path = M.embedding_layer(model)
    assert path is not None and "/" in path  # held by the custom embedding layer
    assert isinstance(graph.find_layer(model, path), keras.layers.Embedding)
    assert M.embedding_layer(build("sequential")) is None


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("nested", "grad_cam"),
        ("transformer_block", "integrated_gradients"),
        ("multi_input", "grad_cam"),  # image + tabular: Grad-CAM on the image branch
    ],
)
def test_default_attribution(build, name, method):
    got, layer = M.default_attribution(build(name))
    assert got == method
    if method == "grad_cam":
        assert layer == graph.last_spatial_layer(build(name))


def test_token_ids_beside_a_padding_mask_and_segment_ids_have_one_answer():
    """KerasHub's input names: core/model.py says which input holds the token ids and which is
    the padding mask; the vocabulary check and the language-model target ask it."""
    import numpy as np

    from keras_nnviz.core import targets
    from keras_nnviz.core.inputs import input_slots, prepare
    from keras_nnviz.errors import InvalidInputError

    names = ("token_ids", "padding_mask", "segment_ids")
    ins = [keras.Input((6,), dtype="int32", name=n) for n in names]
    h = keras.layers.Embedding(20, 4, name="token_embedding")(ins[0])
    h = h + keras.layers.Embedding(2, 4, name="segment_embedding")(ins[2])
    lm = keras.Model(ins, keras.layers.Dense(20, name="logits")(h))
    assert (M.token_inputs(lm), M.token_input(lm), M.padding_mask_input(lm)) == ([0], 0, 1)
    assert M.is_text_model(lm) and M.embedding_layer(lm) == "token_embedding"
    assert [s.vocabulary for s in input_slots(lm)] == [("token_embedding", 20), None, None]
    ids = np.ones((2, 6), "int32")
    with pytest.raises(InvalidInputError, match="outside the vocabulary"):
        prepare(lm, [ids * 20, ids, ids * 0])
    spec = targets.resolve(lm, targets.Token(), n=2).spec
    assert spec.sequence and spec.mask_input == 1
