"""Built-in offline data and model builders."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv


def test_digits_shapes_and_range():
    data = nv.datasets.digits()
    assert data.train.x.shape[1:] == (8, 8, 1) and data.train.x.dtype == np.float32
    assert len(data.train.x) + len(data.test.x) == 1797
    assert data.train.x.min() >= 0.0 and data.train.x.max() <= 1.0
    assert set(np.unique(data.train.y)) == set(range(10))
    assert data.class_names[3] == "3"


@pytest.mark.slow
def test_digits_cnn_learns_quickly():
    model, data = nv.datasets.trained_digits_cnn(epochs=4)
    acc = model.evaluate(data.test.x, data.test.y, verbose=0)[1]
    assert acc > 0.85
    assert nv.list_layers(model) == ["conv1", "conv2", "pool", "flatten", "dense", "predictions"]


def test_patch_localization_masks_mark_the_patch():
    data = nv.datasets.patch_localization(n=40, size=24, patch=6, channels=3, seed=1)
    assert data.x.shape == (40, 24, 24, 3) and data.masks.shape == (40, 24, 24)
    assert set(np.unique(data.y)) == {0, 1}
    for img, mask in zip(data.x[..., 0], data.masks):
        assert mask.sum() == 36
        assert img[mask].max() == 1.0 and img[~mask].max() <= 0.1
