"""Faithfulness and sanity metrics: deletion / insertion, pointing game, randomization."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from tests.attribution._models import localization


@pytest.mark.slow
def test_deletion_and_insertion_rank_good_random_and_inverted_maps(snapshot):
    model, data = localization()
    snap = snapshot(model)
    x = data.x[:48]
    good = nv.grad_cam(model, x)
    rand = np.random.default_rng(0).uniform(size=good.shape).astype("float32")
    deletion = [nv.metrics.deletion_auc(model, x, m).auc.mean() for m in (good, rand, -good)]
    insertion = [nv.metrics.insertion_auc(model, x, m).auc.mean() for m in (good, rand, -good)]
    assert deletion[0] < deletion[1] < deletion[2]
    assert insertion[0] > insertion[1] > insertion[2]
    result = nv.metrics.deletion_auc(model, x[:4], good[:4], steps=10)
    aucs, curves = result.auc, result.curves
    assert aucs.shape == (4,) and curves.shape == (4, 11)
    clean = model.predict(x[:4], verbose=0).max(axis=1)
    np.testing.assert_allclose(curves[:, 0], clean, atol=1e-5)  # step 0 is the clean input
    snap.assert_unchanged()


def test_pointing_game_with_masks_boxes_and_tolerance():
    maps = np.zeros((3, 10, 10), np.float32)
    maps[0, 2, 2] = maps[1, 8, 8] = maps[2, 5, 7] = 1.0
    masks = np.zeros((3, 10, 10), bool)
    masks[:, 1:4, 1:4] = True
    result = nv.metrics.pointing_game(maps, masks)
    assert result.rate == pytest.approx(1 / 3) and result.hits.tolist() == [True, False, False]
    boxes = np.array([[1, 1, 4, 4], [7, 7, 10, 10], [0, 0, 2, 2]])
    assert nv.metrics.pointing_game(maps, boxes).rate == pytest.approx(2 / 3)
    assert nv.metrics.pointing_game(maps, masks, tolerance=6).rate == pytest.approx(2 / 3)
    with pytest.raises(nv.InvalidInputError, match="do not fit maps"):
        nv.metrics.pointing_game(maps, masks[:, :5])


def test_randomized_copy_leaves_the_model_alone(zoo, snapshot):
    case = zoo("nested")
    snap = snapshot(case.model)
    copy = nv.metrics.randomized_copy(case.model, layers=1, seed=1)
    changed = [
        not np.array_equal(a, b) for a, b in zip(case.model.get_weights(), copy.get_weights())
    ]
    # Only the top weighted layer (the predictions kernel) is new; biases restart at zero.
    assert changed == [False] * 6 + [True, False]
    full = nv.metrics.randomized_copy(case.model, seed=1)
    kernels = [w for w in full.get_weights() if w.ndim > 1]
    originals = [w for w in case.model.get_weights() if w.ndim > 1]
    assert all(not np.array_equal(a, b) for a, b in zip(kernels, originals))
    snap.assert_unchanged()
    with pytest.raises(nv.InvalidArgumentError, match="valid 1 ... 4"):
        nv.metrics.randomized_copy(case.model, layers=9)


def test_metric_input_errors(zoo):
    case = zoo("sequential")
    with pytest.raises(nv.InvalidInputError, match="input's spatial size"):
        nv.metrics.deletion_auc(case.model, case.x, np.zeros((10, 6, 6)))
    with pytest.raises(nv.InvalidArgumentError, match="attribution function name"):
        nv.metrics.randomization_similarity(case.model, case.x, method="not_a_method")
