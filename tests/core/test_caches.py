"""One cache registry: nv.clear_cache(model) reaches every per-model cache."""

import numpy as np

import keras_nnviz as nv
from keras_nnviz.core import caches
from tests.zoo import transformer_functional


def _holding(model) -> list[str]:
    return [name for name in caches.names() if model in caches.per_model(name)]


def test_clear_cache_reaches_explainers_passes_attention_sites_and_shapes(zoo):
    cnn = zoo("functional")
    nv.grad_cam(cnn.model, cnn.x[:2])
    nv.get_activations(cnn.model, cnn.x[:2])
    tr = transformer_functional()
    nv.get_attention(tr.model, tr.x[:2])
    held = set(_holding(cnn.model)) | set(_holding(tr.model))
    assert {"compiled passes", "explainers", "attention sites"} <= held, held

    nv.clear_cache(cnn.model)
    assert _holding(cnn.model) == []
    assert _holding(tr.model)  # another model's entries stay
    nv.clear_cache()
    assert _holding(tr.model) == []
    # and everything works again after clearing
    assert np.isfinite(nv.grad_cam(cnn.model, cnn.x[:2])).all()
