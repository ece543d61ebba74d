"""Models of several towers (KerasHub CLIP, SigLIP): each input is matched to the tower that
consumes it, so the text tower's token ids are checked against the text vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from keras_nnviz.core import model as M
from tests import hub
from tests.bad_input import assert_named_error


def _inputs(model, seed=0):
    rng = np.random.default_rng(seed)
    names = [t.name for t in model.inputs]
    x = {"images": rng.random((2, 32, 32, 3), dtype=np.float32)}
    x["token_ids"] = rng.integers(1, hub.VOCABULARY, size=(2, 12)).astype("int32")
    return {k: v for k, v in x.items() if k in names}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["clip", "siglip"])
def test_token_ids_are_read_by_the_text_towers_embedding(name):
    model = hub.dual_encoders()[name]
    embedding = M.embedding_layer(model)
    assert embedding is not None and "text" in embedding.split("/")[0]
    assert nv.find_layer(model, embedding).input_dim == hub.VOCABULARY
    att = nv.get_attention(model, _inputs(model))
    towers = {path.split("/")[0] for path in att}
    assert len(towers) == 2  # both towers' attention, each on its own sequence
    for a in att.values():
        assert a.shape[0] == 2
        assert a.shape[-1] in (12, 16, 17)  # text tokens; 16 patches (+ CLS for CLIP)
        assert a.shape[-2] in (1, a.shape[-1])  # self-attention, or SigLIP's one-probe head
    x = _inputs(model)
    x["token_ids"][0, 3] = hub.VOCABULARY + 5  # a token id outside the text vocabulary
    assert_named_error(
        lambda: nv.get_attention(model, x), nv.InvalidInputError, "outside the vocabulary"
    )
