"""Every method over the shared model zoo: runs, right shapes, float32 maps in [0, 1], and the
model is unchanged afterwards."""

from __future__ import annotations

import numpy as np
import pytest

import keras_nnviz as nv
from tests.zoo import ZOO

GRADIENT_METHODS = {
    "saliency": lambda m, x, **k: nv.saliency(m, x, **k),
    "smoothgrad": lambda m, x, **k: nv.saliency(m, x, smooth_samples=3, seed=0, **k),
    "gradient_x_input": lambda m, x, **k: nv.gradient_x_input(m, x, **k),
    "integrated_gradients": lambda m, x, **k: nv.integrated_gradients(m, x, steps=4, **k),
    "guided_backprop": lambda m, x, **k: nv.guided_backprop(m, x, **k),
}
CAM_METHODS = {
    "cam": lambda m, x, **k: nv.cam(m, x, **k),
    "grad_cam": lambda m, x, **k: nv.grad_cam(m, x, **k),
    "grad_cam_plus_plus": lambda m, x, **k: nv.grad_cam_plus_plus(m, x, **k),
    "layer_cam": lambda m, x, **k: nv.layer_cam(m, x, **k),
    "score_cam": lambda m, x, **k: nv.score_cam(m, x, max_channels=4, **k),
    "occlusion": lambda m, x, **k: nv.occlusion(m, x, **k),
}
# CAM needs layer -> global average pooling -> Dense; these zoo heads are something else.
NO_CAM_HEAD = {"nested", "seq_in_seq", "multi_input"}


def _expected_gradient_shapes(case):
    xs = case.x if isinstance(case.x, list) else [case.x]
    shapes = [x.shape[:-1] if x.ndim >= 3 else x.shape for x in xs]
    return shapes if isinstance(case.x, list) else shapes[0]


def _check(maps, expected):
    if expected is None:  # an input the method cannot attribute
        assert maps is None
        return
    if isinstance(expected, list):
        assert isinstance(maps, list) and len(maps) == len(expected)
        for m, shape in zip(maps, expected):
            _check(m, shape)
        return
    assert maps.shape == expected
    assert maps.dtype == np.float32
    assert np.all(np.isfinite(maps))
    assert maps.min() >= 0.0 and maps.max() <= 1.0 + 1e-6


@pytest.mark.parametrize("name", list(ZOO))
def test_gradient_methods_run_on_every_zoo_model(name, zoo, snapshot):
    case = zoo(name)
    snap = snapshot(case.model)
    kwargs = {"output": "class_head"} if name == "multi_output" else {}
    for method, run in GRADIENT_METHODS.items():
        maps = run(case.model, case.x, **kwargs)
        try:
            _check(maps, _expected_gradient_shapes(case))
        except AssertionError as exc:
            raise AssertionError(f"{method} on {name}: {exc}") from exc
    snap.assert_unchanged()


@pytest.mark.parametrize("name", [n for n in ZOO if n != "recurrent"])
def test_cam_methods_run_on_every_spatial_zoo_model(name, zoo, snapshot):
    case = zoo(name)
    snap = snapshot(case.model)
    kwargs = {"output": "class_head"} if name == "multi_output" else {}
    # One convention for every method: a list aligned to model.inputs for multi-input models,
    # None where the maps do not fit (here the vector input "meta").
    if isinstance(case.x, list):
        expected = [x.shape[:-1] if x.ndim >= 3 else None for x in case.x]
    else:
        expected = case.x.shape[:-1]
    for method, run in CAM_METHODS.items():
        if method == "cam" and name in NO_CAM_HEAD:
            with pytest.raises(nv.IncompatibleLayerError, match="nv.grad_cam"):
                run(case.model, case.x, **kwargs)
            continue
        maps = run(case.model, case.x, **kwargs)
        try:
            _check(maps, expected)
        except AssertionError as exc:
            raise AssertionError(f"{method} on {name}: {exc}") from exc
    snap.assert_unchanged()


def test_default_cam_layer_is_the_last_spatial_layer_also_when_nested(zoo):
    for name in ("nested", "seq_in_seq", "custom_layer"):
        case = zoo(name)
        explainer = nv.GradCAM(case.model)
        assert explainer.layer_path == case.spatial_layer
