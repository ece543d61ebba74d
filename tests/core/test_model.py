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
