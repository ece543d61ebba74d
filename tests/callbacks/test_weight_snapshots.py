"""The weight callbacks freeze the weights on the training thread and read them later."""

from __future__ import annotations

import numpy as np

import keras_nnviz as nv
from keras_nnviz.callbacks._schedule import resolve


def _model():
    return nv.datasets.digits_cnn()


def test_weight_callbacks_show_the_weights_of_their_snapshot(tmp_path):
    model = _model()
    for cb in (
        nv.callbacks.WeightHistograms(tmp_path / "h"),
        nv.callbacks.WeightMatrices(tmp_path / "m", layers=["conv1", "dense"]),
    ):
        cb.validate(model)
        before = nv.get_weights(model)
        pending = cb.compute(model)
        # Training goes on before the writer thread gets to the snapshot.
        for var in model.trainable_variables:
            var.assign(var + 1.0)
        frozen = resolve(pending)
        assert frozen, type(cb).__name__
        for key, value in frozen.items():
            np.testing.assert_array_equal(value, before[key], err_msg=key)
        assert set(frozen) <= set(before)
    # Undo: the model is the test's own, but keep the helper honest about what it changed.
    for var in model.trainable_variables:
        var.assign(var - 1.0)


def test_ridgeline_spreads_its_panels_over_a_deep_model(tmp_path):
    model = _model()
    cb = nv.callbacks.WeightHistograms(tmp_path, max_panels=2)
    cb.validate(model)
    for epoch in range(3):
        items = list(cb.render(resolve(cb.compute(model)), nv.io.When(epoch=epoch + 1)))
        assert "2 of" in items[-1].caption
        # the ridgeline shows a trend: from three snapshots on (two are the first/final frames)
        assert len(list(cb.summarize())) == (epoch >= 2)
    (summary,) = list(cb.summarize())
    kernels = [k for k, v in nv.get_weights(model).items() if v.ndim >= 2]
    assert f"2 of {len(kernels)} weights" in summary.caption
